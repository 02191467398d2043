# The two commands of the README: `make demo` (set up, then run the main job) and `make test`.
# PYTHON: the interpreter to install into; scripts/python_env.sh swaps an externally managed system Python
# (PEP 668) for the project's .venv and keeps anything else (an activated venv or conda env, pyenv).
PYTHON ?= python3
# resolved once, on first use
VENV_PY = $(eval VENV_PY := $$(shell PYTHON="$$(PYTHON)" bash scripts/python_env.sh))$(VENV_PY)

.PHONY: setup setup-test demo test lint

setup:
	PYTHON="$(VENV_PY)" bash scripts/setup.sh

setup-test:
	PYTHON="$(VENV_PY)" bash scripts/setup.sh --test

demo: setup
	"$(VENV_PY)" -m ssd_hf.cli demo

test: setup-test
	HF_HUB_OFFLINE=1 "$(VENV_PY)" -m pytest -q -n 2 --dist loadfile

lint:
	"$(VENV_PY)" -m ruff check ssd_hf tests recipes spaces_demo benchmarks
