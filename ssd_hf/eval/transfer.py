"""Transfer sets: MBPP (sanitized) and HumanEval+ from the Hub, judged like HumanEval (sandbox_checks.py).

Why: one benchmark moving alone is a warning that SSD taught the model its own habits; the usual other
two are MBPP and HumanEval+. Both load with `datasets.load_dataset` from their Hub repos (parquet, no
loading script). HumanEval+ rows have HumanEval's schema and its `check(candidate)` tests. An MBPP row's
`test_list` asserts become a `check(candidate)` whose asserts call the function by its name (the checks'
process binds that name to the candidate's proxy), and its `test_imports` run first, as in MBPP's harness.
The prompt is MBPP's own: the task, then "Your code should pass these tests:" and the asserts.
"""

from __future__ import annotations

import ast
import builtins
import os

from ..errors import SSDError
from .problem_sets import PROBLEM_SETS, selection_record
from .problems import Problem, humaneval_problem

HUB_SOURCES = {  # name -> (repo id, config, split)
    "mbpp": ("google-research-datasets/mbpp", "sanitized", "test"),
    "humaneval-plus": ("evalplus/humanevalplus", None, "test"),
}
FIXTURES = {
    "mbpp": os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "transfer_fixtures", "mbpp_sanitized.jsonl"),
    "humaneval-plus": os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "transfer_fixtures", "humanevalplus.jsonl"),
}


def mbpp_entry_point(row: dict) -> str:
    """The function the asserts call that the reference code defines (the first one called, if several)."""
    defined = set()
    try:
        defined = {n.name for n in ast.walk(ast.parse(row.get("code") or "")) if isinstance(n, ast.FunctionDef)}
    except SyntaxError:
        pass
    for test in row["test_list"]:
        try:
            calls = [n.func.id for n in ast.walk(ast.parse(test)) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
        except SyntaxError:
            continue
        names = [c for c in calls if c in defined] or [c for c in calls if not hasattr(builtins, c)]
        if names:
            return names[0]
    raise SSDError(f"MBPP task {row.get('task_id')}: no function call found in its test_list; the row is not MBPP's schema")


def mbpp_problem(row: dict) -> Problem:
    """An MBPP sanitized row as a HumanEval-style problem (extra: prompt, test, entry_point)."""
    missing = [k for k in ("task_id", "prompt", "test_list") if k not in row]
    if missing:
        raise SSDError(f"MBPP row lacks {missing}; rows need google-research-datasets/mbpp's sanitized columns")
    entry = mbpp_entry_point(row)
    tests = list(row["test_list"])
    checks = "def check(candidate):\n" + "".join(f"    {t.strip()}\n" for t in tests)
    text = f"{row['prompt'].strip()} Your code should pass these tests:\n\n" + "\n".join(tests)
    return Problem(question_id=f"Mbpp/{row['task_id']}", question_content=text, func_name=entry,
                   extra={"prompt": "\n".join(row.get("test_imports") or []), "test": checks, "entry_point": entry,
                          "canonical_solution": row.get("code") or ""})


def rows_for(name: str, data_files: str | None = None, revision: str | None = None) -> list[dict]:
    """The set's rows through `datasets.load_dataset`: from the Hub, or (tests) a JSONL of the same schema."""
    import datasets

    repo, config, split = HUB_SOURCES[name]
    try:
        if data_files:
            ds = datasets.load_dataset("json", data_files=data_files, split="train")
        else:
            ds = datasets.load_dataset(repo, config, split=split, revision=revision)
    except Exception as exc:  # noqa: BLE001 - offline, missing repo, bad file: one line either way
        where = data_files or f"{repo}{'/' + config if config else ''} ({split})"
        raise SSDError(f"cannot load {name} from {where} ({type(exc).__name__}); check the network / "
                       "HF_HUB_OFFLINE, or pass the rows as a JSONL file") from None
    return [dict(row) for row in ds]


def load_transfer(name: str, data_files: str | None = None, limit: int | None = None,
                  revision: str | None = None) -> tuple[list[Problem], dict]:
    """A transfer set's problems and its selection record (name, count, ids hash)."""
    if name not in HUB_SOURCES:
        raise SSDError(f"unknown transfer set {name!r}; choose one of {', '.join(HUB_SOURCES)}")
    rows = rows_for(name, data_files, revision)
    problems = [mbpp_problem(r) for r in rows] if name == "mbpp" else [humaneval_problem(r) for r in rows]
    description = PROBLEM_SETS[name].description + (f", rows from {os.path.basename(data_files)}" if data_files else "")
    if limit:
        problems, description = problems[:limit], description + f", first {limit}"
    if not problems:
        raise SSDError(f"no problems in {name}; check the rows")
    whole = not (limit or data_files)
    return problems, selection_record(name, description, [p.question_id for p in problems], whole_set=whole)
