"""Round trip through a loopback Hub: the unmodified huggingface_hub client pushes samples, an adapter, a
full model and results; a fresh cache pulls them back with datasets, peft and transformers.

Push and pull run in real subprocesses so that HF_ENDPOINT / online mode are read by the libraries at
import time exactly as for a user (the test process itself stays offline).
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap

import pytest
from hub_fixtures import (
    BASE_MODEL,
    SAMPLES_REPO,
    make_adapter_dir,
    make_full_model_dir,
    make_samples_dir,
    results,
)
from hub_server import FakeHub

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "hf_" + secrets.token_hex(16)
BAD_TOKEN = "hf_" + secrets.token_hex(16)


def _run(script: str, hub: FakeHub, home: str, token: str | None = TOKEN, timeout: int = 180):
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
           "HF_HOME": home, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1",
           "PYTHONPATH": os.pathsep.join([ROOT, os.path.join(ROOT, "tests")])}
    env.pop("HF_TOKEN", None)
    if token:
        env["HF_TOKEN"] = token
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, tiny_qwen3):
    root = tmp_path_factory.mktemp("artifacts")
    base_results, ssd_results = root / "base.json", root / "ssd.json"
    base_results.write_text(json.dumps(results(BASE_MODEL, 1.0)))
    ssd_results.write_text(json.dumps(results("tester/tiny-ssd-full", 1.25)))
    return {"samples": make_samples_dir(str(root / "samples")), "adapter": make_adapter_dir(tiny_qwen3, str(root / "adapter")),
            "full": make_full_model_dir(tiny_qwen3, str(root / "full")), "base_results": str(base_results),
            "ssd_results": str(ssd_results), "tiny": tiny_qwen3, "root": str(root)}


def test_push_pull_round_trip_no_op_repush_bad_token_and_no_token_leak(artifacts, tmp_path):
    with FakeHub({TOKEN: "tester"}, fail_next=2) as hub:  # two transient 503s on the first writes
        push = _run(f"""
            import contextlib, io, json, logging
            from ssd_hf import hub, publish
            from ssd_hf.cli import main
            logging.basicConfig(level=logging.INFO)
            hub.RETRY_DELAYS = (0.05, 0.1, 0.2)  # same backoff logic, shorter waits
            a = {artifacts!r}
            out = {{}}
            # A wrong token: one line on stderr, exit status 2, nothing created.
            err = io.StringIO()
            with contextlib.redirect_stderr(err):
                out["bad_code"] = main(["push", "samples", a["samples"], "--repo_id", "tester/bad", "--token", "{BAD_TOKEN}"])
            out["bad_stderr"] = err.getvalue()
            out["samples"] = publish.push_samples(a["samples"], "{SAMPLES_REPO}")
            out["samples_again"] = publish.push_samples(a["samples"], "{SAMPLES_REPO}")
            out["samples_branch"] = publish.push_samples(a["samples"], "{SAMPLES_REPO}", revision="v1")
            out["adapter"] = publish.push_model(a["adapter"], "tester/tiny-ssd-lora", private=True, results=[a["base_results"]])
            out["full"] = publish.push_model(a["full"], "tester/tiny-ssd-full")
            assert main(["push", "results", a["base_results"], "--repo_id", "tester/tiny-ssd-full"]) == 0
            out["results"] = publish.push_results(a["ssd_results"], "tester/tiny-ssd-full")
            out["results_again"] = publish.push_results(a["ssd_results"], "tester/tiny-ssd-full")
            out["full_again"] = publish.push_model(a["full"], "tester/tiny-ssd-full", results=[a["base_results"], a["ssd_results"]])
            print("RESULT=" + json.dumps(out))
        """, hub, str(tmp_path / "push-home"))
        assert push.returncode == 0, push.stderr[-3000:]
        urls = json.loads(push.stdout.split("RESULT=")[-1])
        bad = urls.pop("bad_stderr")
        assert urls.pop("bad_code") == 2 and len(bad.strip().splitlines()) == 1, bad
        assert "hf auth login" in bad and "HF_TOKEN" in bad and BAD_TOKEN not in bad + push.stderr + push.stdout
        assert hub.repo("dataset", "tester/bad") is None
        assert ("POST", "/api/repos/create") in hub.requests and hub.fail_next == 0

        samples_repo = hub.repo("dataset", SAMPLES_REPO)
        full_repo = hub.repo("model", "tester/tiny-ssd-full")
        changes = [(c.message, sorted(p for p in c.files if c.files[p] != prev.files.get(p)))
                   for prev, c in zip(full_repo.commits, full_repo.commits[1:])]
        # initial commit + one push; the second identical push made no commit.
        assert len(samples_repo.branch_commits("main")) == 2 and urls["samples_again"] == urls["samples"]
        # A push to a new branch starts from main, whose files are identical: no commit there either.
        assert samples_repo.branches["v1"] == samples_repo.branches["main"] and urls["samples_branch"].endswith(samples_repo.branches["v1"])
        # initial + model + base results + SSD results; re-pushing results or the same model made none.
        assert len(full_repo.branch_commits()) == 4 and urls["results_again"] == urls["results"] == urls["full_again"], changes
        head = full_repo.commits[-1].files
        assert "model.safetensors" in head and not any(p.startswith("checkpoint-") for p in head)
        assert sum(p.startswith("results/") for p in head) == 2 and "assets/results.png" in head
        assert hub.repo("model", "tester/tiny-ssd-lora").private
        assert "adapter_model.safetensors" in hub.repo("model", "tester/tiny-ssd-lora").commits[-1].files
        assert set(samples_repo.commits[-1].files) == {".gitattributes", "data/train-00000-of-00001.parquet",
                                                       "ssd_manifest.json", "README.md", "assets/completion_lengths.png"}

        # No byte pushed anywhere holds the token, and the token never reached the logs.
        leaks = [name for name, data in hub.all_pushed_bytes() if TOKEN.encode() in data]
        assert not leaks and TOKEN not in push.stdout + push.stderr

        sha = samples_repo.commits[-1].sha
        pull = _run(f"""
            import json, logging
            import datasets
            from huggingface_hub import DatasetCard, ModelCard
            from peft import PeftModel
            from transformers import AutoModelForCausalLM
            from ssd_hf import data
            logging.basicConfig(level=logging.WARNING)
            a = {artifacts!r}
            out = {{}}
            ds = datasets.load_dataset("{SAMPLES_REPO}", split="train")
            out["ds_rows"], out["ds_columns"] = len(ds), ds.column_names
            pinned = data.load_samples_dataset("{SAMPLES_REPO}@{sha}", expected_base_model="someone/other-model")
            out["pinned_rows"] = len(pinned)
            out["branch_rows"] = len(data.load_samples_dataset("{SAMPLES_REPO}@v1"))
            base = AutoModelForCausalLM.from_pretrained(a["tiny"])
            lora = PeftModel.from_pretrained(base, "tester/tiny-ssd-lora")
            out["lora_layers"] = sum("lora_A" in n for n, _ in lora.named_parameters())
            full = AutoModelForCausalLM.from_pretrained("tester/tiny-ssd-full")
            out["full_params"] = sum(p.numel() for p in full.parameters())
            card = ModelCard.load("tester/tiny-ssd-full")
            out["model_card"] = card.data.to_dict()
            out["model_text"] = card.text
            out["eval"] = [(r.dataset_name, r.metric_type, r.metric_value) for r in card.data.eval_results]
            dcard = DatasetCard.load("{SAMPLES_REPO}", repo_type="dataset")
            out["dataset_card"] = dcard.data.to_dict()
            out["dataset_text"] = dcard.text
            out["lora_card"] = ModelCard.load("tester/tiny-ssd-lora").data.to_dict()
            print("RESULT=" + json.dumps(out))
        """, hub, str(tmp_path / "pull-home"))
        assert pull.returncode == 0, pull.stderr[-3000:]
        got = json.loads(pull.stdout.split("RESULT=")[-1])

    assert got["ds_rows"] == got["pinned_rows"] == got["branch_rows"] == 6 and "completion" in got["ds_columns"]
    assert "drawn from tester/tiny-base" in pull.stderr and "someone/other-model" in pull.stderr
    assert got["lora_layers"] > 0 and got["full_params"] > 0

    model_card = got["model_card"]
    assert model_card["base_model"] == BASE_MODEL and model_card["datasets"] == [SAMPLES_REPO]
    assert model_card["library_name"] == "transformers" and "ssd" in model_card["tags"]
    assert got["lora_card"]["library_name"] == "peft" and "lora" in got["lora_card"]["tags"]
    # model-index carries only this model's own results (scale 1.25 -> 0.5 pass@1 overall).
    assert ("LiveCodeBench v6", "pass@1", 50.0) in [tuple(e) for e in got["eval"]]
    text = got["model_text"]
    assert "| all | 6 | 40.0 [30.0, 50.0] | 50.0 [40.0, 60.0] |" in text  # base vs SSD, pass@1 with CIs
    assert "temperature 1.1" in text and "| 1.6 | 20 | 0.8 | 64 | 2 | 7 | transformers |" in text

    dataset_card = got["dataset_card"]
    assert {"ssd", "self-distillation"} <= set(dataset_card["tags"]) and dataset_card["size_categories"] == ["n<1K"]
    assert dataset_card["base_model"] == BASE_MODEL
    assert "| 1.6 | 20 | 0.8 | 64 | 2 | 7 |" in got["dataset_text"]
    assert "| drop empty responses and single-line stubs | True | 2 |" in got["dataset_text"]
