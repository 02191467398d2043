"""The evaluation results JSON: one file per run, read by the Space, the analysis tools and the cards.

Schema (schema_version 1; every score is a fraction in [0, 1]):

    {"schema_version": 1,
     "benchmark": "lcb-v6" | "humaneval" | "custom",
     "config": {"model": str | null, "model_revision": str | null,
                "decoding": {"temperature", "top_k", "top_p", "max_new_tokens"} (nulls when scoring given solutions),
                "n": samples per problem (max over problems), "seed": int | null,
                "timeout_s": per-test wall limit,
                "problem_selection": {"description": str, "count": int, "question_ids": [str]}},
     "aggregates": {"all": {"num_problems": N, "pass@1": {"value", "ci_low", "ci_high"}, "pass@5": {...}, ...},
                    "easy": {...}, "medium": {...}, "hard": {...}},   # difficulty keys only when present
     "problems": [{"question_id", "difficulty", "n", "c"}],           # c = number of passing samples
     "samples": [{"question_id", "sample_index", "verdict", "completion", "code", "detail"}],
                 # verdict in pass | fail | timeout | runtime_error | no_code; code null when no block
     "sweep": optional [{"temperature", "t_eff" (when the model was trained by SSD), "aggregates": {...}}],
     "best": optional {"temperature", "t_eff", "pass@1": {...}},
     "baseline": optional {"model", "temperature", "pass@1": {...}}   # --decode_baseline: the bar to beat}

pass@k uses the unbiased estimator; confidence intervals are 95% percentile bootstrap over problems.
"""

from __future__ import annotations

import json
import os

from .passk import aggregate

SCHEMA_VERSION = 1
DIFFICULTIES = ("easy", "medium", "hard")


def aggregates_for(problem_rows: list[dict], seed: int = 0) -> dict:
    """Overall and per-difficulty aggregates from per-problem {n, c, difficulty} rows."""
    out = {"all": aggregate([(r["n"], r["c"]) for r in problem_rows], seed=seed)}
    for d in DIFFICULTIES:
        rows = [r for r in problem_rows if r["difficulty"] == d]
        if rows:
            out[d] = aggregate([(r["n"], r["c"]) for r in rows], seed=seed)
    return out


def build_results(benchmark: str, config: dict, problems, samples: list[dict], seed: int = 0) -> dict:
    """Assemble the results dict from problems and judged samples."""
    by_id: dict[str, list[dict]] = {}
    for s in samples:
        by_id.setdefault(s["question_id"], []).append(s)
    rows = []
    for p in problems:
        mine = by_id.get(p.question_id, [])
        rows.append({"question_id": p.question_id, "difficulty": p.difficulty, "n": len(mine),
                     "c": sum(s["verdict"] == "pass" for s in mine)})
    scored = [r for r in rows if r["n"] > 0]
    config = {**config, "n": max((r["n"] for r in rows), default=0)}
    return {"schema_version": SCHEMA_VERSION, "benchmark": benchmark, "config": config,
            "aggregates": aggregates_for(scored, seed=seed), "problems": rows,
            "samples": sorted(samples, key=lambda s: (s["question_id"], s["sample_index"]))}


def write_results(results: dict, output_dir: str, name: str = "results.json") -> str:
    os.makedirs(output_dir, exist_ok=True)
    path = os.path.join(output_dir, name)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(results, f, indent=1)
    os.replace(tmp, path)
    return path
