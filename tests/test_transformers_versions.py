"""The supported transformers range, tested at both ends: the oldest (what vLLM pins: this environment) and the
newest (`.venv-newest`, made by `scripts/setup.sh --test` with scripts/overlay_venv.py: this environment's packages
under its own transformers). Each samples with the native engine on both of its paths and trains; the samples
must be the same everywhere: each sample's tokens depend on its seed only."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NEWEST = os.path.join(os.environ.get("SSD_HF_NEWEST_VENV", os.path.join(ROOT, ".venv-newest")), "bin", "python")
PROBE = os.path.join(ROOT, "tests", "transformers_probe.py")


def probe(python: str, model: str) -> dict:
    done = subprocess.run([python, PROBE, model], capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.split("REPORT ", 1)[1])


@pytest.mark.skipif(not os.path.exists(NEWEST) and os.environ.get("SSD_REQUIRE_MATRIX") != "1",
                    reason="no .venv-newest: `bash scripts/setup.sh --test` makes it")
def test_oldest_and_newest_transformers_draw_the_same_samples(tiny_qwen3):
    import transformers

    oldest, newest = probe(sys.executable, tiny_qwen3), probe(NEWEST, tiny_qwen3)
    assert oldest["version"] == transformers.__version__ != newest["version"]
    for report in (oldest, newest):
        assert report["continuous"] == report["padded"]  # both native paths, one seeded draw
        assert report["train_loss"] > 0
    assert oldest["continuous"] == newest["continuous"]
