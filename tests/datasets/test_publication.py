"""Members of a publication become visible together: a run killed at any point leaves the
previous complete set (table, quarantine, report), a finished one the new set."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from kedro.io import DatasetError

from health_risk.datasets import PublishedDataset
from health_risk.datasets.publication import discard_pending, publish_pending, published_path

MEMBERS = ["validated", "quarantine", "validation_report"]


def _member(root: Path, member: str) -> PublishedDataset:
    """JSON members (the mechanism is the same for Spark folders: only the inner type differs)."""
    return PublishedDataset(
        dataset={"type": "json.JSONDataset", "filepath": str(root / f"{member}.json")},
        publication={"filepath": str(root / "_publication.json"), "members": MEMBERS},
        member=member)


def _publish_all(root: Path, rows: int) -> None:
    _member(root, "quarantine").save({"rows": rows // 10})
    _member(root, "validation_report").save({"rows_passed": rows})
    _member(root, "validated").save({"rows": rows})


@pytest.fixture(autouse=True)
def _nothing_staged_between_tests():
    yield
    discard_pending()


def test_nothing_is_visible_until_the_last_member_is_saved(tmp_path):
    with pytest.raises(DatasetError, match="'validated'.*is not published"):
        _member(tmp_path, "validated").load()
    _member(tmp_path, "quarantine").save({"rows": 1})
    # This process (the run that saved it) reads what it staged; the record does not name it.
    assert _member(tmp_path, "quarantine").load() == {"rows": 1}
    assert not (tmp_path / "_publication.json").exists()
    _member(tmp_path, "validation_report").save({"rows_passed": 9})
    _member(tmp_path, "validated").save({"rows": 9})
    record = json.loads((tmp_path / "_publication.json").read_text())
    assert set(record["members"]) == set(MEMBERS)
    assert len(set(record["members"].values())) == 1  # one version for the set
    assert _member(tmp_path, "validated").load() == {"rows": 9}


def test_old_versions_are_pruned_but_the_previous_one_stays(tmp_path):
    for rows in (100, 200, 300):
        _publish_all(tmp_path, rows)
        time.sleep(0.01)  # versions are millisecond stamps
    versions = sorted(p.name for p in (tmp_path / "validated.json").iterdir())
    record = json.loads((tmp_path / "_publication.json").read_text())
    assert versions == sorted([record["previous"]["validated"], record["members"]["validated"]])
    assert json.loads(Path(published_path(str(tmp_path / "_publication.json"), "validated",
                                          str(tmp_path / "validated.json"))).read_text()) == {
        "rows": 300}


def test_a_failed_run_publishes_nothing_and_names_what_it_leaves(tmp_path):
    _publish_all(tmp_path, 100)
    time.sleep(0.01)
    _member(tmp_path, "quarantine").save({"rows": 99})  # then the run fails
    left = discard_pending()
    assert len(left) == 1 and left[0].startswith("quarantine (")
    assert _member(tmp_path, "quarantine").load() == {"rows": 10}
    assert _member(tmp_path, "validated").load() == {"rows": 100}


def test_a_partial_run_publishes_its_members_beside_the_others_previous_ones(tmp_path):
    _publish_all(tmp_path, 100)
    time.sleep(0.01)
    _member(tmp_path, "validation_report").save({"rows_passed": 101})  # kedro run --nodes ...
    assert publish_pending() == ["validation_report"]
    assert _member(tmp_path, "validation_report").load() == {"rows_passed": 101}
    assert _member(tmp_path, "validated").load() == {"rows": 100}


def test_a_member_must_be_one_of_the_publication():
    with pytest.raises(DatasetError, match="'other' is not one of its members"):
        PublishedDataset(dataset={"type": "json.JSONDataset", "filepath": "x.json"},
                         publication={"filepath": "p.json", "members": MEMBERS},
                         member="other")


# A run that is killed (-9) while it writes the last member of the set: a slow dataset writes
# half its file, says so, and waits to be killed.
KILLED_RUN = textwrap.dedent("""
    import sys, time
    from kedro.io import AbstractDataset
    from health_risk.datasets import PublishedDataset

    class HalfWritten(AbstractDataset):
        def __init__(self, filepath):
            self._path = filepath
        def save(self, data):
            import os
            os.makedirs(os.path.dirname(self._path), exist_ok=True)
            with open(self._path, "w") as handle:
                handle.write('{"rows": ')
                handle.flush()
            print("writing", flush=True)
            time.sleep(60)
        def load(self):
            raise AssertionError("never read")
        def _describe(self):
            return {}

    root, members = sys.argv[1], ["validated", "quarantine", "validation_report"]
    def member(name, kind="json.JSONDataset"):
        return PublishedDataset({"type": kind, "filepath": f"{root}/{name}.json"},
                                {"filepath": f"{root}/_publication.json", "members": members},
                                name)
    member("quarantine").save({"rows": 55})
    member("validation_report").save({"rows_passed": 555})
    member("validated", "__main__.HalfWritten").save({"rows": 555})
""")


def test_a_run_killed_while_it_writes_leaves_the_previous_set_whole(tmp_path):
    _publish_all(tmp_path, 100)
    before = (tmp_path / "_publication.json").read_text()
    run = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tmp_path)],
                           stdout=subprocess.PIPE, text=True)
    try:
        assert run.stdout.readline().strip() == "writing"
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
    assert (tmp_path / "_publication.json").read_text() == before
    assert _member(tmp_path, "validated").load() == {"rows": 100}
    assert _member(tmp_path, "quarantine").load() == {"rows": 10}
    assert _member(tmp_path, "validation_report").load() == {"rows_passed": 100}
    # The killed run's folders are left beside; the next publication prunes them.
    assert len(list((tmp_path / "quarantine.json").iterdir())) == 2
    time.sleep(0.01)
    _publish_all(tmp_path, 200)
    time.sleep(0.01)
    _publish_all(tmp_path, 300)
    assert len(list((tmp_path / "quarantine.json").iterdir())) == 2
