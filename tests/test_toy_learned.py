"""The toy world learned by a tiny model, then SSD through the real sampler, store, trainer and evaluator.

The one place where a run is known to improve a model: the learned student must land near the paper's
analytic student and clearly above the learned base, measured on fresh samples with 95% intervals.
"""

import json
import os
import subprocess
import sys

import pytest

from ssd_hf.analysis import toy, toy_learned
from ssd_hf.data import load_samples
from ssd_hf.sampling.store import RECORD_FIELDS


def test_verifier_and_interval():
    assert toy_learned.passes("tok1 tok0 tok0 tok0 tok0")
    assert toy_learned.passes("tok0 tok0 tok0 tok0 tok0")
    assert not toy_learned.passes("tok2 tok0 tok0 tok0 tok0")  # the root's likeliest token fails
    assert not toy_learned.passes("tok0 tok1 tok0 tok0 tok0")  # the fork's likeliest token fails
    assert not toy_learned.passes("tok0 tok0 tok0 tok0")  # stopped before PASS
    assert not toy_learned.passes("tok0 tok0 tok0 tok0 tok0 tok0")
    low, high = toy_learned.wilson_interval(10, 100)
    assert 0.05 < low < 0.1 < high < 0.18
    assert toy_learned.wilson_interval(0, 50)[0] == 0.0


def test_tokenizer_round_trips_and_encodes_any_text():
    tokenizer = toy_learned.build_toy_tokenizer()
    ids = tokenizer("tok1 tok0 tok15")["input_ids"]
    assert tokenizer.decode(ids) == "tok1 tok0 tok15"
    assert tokenizer("def solve(): pass")["input_ids"] == [tokenizer.unk_token_id] * 3  # a coding prompt still encodes
    assert toy_learned.prompt_ids(tokenizer)[-1] == tokenizer.convert_tokens_to_ids("<|im_start|>")


@pytest.mark.slow
def test_learned_student_beats_learned_base_near_the_paper(learned_toy):
    results = learned_toy
    analytic_base = toy.best_of(toy.BASE, 0.80)
    analytic_student = toy.best_of(toy.ssd_student(0.9, 0.85), 0.80)

    # The base speaks the toy world: its exact best is the paper's 8.3% within half a point.
    assert results["base_fit"]["max_abs_error"] < 0.01
    base = results["models"]["base"]
    assert abs(base["exact_best"]["success"] - analytic_base.success) < 0.005
    # Sampling through the engine agrees with the exact rate (a 99.9% interval: a 95% one misses 1 run in 20).
    for model in (base, results["models"]["ssd"]):
        m = model["sampled_at_best"]
        low, high = toy_learned.wilson_interval(m["passes"], m["n"], z=3.29)
        assert low < model["exact_best"]["success"] < high, model

    # The student, trained by SSDTrainer on the raw samples, lands near the analytic student (13.8%) ...
    ssd = results["models"]["ssd"]
    assert abs(ssd["exact_best"]["success"] - analytic_student.success) < 0.015
    # ... and clearly above the base on fresh samples: the 95% intervals do not overlap.
    assert ssd["sampled_at_best"]["ci_low"] > base["sampled_at_best"]["ci_high"]
    # SSD compressed the lock's tail: its top token gained mass, the tail beyond tok4 all but vanished.
    assert ssd["states"]["lock"][0] > base["states"]["lock"][0] + 0.1
    assert sum(ssd["states"]["lock"][5:]) < 0.001 < sum(base["states"]["lock"][5:])

    # The same in `ssd-hf analyze`'s terms: the base has no lock (its top lock token holds 0.75), the student's
    # lock positions became locks (top token >= 0.9), and no position went the other way.
    labels, transitions = results["token_stats"]["labels"], results["token_stats"]["transitions"]
    assert labels["base"]["lock"] == 0 and labels["ssd"]["lock"] >= 48 and transitions["other->lock"] >= 48
    assert transitions["lock->other"] == transitions["lock->fork"] == 0

    # What the run leaves behind: a samples dataset in the project schema, both models, results and plots.
    samples = load_samples(results["samples_dir"])
    assert len(samples) == 4000 and set(RECORD_FIELDS) <= set(samples.column_names)
    assert set(samples["temperature"]) == {0.9} and set(samples["top_p"]) == {0.85} and set(samples["engine"]) == {"transformers"}
    assert os.path.isfile(os.path.join(ssd["path"], "ssd_provenance.json"))
    toy_dir = os.path.dirname(ssd["path"])
    with open(os.path.join(toy_dir, toy_learned.RESULTS_FILE)) as handle:
        assert json.load(handle)["models"]["ssd"]["sampled_at_best"]["n"] == 3000
    # Each model also gets an `ssd-hf eval`-schema results.json (read by the cards and the Space).
    with open(os.path.join(ssd["path"], "eval", "results.json")) as handle:
        evaluation = json.load(handle)
    assert evaluation["aggregates"]["all"]["pass@1"]["value"] == ssd["sampled_at_best"]["success"]
    assert evaluation["best"]["temperature"] == ssd["sampled_at_best"]["temperature"]
    assert evaluation["config"]["decoding"]["top_p"] == 0.8 and evaluation["sweep"][0]["method"] == "exact"
    # ... where `ssd-hf card` finds it: the demo's SSD card shows both models' evaluation.
    from ssd_hf.commands.card import render

    card = render(ssd["path"])
    assert "No evaluation recorded" not in card and f"| all | 1 | {100 * base['sampled_at_best']['success']:.1f} [" in card
    for plot in results["plots"]:
        with open(plot, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_demo_rejects_bad_counts():
    run = subprocess.run([sys.executable, "-m", "ssd_hf.cli", "demo", "--num_samples", "0"], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == ["ssd-hf demo: error: --num_samples and --eval_samples must be >= 1."]
