"""Every hook of a run, in the order it runs.

``RUN_ORDER`` is read top to bottom at every hook point (``after_context_created``,
``before_pipeline_run``, ``before_node_run``, ...). Pluggy calls the hook registered last
first, so ``HOOKS`` (what Kedro registers, from ``settings``) is ``RUN_ORDER`` reversed; and
kedro-mlflow's hook, which Kedro would otherwise register from its entry point after ours (so
first, whatever this list says), is disabled as a plugin and placed here explicitly.
"""

from health_risk.framework.hooks.kedro_mlflow import KedroMlflowHook
from health_risk.framework.hooks.node_timing import NodeTimingHooks
from health_risk.framework.hooks.publication import PublicationHooks
from health_risk.framework.hooks.run_lock import RunLockHooks
from health_risk.framework.hooks.run_termination import RunTerminationHooks
from health_risk.framework.hooks.spark import SparkHooks
from health_risk.framework.hooks.study_registry import StudyRegistryHooks
from health_risk.framework.hooks.study_runs import StudyRunHooks
from health_risk.framework.hooks.validation import (
    HyperparameterValidationHooks,
    ParameterValidationHooks,
)

# Takes the studies' run locks before the run; its release_hooks, last below, releases them.
_RUN_LOCK = RunLockHooks()

RUN_ORDER = (
    # Reads mlflow.yml (tracking URI) when the context is created; starts the kedro run's
    # MLflow run before the pipeline, re-opens it in each node's thread, logs `params:` inputs
    # (each value once per run: KedroMlflowHook).
    KedroMlflowHook(),
    # Hands the run's config loader to pipeline registration (--env, --conf-source).
    StudyRegistryHooks(),
    # Parameter blocks and the study registry agree, and every raw file the run ingests has its
    # required columns (from its header), before any dataset is read (seconds).
    ParameterValidationHooks(),
    # One run per study: locks <data_root>/.locks/<study>.lock for each study of the run's
    # nodes, or refuses the run naming the one holding it, before any dataset is read and any
    # dataset is written (released by RunLockReleaseHooks, last).
    _RUN_LOCK,
    # Reads spark.yml at context creation (and takes over the session `kedro run` has been
    # building since settings.py: framework.spark_start); refuses classic-only nodes over Spark
    # Connect and has the session ready before the first dataset loads.
    SparkHooks(),
    # Candidates' hyper-parameter values against the estimators' validators (needs the JVM).
    HyperparameterValidationHooks(),
    # Signal handlers that end the MLflow runs (kedro-mlflow's, started above) as KILLED.
    RunTerminationHooks(),
    # Each study's nodes log into the study's own MLflow run, inside the run kedro-mlflow
    # re-opened for the node.
    StudyRunHooks(),
    # Seconds per node (loads, function, saves) and between nodes; a summary when it ends.
    NodeTimingHooks(),
    # Publications a run saved only in part (--nodes) are switched when the run has finished;
    # a failed run's are not, and it says which outputs it leaves unpublished.
    PublicationHooks(),
    # Last: releases the study locks once every hook above has ended the run (finished or
    # failed), so nothing of this run is still written when the next run of a study starts.
    _RUN_LOCK.release_hooks,
)
HOOKS = tuple(reversed(RUN_ORDER))

# The distribution name of kedro-mlflow (its entry-point hook is replaced by RUN_ORDER's).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)
