"""Unbiased pass@k (Chen et al., 2021) and bootstrap confidence intervals over problems.

Why bootstrap over problems: the benchmark's problems are the sample that varies between papers; the
paper reports no intervals, we do, so that a 1-point gain can be read against its noise.
"""

from __future__ import annotations

import math
import random


def pass_at_k(n: int, c: int, k: int) -> float:
    """1 - C(n-c, k) / C(n, k): the chance that at least one of k draws (without replacement) passes."""
    if n < k:
        raise ValueError(f"pass@{k} needs at least {k} samples per problem, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def ks_for(n: int) -> list[int]:
    """The k values reported for n samples: 1, 5, 10, 20, 50, 100 ... up to n."""
    ks = [k for k in (1, 5, 10, 20, 50, 100, 200, 500, 1000) if k <= n]
    return ks or [1]


def bootstrap_ci(values: list[float], num_resamples: int = 1000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean, resampling problems with replacement."""
    if not values:
        return (0.0, 0.0)
    rng = random.Random(seed)
    m = len(values)
    means = sorted(sum(values[rng.randrange(m)] for _ in range(m)) / m for _ in range(num_resamples))
    lo = means[int(math.floor(alpha / 2 * (num_resamples - 1)))]
    hi = means[int(math.ceil((1 - alpha / 2) * (num_resamples - 1)))]
    return (lo, hi)


def aggregate(counts: list[tuple[int, int]], ks: list[int] | None = None, seed: int = 0) -> dict:
    """{"num_problems", "pass@k": {"value", "ci_low", "ci_high"}} for (n, c) pairs; k only where every n >= k."""
    if not counts:
        return {"num_problems": 0}
    min_n = min(n for n, _ in counts)
    out: dict = {"num_problems": len(counts)}
    for k in ks or ks_for(min_n):
        if k > min_n:
            continue
        per_problem = [pass_at_k(n, c, k) for n, c in counts]
        lo, hi = bootstrap_ci(per_problem, seed=seed)
        out[f"pass@{k}"] = {"value": sum(per_problem) / len(per_problem), "ci_low": lo, "ci_high": hi}
    return out
