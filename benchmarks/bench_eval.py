"""Evaluator throughput: programs scored per second vs worker count, and per-program sandbox overhead.

    python benchmarks/bench_eval.py [--programs 48] [--workers 1,2,4] [--append benchmarks/RESULTS.md]

Programs are the fixtures' correct solutions (stdin and functional, 3-4 tests each), repeated; each
is judged through the real sandbox. Overhead is the wall time of a trivial `pass` program, with and
without the network/PID namespaces.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from datetime import datetime, timezone

from ssd_hf.eval.problems import FIXTURES, load_problems
from ssd_hf.eval.runner import read_solutions, score_completions
from ssd_hf.eval.sandbox import SandboxLimits, namespaces_available, run_program


def overhead(use_namespaces: bool, repeats: int = 10) -> float:
    limits = SandboxLimits(timeout_s=5, use_namespaces=use_namespaces)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        assert run_program("pass", "", limits).status == "ok"
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def throughput(workers: int, num_programs: int) -> tuple[float, int]:
    problems, _ = load_problems("fixtures")
    base = read_solutions(os.path.join(os.path.dirname(FIXTURES), "correct_solutions.jsonl"))
    items = [{**base[i % len(base)], "sample_index": i} for i in range(num_programs)]
    start = time.perf_counter()
    records = score_completions(problems, items, SandboxLimits(), workers=workers, show_progress=False)
    elapsed = time.perf_counter() - start
    assert all(r["verdict"] == "pass" for r in records)
    runs = sum(1 if p.is_functional else len(p.tests) for p in problems for r in records if r["question_id"] == p.question_id)
    return num_programs / elapsed, runs


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--programs", type=int, default=48)
    ap.add_argument("--workers", default="1,2,4")
    ap.add_argument("--append", default=None)
    args = ap.parse_args()
    rows = {"cores": os.cpu_count(), "namespaces": namespaces_available()}
    rows["overhead_s"] = {"with_namespaces": overhead(True), "without_namespaces": overhead(False)}
    rows["throughput"] = {}
    for w in (int(x) for x in args.workers.split(",")):
        rate, runs = throughput(w, args.programs)
        rows["throughput"][w] = {"programs_per_s": rate, "sandbox_runs": runs}
    print(json.dumps(rows, indent=1))
    if args.append:
        lines = [
            f"\n## Evaluator throughput ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {rows['cores']} cores)\n",
            f"Command: `python benchmarks/bench_eval.py --programs {args.programs} --workers {args.workers}`\n",
            f"Per-program sandbox overhead (`pass`, median of 10): {rows['overhead_s']['with_namespaces'] * 1000:.0f} ms with "
            f"network+PID namespaces, {rows['overhead_s']['without_namespaces'] * 1000:.0f} ms without.\n",
            "| workers | programs/s | sandbox runs |", "|---|---|---|",
            *(f"| {w} | {v['programs_per_s']:.2f} | {v['sandbox_runs']} |" for w, v in rows["throughput"].items()),
            "\nPrograms: fixture solutions (stdin: one sandbox run per test; functional: one run for all tests).\n",
        ]
        with open(args.append, "a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
