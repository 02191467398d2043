"""Sampling benchmark: native continuous batching vs padded `model.generate` (same decoding), one run.

    python benchmarks/bench_sampling.py [--requests 24 --median 24 --cap 128 --batch 8] [--append]

Workload (benchmarks/workload.py): a random-weight ~19M-parameter Qwen3, the tiny offline tokenizer,
prompts of 20-80 words, completion budgets log-normal (median `--median`, sigma 0.8, capped at `--cap`)
so a few long completions sit among many short ones. Decoding: temperature 1.0 -> top-k 20 -> top-p 0.8.
Both engines run through `TransformersEngine.generate`; each gets one untimed warm-up call first and
the first-call setup is reported separately. vLLM: not measured here yet (see benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys

import torch

sys.path.insert(0, os.path.dirname(__file__))

from workload import length_stats, make_requests, qwen3_model, report  # noqa: E402

from ssd_hf.config import SamplingParams  # noqa: E402
from ssd_hf.sampling.transformers import TransformersEngine, timed_generate  # noqa: E402
from ssd_hf.tiny import build_tiny_tokenizer  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=24)
    ap.add_argument("--median", type=int, default=24)
    ap.add_argument("--cap", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)

    torch.manual_seed(0)
    model = qwen3_model("qwen3-cpu-25m").eval()
    engine = TransformersEngine("qwen3-cpu-25m", model=model, tokenizer=build_tiny_tokenizer(), batch_size=args.batch)
    params = SamplingParams(temperature=1.0, top_k=20, top_p=0.8, max_new_tokens=args.cap, seed=0)
    requests = make_requests(args.requests, args.median, args.cap)
    budgets = length_stats([r.max_new_tokens for r in requests])
    warm = make_requests(2, 4, 4, seed=9)
    rows = {}
    for mode, cb in (("padded model.generate", False), ("native continuous batching", True)):
        engine.continuous_batching = cb
        _, setup = timed_generate(engine, warm, params)
        samples, seconds = timed_generate(engine, requests, params)
        tokens = sum(s.completion_tokens for s in samples)
        rows[mode] = (tokens, seconds, tokens / seconds, setup)
    base = rows["padded model.generate"][2]
    params_m = sum(p.numel() for p in model.parameters()) / 1e6
    lines = [
        f"## Sampling, CPU ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__})",
        "",
        f"Command: `python benchmarks/bench_sampling.py --requests {args.requests} --median {args.median} "
        f"--cap {args.cap} --batch {args.batch}`; model: random Qwen3 {params_m:.0f}M; budgets {budgets}",
        "",
        "| engine | tokens | seconds | tokens/s | vs padded | warm-up call s |",
        "|---|---|---|---|---|---|",
    ]
    for mode, (tokens, seconds, tps, setup) in rows.items():
        lines.append(f"| {mode} | {tokens} | {seconds:.1f} | {tps:.1f} | {tps / base:.2f}x | {setup:.1f} |")
    report("\n".join(lines), args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
