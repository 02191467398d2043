"""SSD rounds on the learned toy world: round r+1 samples from round r's student and trains it.

Why: the paper ran one round; in its toy world the analytic answer to "does a second round help?" is
known. Round 1 lifts the best pass rate from 8.3% to 13.8% (best T 2.09); the round-2 student (round 1's
student tempered and truncated once more) reaches about 16.5% while its best temperature keeps rising
(its supremum, 16.7%, is approached as T grows), and a third round adds nothing. Here each round is a
real SSDTrainer run on the previous round's saved model; every model is evaluated at its own best
temperature (from its exact success curve over a grid up to T=10) with fresh samples and a 95% Wilson
interval, beside the analytic value. Round 1 is today's `ssd-hf demo` (run_learned_toy) unchanged.

The toy has one prompt, so there are no problems to pair over: a difference between two models is one
of two independent sample rates, with Newcombe's hybrid-score 95% interval (from the two Wilson intervals).
"""

from __future__ import annotations

import json
import math
import os

import numpy as np

from . import toy
from .toy_learned import EVAL_TOP_P, exact_success, run_learned_toy, sampled_success, train_student

# The paper's fine grid up to T=3, then on to T=10: a later round's best temperature lies beyond 3.
ROUND_GRID = np.concatenate([toy.TEMPERATURE_GRID, np.round(np.arange(3.01, 10.0 + 1e-9, 0.01), 4)])
ROUNDS_FILE = "toy_rounds.json"


def analytic_rounds(num_rounds: int, t_train: float = 0.9, top_p_train: float = 0.85,
                    eval_top_p: float = EVAL_TOP_P, grid=ROUND_GRID) -> dict:
    """The paper's toy, exactly: base@T_train, the best base, and each round's student at its best T."""
    out = {"base@T_train": {"success": toy.success(toy.BASE, t_train, 0, top_p_train), "temperature": t_train},
           "base": toy.best_of(toy.BASE, eval_top_p, grid).to_dict()}
    model = toy.BASE
    for r in range(1, num_rounds + 1):
        model = {name: toy.decode(probs, t_train, 0, top_p_train) for name, probs in model.items()}
        out[f"round {r}"] = toy.best_of(model, eval_top_p, grid).to_dict()
    return out


def difference(a: dict, b: dict) -> dict:
    """a - b with Newcombe's hybrid-score 95% interval, for two independent sample rates (toy: one prompt)."""
    d = a["success"] - b["success"]
    lo = d - math.sqrt((a["success"] - a["ci_low"]) ** 2 + (b["ci_high"] - b["success"]) ** 2)
    hi = d + math.sqrt((a["ci_high"] - a["success"]) ** 2 + (b["success"] - b["ci_low"]) ** 2)
    return {"diff": d, "ci_low": lo, "ci_high": hi}


def _evaluate_round(model, tokenizer, model_dir: str, eval_dir: str, eval_samples: int, seed: int) -> dict:
    import torch

    with torch.no_grad():
        curve = exact_success(model, tokenizer, ROUND_GRID, EVAL_TOP_P)
    best = int(np.argmax(curve))
    measured = sampled_success(model, tokenizer, model_dir, ROUND_GRID[best], eval_samples, eval_dir, EVAL_TOP_P, seed)
    return {"path": model_dir, "exact_best": {"success": float(curve[best]), "temperature": float(ROUND_GRID[best])},
            "sampled_at_best": measured, "grid_edge": best == len(ROUND_GRID) - 1}


def run_toy_rounds(output_dir: str, num_rounds: int = 3, num_samples: int = 8000, eval_samples: int = 4000,
                   seed: int = 0, round1: dict | None = None) -> dict:
    """Round 1 (today's demo, or its results given as `round1`), then rounds 2..num_rounds (each drawing
    `num_samples` from the round before); writes toy_rounds.json."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..rounds import stamp_lineage

    first = round1 or run_learned_toy(output_dir, num_samples=num_samples, eval_samples=eval_samples, seed=seed)
    t_train, top_p_train, training = first["t_train"], first["top_p_train"], first["training"]
    base_dir = first["models"]["base"]["path"]
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    base = AutoModelForCausalLM.from_pretrained(base_dir).eval()
    at_train = sampled_success(base, tokenizer, base_dir, t_train, eval_samples,
                               os.path.join(output_dir, "eval-rounds", "base-T_train"), top_p_train, seed)
    rows = {"base@T_train": {"path": base_dir, "sampled_at_best": at_train},
            "base": first["models"]["base"], "round 1": first["models"]["ssd"]}
    lineage, previous = [base_dir], first["models"]["ssd"]["path"]
    stamp_lineage(previous, 1, lineage)
    for r in range(2, num_rounds + 1):
        lineage.append(previous)
        model_dir = os.path.join(output_dir, f"round-{r}")
        trainer = train_student(previous, model_dir, num_samples, t_train, top_p_train, training["epochs"],
                                training["learning_rate"], seed, samples_dir=os.path.join(output_dir, f"round-{r}-samples"))
        model = trainer.accelerator.unwrap_model(trainer.model).eval()
        rows[f"round {r}"] = _evaluate_round(model, tokenizer, model_dir, os.path.join(output_dir, "eval-rounds", f"round-{r}"),
                                             eval_samples, seed)
        stamp_lineage(model_dir, r, lineage)
        previous = model_dir
    results = {"num_rounds": num_rounds, "t_train": t_train, "top_p_train": top_p_train, "eval_top_p": EVAL_TOP_P,
               "models": rows, "analytic": analytic_rounds(num_rounds, t_train, top_p_train),
               "differences": _differences(rows, num_rounds)}
    with open(os.path.join(output_dir, ROUNDS_FILE), "w") as handle:
        json.dump(results, handle, indent=2)
    return results


def _differences(rows: dict, num_rounds: int) -> list[dict]:
    out = []
    for r in range(1, num_rounds + 1):
        others = ["base", "base@T_train"] + ([f"round {r - 1}"] if r > 1 else [])
        for other in others:
            d = difference(rows[f"round {r}"]["sampled_at_best"], rows[other]["sampled_at_best"])
            out.append({"name": f"round {r}", "other": other, **d})
    return out


def rounds_summary(results: dict) -> str:
    """The demo's table: each model at its best T with its 95% CI, the analytic value beside it, the differences."""
    lines = ["", f"SSD rounds on the learned toy world (T_train {results['t_train']}, top-p {results['top_p_train']}; "
             f"eval top-p {results['eval_top_p']:.2f}; each model at its own best T)", "",
             f"  {'model':<13} {'best T':>7} {'sampled [95% CI]':>24}   analytic best"]
    for name, row in results["models"].items():
        m, a = row["sampled_at_best"], results["analytic"][name]
        edge = " (grid edge: still rising)" if row.get("grid_edge") else ""
        lines.append(f"  {name:<13} {m['temperature']:>7.2f} {100 * m['success']:>6.1f}% [{100 * m['ci_low']:.1f}, "
                     f"{100 * m['ci_high']:.1f}]   {100 * a['success']:.1f}% @ T={a['temperature']:.2f}{edge}")
    lines += ["", "  differences (points, 95% Newcombe interval; one prompt, so independent samples, not pairs):"]
    for d in results["differences"]:
        verdict = "ahead" if d["ci_low"] > 0 else "behind" if d["ci_high"] < 0 else "not distinguishable"
        lines.append(f"    {d['name']} - {d['other']:<13} {100 * d['diff']:+5.1f} [{100 * d['ci_low']:+.1f}, "
                     f"{100 * d['ci_high']:+.1f}]  {verdict}")
    return "\n".join(lines)
