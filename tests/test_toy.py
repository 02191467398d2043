"""The paper's toy world: its published numbers, reproduced to within 0.1 point."""

import json
import subprocess
import sys

import pytest

from ssd_hf.analysis import toy

PAPER_GAPS = {0.65: 3.9, 0.70: 3.1, 0.75: 4.2, 0.80: 5.4, 0.85: 2.1, 0.90: 1.4}


@pytest.fixture(scope="module")
def table():
    return {round(row["eval_top_p"], 2): row for row in toy.paper_table()}


def test_states_match_the_paper():
    for name, head in toy.HEADS.items():
        probs = toy.BASE[name]
        assert abs(probs.sum() - 1) < 1e-12 and list(probs[:4]) == head
        assert all(abs(probs[i + 1] - probs[i] / 2) < 1e-12 for i in range(4, 15))  # geometric tail
    student = toy.ssd_student(0.9, 0.85)
    assert (student["lock"] > 0).sum() == 2 and abs(student["lock"][0] - 0.948) < 1e-3
    assert (student["fork"] > 0).sum() == 5
    assert (student["root"] > 0).sum() == 4 and abs(student["root"][2] - 0.406) < 1e-3


def test_best_base_and_student_at_top_p_080(table):
    row = table[0.80]
    assert abs(100 * row["base_best"]["success"] - 8.3) < 0.1 and abs(row["base_best"]["temperature"] - 0.64) < 0.02
    assert abs(100 * row["student_best"]["success"] - 13.8) < 0.1 and abs(row["student_best"]["temperature"] - 2.09) < 0.02


@pytest.mark.parametrize("eval_top_p, gap", sorted(PAPER_GAPS.items()))
def test_gaps_across_eval_top_p(table, eval_top_p, gap):
    assert abs(100 * table[eval_top_p]["gap"] - gap) < 0.1


def test_toy_json_command(tmp_path):
    result = subprocess.run([sys.executable, "-m", "ssd_hf.cli", "toy", "--json", "--plot", str(tmp_path)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["eval_top_p"] for r in rows] == [0.65, 0.70, 0.75, 0.80, 0.85, 0.90]
    assert set(rows[3]) == {"eval_top_p", "base_best", "student_best"}
    assert set(rows[3]["student_best"]) == {"success", "temperature"}
    assert (tmp_path / "toy_sweep_top_p_0.80.png").stat().st_size > 10_000


def test_batched_sweep_equals_one_warper_chain_per_temperature():
    student = toy.ssd_student(0.9, 0.85)
    grid = [0.3, 0.638, 1.0, 2.094, 2.9]
    for model in (toy.BASE, student):
        assert list(toy.sweep(model, 0.80, grid)) == pytest.approx([toy.success(model, t, 0, 0.80) for t in grid], abs=1e-12)
