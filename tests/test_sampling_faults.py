"""Sampling under faults: a full disk ends the run with one line (no hang), a killed merge leaves nothing that
breaks `load_dataset`, and a prompt too long for the model is skipped, recorded and counted, not fatal."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from datasets import load_dataset

from ssd_hf.prompts import prepare_prompts
from ssd_hf.records import PromptOptions, SamplingParams, read_samples_manifest
from ssd_hf.sampling.engines.native import TransformersEngine
from ssd_hf.sampling.runner import run_sampling

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = os.path.join(ROOT, "ssd_hf", "data", "demo_prompts.jsonl")
PARAMS = SamplingParams(temperature=1.0, top_k=20, top_p=0.8, max_new_tokens=8, seed=0)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="mounts a small tmpfs: needs root")
def test_sampling_into_a_full_disk_is_one_line_and_exits(tiny_qwen3, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    script = (f"mount -t tmpfs -o size=24k tmpfs {mount} && exec {sys.executable} -m ssd_hf.cli sample "
              f"--model_name_or_path {tiny_qwen3} --dataset_name {PROMPTS} --output_dir {mount}/out "
              "--max_new_tokens 32 --sampling_batch_size 4")
    done = subprocess.run(["unshare", "--mount", "sh", "-c", script], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if "error" in line.lower()]
    assert errors == [f"ssd-hf sample: error: cannot write samples to {mount}/out/samples: the disk is full; free "
                      "space or choose another --samples_dir, then rerun the same command: samples already written "
                      "are kept."], done.stderr[-2000:]
    assert "Traceback" not in done.stderr


def test_a_killed_merge_leaves_nothing_load_dataset_trips_on(tiny_qwen3, tmp_path):
    options = PromptOptions()
    prompts = prepare_prompts([{"prompt": f"Print {i}."} for i in range(3)], options)
    engine = TransformersEngine(tiny_qwen3)
    run_sampling(prompts, engine, PARAMS, options, str(tmp_path))
    # What a kill in the middle of a merge leaves: a half-written Parquet (here, and where older versions wrote it).
    (tmp_path / ".store" / "tmp" / "merge-dead.parquet").write_bytes(b"PAR1 half written")
    (tmp_path / "data" / "train-00000-of-00001.parquet.tmp-dead").write_bytes(b"PAR1 half written")
    assert len(run_sampling(prompts, engine, PARAMS, options, str(tmp_path))) == 3
    assert os.listdir(tmp_path / ".store" / "tmp") == [] and os.listdir(tmp_path / "data") == ["train-00000-of-00001.parquet"]
    assert len(load_dataset(str(tmp_path), split="train")) == 3


def test_a_prompt_too_long_for_the_model_is_skipped_recorded_and_counted(tiny_qwen3, tmp_path):
    from ssd_hf import cards

    options = PromptOptions()
    rows = [{"prompt": "Print 1."}, {"prompt": "x " * 2_500_000}, {"prompt": "Print 2."}]  # the middle one is 5 MB
    prompts = prepare_prompts(rows, options)
    engine = TransformersEngine(tiny_qwen3)
    dataset = run_sampling(prompts, engine, PARAMS, options, str(tmp_path), num_samples_per_prompt=2)
    assert len(dataset) == 4 and prompts[1].prompt_id not in set(dataset["prompt_id"])
    manifest = read_samples_manifest(str(tmp_path))
    assert manifest.skipped == {"prompt_too_long": 2}
    with open(next(p for p in (tmp_path / ".store" / "skipped").rglob("*.jsonl"))) as handle:
        reasons = [json.loads(line)["reason"] for line in handle]
    assert all(reason.startswith("prompt_too_long: ") and "context is 4096" in reason for reason in reasons)
    # A rerun does not try again (and so cannot fail again); the card counts the skipped requests.
    again = run_sampling(prompts, engine, PARAMS, options, str(tmp_path), num_samples_per_prompt=2)
    assert len(again) == 4
    assert "Requests skipped, none drawn for them: prompt_too_long 2" in cards.render_dataset_card(str(tmp_path))
