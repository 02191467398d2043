"""PNG plots (matplotlib, no display needed) for cards, the Space and the docs."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def toy_sweep_plot(temperatures, base_rates, student_rates, eval_top_p: float, path: str) -> str:
    """Success vs eval temperature for the toy base and SSD student, best points marked."""
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for label, rates, color in (("base", base_rates, "tab:gray"), ("SSD student", student_rates, "tab:blue")):
        ax.plot(temperatures, [100 * r for r in rates], label=label, color=color)
        best = max(range(len(rates)), key=lambda i: rates[i])
        ax.scatter([temperatures[best]], [100 * rates[best]], color=color, zorder=3)
        ax.annotate(f"{100 * rates[best]:.1f}% @ T={temperatures[best]:.2f}", (temperatures[best], 100 * rates[best]),
                    textcoords="offset points", xytext=(6, 6), fontsize=8, color=color)
    ax.set_ylim(0, 115 * max(max(base_rates), max(student_rates)))
    ax.set_xlabel("eval temperature")
    ax.set_ylabel("success probability (%)")
    ax.set_title(f"Toy world: one global eval temperature, eval top-p {eval_top_p:.2f}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
