"""report.md (and report.json, summary.md, plots/) from the entries: every table docs/report.md explains.

report.json holds every number the markdown shows, as fractions, so a test (and a reader) can check each
table against the results files it came from.
"""

from __future__ import annotations

import json
import os

from ..eval.problem_sets import selection_label
from . import plots
from .inputs import Entry, check_comparable
from .stats import cost_rows, habit, paired_difference, verdict_sentence

OTHER_NAMES = {"base@best-T": "the tuned base (best T_eval)", "base@T_train": "the base at T_train"}


def _point(agg: dict, metric: str) -> dict | None:
    point = agg.get(metric)
    return {k: point[k] for k in ("value", "ci_low", "ci_high")} if point else None


def pct(point: dict | None) -> str:
    return "-" if not point else f"{100 * point['value']:.1f} [{100 * point['ci_low']:.1f}, {100 * point['ci_high']:.1f}]"


def _name(entry: Entry) -> str:
    return f"SSD round {entry.round}" if entry.role == "ssd" else OTHER_NAMES.get(entry.role, entry.label)


def pairs_for(entries: list[Entry]) -> list[dict]:
    """Each SSD round against every base entry, and each round against the round before it."""
    bases = [e for e in entries if e.role != "ssd"]
    rounds = sorted((e for e in entries if e.role == "ssd"), key=lambda e: e.round or 0)
    out = []
    for i, ssd in enumerate(rounds):
        others = bases + ([rounds[i - 1]] if i else [])
        for other in others:
            d = paired_difference(ssd.results, other.results, 1)
            if d is not None:
                out.append({"name": _name(ssd), "other": _name(other), "name_path": ssd.path, "other_path": other.path,
                            "difference": d, "sentence": verdict_sentence(_name(ssd), _name(other), d)})
    return out


def model_rows(entries: list[Entry]) -> list[dict]:
    rows = []
    for e in entries:
        config, agg = e.results["config"], e.results["aggregates"]["all"]
        decoding = config.get("decoding") or {}
        rows.append({"label": e.label, "role": e.role, "round": e.round, "path": e.path, "model": config.get("model"),
                     "temperature": decoding.get("temperature"), "top_k": decoding.get("top_k"),
                     "top_p": decoding.get("top_p"), "n": config.get("n"), "num_problems": agg.get("num_problems"),
                     "pass@1": _point(agg, "pass@1"), "pass@5": _point(agg, "pass@5")})
    return rows


def difficulty_rows(entries: list[Entry]) -> list[dict]:
    return [{"label": e.label, "path": e.path, "group": group, "num_problems": agg.get("num_problems"),
             "pass@1": _point(agg, "pass@1"), "pass@5": _point(agg, "pass@5")}
            for e in entries for group, agg in e.results["aggregates"].items()]


def sweep_rows(entries: list[Entry]) -> list[dict]:
    return [{"label": e.label, "path": e.path, "points": len(e.results["sweep"]),
             "best_temperature": (e.results.get("best") or {}).get("temperature"),
             "best_pass@1": _point(e.results.get("best") or {}, "pass@1")} for e in entries if e.results.get("sweep")]


def transfer_section(groups: list[list[Entry]]) -> list[dict]:
    out = []
    for group in groups:
        check_comparable(group)
        out.append({"set": selection_label(group[0].selection), "models": model_rows(group), "paired": pairs_for(group)})
    return out


def build(entries: list[Entry], transfer: list[list[Entry]]) -> dict:
    """Every table's numbers (fractions), after refusing incomparable results."""
    check_comparable(entries)
    pairs = pairs_for(entries)
    transfer_tables = transfer_section(transfer)
    habits = [{"label": e.label, "path": e.path, "set": e.selection.get("name"), **habit(e.results)}
              for e in entries + [e for g in transfer for e in g]]
    costs = [row for e in entries for row in cost_rows(e.results, e.label)]
    summary = [p["sentence"] for p in pairs] + [f"{t['set']}: {p['sentence']}" for t in transfer_tables for p in t["paired"]]
    return {"problem_set": selection_label(entries[0].selection), "grader": entries[0].grader,
            "models": model_rows(entries), "by_difficulty": difficulty_rows(entries), "paired": pairs,
            "sweeps": sweep_rows(entries), "transfer": transfer_tables, "habit": habits, "costs": costs,
            "summary": summary}


def _table(header: list[str], rows: list[list]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def _cell(value) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _fmt(value, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def markdown(report: dict, plot_files: dict) -> str:
    g = report["grader"]
    lines = ["# SSD report", "", f"Problem set **{report['problem_set']}**, grader {g.get('name')} v{g.get('version')}. "
             "Scores are percentages with 95% bootstrap intervals over problems; docs/report.md explains each table.", "",
             "## Summary", "", *[f"- {s}" for s in report["summary"] or ["No SSD model and base to compare."]], "",
             "## Models", ""]
    lines += _table(["model", "T_eval", "top-k", "top-p", "n", "problems", "pass@1", "pass@5"],
                    [[m["label"], *(_cell(m[k]) for k in ("temperature", "top_k", "top_p")), m["n"], m["num_problems"], pct(m["pass@1"]),
                      pct(m["pass@5"])] for m in report["models"]])
    lines += ["", "## By difficulty", ""]
    lines += _table(["model", "difficulty", "problems", "pass@1", "pass@5"],
                    [[r["label"], r["group"], r["num_problems"], pct(r["pass@1"]), pct(r["pass@5"])] for r in report["by_difficulty"]])
    lines += ["", f"![pass@k by difficulty]({plot_files['difficulty']})", "", "## Paired differences", ""]
    lines += _table(["SSD", "against", "problems", "pass@1 difference (points)", "better / worse problems"],
                    [[p["name"], p["other"], p["difference"]["num_problems"], _diff(p["difference"]),
                      f"{p['difference']['better']} / {p['difference']['worse']}"] for p in report["paired"]])
    lines += ["", *[f"- {p['sentence']}" for p in report["paired"]]]
    if plot_files.get("paired"):
        lines += ["", f"![paired differences]({plot_files['paired']})"]
    lines += ["", "## pass@1 vs T_eval", ""]
    if report["sweeps"]:
        lines += _table(["model", "temperatures", "best T_eval", "best pass@1"],
                        [[s["label"], s["points"], s["best_temperature"], pct(s["best_pass@1"])] for s in report["sweeps"]])
        lines += ["", f"![pass@1 vs T_eval]({plot_files['sweep']})"]
    else:
        lines.append("No sweep recorded (`ssd-hf eval --sweep_temperature`).")
    return "\n".join(lines + _tail(report)) + "\n"


def _diff(d: dict) -> str:
    return f"{100 * d['diff']:+.1f} [{100 * d['ci_low']:+.1f}, {100 * d['ci_high']:+.1f}]"


def _tail(report: dict) -> list[str]:
    lines = ["", "## Transfer", ""]
    for t in report["transfer"]:
        lines += [f"### {t['set']}", ""]
        lines += _table(["model", "pass@1", "pass@5"], [[m["label"], pct(m["pass@1"]), pct(m["pass@5"])] for m in t["models"]])
        lines += ["", *[f"- {p['sentence']}" for p in t["paired"]], ""]
    if not report["transfer"]:
        lines.append("No transfer results given (`ssd-hf report ... --transfer RESULTS`).")
    lines += ["", "## Habit check", ""]
    lines += _table(["model", "set", "n", "pass@1", "pass@5", "distinct programs per problem", "distinct / samples"],
                    [[h["label"], h["set"], h["n"], _fmt(h["pass@1"] and 100 * h["pass@1"]), _fmt(h["pass@5"] and 100 * h["pass@5"]),
                      _fmt(h["distinct_mean"], ".2f"), _fmt(h["distinct_share"], ".2f")] for h in report["habit"]])
    lines += ["", "## Cost", ""]
    if report["costs"]:
        lines += _table(["model", "stage", "status", "wall time (s)", "samples", "tokens", "devices", "GPU-hours"],
                        [[c["model"], c["stage"], c["status"], _fmt(c["wall_s"]), _cell(c["samples"]), _cell(c["tokens"]),
                          f"{c['devices']} {c['device_kind'] or ''}".strip(), _fmt(c["gpu_hours"], ".3f")] for c in report["costs"]])
    else:
        lines.append("No stage costs recorded in these results (written by `ssd-hf run`).")
    return lines


def write(report: dict, entries: list[Entry], transfer: list[list[Entry]], output_dir: str) -> str:
    """report.md, report.json, summary.md and plots/ under output_dir; returns report.md's path."""
    paths = plots.plot_paths(output_dir)
    made = {"difficulty": plots.difficulty_plot(entries, paths["difficulty"]),
            "sweep": plots.sweep_plot(entries, paths["sweep"]),
            "paired": plots.paired_plot(report["paired"], paths["paired"])}
    relative = {k: os.path.relpath(v, output_dir) if v else None for k, v in made.items()}
    text = markdown(report, relative)
    with open(os.path.join(output_dir, "report.md"), "w", encoding="utf-8") as f:
        f.write(text)
    with open(os.path.join(output_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump({**report, "plots": relative}, f, indent=1)
    with open(os.path.join(output_dir, "summary.md"), "w", encoding="utf-8") as f:
        f.write(summary_markdown(report))
    return os.path.join(output_dir, "report.md")


def summary_markdown(report: dict) -> str:
    """The few lines the model card and the Space show."""
    lines = [f"On {report['problem_set']} (grader {report['grader'].get('name')}):"]
    lines += [f"- {m['label']}: pass@1 {pct(m['pass@1'])}" for m in report["models"]]
    lines += [f"- {s}" for s in report["summary"]]
    return "\n".join(lines) + "\n"
