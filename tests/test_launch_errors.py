"""`ssd-hf eval --solutions` under `accelerate launch` with two processes (CPU ranks over gloo): it scores once and
writes one results.json; a bad input gives its one line once (the first rank that meets it), and no rank's traceback.
(The launcher itself still reports that a process failed.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SOLUTION = "```python\nprint(sum(map(int, input().split())))\n```"


def launch(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "ssd_hf.cli", *argv],
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT}, cwd=ROOT,
        capture_output=True, text=True, timeout=300)


def test_two_ranks_score_given_solutions_once(tmp_path):
    solutions = tmp_path / "solutions.jsonl"
    solutions.write_text(json.dumps({"question_id": "fx_sum", "completion": SOLUTION}) + "\n")
    done = launch("eval", "--problems", "fixtures", "--solutions", str(solutions), "--output", str(tmp_path / "out"),
                  "--workers", "1", "--limit", "2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    assert done.stdout.count("results: ") == 1
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [s["verdict"] for s in results["samples"]] == ["pass"]


def test_a_bad_input_under_a_launch_is_one_line_from_one_rank(tmp_path):
    done = launch("eval", "--problems", "fixtures", "--solutions", str(tmp_path / "nosuch.jsonl"), "--output",
                  str(tmp_path / "out"), "--workers", "1")
    assert done.returncode != 0
    ours = [line for line in done.stderr.splitlines() if line.startswith("ssd-hf eval: error:")]
    assert len(ours) == 1 and "nosuch.jsonl does not exist" in ours[0], done.stderr[-3000:]
    assert "ssd_hf/" not in done.stderr.replace(str(tmp_path), "")  # no frame of ours: no rank's traceback
