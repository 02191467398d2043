#!/usr/bin/env bash
# System packages the tests drive: bubblewrap (`bwrap`, the evaluator's sandbox, and util-linux's
# `unshare`/`setpriv`, which it uses when run as root) and Debian's Chromium for the Space's browser
# test (Playwright is pointed at it; no browser is downloaded). Skipped when already present or when
# apt-get is unavailable (then install the `bubblewrap` package with your system's package manager).
set -euo pipefail
missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
{ command -v unshare >/dev/null 2>&1 && command -v setpriv >/dev/null 2>&1; } || missing+=(util-linux)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [[ ${#missing[@]} -eq 0 ]]; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[setup] apt-get not found: install ${missing[*]} yourself (bubblewrap is the evaluator's sandbox)" >&2
    exit 0
fi
SUDO=""
if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
echo "[setup] installing Debian packages: ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
if ! bwrap --unshare-all --die-with-parent --ro-bind /usr /usr true 2>/dev/null; then
    echo "[setup] bwrap is installed but cannot create namespaces here (user namespaces disabled?);" \
         "ssd-hf eval will fall back to running programs without isolation (see docs/eval.md)" >&2
fi
