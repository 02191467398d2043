"""The Space's door to the evaluator: code extraction and running a problem's tests in the project's sandbox.

Generated code never runs in the Space's own process; when the sandbox of `ssd_hf.eval` is not there,
the "Run the tests" button says so instead of running anything.
"""

from __future__ import annotations

import importlib
import logging
import re

from demo_config import Problem

logger = logging.getLogger(__name__)

PYTHON_BLOCK = re.compile(r"```python[^\n]*\n(.*?)```", re.DOTALL)


def _module(name: str):
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def extract_code(completion: str) -> str | None:
    """The last ```python block, as the evaluator scores it (the evaluator's own rule when it exists)."""
    problems = _module("ssd_hf.eval.problems")
    if problems is not None and hasattr(problems, "extract_code"):
        return problems.extract_code(completion)
    blocks = PYTHON_BLOCK.findall(completion or "")
    return blocks[-1] if blocks else None


def sandbox_status() -> str:
    if _module("ssd_hf.eval.sandbox") is None:
        return "_Test runs are off: the project's sandbox (`ssd_hf.eval.sandbox`) is not installed here._"
    return "_Run the tests executes the extracted code in the project's sandbox (separate process, limits, no network)._"


def run_tests(problem: Problem, code: str | None) -> str:
    """Markdown verdict for `code` on the problem's tests, or why it could not run."""
    if not (code or "").strip():
        return "No extracted code to test: the completion has no ```python block (it counts as wrong)."
    if not problem.has_tests:
        return f"{problem.title} ships without tests, so there is nothing to run."
    if _module("ssd_hf.eval.sandbox") is None:
        return "Cannot run tests: the project's sandbox (`ssd_hf.eval.sandbox`) is not available in this install."
    return "Cannot run tests: this version of the Space does not know the sandbox's interface yet."
