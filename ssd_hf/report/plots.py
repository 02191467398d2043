"""The report's PNG plots (matplotlib, Agg): pass@k by difficulty, pass@1 vs T_eval, paired differences."""

from __future__ import annotations

import os

from ..analysis.plots import plt, save

GROUPS = ("all", "easy", "medium", "hard")


def difficulty_plot(entries, path: str) -> str:
    """pass@1 and pass@5 by difficulty, one bar per model, 95% CI whiskers."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    for ax, metric in zip(axes, ("pass@1", "pass@5")):
        groups = [g for g in GROUPS if any(metric in e.results["aggregates"].get(g, {}) for e in entries)]
        width = 0.8 / max(1, len(entries))
        for i, entry in enumerate(entries):
            xs, ys, lo, hi = [], [], [], []
            for j, group in enumerate(groups):
                point = entry.results["aggregates"].get(group, {}).get(metric)
                if point:
                    xs.append(j + i * width)
                    ys.append(100 * point["value"])
                    lo.append(100 * (point["value"] - point["ci_low"]))
                    hi.append(100 * (point["ci_high"] - point["value"]))
            if xs:
                ax.bar(xs, ys, width, yerr=[lo, hi], capsize=3, label=entry.label)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(groups))], groups)
        ax.set_ylabel(f"{metric} (%)")
        ax.set_title(f"{metric} by difficulty (95% CI)" if groups else f"{metric}: n too small")
        ax.grid(alpha=0.3, axis="y")
    axes[0].legend(fontsize=7)
    return save(fig, path)


def sweep_plot(entries, path: str) -> str | None:
    """pass@1 vs T_eval with the 95% CI band, for every entry that recorded a sweep; None when none did."""
    swept = [e for e in entries if e.results.get("sweep")]
    if not swept:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for entry in swept:
        points = sorted(entry.results["sweep"], key=lambda p: p["temperature"])
        ts = [p["temperature"] for p in points]
        agg = [p["aggregates"]["all"]["pass@1"] for p in points]
        line, = ax.plot(ts, [100 * a["value"] for a in agg], marker="o", label=entry.label)
        ax.fill_between(ts, [100 * a["ci_low"] for a in agg], [100 * a["ci_high"] for a in agg], alpha=0.2,
                        color=line.get_color())
    ax.set_xlabel("T_eval")
    ax.set_ylabel("pass@1 (%)")
    ax.set_title("pass@1 vs T_eval (95% CI band)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return save(fig, path)


def paired_plot(pairs: list[dict], path: str) -> str | None:
    """Each paired difference (points) with its bootstrap interval; the zero line is 'no difference'."""
    if not pairs:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 0.6 + 0.5 * len(pairs)), dpi=110)
    for i, pair in enumerate(pairs):
        d = pair["difference"]
        ax.errorbar([100 * d["diff"]], [i], xerr=[[100 * (d["diff"] - d["ci_low"])], [100 * (d["ci_high"] - d["diff"])]],
                    fmt="o", capsize=4, color="tab:blue" if d["ci_low"] > 0 else "tab:gray")
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(pairs)), [f"{p['name']} - {p['other']}" for p in pairs], fontsize=7)
    ax.set_xlabel("pass@1 difference (points, 95% paired bootstrap CI)")
    ax.grid(alpha=0.3, axis="x")
    return save(fig, path)


def plot_paths(output_dir: str) -> dict:
    folder = os.path.join(output_dir, "plots")
    return {name: os.path.join(folder, f"{name}.png") for name in ("difficulty", "sweep", "paired", "transfer")}
