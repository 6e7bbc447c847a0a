"""Capturing the warnings a run raises, and picking out those of the project's own making
(issue 26, item 4): used by tests/framework/test_quiet_run.py on a small session and by the
end-to-end test on the default run."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import health_risk

PROJECT_SOURCE = Path(health_risk.__file__).resolve().parent
# Warnings the project's configuration or code caused before issue 26, whatever file Python
# attributes them to (a library's, when the library checks what the project handed it).
KNOWN_PROJECT_MESSAGES = (
    r"Resolver 'env'",  # the env resolver's annotations vs spark.yml's ints and bools
    r"register_new_resolver\(\) is deprecated",  # the project's resolver registration
    r"dataset names contain '\.'",  # a dotted dataset name outside a namespace
)


@contextmanager
def capture_warnings() -> Iterator[list[warnings.WarningMessage]]:
    """Every warning raised inside the block (any thread), whatever filters an earlier test
    left: the filters start from "always", and only the project's own
    (``framework.library_warnings``, installed when the run's config loader is created) apply
    on top of that."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def own_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """The captured warnings the project causes: raised from a file under ``src/health_risk``,
    or one of the messages its configuration used to cause."""
    found = []
    for warning in caught:
        text = str(warning.message)
        filename = Path(warning.filename).resolve() if warning.filename else None
        ours = filename is not None and PROJECT_SOURCE in filename.parents
        if ours or any(re.search(pattern, text) for pattern in KNOWN_PROJECT_MESSAGES):
            found.append(f"{warning.filename}:{warning.lineno}: "
                         f"{warning.category.__name__}: {text.strip()[:300]}")
    return found
