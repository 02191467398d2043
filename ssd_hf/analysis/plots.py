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


def toy_learned_plot(temperatures, curves: dict, analytic: dict, results: dict, path: str) -> str:
    """Learned toy: exact success vs eval temperature of the trained models (solid) and of the paper's
    analytic models (dashed), with the sampled rate and its 95% interval at each model's best temperature."""
    fig, ax = plt.subplots(figsize=(6.8, 4.2), dpi=110)
    labels = {"base": "base", "ssd": "SSD student"}
    colors = {"base": "tab:gray", "ssd": "tab:blue"}
    placement = {"base": {"xytext": (-8, 14), "ha": "right", "va": "bottom"}, "ssd": {"xytext": (10, -4), "va": "top"}}
    for name in ("base", "ssd"):
        ax.plot(temperatures, [100 * r for r in curves[name]], color=colors[name], label=f"{labels[name]}, learned (exact)")
        ax.plot(temperatures, [100 * r for r in analytic[name]], "--", color=colors[name], alpha=0.6,
                label=f"{labels[name]}, paper's analytic")
        m = results["models"][name]["sampled_at_best"]
        ax.errorbar([m["temperature"]], [100 * m["success"]],
                    yerr=[[100 * (m["success"] - m["ci_low"])], [100 * (m["ci_high"] - m["success"])]],
                    fmt="o", color=colors[name], capsize=4, zorder=3)
        ax.annotate(f"{100 * m['success']:.1f}% [{100 * m['ci_low']:.1f}, {100 * m['ci_high']:.1f}] @ T={m['temperature']:.2f}\n"
                    f"(n={m['n']} samples)", (m["temperature"], 100 * m["success"]), textcoords="offset points",
                    fontsize=8, color=colors[name], **placement[name])
    top = max(max(curves["ssd"]), max(analytic["ssd"]), results["models"]["ssd"]["sampled_at_best"]["ci_high"])
    ax.set_ylim(0, 140 * top)
    ax.set_xlabel("eval temperature (one global T)")
    ax.set_ylabel("success probability (%)")
    ax.set_title(f"Toy world learned: SSD at T_train {results['t_train']}, top-p {results['top_p_train']}; "
                 f"eval top-p {results['eval_top_p']:.2f}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return save(fig, path)


def toy_states_plot(results: dict, path: str) -> str:
    """Next-token distributions of the learned base and SSD student at root, fork and lock: locks become
    spikes, the tail is cut (support compression)."""
    states = ("root", "fork", "lock")
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.4), dpi=110, sharey=True)
    width = 0.4
    for ax, state in zip(axes, states):
        for offset, (name, color) in zip((-width / 2, width / 2), (("base", "tab:gray"), ("ssd", "tab:blue"))):
            probs = results["models"][name]["states"][state]
            ax.bar([i + offset for i in range(len(probs))], probs, width=width, color=color,
                   label="base" if name == "base" else "SSD student")
        ax.set_title(state)
        ax.set_xticks(range(0, 16, 3))
        ax.set_xticklabels([f"tok{i}" for i in range(0, 16, 3)], fontsize=8)
        ax.set_yscale("log")
        ax.set_ylim(1e-5, 1.2)
        ax.grid(alpha=0.3, axis="y")
    axes[0].set_ylabel("probability (log scale)")
    axes[0].legend(fontsize=8)
    fig.suptitle("Learned toy: next-token distributions before and after SSD", fontsize=10)
    return save(fig, path)


def token_panels(stats: dict, output_dir: str) -> list[str]:
    """The paper's four panels, base vs SSD, one PNG each; returns their paths."""
    colors = {"base": "tab:gray", "ssd": "tab:blue"}
    temperatures = stats["temperatures"]
    paths = []

    def save(fig, ax, name, title, xlabel, ylabel):
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        path = os.path.join(output_dir, name)
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    for model in ("base", "ssd"):
        mass = stats[model]["cumulative_mass_by_rank"]
        ax.plot(range(1, len(mass) + 1), mass, label=model, color=colors[model])
    ax.set_xscale("log")
    save(fig, ax, "cumulative_mass_vs_rank.png", "Cumulative mass vs token rank", "rank", "mean cumulative probability")

    for key, name, title, ylabel in (
        ("survivors_vs_temperature", "survivors_vs_temperature.png", "Tokens surviving eval truncation", "mean tokens kept"),
        ("entropy_vs_temperature", "entropy_vs_temperature.png", "Entropy after truncation", "mean entropy (nats)"),
    ):
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
        for model in ("base", "ssd"):
            ax.plot(temperatures, stats[model][key], marker="o", markersize=3, label=model, color=colors[model])
        save(fig, ax, name, f"{title} (top-k {stats['top_k']}, top-p {stats['top_p']})", "eval temperature", ylabel)

    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    styles = ("-", "--", ":")  # one line style per top-20 mass bucket; colours stay per model as in the other panels
    for model in ("base", "ssd"):
        for style, (bucket, values) in zip(styles, stats[model]["entropy_by_top20_mass"].items()):
            if any(v is not None for v in values):
                ax.plot(temperatures, [float("nan") if v is None else v for v in values], style, color=colors[model],
                        label=f"{model}, top-20 mass {bucket}")
    save(fig, ax, "entropy_by_top20_mass.png", "Entropy after truncation by top-20 mass", "eval temperature",
         "mean entropy (nats)")
    return paths


def save(fig, path: str) -> str:
    """Write one figure as a PNG (creating its folder) and free it."""
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
