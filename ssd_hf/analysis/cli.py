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
        grid = toy.TEMPERATURE_GRID  # the full grid, so the marked peaks are the reported ones
        for eval_top_p in (0.80,):
            path = os.path.join(args.plot, f"toy_sweep_top_p_{eval_top_p:.2f}.png")
            toy_sweep_plot(list(grid), toy.sweep(toy.BASE, eval_top_p, grid), toy.sweep(student, eval_top_p, grid), eval_top_p, path)
            if not args.json:
                print(f"plot written to {path}")
    return 0


def analyze_main(argv: list[str]) -> int:
    """`ssd-hf analyze --base B --ssd S --samples D --output DIR`: lock/fork token statistics and panels."""
    from ..data import load_dataset_any, load_samples
    from ..errors import SSDError
    from .tokens import analyze

    parser = argparse.ArgumentParser(prog="ssd-hf analyze", description=analyze_main.__doc__)
    parser.add_argument("--base", help="base model (Hub id or folder)")
    parser.add_argument("--ssd", help="SSD model (Hub id or folder; a full model)")
    parser.add_argument("--samples", help="samples dataset folder, or a JSONL/Parquet with prompt and completion")
    parser.add_argument("--composition", nargs="+", metavar="RESULTS_JSON",
                        help="instead: evaluation results over a (T_train, T_eval) sweep -> T_eff table and quadratic fit")
    parser.add_argument("--t_train", type=float, help="T_train of every --composition file (default: from the sweep or provenance)")
    parser.add_argument("--output", required=True, help="folder for token_stats.json and the PNG panels")
    parser.add_argument("--max_samples", type=int, default=32)
    parser.add_argument("--top_k", type=int, default=20)
    parser.add_argument("--top_p", type=float, default=0.8)
    args = parser.parse_args(argv)
    if args.composition:
        return _composition(args.composition, args.t_train, args.output)
    if not (args.base and args.ssd and args.samples):
        raise SSDError("ssd-hf analyze needs --base, --ssd and --samples (or --composition RESULTS_JSON ...).")
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


def _composition(paths: list[str], t_train: float | None, output_dir: str) -> int:
    """Print the T_eff table and quadratic fit; write composition.json and composition.png."""
    from . import composition

    points = [point for path in paths for point in composition.points_from_results(path, t_train)]
    fit = composition.fit_quadratic(points)
    rows = composition.table(points)
    print(f"{'T_train':>7} {'T_eval':>7} {'T_eff':>7} {'pass@1':>8}")
    for row in rows:
        print(f"{row['t_train']:>7.3f} {row['t_eval']:>7.3f} {row['t_eff']:>7.3f} {100 * row['score']:>7.2f}%")
    peak = "none (opens upwards)" if fit.peak_t_eff is None else f"{fit.peak_t_eff:.3f}"
    print(f"quadratic fit in T_eff: R^2 = {fit.r2:.3f}, peak T_eff = {peak}")
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "composition.json"), "w") as handle:
        json.dump({"points": rows, "fit": fit.to_dict()}, handle, indent=2)
    png = composition.composition_plot(points, fit, os.path.join(output_dir, "composition.png"))
    print("written:", os.path.join(output_dir, "composition.json") + ",", png)
    return 0
