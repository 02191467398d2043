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
