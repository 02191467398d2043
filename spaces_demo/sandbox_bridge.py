"""The Space's door to the evaluator: code extraction and running a problem's tests in the project's sandbox.

Both are the evaluator's own (`ssd_hf.eval.extract`, `ssd_hf.eval.checking`), so a verdict here means
what it means in `ssd-hf eval`. Generated code never runs in the Space's own process; when the sandbox
is not installed the "Run the tests" button says so instead of running anything.
"""

from __future__ import annotations

import importlib
import json
import logging
import re

from demo_config import Problem

logger = logging.getLogger(__name__)

PYTHON_BLOCK = re.compile(r"```python[^\n]*\n(.*?)```", re.DOTALL)
VERDICT_TEXT = {
    "pass": "**pass**: every test gives the expected output",
    "fail": "**fail**: a test gave a wrong answer (checking stops at the first failing test, as LiveCodeBench does)",
    "timeout": "**timeout**: a test ran past the time limit",
    "runtime_error": "**runtime error**: the program crashed on a test",
    "no_code": "**no code**: the completion has no ```python block (it counts as wrong)",
}


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def extract_code(completion: str) -> str | None:
    """The last fenced code block, as the evaluator scores it (its own rule when installed)."""
    extract = _module("ssd_hf.eval.extract")
    if extract is not None:
        return extract.extract_code(completion)
    blocks = PYTHON_BLOCK.findall(completion or "")
    return blocks[-1] if blocks else None


def sandbox_status() -> str:
    if _module("ssd_hf.eval.checking") is None:
        return "_Test runs are off: the project's sandbox (`ssd_hf.eval.checking`) is not installed here._"
    return ("_**Run the tests** runs the extracted code on the problem's tests in the project's sandbox "
            "(separate process, CPU / memory / time limits, no network)._")


def _as_list(value) -> list:
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else []
    return list(value or [])


def problem_tests(problem: Problem) -> tuple[list, str]:
    """The problem's tests as the checker's TestCase objects, and which tests they are (for the verdict).

    Private tests are used when the evaluator can decode them (`ssd_hf.eval.problems`); otherwise the
    public ones only, and the verdict says so.
    """
    from ssd_hf.eval.checking import TestCase

    public = [TestCase(t["input"], t["output"], t.get("testtype", "stdin")) for t in _as_list(problem.row.get("public_test_cases"))]
    private, private_error = [], None
    problems = _module("ssd_hf.eval.problems")
    decode = getattr(problems, "decode_private_tests", None) if problems else None
    if problem.row.get("private_test_cases") and decode is not None:
        try:
            private = [TestCase(t["input"], t["output"], t.get("testtype", "stdin")) for t in decode(problem.row["private_test_cases"])]
        except Exception as error:  # noqa: BLE001 - fall back to public tests, and say so
            private_error = str(error).splitlines()[0] if str(error) else type(error).__name__
    if private:
        return public + private, f"{len(public)} public + {len(private)} private tests"
    note = f" (private tests unreadable: {private_error})" if private_error else ""
    return public, f"{len(public)} public tests{note}"


def _func_name(problem: Problem) -> str | None:
    metadata = problem.row.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata) if metadata.strip() else {}
    return metadata.get("func_name")


def run_tests(problem: Problem, code: str | None) -> str:
    """Markdown verdict for `code` on the problem's tests, or why it could not run."""
    if not (code or "").strip():
        return VERDICT_TEXT["no_code"]
    checking = _module("ssd_hf.eval.checking")
    if checking is None:
        return "Cannot run tests: the project's sandbox (`ssd_hf.eval.checking`) is not available in this install."
    if not problem.has_tests:
        return f"{problem.title} ships without tests, so there is nothing to run."
    tests, which = problem_tests(problem)
    if not tests:
        return f"{problem.title} has no readable tests, so there is nothing to run."
    verdict = checking.check_program(code, tests, func_name=_func_name(problem))
    logger.info("tests of %s: %s on %s", problem.question_id, verdict, which)
    return f"{VERDICT_TEXT.get(verdict, verdict)} — {which}."
