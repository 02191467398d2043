#!/usr/bin/env bash
# System packages the tests drive: Debian's Chromium for the Space's browser test (Playwright is pointed
# at it; no browser is downloaded). Skipped when already present or when apt-get is unavailable.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "[setup] apt-get not found: install Chromium yourself for the Space browser test" >&2
    exit 0
fi
SUDO=""
if [[ "$(id -u)" != "0" ]]; then SUDO="sudo"; fi
echo "[setup] installing Debian chromium"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
