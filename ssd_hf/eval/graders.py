"""The graders: whose rules a verdict follows. Each is a named, versioned set of rules recorded in
results.json, so a score says what it can be compared with.

lcb (default): LiveCodeBench's official harness (lcb_runner/evaluation/testing_util.py and
compute_code_generation_metrics.py): its preamble of imports and `sys.setrecursionlimit(50000)`, its
int-to-text limit of 50,000 digits, the functions its "reliability guard" switches off, SystemExit ending
a stdin program normally, functional answers compared by `==`, a time limit per test, all tests (public
and private), its code extraction.
ml-ssd: the paper's own harness (apple/ml-ssd evaluation/livecodebench_utils.py and benchmark.py): a
shorter preamble that also binds numpy as np and pandas as pd, `exit` switched off as well, Python's
default recursion and digit limits, functional inputs read by its own parser and answers compared as
text with the decimal fallback, the program re-run for every test, ONE time limit for the whole test
set ((timeout + 1) x tests + 5 s), private tests only, its code extraction and its prompt form.
docs/eval.md has the rule-by-rule table, with each place we deliberately differ and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from .extract import extract_lcb, extract_mlssd
from .problems import Problem

LCB_STAR_IMPORTS = ("string", "re", "datetime", "collections", "heapq", "bisect", "copy", "math", "random",
                    "statistics", "itertools", "functools", "operator", "io", "sys", "json", "builtins", "typing")
LCB_MODULE_IMPORTS = LCB_STAR_IMPORTS[:-2]
GUARDED_OS = ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty",
              "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown",
              "chroot", "lchflags", "lchmod", "lchown", "getcwd", "chdir")
GUARDED = (*(f"os.{name}" for name in GUARDED_OS), "shutil.rmtree", "shutil.move", "shutil.chown", "subprocess.Popen")
BLOCKED_MODULES = ("ipdb", "joblib", "resource", "psutil", "tkinter")
# Loaded in the official harness's process before its guard (numpy by the grader itself, pandas by the
# `datasets` library that loaded the benchmark), so a program importing them gets them ready-made.
PRELOADED = ("numpy", "pandas")
# ml-ssd's preamble as (module, names) groups in its order; later `import bisect` etc. rebind those names
# to the modules, as there.
MLSSD_FROM_FIRST = (
    ("itertools", "accumulate, chain, combinations, count, permutations, product, groupby, islice, repeat"),
    ("copy", "deepcopy"), ("string", "ascii_lowercase"),
    ("math", "floor, log2, log10, sqrt, comb, gcd, ceil, inf, isqrt"), ("collections", "defaultdict, deque, Counter"),
    ("bisect", "bisect, bisect_left, bisect_right, insort"), ("heapq", "heappush, heappop, heapify, merge"),
    ("functools", "reduce, cache, lru_cache"), ("random", "randrange, shuffle"), ("operator", "itemgetter, sub"),
    ("re", "search as re_search"), ("os.path", "commonprefix"),
    ("typing", "List, Tuple, Dict, Set, Optional, Union, Any, Callable, Iterable, Iterator, Generator"),
)
MLSSD_MODULES = ("copy", "string", "math", "collections", "bisect", "heapq", "functools", "random", "itertools",
                 "operator", "re")
MLSSD_FROM_SECOND = (("math", "log, prod"), ("collections", "OrderedDict"), ("itertools", "zip_longest, cycle"),
                     ("functools", "partial"), ("operator", "iand"))


def _lcb_preamble() -> str:
    lines = [f"from {m} import *" for m in LCB_STAR_IMPORTS] + [f"import {m}" for m in LCB_MODULE_IMPORTS]
    return "\n".join([*lines, "sys.setrecursionlimit(50000)"]) + "\n"


def _mlssd_preamble() -> str:
    lines = [f"from {m} import {names}" for m, names in MLSSD_FROM_FIRST] + [f"import {m}" for m in MLSSD_MODULES]
    lines += [f"from {m} import {names}" for m, names in MLSSD_FROM_SECOND] + ["import sys"]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Grader:
    """A grader's rules. `rules` travels to the sandbox runner; the rest is applied by the evaluator."""

    name: str
    version: str
    reference: str
    extract: Callable[[str], str | None]
    per_test_limit: bool
    private_tests_only: bool
    compare_calls_as_text: bool
    rules: dict = field(default_factory=dict)

    def record(self) -> dict:
        """What results.json says about the grader (results["grader"])."""
        return {"name": self.name, "version": self.version, "reference": self.reference}

    def tests_for(self, problem: Problem) -> list[dict]:
        """ml-ssd judges on the private tests only; a problem without any falls back to all its tests
        (there, an empty test list would make every program pass)."""
        if self.private_tests_only and len(problem.tests) > problem.num_public:
            return problem.tests[problem.num_public:]
        return problem.tests

    def set_budget(self, timeout_s: float, num_tests: int) -> float:
        """ml-ssd's single limit for a whole test set, as its harness sets it."""
        return (timeout_s + 1) * num_tests + 5


LCB = Grader(
    name="lcb", version="1",
    reference="LiveCodeBench/LiveCodeBench lcb_runner/evaluation (testing_util.py 16de2a1, 2025-05-23; repo 28fef95)",
    extract=extract_lcb, per_test_limit=True, private_tests_only=False, compare_calls_as_text=False,
    rules={"preamble": _lcb_preamble(), "int_max_str_digits": 50000, "calls": "lcb", "preloaded_modules": list(PRELOADED),
           "disabled": [*GUARDED, "builtins.quit", "builtins.help"], "blocked_modules": list(BLOCKED_MODULES)},
)
MLSSD = Grader(
    name="ml-ssd", version="1",
    reference="apple/ml-ssd evaluation/livecodebench_utils.py + benchmark.py (15c4292, 2026-04-16)",
    extract=extract_mlssd, per_test_limit=False, private_tests_only=True, compare_calls_as_text=True,
    rules={"preamble": _mlssd_preamble(), "int_max_str_digits": None, "calls": "ml-ssd", "preloaded_modules": list(PRELOADED),
           "lazy_modules": {"np": "numpy", "pd": "pandas"},
           "disabled": [*GUARDED, "builtins.exit", "builtins.quit"], "blocked_modules": list(BLOCKED_MODULES)},
)
GRADERS = {g.name: g for g in (LCB, MLSSD)}
SCRIPT_RULES: dict = {}  # HumanEval programs check themselves; no preamble or guard (see docs/eval.md)


def get_grader(name: str) -> Grader:
    from ..errors import SSDError

    if name not in GRADERS:
        raise SSDError(f"unknown grader {name!r}; choose one of {', '.join(GRADERS)}")
    return GRADERS[name]


def mlssd_user_text(problem: Problem) -> str:
    """ml-ssd's prompt form (our own wording of it): one user turn, no system prompt, 'Question:' and the
    statement, then the stdin instruction with an empty code block, or the starter code in an OPEN block."""
    from ..prompts import mlssd_user_text as render

    stdin_problem = bool(problem.tests) and not problem.is_functional
    starter = problem.starter_code if problem.starter_code.strip() and not stdin_problem else None
    return render(problem.question_content, starter, open_starter=True)
