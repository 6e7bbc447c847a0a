"""Every hook of a run, in the order it runs.

``RUN_ORDER`` is read top to bottom at every hook point (``after_context_created``,
``before_pipeline_run``, ``before_node_run``, ...). Pluggy calls the hook registered last
first, so ``HOOKS`` (what Kedro registers, from ``settings``) is ``RUN_ORDER`` reversed; and
kedro-mlflow's hook, which Kedro would otherwise register from its entry point after ours (so
first, whatever this list says), is disabled as a plugin and placed here explicitly.
"""

from kedro_mlflow.framework.hooks import MlflowHook

from health_risk.framework.hooks.run_termination import RunTerminationHooks
from health_risk.framework.hooks.spark import SparkHooks
from health_risk.framework.hooks.study_registry import StudyRegistryHooks
from health_risk.framework.hooks.study_runs import StudyRunHooks
from health_risk.framework.hooks.validation import (
    HyperparameterValidationHooks,
    ParameterValidationHooks,
)

RUN_ORDER = (
    # Reads mlflow.yml (tracking URI) when the context is created; starts the kedro run's
    # MLflow run before the pipeline, re-opens it in each node's thread, logs `params:` inputs.
    MlflowHook(),
    # Hands the run's config loader to pipeline registration (--env, --conf-source).
    StudyRegistryHooks(),
    # Parameter blocks and the study registry agree, before the JVM starts (seconds).
    ParameterValidationHooks(),
    # Reads spark.yml at context creation; refuses classic-only nodes over Spark Connect and
    # starts the session before the first dataset loads.
    SparkHooks(),
    # Candidates' hyper-parameter values against the estimators' validators (needs the JVM).
    HyperparameterValidationHooks(),
    # Signal handlers that end the MLflow runs (kedro-mlflow's, started above) as KILLED.
    RunTerminationHooks(),
    # Each study's nodes log into the study's own MLflow run, inside the run kedro-mlflow
    # re-opened for the node.
    StudyRunHooks(),
)
HOOKS = tuple(reversed(RUN_ORDER))

# The distribution name of kedro-mlflow (its entry-point hook is replaced by RUN_ORDER's).
DISABLE_HOOKS_FOR_PLUGINS = ("kedro_mlflow",)
