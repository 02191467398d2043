"""Named problem sets and the transfer sets (MBPP sanitized, HumanEval+): what results.json says about the
problems, the count warning, the real Hub loading code against a loopback Hub, and the transfer sets'
rows judged through the sandbox (the reference solution passes, a wrong one fails)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import textwrap

import pandas as pd
from hub_server import Commit, FakeHub, Repo

from ssd_hf.cli import main
from ssd_hf.eval.problem_sets import ids_hash, selection_record
from ssd_hf.eval.transfer import FIXTURES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LCB_FIXTURES = os.path.join(ROOT, "ssd_hf", "data", "lcb_fixtures", "problems.jsonl")


def _rows(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def test_count_other_than_documented_is_one_warning_line_and_a_subset_none(caplog):
    with caplog.at_level(logging.WARNING, logger="ssd_hf"):
        record = selection_record("lcb-v6", "test", ["b", "a"])
        selection_record("lcb-v6", "test", ["a"], whole_set=False)
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0] and "lcb-v6 has 2 problems, documented 131" in warnings[0]
    assert record["ids_sha256"] == hashlib.sha256(b"a\nb").hexdigest() == ids_hash(["a", "b"])
    assert record["count"] == 2 and record["name"] == "lcb-v6" and record["documented_count"] == 131


def _write_solutions(path, rows):
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    return str(path)


def test_transfer_sets_judged_through_the_sandbox_and_recorded_by_name(tmp_path):
    mbpp, plus = _rows(FIXTURES["mbpp"]), _rows(FIXTURES["humaneval-plus"])
    mbpp_solutions = [{"task_id": f"Mbpp/{r['task_id']}", "completion": f"```python\n{r['code']}\n```"} for r in mbpp]
    mbpp_solutions.append({"task_id": "Mbpp/9001", "completion": "```python\ndef count_vowels(t):\n    return len(t)\n```"})
    plus_solutions = [{"task_id": r["task_id"], "completion": r["canonical_solution"]} for r in plus]
    plus_solutions.append({"task_id": plus[0]["task_id"], "completion": "    return value\n"})
    for bench, rows, solutions, ids in (("mbpp", mbpp, mbpp_solutions, [f"Mbpp/{r['task_id']}" for r in mbpp]),
                                        ("humaneval-plus", plus, plus_solutions, [r["task_id"] for r in plus])):
        out = tmp_path / bench
        assert main(["eval", "--benchmark", bench, "--problems", FIXTURES[bench], "--workers", "2", "--output", str(out),
                     "--solutions", _write_solutions(tmp_path / f"{bench}.jsonl", solutions)]) == 0
        results = json.loads((out / "results.json").read_text())
        selection = results["config"]["problem_selection"]
        assert results["benchmark"] == bench and selection["name"] == bench and selection["count"] == len(rows)
        assert selection["ids_sha256"] == ids_hash(ids)
        verdicts = {(s["question_id"], s["sample_index"]): s["verdict"] for s in results["samples"]}
        assert [verdicts[(i, 0)] for i in ids] == ["pass"] * len(ids)  # every reference solution passes
        assert verdicts[(ids[0], 1)] == "fail"  # and a wrong one fails


def _dataset_repo(repo_id: str, files: dict[str, bytes]) -> Repo:
    repo = Repo("dataset", repo_id, False, repo_id.split("/")[0])
    commit = Commit(hashlib.sha1(repo_id.encode()).hexdigest(), "seed", files)
    repo.commits.append(commit)
    repo.branches["main"] = commit.sha
    return repo


def _parquet(rows, path) -> bytes:
    pd.DataFrame(rows).to_parquet(path)
    with open(path, "rb") as f:
        return f.read()


MBPP_README = """---
configs:
- config_name: sanitized
  data_files:
  - split: test
    path: sanitized/test-*
---
"""


def test_named_sets_and_transfer_sets_load_from_the_hub_with_the_real_loading_code(tmp_path):
    lcb = _rows(LCB_FIXTURES)
    release = {"test.jsonl": lcb[5:], "test2.jsonl": [], "test3.jsonl": [], "test4.jsonl": [], "test5.jsonl": lcb[:2],
               "test6.jsonl": lcb[2:5]}
    lcb_files = {name: "".join(json.dumps(r) + "\n" for r in rows).encode() for name, rows in release.items()}
    repos = [_dataset_repo("livecodebench/code_generation_lite", lcb_files),
             _dataset_repo("google-research-datasets/mbpp", {
                 "README.md": MBPP_README.encode(),
                 "sanitized/test-00000-of-00001.parquet": _parquet(_rows(FIXTURES["mbpp"]), tmp_path / "m.parquet")}),
             _dataset_repo("evalplus/humanevalplus", {
                 "data/test-00000-of-00001.parquet": _parquet(_rows(FIXTURES["humaneval-plus"]), tmp_path / "h.parquet")})]
    script = """
        import json
        from ssd_hf.eval.problems import load_problems
        from ssd_hf.eval.transfer import load_transfer
        out = {name: load_problems(name)[1] for name in ("lcb-v6", "lcb-v6-delta", "lcb-release-v6", "lcb-v5-heldout")}
        out.update({name: load_transfer(name)[1] for name in ("mbpp", "humaneval-plus")})
        print(json.dumps(out))
    """
    with FakeHub({}) as hub:
        hub.repos.update({("dataset", r.repo_id): r for r in repos})
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_DATASETS_OFFLINE": "0",
               "HF_HOME": str(tmp_path / "home"), "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1",
               "PYTHONPATH": ROOT}
        run = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    got = json.loads(run.stdout.strip().splitlines()[-1])
    ids = {name: sorted(sel["question_ids"]) for name, sel in got.items()}
    assert ids["lcb-v6"] == sorted(r["question_id"] for r in lcb[:5])  # the paper's window, across the release files
    assert ids["lcb-v6-delta"] == sorted(r["question_id"] for r in lcb[2:5])  # test6.jsonl only
    assert ids["lcb-release-v6"] == sorted(r["question_id"] for r in lcb)
    assert ids["lcb-v5-heldout"] == [lcb[5]["question_id"]]
    assert ids["mbpp"] == sorted(f"Mbpp/{r['task_id']}" for r in _rows(FIXTURES["mbpp"]))
    assert ids["humaneval-plus"] == sorted(r["task_id"] for r in _rows(FIXTURES["humaneval-plus"]))
    for name, sel in got.items():
        assert sel["name"] == name and sel["ids_sha256"] == ids_hash(sel["question_ids"])
    # Each documented count differs from these few rows: one warning line per named set that has one.
    warned = [line for line in run.stderr.splitlines() if "documented" in line]
    assert len(warned) == 5, run.stderr[-2000:]
