"""The study registry of the run being started, handed to pipeline registration."""

from __future__ import annotations

from kedro.framework.hooks import hook_impl
from kedro.framework.project import pipelines

from health_risk.framework.config_loader import set_active_loader


class StudyRegistryHooks:
    """Hand the run's config loader to pipeline registration (``config_loader``), so the study
    registry that shapes the pipelines honours ``--env`` and ``--conf-source``."""

    @hook_impl
    def after_context_created(self, context) -> None:
        if set_active_loader(context.config_loader):
            # Another environment or conf source than the pipelines were built for (two
            # sessions in one process): build them again on next access.
            pipelines.configure("health_risk.pipeline_registry")
