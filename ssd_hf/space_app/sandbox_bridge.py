"""How the Space judges an answer: a coding answer by the problem's tests in the project's sandbox, a toy
model's answer by the toy world's PASS rule.

Both rules are the project's own (`ssd_hf.eval.extract` and `ssd_hf.eval.checking` as `ssd-hf eval` uses
them; `ssd_hf.analysis.toy_learned.passes` as the toy's evaluation uses it), so a verdict here means what
it means there. Generated code never runs in the Space's own process; where bubblewrap cannot run (a
Space's container may not allow it) the "Run the tests" button says so instead of running anything.
"""

from __future__ import annotations

import logging

from ..errors import first_line
from .demo_config import Problem

logger = logging.getLogger(__name__)

VERDICT_TEXT = {
    "pass": "**pass**: every test gives the expected output",
    "fail": "**fail**: a test gave a wrong answer (checking stops at the first failing test, as LiveCodeBench does)",
    "timeout": "**timeout**: a test ran past the time limit",
    "runtime_error": "**runtime error**: the program crashed on a test",
    "no_code": "**no code**: the completion has no ```python block, nor any other fenced block (it counts as wrong)",
    "judge_error": "**judge error**: the tests could not be judged for this program (it counts as wrong)",
    "unjudged": "**not judged**: the sandbox would not start on this machine (no verdict; it counts in no score)",
}


TOY_RULE = "tok0 or tok1 at the root, then tok0 at the fork and at each of the three locks"
TOY_BUTTON = "Judge by the toy's PASS rule"


def toy_verdict(completion: str) -> str:
    """PASS or FAIL of a toy answer, with the rule and the words judged (a toy answer is not code)."""
    from ..analysis.toy_learned import passes

    words = " ".join((completion or "").split()) or "nothing"
    verdict = "PASS" if passes(completion or "") else "FAIL"
    return f"**{verdict}** by the toy's rule ({TOY_RULE}): `{words}`"


def extract_code(completion: str) -> str | None:
    """The program the evaluator would run (LiveCodeBench's rule: the last fenced block)."""
    from ..eval.extract import extract_code as extract

    return extract(completion)


def sandbox_problem() -> str | None:
    """Why bubblewrap cannot run here, or None when it can."""
    from ..eval.isolation import bwrap_problem

    return bwrap_problem()


def sandbox_status() -> str:
    problem = sandbox_problem()
    if problem is not None:
        return f"_Test runs are off: the project's sandbox (bubblewrap) cannot run here ({problem})._"
    return ("_**Run the tests** runs the extracted code on all the problem's tests (public and private) in the "
            "project's sandbox (bubblewrap: its own read-only root, no network, CPU / memory / time limits) "
            "under LiveCodeBench's rules._")


def run_tests(problem: Problem, code: str | None) -> str:
    """Markdown verdict for `code` on the problem's tests, or why it could not run."""
    if not (code or "").strip():
        return VERDICT_TEXT["no_code"]
    problem_here = sandbox_problem()
    if problem_here is not None:  # never run model-written code without the sandbox
        return f"Cannot run tests: the project's sandbox (bubblewrap) cannot run here ({problem_here})."
    if not problem.has_tests:
        return f"{problem.title} ships without tests, so there is nothing to run."
    from ..eval.checking import check_candidate
    from ..eval.problems import problem_from_row
    from ..eval.sandbox import SandboxLimits, SandboxStartError

    try:
        checked = problem_from_row(problem.row)  # decodes private tests with the evaluator's safe unpickler
    except Exception as error:  # noqa: BLE001 - a bad fixture row is reported in the pane
        return f"Cannot read the tests of {problem.title}: {first_line(error)}"
    try:
        verdict, detail = check_candidate(checked, code, SandboxLimits(sandbox="bwrap"))
    except SandboxStartError as error:
        verdict, detail = "unjudged", first_line(error)
    logger.info("tests of %s: %s %s", problem.question_id, verdict, detail)
    detail = f" ({detail})" if detail else ""
    return f"{VERDICT_TEXT.get(verdict, verdict)}{detail}; {len(checked.tests)} tests."
