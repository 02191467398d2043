"""The evaluation results JSON: one file per run, read by the Space, the analysis tools and the cards.

Schema (schema_version 1; every score is a fraction in [0, 1]):

    {"schema_version": 1,
     "benchmark": "lcb-v6" | "lcb-v6-delta" | "lcb-release-v6" | "lcb-v5-heldout" | "humaneval" | "humaneval-plus"
                  | "mbpp" | "custom",
     "grader": {"name": "lcb" | "ml-ssd", "version": str, "reference": str},  # whose rules judged (graders.py);
                 # absent in files written before graders existed, which followed neither exactly
     "config": {"model": str | null, "model_revision": str | null,
                "decoding": {"temperature", "top_k", "top_p", "max_new_tokens"} (nulls when scoring given solutions),
                "n": samples per problem (max over problems), "seed": int | null,
                "timeout_s": per-test wall limit (ml-ssd: one limit of (timeout_s + 1) x tests + 5 per test set),
                "sandbox": "bwrap" | "fallback" (the fallback isolates nothing; see docs/eval.md),
                "sandbox_layers": {"backend", "cgroup": "v1" | "v2" | null, "seccomp": bool},
                "unjudged_samples": int (samples without a verdict; 0 in a complete run),
                "problems_without_solutions": int (selected problems no sample was given for),
                "problem_selection": {"name": str (problem_sets.py: lcb-v6, mbpp, fixtures, file:NAME ...),
                                      "description": str, "count": int, "ids_sha256": SHA-256 of the sorted ids,
                                      "documented_count": int (named sets with one), "question_ids": [str]}},
     "aggregates": {"all": {"num_problems": N, "pass@1": {"value", "ci_low", "ci_high"}, "pass@5": {...}, ...},
                    "easy": {...}, "medium": {...}, "hard": {...}},   # difficulty keys only when present
     "problems": [{"question_id", "difficulty", "n", "c", "no_solutions"}],  # c = number of passing samples
                 # a selected problem with no samples (e.g. missing from --solutions) has no_solutions true and
                 # counts as failed: c = 0 and n = the largest n of the others, so it lowers every pass@k
     "samples": [{"question_id", "sample_index", "verdict", "completion", "code", "detail"}],
                 # verdict in pass | fail | timeout | runtime_error | no_code | judge_error (an exception while
                 # judging: a test that is not JSON, an output whose comparison raises) | unjudged (the sandbox
                 # would not start: counted in no score, config.unjudged_samples says how many; a rerun judges
                 # them); code null when no block;
                 # detail scrubbed of secrets and at most 300 characters
     "sweep": optional [{"temperature", "t_eff" (when the model was trained by SSD), "aggregates": {...}}],
     "best": optional {"temperature", "t_eff", "pass@1": {...}},
     "baseline": optional {"model", "temperature", "pass@1": {...}}   # --decode_baseline: the bar to beat}

pass@k uses the unbiased estimator; confidence intervals are 95% percentile bootstrap over problems.
Why missing problems count as failed: the score is over the selected problems, as a reader of the
problem selection expects; silently dropping unanswered problems would inflate it.
"""

from __future__ import annotations

import json
import os

from ..errors import SSDError
from .passk import aggregate
from .scrub import scrub_secrets

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


def build_results(benchmark: str, config: dict, problems, samples: list[dict], seed: int = 0,
                  grader: dict | None = None) -> dict:
    """Assemble the results dict from problems and judged samples (problems without samples count as failed)."""
    by_id: dict[str, list[dict]] = {}
    for s in samples:
        by_id.setdefault(s["question_id"], []).append(s)
    max_n = max((len(v) for v in by_id.values()), default=0)
    rows = []
    unjudged = 0
    for p in problems:
        mine = by_id.get(p.question_id, [])
        judged = [s for s in mine if s["verdict"] != "unjudged"]
        unjudged += len(mine) - len(judged)
        row = {"question_id": p.question_id, "difficulty": p.difficulty, "n": len(judged) if mine else max_n,
               "c": sum(s["verdict"] == "pass" for s in judged), "no_solutions": not mine}
        rows.append(row)
    scored = [r for r in rows if r["n"] > 0]
    config = {**config, "n": max_n, "problems_without_solutions": sum(r["no_solutions"] for r in rows),
              "unjudged_samples": unjudged}
    head = {"schema_version": SCHEMA_VERSION, "benchmark": benchmark}
    if grader is not None:
        head["grader"] = grader
    return {**head, "config": config,
            "aggregates": aggregates_for(scored, seed=seed), "problems": rows,
            "samples": sorted(samples, key=lambda s: (s["question_id"], s["sample_index"]))}


def _scrubbed(value):
    if isinstance(value, str):
        return scrub_secrets(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrubbed(v) for v in value]
    return value


def write_results(results: dict, output_dir: str, name: str = "results.json") -> str:
    """Write atomically (a temporary file renamed over the old one); no secret value of our environment
    reaches the file, whatever field it hid in. A write error is one line; the old file stays whole."""
    path = os.path.join(output_dir, name)
    tmp = path + ".tmp"
    try:
        os.makedirs(output_dir, exist_ok=True)
        with open(tmp, "w") as f:
            json.dump(_scrubbed(results), f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise SSDError(f"cannot write {path} ({exc.strerror or exc}); the verdicts are kept in {output_dir}: "
                       "free space or fix the folder, then rerun the same command to write it") from None
    return path
