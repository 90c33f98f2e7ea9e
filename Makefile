# One command to set up and run the main job, one to set up and pass the tests.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
FEEDS  ?= feeds.yaml
RULES  ?= connectors/data/alert_rules.yaml

.PHONY: install run test demo bench es-start es-stop es-status clean

install: $(VENV)/.installed
	$(BIN)/libya-watch es install
	$(BIN)/libya-watch flink install

$(VENV)/.installed: setup.py
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

run: install
	$(BIN)/libya-watch run --feeds $(FEEDS) --rules $(RULES) --alerts-out alerts.jsonl

test: install
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/libya-watch demo --alerts-out demo-alerts.jsonl

bench: install
	$(BIN)/python benchmarks/bench_spine.py

es-start es-stop es-status: install
	$(BIN)/libya-watch es $(subst es-,,$@)

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
