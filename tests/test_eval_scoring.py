"""Scoring pieces on real data: pass@k against brute force, LCB comparison, extraction, private-test
decoding (and refusal of hostile pickles), selection, and `ssd-hf eval` on fixtures and HumanEval."""

import base64
import gzip
import itertools
import json
import os
import pickle
import subprocess
import sys
import zlib

import pytest

from ssd_hf.errors import SSDError
from ssd_hf.eval.checking import outputs_match
from ssd_hf.eval.cli import main
from ssd_hf.eval.extract import extract_code
from ssd_hf.eval.humaneval import humaneval_path
from ssd_hf.eval.passk import aggregate, pass_at_k
from ssd_hf.eval.problems import FIXTURES, decode_private_tests, encode_private_tests, load_problems

FIXTURE_DIR = os.path.dirname(FIXTURES)


@pytest.mark.parametrize("n,c,k", [(5, 0, 1), (5, 2, 1), (5, 2, 3), (6, 3, 5), (4, 4, 2), (7, 1, 7)])
def test_pass_at_k_matches_enumeration(n, c, k):
    outcomes = [1] * c + [0] * (n - c)
    subsets = list(itertools.combinations(range(n), k))
    brute = sum(any(outcomes[i] for i in s) for s in subsets) / len(subsets)
    assert pass_at_k(n, c, k) == pytest.approx(brute)


def test_aggregate_has_ci_around_mean_and_only_valid_k():
    agg = aggregate([(10, 0), (10, 5), (10, 10), (10, 3)])
    assert set(agg) == {"num_problems", "pass@1", "pass@5", "pass@10"}
    p1 = agg["pass@1"]
    assert p1["value"] == pytest.approx((0 + 0.5 + 1 + 0.3) / 4)
    assert 0 <= p1["ci_low"] <= p1["value"] <= p1["ci_high"] <= 1 and p1["ci_low"] < p1["ci_high"]
    assert "pass@5" not in aggregate([(4, 1)])


def test_outputs_match_lcb_rules():
    assert outputs_match("3\n", "3")
    assert outputs_match("1 2  \n3\n\n", "1 2\n3")
    assert outputs_match("2.5\n", "2.500000\n")
    assert outputs_match("1.0 2\n", "1 2.00\n")
    assert not outputs_match("2.5001", "2.5")
    assert not outputs_match("1 2\n3", "1 2 3")
    assert not outputs_match("yes", "Yes")


def test_extract_takes_last_python_block():
    text = "```python\nprint(1)\n```\nthen\n```py\nprint(2)\n```\n```text\nnot code\n```"
    assert extract_code(text) == "print(2)"
    assert extract_code("no code at all") is None
    assert extract_code("```\nprint(3)\n```") is None
    assert extract_code("```python\nprint(4)") == "print(4)"  # unfinished final block (max_new_tokens hit)


def test_private_tests_roundtrip_and_hostile_pickle_refused(tmp_path):
    tests = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    assert decode_private_tests(encode_private_tests(tests)) == tests
    flag = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {flag}",))

    blob = base64.b64encode(zlib.compress(pickle.dumps(Evil()))).decode()
    with pytest.raises(SSDError, match="only plain strings"):
        decode_private_tests(blob)
    assert not flag.exists()
    with pytest.raises(SSDError):
        decode_private_tests(base64.b64encode(zlib.compress(pickle.dumps([1, 2]))).decode())


def test_fixture_selection_by_date_window():
    problems, selection = load_problems("fixtures", "2025-02-01", "2025-05-31")
    assert selection["count"] == 5 and "fx_old_sum3" not in selection["question_ids"]
    assert {p.difficulty for p in problems} == {"easy", "medium", "hard"}
    assert sum(p.is_functional for p in problems) == 2
    assert all(len(p.tests) >= 3 for p in problems)  # public + decoded private


def _eval(tmp_path, *argv):
    out = tmp_path / "out"
    assert main([*argv, "--output", str(out), "--workers", "2"]) == 0
    return json.loads((out / "results.json").read_text())


def test_cli_fixtures_correct_and_incorrect(tmp_path):
    good = _eval(tmp_path / "g", "--problems", "fixtures", "--solutions", os.path.join(FIXTURE_DIR, "correct_solutions.jsonl"))
    assert good["aggregates"]["all"]["pass@1"]["value"] == 1.0
    assert good["aggregates"]["all"]["num_problems"] == 6 and {"easy", "medium", "hard"} <= set(good["aggregates"])
    assert all(s["verdict"] == "pass" and "draft" not in s["code"] for s in good["samples"])
    bad = _eval(tmp_path / "b", "--problems", "fixtures", "--solutions", os.path.join(FIXTURE_DIR, "incorrect_solutions.jsonl"))
    assert bad["aggregates"]["all"]["pass@1"]["value"] == 0.0
    assert {s["verdict"] for s in bad["samples"]} == {"fail", "no_code", "runtime_error"}
    assert [p["c"] for p in bad["problems"]] == [0] * 6
    assert bad["config"]["problem_selection"]["count"] == 6


def test_cli_several_rows_per_problem_give_pass_at_k(tmp_path):
    good = [json.loads(line) for line in open(os.path.join(FIXTURE_DIR, "correct_solutions.jsonl"))]
    bad = [json.loads(line) for line in open(os.path.join(FIXTURE_DIR, "incorrect_solutions.jsonl"))]
    rows = [r for r in good + bad + bad + bad + bad if r["question_id"] in ("fx_sum", "fx_two_sum")]  # n=5, c=1 each
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = _eval(tmp_path, "--problems", "fixtures", "--solutions", str(path), "--start_date", "2025-02-01")
    assert res["aggregates"]["all"]["num_problems"] == 2
    assert res["aggregates"]["all"]["pass@1"]["value"] == pytest.approx(0.2)
    assert res["aggregates"]["all"]["pass@5"]["value"] == pytest.approx(1.0)
    assert res["config"]["n"] == 5


def test_humaneval_canonical_all_pass_and_empty_or_wrong_zero(tmp_path):
    with gzip.open(humaneval_path(), "rt") as f:
        rows = [json.loads(line) for line in f]
    assert len(rows) == 164
    canon = tmp_path / "canon.jsonl"
    canon.write_text("".join(json.dumps({"task_id": r["task_id"], "completion": r["canonical_solution"]}) + "\n" for r in rows))
    res = _eval(tmp_path / "c", "--benchmark", "humaneval", "--solutions", str(canon))
    assert sum(p["c"] for p in res["problems"]) == 164 and res["aggregates"]["all"]["pass@1"]["value"] == 1.0
    empty = tmp_path / "empty.jsonl"
    empty.write_text("".join(json.dumps({"task_id": r["task_id"], "completion": ""}) + "\n" for r in rows))
    assert _eval(tmp_path / "e", "--benchmark", "humaneval", "--solutions", str(empty))["aggregates"]["all"]["pass@1"]["value"] == 0.0
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text("".join(json.dumps({"task_id": r["task_id"], "completion": "    return None\n"}) + "\n" for r in rows[:30]))
    res = _eval(tmp_path / "w", "--benchmark", "humaneval", "--solutions", str(wrong), "--limit", "30")
    assert res["aggregates"]["all"]["pass@1"]["value"] == 0.0


def test_cli_bad_inputs_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question_id": "nope", "completion": "x"}\n')
    for argv in (["--problems", str(tmp_path / "missing.jsonl"), "--solutions", str(bad)], ["--problems", "fixtures"]):
        with pytest.raises(SSDError):
            main([*argv, "--output", str(tmp_path / "o")])
    # through the real dispatcher: exit 2, one line, no traceback
    proc = subprocess.run([sys.executable, "-m", "ssd_hf.cli", "eval", "--problems", "fixtures", "--solutions", str(bad),
                           "--output", str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "unknown problem id" in proc.stderr + proc.stdout
