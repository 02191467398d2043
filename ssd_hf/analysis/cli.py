"""`ssd-hf toy`: the paper's toy world numbers, as a table, JSON, or plots."""

from __future__ import annotations

import argparse
import json
import os

from . import toy


def toy_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="ssd-hf toy", description="The paper's toy world, computed exactly.")
    parser.add_argument("--json", action="store_true", help="print one JSON object per eval top-p")
    parser.add_argument("--t_train", type=float, default=0.9, help="the student's training temperature (paper: 0.9)")
    parser.add_argument("--top_p_train", type=float, default=0.85, help="the student's training top-p (paper: 0.85)")
    parser.add_argument("--plot", metavar="DIR", help="also write success-vs-temperature PNGs to DIR")
    args = parser.parse_args(argv)
    rows = toy.paper_table(args.t_train, args.top_p_train)
    if args.json:
        print(json.dumps([{k: row[k] for k in ("eval_top_p", "base_best", "student_best")} for row in rows], indent=2))
    else:
        print(f"{'eval top-p':>10} | {'base best':>18} | {'SSD student best':>18} | {'gap':>6}")
        for row in rows:
            base, student = row["base_best"], row["student_best"]
            print(f"{row['eval_top_p']:>10.2f} | {100 * base['success']:6.2f}% @ T={base['temperature']:<5.3f} | "
                  f"{100 * student['success']:6.2f}% @ T={student['temperature']:<5.3f} | {100 * row['gap']:+5.2f}")
    if args.plot:
        from .plots import toy_sweep_plot

        student = toy.ssd_student(args.t_train, args.top_p_train)
        grid = toy.TEMPERATURE_GRID[::10]
        for eval_top_p in (0.80,):
            path = os.path.join(args.plot, f"toy_sweep_top_p_{eval_top_p:.2f}.png")
            toy_sweep_plot(list(grid), toy.sweep(toy.BASE, eval_top_p, grid), toy.sweep(student, eval_top_p, grid), eval_top_p, path)
            if not args.json:
                print(f"plot written to {path}")
    return 0


def analyze_main(argv: list[str]) -> int:
    """`ssd-hf analyze --base B --ssd S --samples D --output DIR`: lock/fork token statistics and panels."""
    from ..errors import SSDError
    from ..hub import load_dataset_any
    from ..sampling.store import load_samples
    from .tokens import analyze

    parser = argparse.ArgumentParser(prog="ssd-hf analyze", description=analyze_main.__doc__)
    parser.add_argument("--base", required=True, help="base model (Hub id or folder)")
    parser.add_argument("--ssd", required=True, help="SSD model (Hub id or folder; a full model)")
    parser.add_argument("--samples", required=True, help="samples dataset folder, or a JSONL/Parquet with prompt and completion")
    parser.add_argument("--output", required=True, help="folder for token_stats.json and the PNG panels")
    parser.add_argument("--max_samples", type=int, default=32)
    parser.add_argument("--top_k", type=int, default=20)
    parser.add_argument("--top_p", type=float, default=0.8)
    args = parser.parse_args(argv)
    samples = load_samples(args.samples) if os.path.isdir(args.samples) else load_dataset_any(args.samples)
    if "prompt" not in samples.column_names or "completion" not in samples.column_names:
        raise SSDError(f"{args.samples} needs 'prompt' and 'completion' columns; give an ssd-hf samples dataset.")
    stats = analyze(args.base, args.ssd, samples, args.output, args.max_samples, args.top_k, args.top_p)
    print(f"{'':6} {'positions':>9} {'lock':>6} {'fork':>6} {'other':>6}")
    for name in ("base", "ssd"):
        labels = stats[name]["labels"]
        print(f"{name:6} {stats[name]['positions']:>9} {labels['lock']:>6} {labels['fork']:>6} {labels['other']:>6}")
    print("written:", ", ".join([os.path.join(args.output, "token_stats.json"), *stats["plots"]]))
    return 0
