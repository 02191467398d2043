"""The report's numbers: paired differences over problems, the habit check, the cost table.

Why paired: two models on the same problems are compared by each problem's difference (pass@k of one
minus the other), resampling problems with replacement; the spread of those differences is much smaller
than two overlapping marginal CIs suggest, because a hard problem is hard for both models.
"""

from __future__ import annotations

import ast
import io
import math
import random
import tokenize

from ..eval.passk import pass_at_k

RESAMPLES = 2000


def per_problem(results: dict, k: int) -> dict[str, float]:
    """question_id -> pass@k, for the problems with at least k judged samples."""
    return {r["question_id"]: pass_at_k(r["n"], r["c"], k) for r in results["problems"] if r["n"] >= k}


def paired_difference(a: dict, b: dict, k: int = 1, seed: int = 0) -> dict | None:
    """Mean over shared problems of pass@k(a) - pass@k(b) with a 95% paired percentile-bootstrap interval
    (problems resampled with replacement); values are fractions. None without shared problems."""
    pa, pb = per_problem(a, k), per_problem(b, k)
    shared = sorted(set(pa) & set(pb))
    if not shared:
        return None
    diffs = [pa[q] - pb[q] for q in shared]
    m, rng = len(diffs), random.Random(seed)
    means = sorted(sum(diffs[rng.randrange(m)] for _ in range(m)) / m for _ in range(RESAMPLES))
    lo = means[int(math.floor(0.025 * (RESAMPLES - 1)))]
    hi = means[int(math.ceil(0.975 * (RESAMPLES - 1)))]
    return {"k": k, "diff": sum(diffs) / m, "ci_low": lo, "ci_high": hi, "num_problems": m,
            "better": sum(d > 0 for d in diffs), "worse": sum(d < 0 for d in diffs)}


def verdict_sentence(name: str, other: str, d: dict) -> str:
    """One plain sentence: beats (the whole interval above 0), is beaten by (below 0), or does not beat."""
    span = f"{100 * d['diff']:+.1f} points [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]"
    if d["ci_low"] > 0:
        return f"{name} beats {other} by {100 * d['diff']:.1f} [{100 * d['ci_low']:.1f}, {100 * d['ci_high']:.1f}] points (pass@{d['k']})."
    if d["ci_high"] < 0:
        return f"{name} is worse than {other}: {span} (pass@{d['k']})."
    return f"{name} does not beat {other}: {span} (pass@{d['k']}), an interval that includes 0."


def normalise_code(code: str) -> str:
    """The program without formatting or comments: the AST when it parses, else its token stream."""
    try:
        return ast.dump(ast.parse(code))
    except (SyntaxError, ValueError):
        pass
    try:
        skip = (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENCODING)
        return " ".join(t.string for t in tokenize.generate_tokens(io.StringIO(code).readline) if t.type not in skip)
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return " ".join(code.split())


def habit(results: dict) -> dict:
    """pass@1 and pass@5 (when n >= 5), and distinct programs per problem after normalising: a model that
    writes one program over and over has few, and its pass@5 barely exceeds its pass@1."""
    by_problem: dict[str, set] = {}
    counts: dict[str, int] = {}
    for s in results.get("samples") or []:
        counts[s["question_id"]] = counts.get(s["question_id"], 0) + 1
        if s.get("code"):
            by_problem.setdefault(s["question_id"], set()).add(normalise_code(s["code"]))
    problems = [q for q, n in counts.items() if n]
    distinct = [len(by_problem.get(q, ())) for q in problems]
    agg = results["aggregates"]["all"]
    return {"pass@1": (agg.get("pass@1") or {}).get("value"), "pass@5": (agg.get("pass@5") or {}).get("value"),
            "n": results["config"].get("n"), "num_problems": len(problems),
            "distinct_mean": sum(distinct) / len(distinct) if distinct else None,
            "distinct_share": (sum(d / counts[q] for d, q in zip(distinct, problems)) / len(problems)) if problems else None}


def cost_rows(results: dict, label: str) -> list[dict]:
    """The stage costs a results file carries (`costs`: sampling, training, evaluation of its model)."""
    rows = []
    for c in results.get("costs") or []:
        devices = c.get("devices") or 0
        gpu_hours = c["wall_s"] * devices / 3600 if c.get("device_kind", "cpu") != "cpu" and devices else 0.0
        rows.append({"model": label, "stage": c.get("stage"), "status": c.get("status", "ok"), "wall_s": c.get("wall_s"),
                     "samples": c.get("samples"), "tokens": c.get("tokens"), "devices": devices,
                     "device_kind": c.get("device_kind"), "gpu_hours": gpu_hours})
    return rows
