#!/usr/bin/env bash
# Prints the interpreter that setup, the demo and the tests use, given $PYTHON (default python3):
#   - an activated venv or conda env, or any interpreter pip may install into (pyenv, a plain build): itself;
#   - a system Python marked externally managed (PEP 668, e.g. Debian's /usr/bin/python3): the project's .venv,
#     made with it on first use (pip refuses to install into such a Python).
# Messages go to stderr, so `$(bash scripts/python_env.sh)` is the interpreter alone.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
VENV=.venv

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "[setup] $PYTHON not found: install Python 3.10+ or pass make PYTHON=/path/to/python3" >&2
    exit 1
fi
managed=$("$PYTHON" - <<'EOF'
import os, sys, sysconfig
in_env = sys.prefix != sys.base_prefix
marker = os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")
print("yes" if os.path.exists(marker) and not in_env else "no")
EOF
)
if [[ "$managed" == "no" ]]; then
    "$PYTHON" -c "import sys; print(sys.executable)"
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]] || ! "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
    if ! "$PYTHON" -c "import ensurepip" 2>/dev/null; then
        if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
            echo "[setup] installing Debian's python3-venv (ensurepip) to make $VENV" >&2
            apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >&2
        else
            echo "[setup] $PYTHON cannot make a venv (no ensurepip): sudo apt-get install python3-venv, then rerun" >&2
            exit 1
        fi
    fi
    "$PYTHON" -m venv --clear "$VENV" >&2
fi
echo "[setup] $PYTHON is externally managed (PEP 668): installing into and running from $VENV" >&2
echo "$PWD/$VENV/bin/python"
