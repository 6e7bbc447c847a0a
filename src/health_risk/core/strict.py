"""The one base of every parameter-block model: unknown keys are errors, so a typo in
``conf/`` or ``--params`` fails before the run instead of being ignored."""

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid")
