"""Temperature composition: does pass@1 follow T_eff = T_train x T_eval?

The paper finds that, without truncation, results over a (T_train, T_eval) grid collapse onto one curve of
T_eff = T_train * T_eval (quadratic fit, R^2 = 0.75, peak near T_eff = 1.2). This module turns an
evaluation sweep into that table and fit so users can check it on their own runs: each point is one
(SSD model trained at T_train, evaluated at T_eval) pass@1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..errors import SSDError


@dataclass(frozen=True)
class Point:
    t_train: float
    t_eval: float
    score: float

    @property
    def t_eff(self) -> float:
        return self.t_train * self.t_eval


@dataclass(frozen=True)
class QuadraticFit:
    """score ~ a * t_eff^2 + b * t_eff + c."""

    a: float
    b: float
    c: float
    r2: float
    peak_t_eff: float | None  # the vertex when the parabola opens downwards, else None

    def predict(self, t_eff):
        return self.a * np.asarray(t_eff) ** 2 + self.b * np.asarray(t_eff) + self.c

    def to_dict(self) -> dict:
        return {"a": self.a, "b": self.b, "c": self.c, "r2": self.r2, "peak_t_eff": self.peak_t_eff}


def fit_quadratic(points: list[Point]) -> QuadraticFit:
    """Least-squares quadratic in T_eff with its R^2 (1 - SS_res / SS_tot)."""
    if len({round(p.t_eff, 9) for p in points}) < 3:
        raise SSDError("the composition fit needs at least 3 distinct T_train x T_eval products; sweep more temperatures.")
    x = np.array([p.t_eff for p in points])
    y = np.array([p.score for p in points])
    a, b, c = np.polyfit(x, y, 2)
    residual = y - (a * x**2 + b * x + c)
    total = ((y - y.mean()) ** 2).sum()
    r2 = float(1 - (residual**2).sum() / total) if total > 0 else 1.0
    peak = float(-b / (2 * a)) if a < 0 else None
    return QuadraticFit(float(a), float(b), float(c), r2, peak)


def table(points: list[Point]) -> list[dict]:
    """One row per point, sorted by T_eff: t_train, t_eval, t_eff, score."""
    rows = [{"t_train": p.t_train, "t_eval": p.t_eval, "t_eff": p.t_eff, "score": p.score} for p in points]
    return sorted(rows, key=lambda r: (r["t_eff"], r["t_train"]))


def points_from_results(path: str, t_train: float | None = None, metric: str = "pass@1") -> list[Point]:
    """Points from one evaluation results JSON (ours): its `sweep` entries, or its single decoding.

    T_train comes from the argument, else from each sweep entry's t_eff / temperature, else from an
    `ssd_provenance.json` next to the evaluated model when the model is a local folder.
    """
    from ..records import read_provenance, read_results

    try:
        results = read_results(path)
    except (OSError, ValueError) as error:
        raise SSDError(f"cannot read evaluation results {path} ({error}); give results.json files written by ssd-hf eval.") from error
    if t_train is None and results.model and os.path.isdir(results.model):
        provenance = read_provenance(results.model)
        t_train = provenance.train_temperature if provenance else None
    entries = results.sweep or [{"temperature": results.decoding.get("temperature"), "aggregates": results.aggregates}]
    points = []
    for entry in entries:
        t_eval = entry.get("temperature")
        value = entry.get("aggregates", {}).get("all", {}).get(metric, {}).get("value")
        trained = t_train
        if trained is None and entry.get("t_eff") is not None and t_eval:
            trained = round(float(entry["t_eff"]) / float(t_eval), 6)  # one group per T_train despite float error
        if t_eval is None or value is None or trained is None:
            raise SSDError(f"{path}: cannot tell T_train, T_eval or {metric}; pass --t_train or evaluate a model with ssd_provenance.json.")
        points.append(Point(float(trained), float(t_eval), float(value)))
    return points


def composition_plot(points: list[Point], fit: QuadraticFit, path: str) -> str:
    """Score vs T_eff, coloured by T_train, with the quadratic fit."""
    from .plots import plt, save

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for t_train in sorted({p.t_train for p in points}):
        group = [p for p in points if p.t_train == t_train]
        ax.scatter([p.t_eff for p in group], [100 * p.score for p in group], label=f"T_train={t_train:g}")
    xs = np.linspace(min(p.t_eff for p in points), max(p.t_eff for p in points), 200)
    ax.plot(xs, 100 * fit.predict(xs), color="black", lw=1, label=f"quadratic fit, R$^2$={fit.r2:.2f}")
    if fit.peak_t_eff is not None:
        ax.axvline(fit.peak_t_eff, color="black", ls=":", lw=1)
    ax.set_xlabel("T_eff = T_train x T_eval")
    ax.set_ylabel("pass@1 (%)")
    ax.set_title("Temperature composition")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save(fig, path)
