"""Evaluator cost: per-program sandbox overhead and scoring throughput, against an earlier commit in one run.

    python benchmarks/bench_eval.py [--baseline REV] [--programs 48] [--workers 1,2] [--rounds 3] [--append benchmarks/RESULTS.md]

With --baseline, the tree of REV is unpacked into a temporary folder (`git archive`) and both trees are
measured in alternating rounds by this same script (`--measure`, run with PYTHONPATH set to the tree),
so both face the same machine load; medians over rounds are reported with their ratio.
Overhead: wall time of a trivial `pass` program judged on one test end to end (spawn, sandbox, runner,
exit). For the current tree it is also split into start-up (spawn until the runner says ready:
interpreter, sandbox and the grader's preamble, which the program's time limit excludes), and the cost of
each further test of the same program (a fresh process forked by the runner). Throughput: the fixtures'
correct solutions (stdin: one sandbox per test; functional: one per program), repeated, through
score_completions, with the verdict store as the CLI uses it when the tree has one.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from workload import tree_at  # noqa: E402


def _overhead(repeats: int = 15) -> dict:
    from ssd_hf.eval import sandbox

    limits = sandbox.SandboxLimits(timeout_s=5)
    if not hasattr(sandbox, "run_once"):  # the evaluator before bubblewrap
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            assert sandbox.run_program("pass", "", limits).status == "ok"
            times.append(time.perf_counter() - start)
        return {"total_ms": 1000 * statistics.median(times)}
    from ssd_hf.eval.graders import LCB

    total, startup, extra = [], [], []
    for _ in range(repeats):
        start = time.perf_counter()
        old_style = "keep_stdout" in inspect.signature(sandbox.Sandbox).parameters  # before pipes (issue 21)
        with sandbox.Sandbox({"mode": "stdin", "program": "pass", "rules": LCB.rules}, limits,
                             **({"keep_stdout": False} if old_style else {})) as box:
            box.wait_ready()
            startup.append(box.ready_at - box.started_at)
            assert box.run_test(0, b"", 5).status == "ok"
            total.append(time.perf_counter() - start)
            second = time.perf_counter()
            assert box.run_test(1, b"", 5).status == "ok"
            extra.append(time.perf_counter() - second)
    return {"total_ms": 1000 * statistics.median(total), "startup_ms": 1000 * statistics.median(startup),
            "next_test_ms": 1000 * statistics.median(extra)}


def _throughput(workers: int, num_programs: int) -> float:
    from ssd_hf.eval.problems import FIXTURES, load_problems
    from ssd_hf.eval.runner import read_solutions, score_completions
    from ssd_hf.eval.sandbox import SandboxLimits

    problems, _ = load_problems("fixtures")
    base = read_solutions(os.path.join(os.path.dirname(FIXTURES), "correct_solutions.jsonl"))
    items = [{**base[i % len(base)], "sample_index": i} for i in range(num_programs)]
    extra = {}
    with tempfile.TemporaryDirectory() as out:
        try:
            from ssd_hf.eval.verdict_store import VerdictStore

            extra["store"] = VerdictStore(out)
        except ImportError:
            pass
        start = time.perf_counter()
        records = score_completions(problems, items, SandboxLimits(), workers=workers, show_progress=False, **extra)
        elapsed = time.perf_counter() - start
    assert all(r["verdict"] == "pass" for r in records), [r for r in records if r["verdict"] != "pass"][:1]
    return num_programs / elapsed


def measure(args) -> dict:
    """One round in this process, for the tree on our PYTHONPATH."""
    return {"overhead": _overhead(), "throughput": {w: _throughput(w, args.programs) for w in args.worker_counts}}


def _round(tree: str, args) -> dict:
    env = {**os.environ, "PYTHONPATH": tree}
    cmd = [sys.executable, os.path.abspath(__file__), "--measure", "--programs", str(args.programs), "--workers", args.workers]
    proc = subprocess.run(cmd, env=env, cwd=tree, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _median(rounds: list[dict], *keys) -> float:
    values = []
    for r in rounds:
        for key in keys:
            r = r[key]
        values.append(r)
    return statistics.median(values)


def compare(args) -> dict:
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"current": here, **({"baseline": tree_at(args.baseline, tmp)} if args.baseline else {})}
        rounds: dict[str, list] = {name: [] for name in trees}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                rounds[name].append(_round(tree, args))
    summary = {name: {"overhead_ms": _median(rs, "overhead", "total_ms"),
                      "throughput": {w: _median(rs, "throughput", str(w)) for w in args.worker_counts}} for name, rs in rounds.items()}
    for key in ("startup_ms", "next_test_ms"):
        summary["current"][key] = _median(rounds["current"], "overhead", key)
    return {"rounds": rounds, "summary": summary}


def report(result: dict, args) -> str:
    s = result["summary"]
    cur, base = s["current"], s.get("baseline")
    lines = [f"\n## Evaluator overhead and throughput ({datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
             f"{os.cpu_count()} cores)\n",
             f"Command: `python benchmarks/bench_eval.py --baseline {args.baseline} --programs {args.programs} --workers {args.workers} "
             f"--rounds {args.rounds}` (medians of {args.rounds} alternating rounds; baseline = {args.baseline}, current = this tree)\n",
             "| | per-program overhead, one test (`pass`, ms) | of which start-up before the clock (ms) | each further test (ms) |"
             + "".join(f" programs/s, {w} worker{'s' if w > 1 else ''} |" for w in args.worker_counts),
             "|---|---|---|---|" + "---|" * len(args.worker_counts)]
    for name, row in (("baseline", base), ("current", cur)):
        if row:
            extra = f"{row['next_test_ms']:.0f}" if "next_test_ms" in row else f"{row['overhead_ms']:.0f} (a new sandbox)"
            lines.append(f"| {name} | {row['overhead_ms']:.0f} | {row['startup_ms']:.0f} | {extra} |" if "startup_ms" in row
                         else f"| {name} | {row['overhead_ms']:.0f} | (not separated) | {extra} |")
            lines[-1] += "".join(f" {row['throughput'][w]:.2f} |" for w in args.worker_counts)
    if base:
        lines.append(f"| current / baseline | {cur['overhead_ms'] / base['overhead_ms']:.2f} | | |"
                     + "".join(f" {cur['throughput'][w] / base['throughput'][w]:.2f} |" for w in args.worker_counts))
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--baseline", default=None, help="git revision to compare with (e.g. the commit before a change)")
    ap.add_argument("--programs", type=int, default=48)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--append", default=None)
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.worker_counts = [int(w) for w in args.workers.split(",")]
    if args.measure:
        print(json.dumps(measure(args)))
        return
    result = compare(args)
    print(json.dumps(result["summary"], indent=1))
    text = report(result, args)
    print(text)
    if args.append:
        with open(args.append, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
