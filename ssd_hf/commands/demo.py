"""`ssd-hf demo`: the README's main job, offline: SSD on the paper's toy world, learned by a tiny model.

`--coding` instead runs the coding pipeline (sample -> train) on a tiny random Qwen3 and the bundled
coding prompts: a smoke run whose text is noise.
"""

from __future__ import annotations

import argparse
import os

from ..errors import SSDError


def main(argv: list[str]) -> int:
    """The README's main job, offline: the paper's toy world learned by a tiny model, then improved by SSD.

    A tiny Qwen3 is trained to speak the toy world (docs/paper.md, "The toy experiment"); SSDTrainer samples it
    at T_train 0.9 / top-p 0.85 and fine-tunes on the raw samples; both are then evaluated at one global
    eval temperature (top-p 0.80). `--coding` instead runs the coding pipeline on a tiny random Qwen3 and
    the bundled coding prompts (a smoke run of sample -> train: its text is noise).
    """
    parser = argparse.ArgumentParser(prog="ssd-hf demo", description=main.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="ssd-demo-out")
    parser.add_argument("--num_samples", type=int, default=8000, help="SSD samples drawn from the toy base (N for its one prompt)")
    parser.add_argument("--eval_samples", type=int, default=4000, help="fresh samples per model at its best eval temperature")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=1, help="SSD rounds on the toy: round r+1 samples round r's student "
                        "(base@T_train, best base and each round at its best T, beside the analytic values)")
    parser.add_argument("--coding", action="store_true", help="run the coding pipeline on a tiny random Qwen3 instead")
    parser.add_argument("--use_peft", action="store_true", help="with --coding: train a LoRA adapter instead of the full model")
    options = parser.parse_args(argv)
    if options.coding:
        return _coding_demo(options.output_dir, options.use_peft)
    if options.num_samples < 1 or options.eval_samples < 1:
        raise SSDError("--num_samples and --eval_samples must be >= 1.")
    if options.rounds < 1:
        raise SSDError(f"--rounds must be at least 1 (got {options.rounds}).")
    from ..analysis.toy_learned import run_learned_toy

    if options.rounds > 1:
        from ..analysis.toy_rounds import rounds_summary, run_toy_rounds

        first = run_learned_toy(os.path.join(options.output_dir, "toy"), num_samples=options.num_samples,
                                eval_samples=options.eval_samples, seed=options.seed)
        print(toy_summary(first))
        rounds = run_toy_rounds(os.path.join(options.output_dir, "toy"), options.rounds, options.num_samples,
                                options.eval_samples, options.seed, round1=first)
        print(rounds_summary(rounds))
        return 0
    results = run_learned_toy(os.path.join(options.output_dir, "toy"), num_samples=options.num_samples,
                              eval_samples=options.eval_samples, seed=options.seed)
    print(toy_summary(results))
    return 0


def toy_summary(results: dict) -> str:
    """What the toy demo measured, as a short report."""
    fit = results["base_fit"]["max_abs_error"]
    lines = [
        "",
        "SSD on the paper's toy world, learned (root -> fork -> 3 locks; PASS needs tok0/tok1, then tok0 x4)",
        f"  base: tiny Qwen3 trained to speak the toy world (largest |p - p_paper| over its states: {fit:.4f})",
        f"  SSD:  {results['num_samples']} raw samples from the frozen base at T_train {results['t_train']}, "
        f"top-p {results['top_p_train']} -> SSDTrainer (completion-only cross-entropy)",
        f"  eval: one global temperature, top-p {results['eval_top_p']:.2f}; best T from the models' exact success curves, "
        f"then {results['eval_samples']} fresh samples there, judged by the PASS rule (95% Wilson CI)",
        "",
        f"  {'model':<12} {'best T':>7} {'exact':>7} {'sampled [95% CI]':>24}   paper's analytic best",
    ]
    for name, label in (("base", "base"), ("ssd", "SSD student")):
        model, analytic = results["models"][name], results["analytic"][name]
        m = model["sampled_at_best"]
        sampled = f"{100 * m['success']:.1f}% [{100 * m['ci_low']:.1f}, {100 * m['ci_high']:.1f}]"
        lines.append(f"  {label:<12} {m['temperature']:>7.3f} {100 * model['exact_best']['success']:>6.1f}% {sampled:>24}   "
                     f"{100 * analytic['success']:.1f}% @ T={analytic['temperature']:.2f}")
    base, ssd = results["models"]["base"]["sampled_at_best"], results["models"]["ssd"]["sampled_at_best"]
    verdict = "SSD ahead: the intervals do not overlap" if ssd["ci_low"] > base["ci_high"] else "intervals overlap: not a clear win"
    labels = results["token_stats"]["labels"]
    lines += [
        f"  {verdict} ({100 * (ssd['success'] - base['success']):+.1f} points)",
        "",
        "  next-token positions on 32 of the samples (lock: top token >= 0.9; fork: top < 0.6 and >= 2 tokens >= 0.1):",
        f"    base {labels['base']['lock']} locks / {labels['base']['fork']} forks / {labels['base']['other']} other;  "
        f"SSD {labels['ssd']['lock']} locks / {labels['ssd']['fork']} forks / {labels['ssd']['other']} other",
        "",
        f"  samples dataset: {results['samples_dir']}",
        f"  models:          {results['models']['base']['path']} (base), {results['models']['ssd']['path']} (SSD)",
        f"  results:         {os.path.join(os.path.dirname(results['models']['base']['path']), 'toy_results.json')}",
        f"  plots:           {', '.join(results['plots'])}",
        f"  wall time:       {results['wall_seconds']:.0f} s",
    ]
    return "\n".join(lines)


def _coding_demo(output_dir: str, use_peft: bool) -> int:
    """The coding pipeline on a tiny random Qwen3 built here, with the bundled demo prompts."""
    from ..tiny import build_tiny_model

    model_dir = build_tiny_model(os.path.join(output_dir, "tiny-qwen3-base"), "qwen3")
    prompts = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "demo_prompts.jsonl")
    args = [
        "--model_name_or_path", model_dir, "--dataset_name", prompts,
        "--output_dir", os.path.join(output_dir, "model"),
        "--num_samples_per_prompt", "2", "--max_new_tokens", "64", "--sampling_batch_size", "64",
        "--drop_empty_and_stubs", "false", "--learning_rate", "1e-3", "--num_train_epochs", "1",
        "--per_device_train_batch_size", "8", "--max_length", "512", "--save_strategy", "no",
        "--report_to", "none", "--gradient_checkpointing", "false",
    ] + (["--use_peft", "--lora_r", "8", "--lora_alpha", "16"] if use_peft else [])
    from .stages import run_main

    return run_main(args)
