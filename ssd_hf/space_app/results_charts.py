"""The Results tab: read evaluation results (results JSON of `ssd-hf eval`, or a model card's model-index)
and draw pass@1 / pass@5 by difficulty with confidence intervals, and the T_eval sweep curves.

Nothing here is invented: a model with no results says so instead of showing a bar.
"""

from __future__ import annotations

import glob
import logging
import os
import re

from .demo_config import ModelSpec

logger = logging.getLogger(__name__)

DIFFICULTIES = ("all", "easy", "medium", "hard")
METRICS = ("pass@1", "pass@5")


def _read_json(path: str) -> dict | None:
    from ..records import read_results

    try:
        return read_results(path).to_dict()
    except (OSError, ValueError) as error:
        logger.warning("skipping results file %s: %s", path, error)
        return None


def _card_results(card_path: str) -> dict | None:
    """A results-shaped dict from a model card's model-index (huggingface_hub parses it; values there are %)."""
    try:
        from huggingface_hub import ModelCard

        entries = ModelCard.load(card_path).data.eval_results or []
    except Exception as error:  # noqa: BLE001 - a card we cannot read just has no results
        logger.warning("cannot read model card %s: %s", card_path, error)
        return None
    aggregates: dict = {}
    for entry in entries:
        kind = str(entry.metric_type or "")
        if not kind.startswith("pass@") or entry.metric_value is None:
            continue
        where = f"{entry.dataset_config or ''} {entry.dataset_name or ''} {entry.metric_name or ''}"
        difficulty = next((d for d in DIFFICULTIES[1:] if re.search(rf"\b{d}\b", where, re.I)), "all")
        value = float(entry.metric_value)
        value = value / 100 if "%" in str(entry.metric_name or "") or value > 1 else value
        aggregates.setdefault(difficulty, {})[kind] = {"value": value}
    return {"schema_version": 1, "aggregates": aggregates, "source": "model card"} if aggregates else None


def _provenance_base(model_dir: str) -> str | None:
    from ..records import read_provenance

    provenance = read_provenance(model_dir)
    return provenance.base_model if provenance else None


def _hub_results_folder(ref: str) -> str | None:
    """A Hub model's card and results/*.json, downloaded through ssd_hf.hub; None offline or for non-Hub names."""
    from ..refs import hub_id

    if not hub_id(ref) or os.environ.get("HF_HUB_OFFLINE") == "1":
        return None
    from ..hub import model_results_folder

    return model_results_folder(ref)


def _configured_files(spec: ModelSpec) -> list[str]:
    """The config's `results:` entries: a results file, or an eval output folder (its results*.json)."""
    files = []
    for entry in spec.results:
        files += sorted(glob.glob(os.path.join(entry, "results*.json"))) if os.path.isdir(entry) else [entry]
    return files


def find_results(spec: ModelSpec) -> list[tuple[str, dict]]:
    """(path, results) for a model: its configured files and eval output folders, then results files and the
    card in its own folder."""
    configured = _configured_files(spec)
    found, paths = [], list(configured)
    folder = spec.path if os.path.isdir(spec.path) else _hub_results_folder(spec.path)
    if folder:
        # a pushed repo (results/), `ssd-hf eval --output` beside the model, and a run's or recipe's <output_dir>/eval/
        for pattern in ("results*.json", "eval_results*.json", "results/*.json", "eval/results*.json"):
            paths += sorted(glob.glob(os.path.join(folder, pattern)))
    base_model = _provenance_base(folder) if folder else None
    for path in dict.fromkeys(paths):
        data = _read_json(path)
        if data is None:
            continue
        # A pushed SSD repo also carries its base model's results for the card's comparison: not this model's.
        if path not in configured and base_model and (data.get("config") or {}).get("model") == base_model:
            continue
        found.append((path, data))
    card = os.path.join(folder or "", "README.md")
    if not found and folder and os.path.isfile(card):
        data = _card_results(card)
        if data is not None:
            found.append((card, data))
    return found


def headline(results: list[tuple[str, dict]]) -> dict | None:
    """The results whose aggregates are shown: the last file that has any."""
    with_aggregates = [data for _, data in results if data.get("aggregates")]
    return with_aggregates[-1] if with_aggregates else None


def headline_label(spec: ModelSpec, results: list[tuple[str, dict]]) -> str:
    """Where the headline results came from, for the UI: relative to the model folder when inside it."""
    shown = headline(results)
    path = next((p for p, data in results if data is shown), None)
    if path is None:
        return "its results"
    inside = os.path.isdir(spec.path) and os.path.abspath(path).startswith(os.path.abspath(spec.path) + os.sep)
    return os.path.relpath(path, spec.path) if inside else os.path.join(*path.split(os.sep)[-2:])


def sweep_points(results: list[tuple[str, dict]]) -> list[dict]:
    for _, data in reversed(results):
        if data.get("sweep"):
            return sorted(data["sweep"], key=lambda point: point.get("temperature", 0))
    return []


def _metric(aggregates: dict, difficulty: str, metric: str) -> tuple[float, float, float] | None:
    entry = (aggregates.get(difficulty) or {}).get(metric)
    if not isinstance(entry, dict) or entry.get("value") is None:
        return None
    value = float(entry["value"])
    return value, float(entry.get("ci_low", value)), float(entry.get("ci_high", value))


def passk_figure(per_model: dict[str, dict]):
    """Grouped bars (percent) per difficulty, one colour per model, CI whiskers; None if nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not per_model:
        return None
    figure, axes = plt.subplots(1, len(METRICS), figsize=(10, 3.6), sharey=True)
    width = 0.8 / len(per_model)
    for axis, metric in zip(axes, METRICS):
        for index, (name, aggregates) in enumerate(per_model.items()):
            xs, heights, low, high = [], [], [], []
            for position, difficulty in enumerate(DIFFICULTIES):
                point = _metric(aggregates, difficulty, metric)
                if point is None:
                    continue
                value, ci_low, ci_high = point
                xs.append(position + (index - (len(per_model) - 1) / 2) * width)
                heights.append(100 * value)
                low.append(100 * max(value - ci_low, 0))
                high.append(100 * max(ci_high - value, 0))
            # one colour per model in every panel (an empty panel would otherwise restart the colour cycle)
            bars = axis.bar(xs, heights, width, yerr=[low, high], capsize=3, label=name, color=f"C{index}")
            axis.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
        if not axis.patches:  # e.g. pass@5 of an evaluation with fewer than 5 samples per problem
            axis.text(0.5, 0.5, f"not measured (fewer than {metric.split('@')[1]} samples per problem)",
                      transform=axis.transAxes, ha="center", color="grey")
        axis.set_xticks(range(len(DIFFICULTIES)), DIFFICULTIES)
        axis.set_title(metric)
        axis.set_ylim(0, 105)
        axis.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("% of problems (95% CI)")
    # named explicitly: a panel with no bars (no pass@5 measured) has no colours of its own to show
    axes[-1].legend(handles=[Patch(color=f"C{i}", label=name) for i, name in enumerate(per_model)], loc="upper right", fontsize=8)
    figure.tight_layout()
    return figure


def sweep_figure(per_model: dict[str, list[dict]]):
    """pass@1 against T_eval (and against T_eff = T_train x T_eval where recorded); None if no sweep."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = {name: f"C{index}" for index, name in enumerate(per_model)}  # as in passk_figure: one per model
    per_model = {name: points for name, points in per_model.items() if points}
    if not per_model:
        return None
    has_t_eff = any(p.get("t_eff") is not None for points in per_model.values() for p in points)
    figure, axes = plt.subplots(1, 2 if has_t_eff else 1, figsize=(10 if has_t_eff else 6, 3.4), squeeze=False)
    for column, key in enumerate(("temperature", "t_eff")[: 2 if has_t_eff else 1]):
        axis = axes[0][column]
        for name, points in per_model.items():
            rows = [(p[key], _metric(p.get("aggregates") or {}, "all", "pass@1")) for p in points if p.get(key) is not None]
            rows = [(x, m) for x, m in rows if m is not None]
            if not rows:
                continue
            xs, colour = [x for x, _ in rows], colours[name]
            axis.plot(xs, [100 * m[0] for _, m in rows], marker="o", label=name, color=colour)
            axis.fill_between(xs, [100 * m[1] for _, m in rows], [100 * m[2] for _, m in rows], alpha=0.2, color=colour)
        axis.set_xlabel("T_eval" if key == "temperature" else "T_eff = T_train x T_eval")
        axis.set_ylabel("pass@1 % (all)")
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    return figure


def summary_markdown(specs: list[ModelSpec], found: dict[str, list[tuple[str, dict]]]) -> str:
    """A table of the numbers behind the chart, and where each came from (or that none was found)."""
    lines = ["| model | metric | " + " | ".join(DIFFICULTIES) + " |", "|---|---|" + "---|" * len(DIFFICULTIES)]
    sources = []
    for spec in specs:
        data = headline(found.get(spec.name, []))
        if data is None:
            sources.append(f"- **{spec.name}**: no results found (add a results JSON from `ssd-hf eval` under "
                           "`results:` in config.yaml, or evaluate the model).")
            continue
        for metric in METRICS:
            cells = []
            for difficulty in DIFFICULTIES:
                point = _metric(data["aggregates"], difficulty, metric)
                cells.append("-" if point is None else
                             f"{100 * point[0]:.1f} [{100 * point[1]:.1f}, {100 * point[2]:.1f}]")
            lines.append(f"| {spec.name} | {metric} | " + " | ".join(cells) + " |")
        config = data.get("config") or {}
        decoding = config.get("decoding") or {}
        sources.append(f"- **{spec.name}**: `{headline_label(spec, found[spec.name])}`, benchmark {data.get('benchmark', '?')}, "
                       f"n={config.get('n', '?')}, T={decoding.get('temperature', '?')}, "
                       f"top-k={decoding.get('top_k', '?')}, top-p={decoding.get('top_p', '?')}")
    table = "\n".join(lines) if len(lines) > 2 else "No model has results yet."
    return table + "\n\nSources:\n" + "\n".join(sources)


def report_summaries(specs: list[ModelSpec]) -> str:
    """`ssd-hf report`'s summary for each model that has one (<model>/report/summary.md), under its name."""
    parts = []
    for spec in specs:
        path = os.path.join(spec.path, "report", "summary.md") if os.path.isdir(spec.path) else None
        if path and os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                parts.append(f"### Report: {spec.name}\n\n{handle.read().strip()}")
    return "\n\n".join(parts)
