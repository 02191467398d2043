"""`ssd-hf report` on the recipe smoke run's models (fixture problems): report.md and its plots, every table
checked against the results files it came from (recomputed here from the per-problem rows and samples),
the summary in the model card, and the one-line refusal of results on different problem sets or graders."""

from __future__ import annotations

import ast
import json
import os
import random

import pytest

from ssd_hf.cards import render_model_card
from ssd_hf.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "ssd_hf", "data", "lcb_fixtures")


def _tables(markdown: str) -> dict[str, list[list[str]]]:
    """Section title -> its table's rows (cells), from report.md."""
    tables, section = {}, None
    for line in markdown.splitlines():
        if line.startswith("#"):
            section = line.lstrip("# ").strip()
        elif line.startswith("| ") and not line.startswith("|---"):
            tables.setdefault(section, []).append([c.strip() for c in line.strip("|").split("|")])
    return {name: rows[1:] for name, rows in tables.items()}  # without the header row


def _pct(point) -> str:
    return "-" if not point else f"{100 * point['value']:.1f} [{100 * point['ci_low']:.1f}, {100 * point['ci_high']:.1f}]"


def _pass1(row) -> float:
    return row["c"] / row["n"]


@pytest.fixture(scope="module")
def smoke_report(recipe_run):
    out = os.path.join(recipe_run["ssd"], "report")
    assert main(["report", recipe_run["base_eval"], recipe_run["ssd"], "--output", out]) == 0
    with open(os.path.join(recipe_run["base_eval"], "results.json")) as f:
        base = json.load(f)
    with open(os.path.join(recipe_run["ssd"], "eval", "results.json")) as f:
        ssd = json.load(f)
    with open(os.path.join(out, "report.md")) as f:
        text = f.read()
    return out, text, base, ssd


def test_report_writes_markdown_and_plots(smoke_report):
    out, text, _, _ = smoke_report
    assert os.path.getsize(os.path.join(out, "plots", "difficulty.png")) > 1000
    assert os.path.getsize(os.path.join(out, "plots", "paired.png")) > 1000
    assert "![pass@k by difficulty](plots/difficulty.png)" in text and "(plots/paired.png)" in text
    for section in ("Summary", "Models", "By difficulty", "Paired differences", "pass@1 vs T_eval", "Transfer",
                    "Habit check", "Cost"):
        assert f"## {section}" in text


def test_every_table_matches_the_results_files(smoke_report):
    out, text, base, ssd = smoke_report
    tables = _tables(text)
    by_label = {row[0]: row for row in tables["Models"]}
    ssd_label = next(label for label in by_label if label.startswith("SSD round 1"))
    base_label = next(label for label in by_label if not label.startswith("SSD"))
    for label, results in ((ssd_label, ssd), (base_label, base)):
        row, agg = by_label[label], results["aggregates"]["all"]
        assert row[5] == str(agg["num_problems"]) and row[6] == _pct(agg["pass@1"]) and row[7] == _pct(agg.get("pass@5"))
        assert row[1] == f"{results['config']['decoding']['temperature']:g}"
        for group, group_agg in results["aggregates"].items():
            assert [label, group, str(group_agg["num_problems"]), _pct(group_agg["pass@1"]), _pct(group_agg.get("pass@5"))] \
                in tables["By difficulty"]
    # The paired difference: the mean of per-problem differences, recomputed from the problem rows.
    shared = {r["question_id"]: r for r in base["problems"]}
    diffs = [_pass1(r) - _pass1(shared[r["question_id"]]) for r in ssd["problems"] if r["question_id"] in shared]
    paired = tables["Paired differences"]
    assert len(paired) == 1 and paired[0][0] == "SSD round 1" and paired[0][2] == str(len(diffs))
    assert paired[0][3].startswith(f"{100 * sum(diffs) / len(diffs):+.1f} [")
    assert ("SSD round 1 beats" in text) == (float(paired[0][3].split("[")[1].split(",")[0]) > 0)
    # The habit check: distinct programs per problem after parsing, recomputed from the samples.
    habit = {row[0]: row for row in tables["Habit check"]}
    for label, results in ((ssd_label, ssd), (base_label, base)):
        programs: dict[str, set] = {}
        for s in results["samples"]:
            if s["code"]:
                try:
                    programs.setdefault(s["question_id"], set()).add(ast.dump(ast.parse(s["code"])))
                except SyntaxError:
                    programs.setdefault(s["question_id"], set()).add(s["code"])
        problems = {s["question_id"] for s in results["samples"]}
        mean = sum(len(programs.get(q, ())) for q in problems) / len(problems)
        assert habit[label][5] == f"{mean:.2f}" and habit[label][3] == f"{100 * results['aggregates']['all']['pass@1']['value']:.1f}"
    with open(os.path.join(out, "report.json")) as f:
        numbers = json.load(f)
    assert numbers["paired"][0]["difference"]["diff"] == pytest.approx(sum(diffs) / len(diffs))


def test_the_model_card_carries_the_summary(smoke_report, recipe_run):
    out, _, _, _ = smoke_report
    with open(os.path.join(out, "summary.md")) as f:
        summary = f.read().strip()
    card = render_model_card(recipe_run["ssd"], None)
    assert "### Report: controls and paired differences" in card and summary in card
    assert "SSD round 1" in summary


def _scored(tmp_path, name, solutions, extra):
    out = str(tmp_path / name)
    assert main(["eval", "--problems", "fixtures", "--solutions", solutions, "--output", out, "--workers", "1", *extra]) == 0
    return out


def test_results_on_different_sets_or_graders_are_refused_in_one_line(recipe_run, tmp_path, capsys):
    first = json.loads(open(os.path.join(FIXTURES, "correct_solutions.jsonl")).readline())
    one = tmp_path / "one.jsonl"
    one.write_text(json.dumps(first) + "\n")
    whole = _scored(tmp_path, "whole-set", os.path.join(FIXTURES, "correct_solutions.jsonl"), [])
    mlssd = _scored(tmp_path, "ml-ssd", str(one), ["--limit", "1", "--grader", "ml-ssd"])
    capsys.readouterr()
    for other, words in ((whole, ("different problem sets", "fixtures (1 problems", "fixtures (6 problems")),
                         (mlssd, ("different graders", "by lcb v1", "by ml-ssd v1"))):
        assert main(["report", recipe_run["base_eval"], other, "--output", str(tmp_path / "refused")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and all(w in err for w in words), err
        assert recipe_run["base_eval"] in err and other in err
    assert not os.path.exists(tmp_path / "refused" / "report.md")


def test_paired_interval_is_narrower_than_marginal_when_problems_vary():
    """Why pairs: hard problems are hard for both, so per-problem differences vary far less than the scores."""
    from ssd_hf.eval.passk import bootstrap_ci
    from ssd_hf.report.stats import paired_difference

    rng = random.Random(1)
    rows_a, rows_b = [], []
    for i in range(200):
        p = rng.random()
        rows_a.append({"question_id": str(i), "n": 10, "c": round(10 * p)})
        rows_b.append({"question_id": str(i), "n": 10, "c": min(10, round(10 * p) + (1 if rng.random() < 0.5 else 0))})
    d = paired_difference({"problems": rows_b}, {"problems": rows_a})
    lo, hi = bootstrap_ci([r["c"] / 10 for r in rows_b])
    assert d["ci_low"] > 0 and (d["ci_high"] - d["ci_low"]) < (hi - lo) / 3
