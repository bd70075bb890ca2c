# Two commands set everything up on a fresh machine:
#   make demo   creates .venv, installs raytrain, trains jobs/digits.yaml on a local Ray cluster
#   make test   creates .venv, installs raytrain with its test extras, runs the whole suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# torch 2.13.0 first: a CPU wheel on this machine's disk; an open `torch` request would pull CUDA.
TORCH  ?= torch==2.13.0

.PHONY: venv demo test unit integration docs clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q "$(TORCH)"
	$(BIN)/python -m pip install -q -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/raytrain run jobs/digits.yaml --new-run

test: $(STAMP)
	$(BIN)/python -m pytest

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

docs: $(STAMP)
	$(BIN)/python -m raytrain.spec.reference README.md

clean:
	rm -rf $(VENV) .pytest_cache
