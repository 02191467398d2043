"""SSD rounds: `ssd-hf run --num_rounds 2` on a tiny model (round 2 samples round 1's model, each round its own
folders, lineage in the provenance, a rerun resumes in the round where it stopped), and the learned toy's
rounds beside the analytic values (round 1: 8.3% -> 13.8% at T 2.09; round 2 about 16.5%, best T rising)."""

from __future__ import annotations

import json
import os

import pytest
from recipe_runs import PROMPTS

from ssd_hf.analysis.toy_rounds import analytic_rounds, rounds_summary, run_toy_rounds
from ssd_hf.cli import main
from ssd_hf.records import read_provenance, read_samples_manifest


def test_analytic_rounds_are_the_papers_toy_numbers():
    a = analytic_rounds(3)
    assert a["base"]["success"] == pytest.approx(0.083, abs=5e-4)
    assert a["round 1"]["success"] == pytest.approx(0.138, abs=5e-4) and a["round 1"]["temperature"] == pytest.approx(2.09, abs=0.01)
    assert 0.155 < a["round 2"]["success"] < 0.167 and a["round 2"]["temperature"] > 9  # still rising at the grid's edge
    assert a["round 3"]["success"] <= a["round 2"]["success"] and a["base@T_train"]["success"] < a["base"]["success"]


def _ledger(out):
    with open(os.path.join(out, "round-2", "ssd_costs.jsonl")) as handle:
        return [json.loads(line)["stage"] for line in handle]


def test_two_rounds_each_samples_the_last_model_and_a_rerun_resumes_the_unfinished_round(tiny_qwen3, tmp_path):
    out = str(tmp_path / "rounds")
    argv = ["run", "--model_name_or_path", tiny_qwen3, "--dataset_name", PROMPTS, "--output_dir", out, "--num_rounds", "2",
            "--max_prompts", "2", "--max_new_tokens", "8", "--engine", "transformers", "--max_steps", "1",
            "--max_length", "512", "--per_device_train_batch_size", "2", "--global_batch_size", "2", "--bf16", "false",
            "--dtype", "float32", "--gradient_checkpointing", "false", "--save_strategy", "no", "--report_to", "none",
            "--drop_empty_and_stubs", "false", "--paper_prompt_selection", "false"]
    assert main(argv) == 0
    first, second = os.path.join(out, "round-1"), os.path.join(out, "round-2")
    assert read_samples_manifest(os.path.join(first, "samples")).model_id == tiny_qwen3
    assert read_samples_manifest(os.path.join(second, "samples")).model_id == first  # round 2 samples round 1's model
    p1, p2 = read_provenance(first), read_provenance(second)
    assert (p1.round, p1.lineage) == (1, [tiny_qwen3]) and (p2.round, p2.lineage) == (2, [tiny_qwen3, first])
    assert p2.base_model == first and [c["stage"] for c in p2.costs] == ["sample", "train"]
    assert _ledger(out) == ["sample", "train"]
    # Round 2 stopped before its model was saved: the rerun skips round 1 and redoes round 2 from its samples store.
    os.remove(os.path.join(second, "ssd_provenance.json"))
    mtime = os.path.getmtime(os.path.join(first, "ssd_provenance.json"))
    assert main(argv) == 0
    assert os.path.getmtime(os.path.join(first, "ssd_provenance.json")) == mtime
    assert _ledger(out) == ["sample", "train", "sample", "train"] and read_provenance(second).round == 2
    from ssd_hf.cards import render_model_card

    assert "SSD round:** 2 (lineage: " in render_model_card(second, None)


def test_toy_round_two_trains_on_round_ones_samples(learned_toy, tmp_path):
    """One more round on the learned toy fixture (small sample counts): round 2 beside its analytic value."""
    import shutil

    work = str(tmp_path / "toy")
    shutil.copytree(os.path.dirname(learned_toy["models"]["base"]["path"]), work)
    round1 = json.loads(json.dumps(learned_toy))
    for name in ("base", "ssd"):
        round1["models"][name]["path"] = os.path.join(work, os.path.basename(learned_toy["models"][name]["path"]))
    results = run_toy_rounds(work, 2, num_samples=800, eval_samples=400, round1=round1)
    models = results["models"]
    assert list(models) == ["base@T_train", "base", "round 1", "round 2"]
    assert read_provenance(models["round 2"]["path"]).lineage == [round1["models"]["base"]["path"], round1["models"]["ssd"]["path"]]
    assert models["round 2"]["exact_best"]["temperature"] > models["round 1"]["exact_best"]["temperature"]
    text = rounds_summary(results)
    assert "16." in text.split("round 2")[1].splitlines()[0] or "15." in text.split("round 2")[1].splitlines()[0]
    assert "round 2 - round 1" in text and "round 1 - base@T_train" in text
