"""Judge one candidate program against a problem's tests under a grader's rules (graders.py).

Every program runs in the sandbox; the tests' expected outputs and the comparison stay here. The first
failing test decides the verdict and later tests are not run, as upstream. Verdicts:
pass | fail (wrong answer) | timeout | runtime_error | no_code | judge_error. `judge_error` is any
exception while judging that is not the program's doing (a test that is not JSON, an output whose
comparison raises): that program gets it and the run goes on. Everything the program sends is data and
bounded: an answer longer than its test could need, nested too deep or unreadable is the program's
runtime_error; no flag of its can make a verdict ours. A sandbox that cannot start is no verdict at all
(SandboxStartError, after retries): the run reports it as unjudged and a rerun judges it (runner.py).
"""

from __future__ import annotations

import ast
import time
from decimal import InvalidOperation
from typing import NamedTuple

from .compare import call_answer_matches, decode_value, lines_match, load_json, mlssd_expected_text
from .graders import LCB, SCRIPT_RULES, Grader
from .problems import Problem
from .sandbox import KILLED_BY_LIMIT, ProtocolError, Sandbox, SandboxLimits, SandboxStartError, run_once
from .scrub import safe_detail

START_ATTEMPTS = 3  # a sandbox that fails to start is retried; then the sample stays unjudged
ANSWER_SLACK_BYTES = 64 * 1024

VERDICTS = ("pass", "fail", "timeout", "runtime_error", "no_code", "judge_error")
SNAN = "comparing the output raised decimal.InvalidOperation (a signaling NaN); upstream this is an error, not a pass"


class Judgement(NamedTuple):
    verdict: str
    detail: str


def _last_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1] if lines else ""


def _outputs_verdict(i: int, got: str, expected: str) -> Judgement | None:
    try:
        if lines_match(got, expected):
            return None
    except InvalidOperation:
        return Judgement("judge_error", f"test {i}: {SNAN}")
    return Judgement("fail", f"test {i}: wrong answer")


def check_stdin(code: str, tests: list[dict], grader: Grader, limits: SandboxLimits) -> Judgement:
    """One sandbox per program, each test a fresh process in it; lcb gives each test `timeout_s`,
    ml-ssd one budget for all of them."""
    left = grader.set_budget(limits.timeout_s, len(tests))
    total = limits.timeout_s * len(tests) if grader.per_test_limit else left
    config = {"mode": "stdin", "program": code, "rules": grader.rules}
    with Sandbox(config, limits, budget_s=total) as box:
        box.wait_ready()
        for i, test in enumerate(tests):
            allowed = limits.timeout_s if grader.per_test_limit else left
            if allowed <= 0:
                return Judgement("timeout", f"test {i}: the test set's time limit ran out")
            result = box.run_test(i, test["input"].encode("utf-8", "surrogatepass"), allowed)
            left -= result.seconds
            if result.status == "timeout":
                return Judgement("timeout", f"test {i}: over the time limit")
            if result.status == "output_limit":
                return Judgement("runtime_error", f"test {i}: more output than the {limits.output_bytes // 1024**2} MiB limit")
            if result.status == "error":
                why = _last_line(result.stderr) or f"exit status {result.returncode}"
                return Judgement("runtime_error", f"test {i}: {why}{_memory_note(box)}")
            bad = _outputs_verdict(i, result.stdout, test["output"])
            if bad:
                return bad
    return Judgement("pass", "")


def _memory_note(box: Sandbox) -> str:
    return " (out of memory: the program's processes reached the memory limit)" if box.out_of_memory() else ""


def answer_cap(expected_text: str) -> int:
    """The longest answer worth reading for a test: a right one is at most a few times its expected text
    (escapes, float digits, tags), so anything longer is refused before it is parsed."""
    return ANSWER_SLACK_BYTES + 8 * len(expected_text.encode("utf-8", "surrogatepass"))


def _reply(box: Sandbox, deadline: float, i: int, max_bytes: int = ANSWER_SLACK_BYTES) -> tuple[dict | None, Judgement | None]:
    """The runner's next message, or the verdict when there is none (time, a crash, a tampered channel)."""
    try:
        message = box.receive(deadline, max_bytes)
    except ProtocolError as exc:
        return None, Judgement("runtime_error", f"test {i}: {exc}")
    except EOFError:
        returncode = box.wait_exit(deadline)
        if returncode is None or returncode in KILLED_BY_LIMIT:
            return None, Judgement("timeout", f"test {i}: over the time or CPU limit")
        why = _last_line(box.stderr_tail()) or f"exit status {returncode}"
        return None, Judgement("runtime_error", f"test {i}: the program ended without an answer ({why}){_memory_note(box)}")
    if message is None:
        return None, Judgement("timeout", f"test {i}: over the time limit")
    if message.get("ok") is not True and message.get("defined") is not True:
        return None, Judgement("runtime_error", f"test {i}: {str(message.get('error', 'no answer'))[:300]}")
    return message, None


def _sent(box: Sandbox, text: str, deadline: float, i: int) -> Judgement | None:
    """Send a test's input; a program that stops reading it runs into the test's deadline."""
    if box.send(text, deadline):
        return None
    return Judgement("timeout", f"test {i}: over the time limit (the program stopped reading its input)")


def check_calls_lcb(code: str, func_name: str, tests: list[dict], limits: SandboxLimits) -> Judgement:
    """All tests in one process and one instance, as upstream; the definition and every call each get
    `timeout_s`, and a call's input is sent only when the previous answer has come back."""
    for i, test in enumerate(tests):
        try:
            [load_json(line) for line in test["input"].split("\n")]
        except ValueError:
            return Judgement("judge_error", f"test {i}: the input is not one JSON value per line")
    try:
        expected = [load_json(t["output"]) for t in tests]
    except ValueError as exc:
        return Judgement("judge_error", f"an expected output is not JSON ({exc})")
    config = {"mode": "call", "program": code, "rules": LCB.rules, "func_name": func_name}
    with Sandbox(config, limits, budget_s=limits.timeout_s * (len(tests) + 1)) as box:
        box.wait_ready()
        message, verdict = _reply(box, box.ready_at + limits.timeout_s, 0)
        if verdict:
            return Judgement(verdict.verdict, verdict.detail.replace("test 0", "defining the program", 1))
        for i, (test, want) in enumerate(zip(tests, expected)):
            deadline = time.monotonic() + limits.timeout_s
            verdict = _sent(box, test["input"], deadline, i)
            if not verdict:
                message, verdict = _reply(box, deadline, i, answer_cap(test["output"]))
            if verdict:
                return verdict
            try:
                got = decode_value(message["value"])
                matches = call_answer_matches(got, want)
            except RecursionError:
                return Judgement("runtime_error", f"test {i}: an answer nested too deeply to compare")
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                return Judgement("runtime_error", f"test {i}: an unreadable answer ({type(exc).__name__})")
            if not matches:
                return Judgement("fail", f"test {i}: wrong answer")
    return Judgement("pass", "")


def check_calls_mlssd(code: str, func_name: str, tests: list[dict], grader: Grader, limits: SandboxLimits) -> Judgement:
    """ml-ssd: one process, the program re-run for each test, one time budget for the whole set."""
    try:
        expected = [mlssd_expected_text(t["output"]) for t in tests]
    except ValueError as exc:
        return Judgement("judge_error", f"an expected output cannot be read ({exc})")
    budget = grader.set_budget(limits.timeout_s, len(tests))
    config = {"mode": "call", "program": code, "rules": grader.rules, "func_name": func_name}
    with Sandbox(config, limits, budget_s=budget) as box:
        box.wait_ready()
        deadline = box.ready_at + budget
        for i, (test, want) in enumerate(zip(tests, expected)):
            verdict = _sent(box, test["input"], deadline, i)
            if not verdict:
                message, verdict = _reply(box, deadline, i, answer_cap(want))
            if verdict:
                return verdict
            if not isinstance(message.get("text"), str):
                return Judgement("runtime_error", f"test {i}: an unreadable answer (the program wrote to the judge's channel)")
            bad = _outputs_verdict(i, message["text"], want)
            if bad:
                return bad
    return Judgement("pass", "")


def check_script(program: str, checks: str, entry_point: str, limits: SandboxLimits) -> Judgement:
    """HumanEval style: the dataset's checks call the candidate (in a process of its own, through data);
    the checks reaching their end is a pass."""
    config = {"mode": "checks", "program": program, "checks": checks, "entry_point": entry_point, "rules": SCRIPT_RULES}
    result = run_once(config, limits)
    if result.done:
        return Judgement("pass", "")
    if result.status == "timeout":
        return Judgement("timeout", "over the time limit")
    last = _last_line(result.stderr)
    return Judgement("fail" if last.startswith("AssertionError") else "runtime_error", last or f"exit status {result.returncode}")


def starter_function_name(starter: str) -> str | None:
    """ml-ssd's fallback when a problem names no function: the last function defined in the starter code
    (completed with a `pass` when it ends in a bare signature)."""
    lines = starter.rstrip().split("\n")
    if lines and lines[-1].rstrip().endswith(":"):
        indent = len(lines[-1]) - len(lines[-1].lstrip()) + 4
        starter = starter.rstrip() + "\n" + " " * indent + "pass"
    try:
        names = [n.name for n in ast.walk(ast.parse(starter)) if isinstance(n, ast.FunctionDef)]
    except SyntaxError:
        return None
    return names[-1] if names else None


def _check(problem: Problem, code: str | None, limits: SandboxLimits, completion: str, grader: Grader) -> Judgement:
    if "test" in problem.extra:  # HumanEval
        from .humaneval import humaneval_parts

        if code is None and not completion.strip():
            return Judgement("no_code", "")
        return check_script(*humaneval_parts(problem, completion, code), limits)
    if code is None:
        return Judgement("no_code", "no code block")
    tests = grader.tests_for(problem)
    if not problem.is_functional:
        return check_stdin(code, tests, grader, limits)
    func_name = problem.func_name or (starter_function_name(problem.starter_code) if grader.compare_calls_as_text else None)
    if not func_name:
        return Judgement("judge_error", "a functional problem without a function name (metadata.func_name)")
    if grader.compare_calls_as_text:
        return check_calls_mlssd(code, func_name, tests, grader, limits)
    return check_calls_lcb(code, func_name, tests, limits)


def check_candidate(problem: Problem, code: str | None, limits: SandboxLimits, completion: str = "",
                    grader: Grader = LCB) -> Judgement:
    """(verdict, detail) for one candidate. Never raises for what a program or a test contains: that is
    `judge_error`. The detail is scrubbed of secrets and capped before anyone writes it.
    Raises SandboxStartError when the sandbox would not start in `START_ATTEMPTS` tries: no verdict."""
    for attempt in range(START_ATTEMPTS):
        try:
            verdict, detail = _check(problem, code, limits, completion, grader)
            break
        except SandboxStartError:
            if attempt == START_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
        except Exception as exc:  # noqa: BLE001 - one program's judging must never end the run
            verdict, detail = "judge_error", f"{type(exc).__name__}: {exc}"
            break
    return Judgement(verdict, safe_detail(detail))
