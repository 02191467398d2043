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
    """`ssd-hf report RUN_DIR` on the smoke run: its two base controls (controls/) and its model."""
    out = os.path.join(recipe_run["ssd"], "report")
    assert main(["report", recipe_run["ssd"], "--output", out]) == 0
    files = {"base@T_train": os.path.join(recipe_run["ssd"], "controls", "base-T_train", "results.json"),
             "base@best-T": os.path.join(recipe_run["ssd"], "controls", "base-best-T", "results.json"),
             "ssd": os.path.join(recipe_run["ssd"], "eval", "results.json")}
    results = {}
    for role, path in files.items():
        with open(path) as f:
            results[role] = json.load(f)
    with open(os.path.join(out, "report.md")) as f:
        text = f.read()
    return out, text, results


def test_report_writes_markdown_and_plots(smoke_report):
    out, text, _ = smoke_report
    assert os.path.getsize(os.path.join(out, "plots", "difficulty.png")) > 1000
    assert os.path.getsize(os.path.join(out, "plots", "paired.png")) > 1000
    assert "![pass@k by difficulty](plots/difficulty.png)" in text and "(plots/paired.png)" in text
    for section in ("Summary", "Models", "By difficulty", "Paired differences", "pass@1 vs T_eval", "Transfer",
                    "Habit check", "Cost"):
        assert f"## {section}" in text


def test_every_table_matches_the_results_files(smoke_report):
    out, text, results = smoke_report
    tables = _tables(text)
    by_label = {row[0]: row for row in tables["Models"]}
    assert [label.split(" (")[0] for label in by_label] == ["base@T_train", "base@best-T", "SSD round 1"]
    labels = dict(zip(("base@T_train", "base@best-T", "ssd"), by_label))
    assert results["base@best-T"]["best"]["temperature"] in (0.7, 1.1) and len(results["base@best-T"]["sweep"]) == 2
    for role, label in labels.items():
        row, agg = by_label[label], results[role]["aggregates"]["all"]
        assert results[role]["role"] == role
        assert row[5] == str(agg["num_problems"]) and row[6] == _pct(agg["pass@1"]) and row[7] == _pct(agg.get("pass@5"))
        assert row[1] == f"{results[role]['config']['decoding']['temperature']:g}"
        for group, group_agg in results[role]["aggregates"].items():
            assert [label, group, str(group_agg["num_problems"]), _pct(group_agg["pass@1"]), _pct(group_agg.get("pass@5"))] \
                in tables["By difficulty"]
    # The paired differences: the mean of per-problem differences, recomputed from the problem rows.
    paired = {row[1]: row for row in tables["Paired differences"]}
    assert set(paired) == {"the base at T_train", "the tuned base (best T_eval)"}
    for role, other in (("base@T_train", "the base at T_train"), ("base@best-T", "the tuned base (best T_eval)")):
        shared = {r["question_id"]: r for r in results[role]["problems"]}
        diffs = [_pass1(r) - _pass1(shared[r["question_id"]]) for r in results["ssd"]["problems"] if r["question_id"] in shared]
        assert paired[other][0] == "SSD round 1" and paired[other][2] == str(len(diffs))
        assert paired[other][3].startswith(f"{100 * sum(diffs) / len(diffs):+.1f} [")
        beats = float(paired[other][3].split("[")[1].split(",")[0]) > 0
        assert (f"SSD round 1 beats {other}" in text) == beats and (f"SSD round 1 does not beat {other}" in text) != beats
    # The sweep table: the tuned base's recorded sweep and best point.
    sweep = tables["pass@1 vs T_eval"]
    assert sweep == [[labels["base@best-T"], "2", f"{results['base@best-T']['best']['temperature']}",
                      _pct(results["base@best-T"]["best"]["pass@1"])]]
    assert os.path.getsize(os.path.join(out, "plots", "sweep.png")) > 1000
    # The habit check: distinct programs per problem after parsing, recomputed from the samples.
    habit = {row[0]: row for row in tables["Habit check"]}
    for role, label in labels.items():
        programs: dict[str, set] = {}
        for s in results[role]["samples"]:
            if s["code"]:
                try:
                    programs.setdefault(s["question_id"], set()).add(ast.dump(ast.parse(s["code"])))
                except SyntaxError:
                    programs.setdefault(s["question_id"], set()).add(s["code"])
        problems = {s["question_id"] for s in results[role]["samples"]}
        mean = sum(len(programs.get(q, ())) for q in problems) / len(problems)
        assert habit[label][5] == f"{mean:.2f}"
        assert habit[label][3] == f"{100 * results[role]['aggregates']['all']['pass@1']['value']:.1f}"
    # The cost table: the stages the smoke run recorded into the SSD model's results.json.
    costs = results["ssd"]["costs"]
    assert [c["stage"] for c in costs] == ["sample", "train", "eval"]
    assert all(c["status"] == "ok" and c["wall_s"] > 0 and c["device_kind"] == "cpu" for c in costs)
    rows = [(row[0], row[1], row[2], row[3]) for row in tables["Cost"]]
    assert rows[-3:] == [(labels["ssd"], c["stage"], "ok", f"{c['wall_s']:.1f}") for c in costs]
    assert [r[:2] for r in rows[:2]] == [(labels["base@T_train"], "eval-control"), (labels["base@best-T"], "eval-control")]
    assert costs[0]["tokens"] > 0 and costs[0]["samples"] == 2
    ledger = [json.loads(line) for line in open(os.path.join(os.path.dirname(out), "ssd_costs.jsonl"))]
    assert [c["stage"] for c in ledger] == ["sample", "train", "eval", "eval-control", "eval-control"]
    for role in ("base@T_train", "base@best-T"):  # each control's own evaluation cost, in its results
        assert [c["stage"] for c in results[role]["costs"]] == ["eval-control"]


def test_the_model_card_carries_the_summary(smoke_report, recipe_run):
    out, _, _ = smoke_report
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


def test_the_typed_evaluator_refuses_what_it_does_not_know(tmp_path):
    from ssd_hf.errors import SSDError
    from ssd_hf.eval.api import EvalRequest, evaluate, to_namespace

    request = EvalRequest(model=None, output=str(tmp_path / "out"), problems="fixtures", n=3, temperature=0.7,
                          engine={"engine": "transformers"})
    args = to_namespace(request)
    assert (args.n, args.temperature, args.engine, args.top_k, args.grader) == (3, 0.7, "transformers", 20, "lcb")
    with pytest.raises(SSDError, match="unknown engine option 'engin'"):
        to_namespace(EvalRequest(model=None, output=str(tmp_path), engine={"engin": "vllm"}))
    with pytest.raises(SSDError, match="nothing to evaluate"):
        evaluate(request)


def test_controls_are_reused_while_their_key_holds(smoke_report, recipe_run):
    """The smoke run's controls carry the key of what they were evaluated with; the same key finds them again."""
    from ssd_hf.eval.stage import _cached, control_key

    _, _, results = smoke_report
    from ssd_hf.eval.api import EvalRequest

    for role in ("base@T_train", "base@best-T"):
        folder = os.path.join(recipe_run["ssd"], "controls", {"base@T_train": "base-T_train", "base@best-T": "base-best-T"}[role])
        request = EvalRequest(model=results[role]["config"]["model"], output=folder)
        assert _cached(request, results[role]["control_key"]) == os.path.join(folder, "results.json")
        assert _cached(request, control_key(request)) is None  # another key (here: other settings) evaluates again
