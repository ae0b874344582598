# Two entry points (see README): `make demo` and `make test`. Both set up .venv first.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned to the version with a CPU wheel, so nothing pulls a CUDA build.
	$(BIN)/pip install -q "torch==2.13.0"
	$(BIN)/pip install -q -e ".[all,test]"
	touch $(STAMP)

setup: $(STAMP)

# The main job: score LFW with every method and evaluate error-versus-discard (same- and cross-model).
demo: $(STAMP)
	$(BIN)/python benchmarks/lfw_edc.py

# The FiftyOne App test drives the system Chromium: installed here when missing (root or sudo), else one message.
test: $(STAMP)
	sh .ci/ensure-chromium.sh
	FIFTYONE_DO_NOT_TRACK=true $(BIN)/python -m pytest -q
