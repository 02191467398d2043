"""Judge one candidate program against a problem's tests, the way LiveCodeBench grades.

stdin problems: output and expected are compared line by line after stripping whitespace; a line that
differs as text still matches when every whitespace-separated token parses as a number and the numbers
are equal (so `1.0` matches `1` and `0.50` matches `0.5`; LCB compares such tokens as Decimals).
Functional problems: `Solution().<func_name>(*args)` on the JSON-decoded arguments (one JSON value per
input line), result compared with the expected JSON value (tuples become lists, as in LCB); each call
has its own time limit.
The first failing test decides the verdict; later tests are not run.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation

from .problems import Problem
from .sandbox import RunResult, SandboxLimits, run_program, scrub_secrets

VERDICTS = ("pass", "fail", "timeout", "runtime_error", "no_code")


def _as_numbers(line: str) -> list[Decimal] | None:
    try:
        return [Decimal(tok) for tok in line.split()]
    except InvalidOperation:
        return None


def outputs_match(got: str, expected: str) -> bool:
    """LCB stdin comparison: same number of non-trailing lines, each equal as text or as numbers."""
    got_lines = got.strip().split("\n")
    exp_lines = expected.strip().split("\n")
    if len(got_lines) != len(exp_lines):
        return False
    for g, e in zip(got_lines, exp_lines):
        g, e = g.strip(), e.strip()
        if g == e:
            continue
        gn, en = _as_numbers(g), _as_numbers(e)
        if gn is None or en is None or gn != en:
            return False
    return True


def _run_verdict(result: RunResult) -> str | None:
    if result.status == "timeout":
        return "timeout"
    if result.status == "error":
        return "runtime_error"
    return None


def check_stdin(code: str, tests: list[dict], limits: SandboxLimits) -> tuple[str, str]:
    for i, test in enumerate(tests):
        result = run_program(code, test["input"], limits, mode="stdin")
        verdict = _run_verdict(result)
        if verdict:
            return verdict, f"test {i}: {result.stderr.strip().splitlines()[-1:] or result.returncode}"
        if not outputs_match(result.stdout, test["output"]):
            return "fail", f"test {i}: wrong answer"
    return "pass", ""


def _same(got, expected) -> bool:
    return json.loads(json.dumps(got)) == expected


def check_functional(code: str, func_name: str, tests: list[dict], limits: SandboxLimits) -> tuple[str, str]:
    """All calls in one sandbox process, each with its own `timeout_s`; the first wrong answer ends the run."""
    try:
        inputs = [[json.loads(line) for line in t["input"].split("\n") if line.strip()] for t in tests]
        expected = [json.loads(t["output"]) for t in tests]
    except json.JSONDecodeError as exc:
        raise ValueError(f"functional test is not JSON: {exc}") from exc

    def correct(i: int, got: dict) -> bool:
        return bool(got.get("ok")) and _same(got["result"], expected[i])

    result = run_program(code, "", limits, mode="call", func_name=func_name, call_inputs=inputs, keep_going=correct)
    for i, exp in enumerate(expected):
        if i >= len(result.call_results):
            verdict = _run_verdict(result) or "runtime_error"
            return verdict, f"test {i}: no result ({result.stderr.strip().splitlines()[-1:] or result.returncode})"
        got = result.call_results[i]
        if not got.get("ok"):
            return "runtime_error", f"test {i}: {got.get('error', '')[:200]}"
        if not _same(got["result"], exp):
            return "fail", f"test {i}: wrong answer"
    return "pass", ""


def check_script(program: str, limits: SandboxLimits) -> tuple[str, str]:
    """HumanEval style: the program contains its own asserts; a clean exit is a pass."""
    result = run_program(program, "", limits, mode="script")
    if result.status == "timeout":
        return "timeout", ""
    if result.status == "error":
        last = (result.stderr.strip().splitlines() or [""])[-1]
        return ("fail" if last.startswith("AssertionError") else "runtime_error"), last[:200]
    return "pass", ""


def check_candidate(problem: Problem, code: str | None, limits: SandboxLimits, completion: str = "") -> tuple[str, str]:
    """(verdict, detail) for one candidate; verdict is one of VERDICTS. The detail quotes what the program
    printed, so secret values of our environment are scrubbed from it."""
    verdict, detail = _check(problem, code, limits, completion)
    return verdict, scrub_secrets(detail)


def _check(problem: Problem, code: str | None, limits: SandboxLimits, completion: str) -> tuple[str, str]:
    if "test" in problem.extra:  # HumanEval
        from .humaneval import humaneval_program

        if code is None and not completion.strip():
            return "no_code", ""
        return check_script(humaneval_program(problem, completion, code), limits)
    if code is None:
        return "no_code", "no ```python block"
    if problem.is_functional:
        return check_functional(code, problem.func_name or "", problem.tests, limits)
    return check_stdin(code, problem.tests, limits)
