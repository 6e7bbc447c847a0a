"""How long building the row contract of a table takes, and how many Py4J round trips it makes.

``flag_invalid_rows`` starts no Spark job (it is lazy and marks its output ``persist``), so its
cost does not depend on the row count: it is building the decode and rule expressions of every
column and the JVM analysing them. This script generates a small BRFSS sample in the real XPT
format, then calls the node a few times on the same normalised table under cProfile, in one
fresh JVM, and prints the time of each call and the Py4J round trips of the last one::

    python bench/profile_rules.py [--rows 2000] [--calls 3]

Compare runs of different code in the same session (the first call pays the JVM's warm-up).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

import yaml

PARAMETERS = Path(__file__).resolve().parents[1] / "conf" / "base" / "parameters"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--calls", type=int, default=3)
    args = parser.parse_args(argv)

    from health_risk.core.contract.rows import flag_invalid_rows, normalise_columns
    from health_risk.datasets import SasXportDataset
    from health_risk.pipelines.sample_data.brfss_generator import generate_brfss_survey
    from health_risk.spark.session import build_spark_session

    spark = build_spark_session({"spark.master": "local[2]", "spark.ui.enabled": False,
                                 "spark.sql.shuffle.partitions": 8,
                                 "health_risk.log_level": "ERROR"}, app_name="profile-rules")
    spec = yaml.safe_load((PARAMETERS / "sample_data_brfss_spec.yml").read_text())
    from health_risk.framework.config_loader import CONFIG_LOADER_ARGS, StudyConfigLoader

    params = StudyConfigLoader(str(PARAMETERS.parents[1]), env="base", **CONFIG_LOADER_ARGS
                               )["parameters"]["brfss"]["ingestion"]
    with tempfile.TemporaryDirectory(prefix="profile-rules-") as folder:
        dataset = SasXportDataset(filepath=f"{folder}/LLCP2023.XPT",
                                  staging_path=f"{folder}/staging")
        dataset.save(generate_brfss_survey(args.rows, 7, 2023, spec["brfss_survey_spec"]))
        normalised, _ = normalise_columns(dataset.load(), params)
        profile = None
        for call in range(1, args.calls + 1):
            profile = cProfile.Profile()
            started = time.perf_counter()
            profile.enable()
            flagged = flag_invalid_rows(normalised, params)
            profile.disable()
            print(f"call {call}: {time.perf_counter() - started:.2f} s")
            flagged.unpersist()
        calls = sum(count for (file, _, name), (count, *_rest)
                    in pstats.Stats(profile).stats.items()
                    if name == "send_command" and file.endswith("java_gateway.py"))
        print(f"Py4J round trips in the last call: {calls} "
              f"({len(params['columns'])} columns)")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
