# Thin wrappers: every target installs what it needs first.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
KEDRO  := $(BIN)/kedro
STAMP  := $(VENV)/.installed-stamp
RAW    := data/01_raw

.PHONY: install spark-archive run sample-data test viz viz-check cluster-check mlflow-ui serve bench bench-decade clean-data report-screenshot

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# The CPU torch wheel first: otherwise sdv pulls a CUDA build (gigabytes).
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The driver JVM's class archive (health_risk.spark.class_archive): recorded once per JDK and
# Spark installation (~20 s, ~180 MB under ~/.cache/health-risk/spark/); every later Spark
# start maps it instead of loading Spark's classes one by one (2.4 s instead of 4.2 s).
spark-archive: install
	$(BIN)/python -m health_risk.spark.record_archive

# Generate only the raw tables that are missing, so a real download is never overwritten.
sample-data: install
	@nodes=""; \
	find "$(RAW)/brfss" -maxdepth 1 -type f \( -iname '*.xpt' -o -iname '*.xpt ' -o -iname '*.zip' \) 2>/dev/null | grep -q . || nodes="$$nodes,make_brfss_survey_xpt"; \
	[ -e "$(RAW)/census/est22us.xls" ] || nodes="$$nodes,make_saipe_state_table"; \
	[ -e "$(RAW)/stroke/healthcare-dataset-stroke-data.csv" ] || nodes="$$nodes,make_stroke_csv"; \
	[ -e "$(RAW)/insurance/insurance.csv" ] || nodes="$$nodes,make_insurance_csv_and_table"; \
	if [ -n "$$nodes" ]; then $(KEDRO) run --pipelines sample_data --nodes "$${nodes#,}"; \
	else echo "data/01_raw already holds every raw table: nothing generated"; fi

run: sample-data spark-archive
	$(KEDRO) run

test: install spark-archive
	$(BIN)/python -m pytest

# The venv's bin first on PATH: kedro-viz starts helpers from PATH, so without it the target
# fails on a machine where the venv is not activated.
VENV_PATH := PATH="$(abspath $(BIN)):$$PATH"

viz: install
	$(VENV_PATH) $(KEDRO) viz run --host 127.0.0.1 --port 4141 --no-browser

# MLflow's UI on the store conf/<env>/mlflow.yml names (KEDRO_ENV selects the env), without
# loading the project's pipelines as `kedro mlflow ui` does (15-50 s before it answered).
mlflow-ui: install
	$(VENV_PATH) $(BIN)/python -m health_risk.framework.mlflow_ui

# The study's champion behind MLflow's own model server on 127.0.0.1 (its Spark-free
# python_function flavour: no JVM), e.g. `make serve STUDY=stroke`; POST raw records to
# http://127.0.0.1:$(PORT)/invocations (README "Serving a study").
STUDY ?= stroke
PORT  ?= 5001
serve: install
	$(VENV_PATH) $(BIN)/python -m health_risk.framework.serve $(STUDY) --port $(PORT)

# The browser tests alone (Debian's Chromium driven by Playwright): the served kedro-viz
# flowchart, and the HTML report rendered offline. Screenshots land in data/08_reporting/.
viz-check: install
	$(BIN)/python -m pytest -m browser

# The Spark standalone-cluster test alone (a master and two workers on 127.0.0.1, a Spark
# Connect server on them, after the end-to-end run it compares with); `make test` runs it too.
cluster-check: install spark-archive
	$(BIN)/python -m pytest -m cluster tests/test_end_to_end.py

# The HTML report rendered by headless Chromium (Debian: apt install chromium) into a PNG next to
# it: a check that the charts draw offline. The flags keep Chromium off the network.
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)
REPORT   := data/08_reporting/report.html
report-screenshot:
	@test -n "$(CHROMIUM)" || { echo "Chromium not found: apt install chromium"; exit 1; }
	@test -f $(REPORT) || { echo "$(REPORT) missing: make run first"; exit 1; }
	profile=$$(mktemp -d) && $(CHROMIUM) --headless --no-sandbox --disable-gpu --disable-quic \
	  --no-first-run --disable-background-networking --disable-component-update --disable-sync \
	  --user-data-dir=$$profile --hide-scrollbars --virtual-time-budget=20000 \
	  --window-size=1400,12000 --screenshot=$(abspath data/08_reporting/report.png) \
	  file://$(abspath $(REPORT)) 2>/dev/null; status=$$?; rm -rf $$profile; exit $$status
	@echo "wrote data/08_reporting/report.png"

# The benchmark suite (never part of `make test`): the project against pandas + pyarrow and
# scikit-learn on the same generated rows, stage by stage; writes bench/results/latest.{json,md}.
# The three sizes and the 450k year run take about 35 minutes on 2 cores; `make bench
# BENCH_SIZES=100k` about 10.
BENCH_SIZES ?= 100k,450k,1M
BENCH_ARGS  ?= --year-run 450k
bench: install spark-archive
	$(BIN)/python bench/suite.py --sizes $(BENCH_SIZES) $(BENCH_ARGS)

# A decade of BRFSS (ten generated years x 450,000 rows) in one kedro run, at driver memory 2g
# and 4g, against chunked pandas (bench/bench_decade.py; about 40 minutes on 2 cores).
bench-decade: install spark-archive
	$(BIN)/python bench/bench_decade.py $(DECADE_ARGS)

clean-data:
	find data -mindepth 2 ! -name .gitkeep -delete 2>/dev/null || true
	rm -rf mlflow.db mlartifacts
