# The two commands of the README: `make demo` (set up, then run the main job) and `make test`.
PYTHON ?= python3
export PYTHON

.PHONY: setup setup-test demo test lint

setup:
	bash scripts/setup.sh

setup-test:
	bash scripts/setup.sh --test

demo: setup
	ssd-hf demo

test: setup-test
	HF_HUB_OFFLINE=1 $(PYTHON) -m pytest -q -n 2 --dist loadfile

lint:
	ruff check ssd_hf tests recipes spaces_demo benchmarks
