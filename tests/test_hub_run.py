"""`ssd-hf run --push_to_hub true` against the loopback Hub: the run pushes through hub.py only.

The samples dataset is pushed when sampling is done, the model after training; the Trainer's own upload of
output_dir (training_args.bin with the token, the sample store with its machine-named shards) never happens.
The run is a real subprocess so that HF_ENDPOINT and online mode are read at import, as for a user.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap

import pyarrow as pa
import pyarrow.parquet as pq
from hub_fixtures import make_samples_dir
from hub_server import FakeHub
from huggingface_hub import DatasetCard, ModelCard

from ssd_hf import publish

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = os.path.join(ROOT, "ssd_hf", "data", "demo_prompts.jsonl")
TOKEN = "hf_" + secrets.token_hex(16)


def test_run_push_to_hub_pushes_samples_then_model_through_hub_py_without_token_or_local_paths(tiny_qwen3, tmp_path):
    out = tmp_path / "tiny-run"
    with FakeHub({TOKEN: "tester"}) as loopback:
        env = {**os.environ, "HF_ENDPOINT": loopback.url, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
               "HF_HOME": str(tmp_path / "home"), "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1",
               "PYTHONPATH": ROOT}
        env.pop("HF_TOKEN", None)  # the token reaches the run only as --hub_token
        # The prompt pool is a Hub dataset, so the recorded pool revision is a commit of the (loopback) Hub.
        script = f"""
            import sys
            from huggingface_hub import HfApi
            from ssd_hf.cli import main
            api = HfApi(token={TOKEN!r})
            api.create_repo("tester/prompts", repo_type="dataset")
            api.upload_file(path_or_fileobj={PROMPTS!r}, path_in_repo="prompts.jsonl", repo_id="tester/prompts",
                            repo_type="dataset")
            sys.exit(main(["run", "--model_name_or_path", {tiny_qwen3!r}, "--dataset_name", "tester/prompts",
                           "--output_dir", {str(out)!r}, "--max_prompts", "4", "--max_new_tokens", "16",
                           "--drop_empty_and_stubs", "false", "--max_length", "1024", "--max_steps", "1",
                           "--save_strategy", "steps", "--save_steps", "1", "--report_to", "none",
                           "--gradient_checkpointing", "false", "--push_to_hub", "true", "--hub_token", {TOKEN!r}]))
        """
        run = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=300)
        assert run.returncode == 0, run.stderr[-3000:]
        prompts_sha = loopback.repo("dataset", "tester/prompts").commits[-1].sha
        samples_repo = loopback.repo("dataset", "tester/tiny-run-samples")  # a bare name goes under the token's user
        model_repo = loopback.repo("model", "tester/tiny-run")
        pushed = loopback.all_pushed_bytes()
        order = [path for method, path in loopback.requests if method == "POST" and path.endswith("/commit/main")]

    # One commit each (after the repo's initial one): no checkpoint pushes, samples first, then the model.
    assert len(samples_repo.commits) == 2 and len(model_repo.commits) == 2
    assert order[-2:] == ["/api/datasets/tester/tiny-run-samples/commit/main", "/api/models/tester/tiny-run/commit/main"]
    assert set(samples_repo.commits[-1].files) == {".gitattributes", "README.md", "assets/completion_lengths.png",
                                                   "data/train-00000-of-00001.parquet", "ssd_manifest.json"}
    model_files = set(model_repo.commits[-1].files)
    assert {"model.safetensors", "config.json", "tokenizer.json", "ssd_provenance.json", "README.md"} <= model_files
    assert not [p for p in model_files if p == "training_args.bin" or "samples" in p or ".store" in p or "checkpoint" in p]

    # Not one pushed byte holds the token or a path of this machine; the token is in no log and no local file.
    machine_paths = [str(tmp_path), os.path.dirname(tiny_qwen3)]
    assert not [name for name, data in pushed if TOKEN.encode() in data]
    assert not [name for name, data in pushed if any(p.encode() in data for p in machine_paths)]
    assert TOKEN not in run.stdout + run.stderr
    local_files = [os.path.join(root, name) for root, _, names in os.walk(out) for name in names]
    assert os.path.join(out, "checkpoint-1", "training_args.bin") in local_files
    assert not [path for path in local_files if TOKEN.encode() in open(path, "rb").read()]

    manifest = json.loads(samples_repo.commits[-1].files["ssd_manifest.json"])
    assert manifest["model_id"] == os.path.basename(tiny_qwen3) and manifest["prompt_pool"]["revision"] == prompts_sha
    dataset_card = DatasetCard(samples_repo.commits[-1].files["README.md"].decode())
    assert f"| Prompt pool revision | {prompts_sha} |" in dataset_card.text
    model_card = ModelCard(model_repo.commits[-1].files["README.md"].decode())
    assert model_card.data.datasets == ["tester/tiny-run-samples"] and "ssd" in model_card.data.tags
    provenance = json.loads(model_repo.commits[-1].files["ssd_provenance.json"])
    assert provenance["samples_dataset"] == "tester/tiny-run-samples" and provenance["base_model"] == os.path.basename(tiny_qwen3)


def test_pushed_samples_are_data_and_a_manifest_without_local_paths_same_bytes_every_time(tmp_path):
    local_model = str(tmp_path / "models" / "tiny-base")
    samples = make_samples_dir(str(tmp_path / "samples"), model_id=local_model)
    files = publish.samples_files(samples)
    assert sorted(files) == ["data/train-00000-of-00001.parquet", "ssd_manifest.json"]
    assert str(tmp_path).encode() not in files["data/train-00000-of-00001.parquet"] + files["ssd_manifest.json"]
    assert json.loads(files["ssd_manifest.json"])["model_id"] == "tiny-base"
    assert publish.samples_files(samples) == files  # byte-identical: pushing the same samples again makes no commit
    table = pq.read_table(pa.BufferReader(files["data/train-00000-of-00001.parquet"]))
    assert table.num_rows == 6 and set(table.column("model_id").to_pylist()) == {"tiny-base"}
