"""The errors a user can fix by changing configuration or data: each message names the
file or parameter key, the column and the rule, and what to change.

They share one base, ``HealthRiskError``: the project's ``kedro run``
(``health_risk.cli``) shows such an error as one message, without a traceback (unless asked
for with ``--verbose`` or ``HEALTH_RISK_TRACEBACK=1``). Any other exception is a bug and keeps
its traceback."""


class HealthRiskError(ValueError):
    """An error the user fixes in configuration or data; its message says where and how."""


class ParameterError(HealthRiskError):
    """A parameter block does not match its model, or blocks disagree with each other or with
    the study registry."""


class DataQualityError(HealthRiskError):
    """A table breaks a table-level rule (missing column, too much quarantined, ...)."""


class StudyBusyError(HealthRiskError):
    """Another run holds the lock of a study this run would write
    (``health_risk.framework.run_lock``): the message names that run (pid, host, start,
    command) and says to wait for it or stop it."""


def validation_problems(exc, key: str = "") -> list[str]:
    """One line per error of a pydantic ``ValidationError``: the key path (under ``key``), the
    message, the rule (pydantic's error type, or the model's own check) and the value given,
    when short. Without pydantic's banner, input dumps and documentation links."""
    model = getattr(exc, "title", "") or "model"
    lines = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in (key, *error["loc"]) if part != "")
        message = error["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        rule = (f"{model} check" if error["type"] in ("value_error", "assertion_error")
                else error["type"])
        given = repr(error.get("input"))
        detail = f"rule: {rule}"
        if error["loc"] and error["type"] != "missing" and len(given) <= 60:
            detail += f"; given: {given}"
        lines.append(f"{path}: {message} ({detail})" if path else f"{message} ({detail})")
    return lines
