"""The errors a user can fix by changing configuration or data: each message names the
file or parameter key, the column and the rule, and what to change."""


class ParameterError(ValueError):
    """A parameter block does not match its model, or blocks disagree with each other or with
    the study registry."""


class DataQualityError(ValueError):
    """A table breaks a table-level rule (missing column, too much quarantined, ...)."""
