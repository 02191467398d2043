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
from ssd_hf.eval.cli import main
from ssd_hf.eval.compare import lines_match as outputs_match
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


def test_extract_follows_the_graders_rules():
    text = "```python\nprint(1)\n```\nthen\n```py\nprint(2)\n```"
    assert extract_code(text) == "print(2)" and extract_code(text, "ml-ssd") == "print(2)\n"  # ml-ssd keeps the newline
    # lcb: between the last two fence lines whatever the tag, so a trailing non-Python block is what runs
    assert extract_code(text + "\n```text\nnot code\n```") == "not code"
    assert extract_code("no code at all") is None and extract_code("no code at all", "ml-ssd") is None
    assert extract_code("```\nprint(3)\n```") == "print(3)" and extract_code("```\nprint(3)\n```", "ml-ssd") == "print(3)\n"
    assert extract_code("```python\nprint(4)") is None  # unfinished final block: fewer than two fence lines
    assert extract_code("```python\r\nprint(5)\r\n```\r\n") == "print(5)\r"  # CRLF: found; Python accepts the \r
    assert extract_code("```python\r\nprint(5)\r\n```\r\n", "ml-ssd") is None  # ml-ssd's fence must end in \n


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


@pytest.mark.parametrize("grader", ["lcb", "ml-ssd"])
def test_cli_fixtures_correct_and_incorrect(tmp_path, grader):
    good = _eval(tmp_path / "g", "--problems", "fixtures", "--solutions", os.path.join(FIXTURE_DIR, "correct_solutions.jsonl"),
                 "--grader", grader)
    assert good["grader"]["name"] == grader
    assert good["aggregates"]["all"]["pass@1"]["value"] == 1.0
    assert good["aggregates"]["all"]["num_problems"] == 6 and {"easy", "medium", "hard"} <= set(good["aggregates"])
    assert all(s["verdict"] == "pass" and "draft" not in s["code"] for s in good["samples"])
    bad = _eval(tmp_path / "b", "--problems", "fixtures", "--solutions", os.path.join(FIXTURE_DIR, "incorrect_solutions.jsonl"),
                "--grader", grader)
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
    res = _eval(tmp_path, "--problems", "fixtures", "--solutions", str(path), "--start_date", "2025-02-01", "--end_date", "2025-02-28")
    assert res["config"]["problem_selection"]["question_ids"] == ["fx_sum", "fx_two_sum"]
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
    assert res["grader"]["name"] == "lcb"
    assert sum(p["c"] for p in res["problems"]) == 164 and res["aggregates"]["all"]["pass@1"]["value"] == 1.0
    empty = tmp_path / "empty.jsonl"
    empty.write_text("".join(json.dumps({"task_id": r["task_id"], "completion": ""}) + "\n" for r in rows))
    assert _eval(tmp_path / "e", "--benchmark", "humaneval", "--solutions", str(empty))["aggregates"]["all"]["pass@1"]["value"] == 0.0
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text("".join(json.dumps({"task_id": r["task_id"], "completion": "    return None\n"}) + "\n" for r in rows[:30]))
    res = _eval(tmp_path / "w", "--benchmark", "humaneval", "--solutions", str(wrong), "--limit", "30")
    assert res["aggregates"]["all"]["pass@1"]["value"] == 0.0


def test_humaneval_canonical_all_pass_under_the_ml_ssd_grader(tmp_path):
    with gzip.open(humaneval_path(), "rt") as f:
        rows = [json.loads(line) for line in f]
    canon = tmp_path / "canon.jsonl"
    canon.write_text("".join(json.dumps({"task_id": r["task_id"], "completion": r["canonical_solution"]}) + "\n" for r in rows))
    res = _eval(tmp_path / "c", "--benchmark", "humaneval", "--solutions", str(canon), "--grader", "ml-ssd")
    assert res["grader"]["name"] == "ml-ssd"
    assert sum(p["c"] for p in res["problems"]) == 164 and res["aggregates"]["all"]["pass@1"]["value"] == 1.0


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


# --- defects found by the audit of issue 3 ---------------------------------------------------------------------

@pytest.mark.parametrize("option,value", [("--temperature", "0"), ("--temperature", "-1"), ("--top_p", "1.5"), ("--top_p", "0"),
                                          ("--top_k", "-1"), ("--n", "0"), ("--sweep_temperature", "0:1:0.5")])
def test_cli_rejects_bad_decoding_options(tmp_path, option, value):
    with pytest.raises(SSDError, match=option):  # before any model is looked for
        main(["--model", str(tmp_path / "no-such-model"), "--problems", "fixtures", option, value, "--output", str(tmp_path / "o")])


def test_cli_temperature_zero_is_one_line_before_loading_anything(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "ssd_hf.cli", "eval", "--model", str(tmp_path / "no-such-model"),
                           "--problems", "fixtures", "--temperature", "0", "--output", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("ssd-hf eval: error: --temperature must be > 0")


def test_empty_solutions_file_is_an_error(tmp_path):
    for name, text in (("zero.jsonl", ""), ("blank.jsonl", "\n  \n\n")):
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(SSDError, match=f"no solutions in {path}"):
            main(["--problems", "fixtures", "--solutions", str(path), "--output", str(tmp_path / "o")])


def test_problems_without_solutions_count_as_failed(tmp_path, capsys):
    good = [json.loads(line) for line in open(os.path.join(FIXTURE_DIR, "correct_solutions.jsonl"))]
    path = tmp_path / "one.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in good if r["question_id"] == "fx_sum") * 2)  # n = 2
    res = _eval(tmp_path, "--problems", "fixtures", "--solutions", str(path))
    assert res["config"]["problems_without_solutions"] == 5 and res["config"]["n"] == 2
    assert res["aggregates"]["all"]["num_problems"] == 6
    assert res["aggregates"]["all"]["pass@1"]["value"] == pytest.approx(1 / 6)
    rows = {p["question_id"]: p for p in res["problems"]}
    assert rows["fx_sum"] == {"question_id": "fx_sum", "difficulty": "easy", "n": 2, "c": 2, "no_solutions": False}
    assert all(r["no_solutions"] and (r["n"], r["c"]) == (2, 0) for q, r in rows.items() if q != "fx_sum")
    assert "warning: 5 selected problem(s) had no solutions and count as failed" in capsys.readouterr().out


def test_gzip_problem_files_are_read(tmp_path):
    packed = tmp_path / "problems.jsonl.gz"
    with open(FIXTURES, "rb") as src, gzip.open(packed, "wb") as dst:
        dst.write(src.read())
    problems, selection = load_problems(str(packed))
    assert selection["count"] == 6 and problems[0].tests == load_problems("fixtures")[0][0].tests
    # HumanEval's own data file works as --problems too
    with gzip.open(humaneval_path(), "rt") as f:
        rows = [json.loads(line) for line in f][:3]
    canon = tmp_path / "canon.jsonl"
    canon.write_text("".join(json.dumps({"task_id": r["task_id"], "completion": r["canonical_solution"]}) + "\n" for r in rows))
    res = _eval(tmp_path, "--problems", humaneval_path(), "--solutions", str(canon), "--limit", "3")
    assert [p["c"] for p in res["problems"]] == [1, 1, 1]


def test_unreadable_problem_files_are_one_line_errors(tmp_path):
    binary = tmp_path / "binary.jsonl"
    binary.write_bytes(gzip.compress(b'{"question_id": "x"}\n'))  # gzip data under a plain name
    with pytest.raises(SSDError, match="not UTF-8"):
        load_problems(str(binary))
    fake = tmp_path / "fake.jsonl.gz"
    fake.write_text('{"question_id": "x"}\n')
    with pytest.raises(SSDError, match="gzip"):
        load_problems(str(fake))


@pytest.mark.parametrize("raw", [b"not a pickle at all", pickle.dumps("[]")[:-3], b"\x80\x04\x95garbage"])
def test_corrupt_private_tests_name_the_problem(tmp_path, raw):
    row = json.loads(open(FIXTURES).readline())
    row["private_test_cases"] = base64.b64encode(zlib.compress(raw)).decode()
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(SSDError, match=f"problem {row['question_id']}: private tests are not a readable pickle"):
        load_problems(str(path))


def test_humaneval_prompt_is_the_starter_code_form():
    from ssd_hf.eval.generation import problem_messages
    from ssd_hf.eval.humaneval import load_humaneval
    from ssd_hf.prompts import STARTER_INSTRUCTION, STDIN_INSTRUCTION
    from ssd_hf.records import PromptOptions

    problem = load_humaneval()[0][0]
    user = problem_messages(problem, PromptOptions())[-1]["content"]
    assert STARTER_INSTRUCTION in user and STDIN_INSTRUCTION not in user and "stdin" not in user
    assert f"```python\n{problem.extra['prompt'].rstrip()}\n```" in user


def test_humaneval_answers_in_a_code_block_are_judged_with_the_prompt(tmp_path):
    """A model answering the starter-code prompt gives a whole function or just its body in a block."""
    with gzip.open(humaneval_path(), "rt") as f:
        rows = [json.loads(line) for line in f][:4]
    solutions = tmp_path / "s.jsonl"
    lines = []
    for r in rows:
        lines.append({"task_id": r["task_id"], "completion": f"```python\n{r['prompt']}{r['canonical_solution']}```"})
        lines.append({"task_id": r["task_id"], "completion": f"Here:\n```python\n{r['canonical_solution']}```"})
    solutions.write_text("".join(json.dumps(x) + "\n" for x in lines))
    res = _eval(tmp_path, "--benchmark", "humaneval", "--solutions", str(solutions), "--limit", "4")
    assert [(p["n"], p["c"]) for p in res["problems"]] == [(2, 2)] * 4


def test_ml_ssd_grader_uses_its_prompt_form():
    """One user turn, no system prompt: the statement after 'Question:', then the stdin instruction with an
    empty code block, or the starter code in an open block."""
    from ssd_hf.eval.generation import problem_messages
    from ssd_hf.eval.graders import MLSSD
    from ssd_hf.records import PromptOptions

    problems = {p.question_id: p for p in load_problems("fixtures")[0]}
    stdin_msgs = problem_messages(problems["fx_sum"], PromptOptions(), MLSSD)
    assert [m["role"] for m in stdin_msgs] == ["user"]
    text = stdin_msgs[0]["content"]
    assert f"Question: {problems['fx_sum'].question_content}" in text and "stdin" in text and text.endswith("```")
    starter = problem_messages(problems["fx_two_sum"], PromptOptions(), MLSSD)[0]["content"]
    assert starter.endswith(f"```python\n{problems['fx_two_sum'].starter_code}\n") and "stdin" not in starter
