"""Training benchmark: SSDTrainer with padding-free batches vs padded batches on the same samples, alternating rounds.

    python benchmarks/bench_training.py [--samples 16 --steps 2 --batch 4 --rounds 3 --threads 1] [--append]
    python benchmarks/bench_training.py --baseline REV [--rounds 3]   # this tree vs commit REV, one run

Samples: `--samples` prompt/completion rows whose completion lengths are log-normal (median `--median-words`,
sigma 0.8, capped at 5x the median), the same rows for both modes. Model: random-weight ~19M Qwen3 on CPU.
One untimed warm-up run of each mode, then `--rounds` rounds, each running both modes (the order alternates
by round), threads pinned with `torch.set_num_threads(--threads)`. Reported: each round's real (non-pad)
tokens/s, the medians and the median of the per-round ratios, and the tokens the model actually had to
process (pad included).
On GPU see benchmarks/gpu/gpu_bench.py, which also reports MFU.

With `--baseline REV`, the padding-free run is measured in this tree and in the tree of commit REV (unpacked
with `git archive`), each in its own process, alternating for `--rounds` rounds; medians are compared.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))

from workload import long_tailed_budgets, qwen3_model, report, tree_at  # noqa: E402

WORDS = "n = int ( input ( ) ) for i in range ( n ) : print ( sum ( map ( int , line . split ( ) ) ) )".split()


def samples_dataset(count: int, median_words: int = 96):
    from datasets import Dataset

    lens = long_tailed_budgets(count, median_words, 5 * median_words, seed=3)
    return Dataset.from_list([
        {"prompt": [{"role": "user", "content": f"Problem {i}: read the input and print the answer."}],
         "completion": " ".join(WORDS[j % len(WORDS)] for j in range(n)), "model_id": "bench"}
        for i, n in enumerate(lens)
    ])


def run(mode: str, data, args, out_dir: str) -> dict:
    from ssd_hf import SSDConfig, SSDTrainer
    from ssd_hf.tiny import build_tiny_tokenizer

    torch.manual_seed(0)
    model = qwen3_model("qwen3-cpu-25m")
    cfg = SSDConfig(output_dir=os.path.join(out_dir, mode), max_steps=args.steps, per_device_train_batch_size=args.batch,
                    learning_rate=1e-4, report_to="none", save_strategy="no",
                    max_length=None, logging_steps=args.steps, padding_free=mode == "padding-free",
                    drop_empty_and_stubs=False, disable_tqdm=True, use_cpu=True)
    trainer = SSDTrainer(model=model, args=cfg, train_dataset=data, processing_class=build_tiny_tokenizer())
    counted = {"real": 0, "tensor": 0}
    original = trainer.compute_loss

    def counting_loss(model, inputs, *a, **k):
        ids, mask = inputs["input_ids"], inputs.get("attention_mask")
        counted["tensor"] += ids.numel()
        counted["real"] += int(mask.sum()) if mask is not None else ids.numel()
        return original(model, inputs, *a, **k)

    trainer.compute_loss = counting_loss
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    rss_growth = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    return {"real": counted["real"], "tensor": counted["tensor"], "seconds": seconds,
            "tps": counted["real"] / seconds, "rss_growth_MiB": rss_growth}


def against_baseline(args) -> str:
    """Padding-free real tokens/s of this tree and of commit `args.baseline`, alternating in separate processes."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    flags = ["--samples", str(args.samples), "--steps", str(args.steps), "--batch", str(args.batch)]  # what older trees take
    rates: dict[str, list[float]] = {"baseline": [], "current": []}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"baseline": tree_at(args.baseline, tmp), "current": here}
        for _ in range(args.rounds):
            for name, tree in trees.items():
                out = subprocess.run([sys.executable, os.path.abspath(__file__), "--measure-one", *flags], cwd=tree,
                                     env={**os.environ, "PYTHONPATH": tree}, capture_output=True, text=True, check=True)
                rates[name].append(json.loads(out.stdout.strip().splitlines()[-1])["tps"])
    base, cur = statistics.median(rates["baseline"]), statistics.median(rates["current"])
    return "\n".join([
        f"## Training throughput against {args.baseline} ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()}, {os.cpu_count()} cores)", "",
        f"Command: `python benchmarks/bench_training.py --baseline {args.baseline} --rounds {args.rounds} "
        f"--samples {args.samples} --steps {args.steps} --batch {args.batch}`; padding-free, random Qwen3 19M, fp32; "
        f"medians of {args.rounds} alternating rounds, each tree in its own process", "",
        "| tree | real tokens/s (median) | rounds |", "|---|---|---|",
        f"| {args.baseline} | {base:.0f} | {', '.join(f'{r:.0f}' for r in rates['baseline'])} |",
        f"| this tree | {cur:.0f} | {', '.join(f'{r:.0f}' for r in rates['current'])} |",
        f"| this / {args.baseline} | {cur / base:.2f} | |"])


def alternating(data, args) -> str:
    """Both modes, an untimed warm-up each, then `args.rounds` rounds in alternating order; one table."""
    rates: dict[str, list[float]] = {"padded": [], "padding-free": []}
    counted = {}
    with tempfile.TemporaryDirectory() as out_dir:
        for rnd in range(args.rounds + 1):
            modes = ("padded", "padding-free") if rnd % 2 else ("padding-free", "padded")
            line = []
            for mode in modes:
                r = run(mode, data, args, out_dir)
                counted[mode] = r
                if rnd:
                    rates[mode].append(r["tps"])
                    line.append(f"{mode}: {r['tps']:.0f} real tokens/s")
            print(f"round {rnd}: " + ("warm-up (untimed)" if not rnd else "; ".join(line)), flush=True)
    ratios = [b / a for a, b in zip(rates["padded"], rates["padding-free"])]
    lines = [
        f"## Training, CPU, alternating rounds ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
        f"{platform.machine()}, {os.cpu_count()} cores shared, {args.threads} thread(s), torch {torch.__version__})", "",
        f"Command: `python benchmarks/bench_training.py --samples {args.samples} --steps {args.steps} --batch {args.batch} "
        f"--median-words {args.median_words} --rounds {args.rounds} --threads {args.threads}`; random Qwen3 19M, fp32", "",
        "| batches | real tokens | tokens in tensors | real tokens/s per round | median |", "|---|---|---|---|---|"]
    for mode, r in counted.items():
        lines.append(f"| {mode} | {r['real']} | {r['tensor']} | {', '.join(f'{x:.0f}' for x in rates[mode])} | "
                     f"{statistics.median(rates[mode]):.0f} |")
    lines += ["", f"Padding-free / padded, median of per-round ratios: **{statistics.median(ratios):.2f}x** "
              f"(rounds: {', '.join(f'{x:.2f}' for x in ratios)})."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--median-words", type=int, default=96)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--baseline", default=None, help="git revision to compare with (padding-free run)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--measure-one", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.baseline:
        report(against_baseline(args), args.append)
        return 0
    data = samples_dataset(args.samples, args.median_words)
    if args.measure_one:
        with tempfile.TemporaryDirectory() as out_dir:
            print(json.dumps(run("padding-free", data, args, out_dir)))
        return 0
    report(alternating(data, args), args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
