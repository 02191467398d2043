"""`ssd-hf push run OUTPUT_DIR --collection TITLE` against the loopback Hub, on the recipe smoke run.

The run folder is the `recipe_run` fixture's (`python recipes/qwen3_4b_instruct.py` on the tiny Qwen3:
samples -> model -> eval/results.json), with the base evaluated into its own folder and given as `--results`.
One push publishes the samples dataset, the model with `.eval_results/`, and the traces dataset, gathered in
a Collection; the second identical push makes no commit and adds no item. Pushes and pulls are real
subprocesses, so HF_ENDPOINT is read at import as it is for a user.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import textwrap

import yaml
from hub_server import FakeHub
from huggingface_hub import parse_eval_result_entries

from ssd_hf.eval_results import task_id
from ssd_hf.records import EvalResults

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "hf_" + secrets.token_hex(16)
TITLE = "SSD tiny recipe run"


def _env(hub: FakeHub, home: str) -> dict:
    env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0", "HF_HOME": home,
           "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1", "PYTHONPATH": ROOT}
    env.pop("HF_TOKEN", None)
    return env


def _push(ssd: str, base_results: str, env: dict) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ssd_hf.cli", "push", "run", ssd, "--collection", TITLE,
               "--results", base_results, "--token", TOKEN]
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _state(hub: FakeHub) -> dict:
    return {"heads": {(r.repo_type, r.repo_id): r.branches["main"] for r in hub.repos.values()},
            "items": {slug: [(i["type"], i["id"], (i.get("note") or {}).get("text")) for i in c.items]
                      for slug, c in hub.collections.items()}}


def test_push_run_publishes_eval_results_traces_and_a_collection_and_a_rerun_changes_nothing(recipe_run, tmp_path):
    ssd, base_results = recipe_run["ssd"], os.path.join(recipe_run["base_eval"], "results.json")
    with open(os.path.join(ssd, "eval", "results.json")) as handle:
        recorded = json.load(handle)
    with open(base_results) as handle:
        base_recorded = json.load(handle)
    model_repo, name = "tester/qwen3-4b-ssd", os.path.basename(ssd)
    with FakeHub({TOKEN: "tester"}) as hub:
        env = _env(hub, str(tmp_path / "home"))
        first = _push(ssd, base_results, env)
        assert first.returncode == 0, first.stderr[-3000:]
        after_first, requests = _state(hub), len(hub.requests)
        second = _push(ssd, base_results, env)
        assert second.returncode == 0, second.stderr[-3000:]
        writes = [(m, p) for m, p in hub.requests[requests:] if m in ("POST", "PATCH") and "/collections" in p]
        # the second push: no new commit anywhere, no collection write, the same items
        assert _state(hub) == after_first and writes == [], writes
        model = hub.repo("model", model_repo).commits[-1].files
        traces_repo = f"{model_repo}-eval-traces"
        slug = next(iter(hub.collections))
        load = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
            import json, datasets
            from huggingface_hub import HfApi
            names = datasets.get_dataset_config_names({traces_repo!r})
            rows = {{n: datasets.load_dataset({traces_repo!r}, n, split="test").to_list() for n in names}}
            found = HfApi(token={TOKEN!r}).get_collection({slug!r})  # read back with huggingface_hub's client
            items = [(i.item_type, i.item_id, i.note) for i in found.items]
            print("RESULT=" + json.dumps({{"rows": rows, "url": found.url, "title": found.title, "items": items}}))
        """)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert load.returncode == 0, load.stderr[-3000:]
        pushed = hub.all_pushed_bytes()

    read = json.loads(load.stdout.split("RESULT=")[1])
    assert first.stdout.strip().splitlines()[-1] == read["url"]
    # .eval_results/: this model's pass@1 and pass@5 as huggingface_hub parses them, the source its traces
    (path,) = [p for p in model if p.startswith(".eval_results/")]
    entries = parse_eval_result_entries(yaml.safe_load(model[path]))
    values = {e.task_id: e.value for e in entries}
    task = task_id(EvalResults.from_dict(recorded))  # the problem set's description as a slug
    measured = recorded["aggregates"]["all"]  # the smoke run's n=1 has no pass@5: then no pass@5 entry
    assert values == {task: round(100 * measured["pass@1"]["value"], 2),
                      **({f"{task}-pass@5": round(100 * measured["pass@5"]["value"], 2)} if "pass@5" in measured else {})}
    assert {e.source_url for e in entries} == {f"{hub.url}/datasets/{traces_repo}"} and entries[0].date
    assert f"T_eval {recorded['config']['decoding']['temperature']}" in entries[0].notes
    assert f"n={recorded['config']['n']}" in entries[0].notes and "grader lcb" in entries[0].notes
    assert "model-index" in model["README.md"].decode()  # the legacy form stays for older tools
    assert f"datasets/{traces_repo}" in model["README.md"].decode() and read["url"] in model["README.md"].decode()

    # the traces: one row per judged sample, base and SSD as two configs
    rows = read["rows"]
    assert sorted(rows) == ["custom-base", "custom-ssd"]
    assert len(rows["custom-ssd"]) == len(recorded["samples"]) and len(rows["custom-base"]) == len(base_recorded["samples"])
    row, sample = rows["custom-ssd"][0], recorded["samples"][0]
    assert (row["question_id"], row["verdict"], row["completion"]) == (sample["question_id"], sample["verdict"], sample["completion"])
    assert row["model"] == name and row["temperature"] == recorded["config"]["decoding"]["temperature"]

    # the collection lists every repo, each with a note
    assert [(kind, repo) for kind, repo, _ in read["items"]] == [
        ("model", model_repo), ("dataset", f"{model_repo}-samples"), ("dataset", traces_repo)]
    assert all(note for _, _, note in read["items"]) and read["title"] == TITLE
    # nothing pushed holds the token or a path of this machine
    assert not [n for n, data in pushed if TOKEN.encode() in data or str(tmp_path).encode() in data
                or os.path.dirname(ssd).encode() in data]
