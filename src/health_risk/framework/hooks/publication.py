"""A run's publications are switched when they are whole, and never by a failed run
(``health_risk.datasets.publication``)."""

from __future__ import annotations

import logging

from kedro.framework.hooks import hook_impl

from health_risk.datasets.publication import discard_pending, publish_pending

logger = logging.getLogger(__name__)


class PublicationHooks:
    """A publication whose members were all saved switched when its last member was saved. At
    the end of a run that saved only some members of one (``--nodes``), those are published
    beside the others' previous versions; a failed run publishes nothing more and says which
    saved outputs it leaves unpublished (the previous publication stands)."""

    @hook_impl
    def after_pipeline_run(self, run_params, run_result, pipeline, catalog) -> None:
        published = publish_pending()
        if published:
            logger.info("Published at the end of the run: %s", ", ".join(sorted(published)))

    @hook_impl
    def on_pipeline_error(self, error, run_params, pipeline, catalog) -> None:
        left = discard_pending()
        if left:
            logger.warning(
                "The run failed: these outputs were saved but NOT published, the previous "
                "versions stay current: %s", "; ".join(sorted(left)))
