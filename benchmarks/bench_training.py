"""Training benchmark: SSDTrainer with padding-free batches vs padded batches on the same samples, one run.

    python benchmarks/bench_training.py [--samples 32 --steps 3 --batch 4] [--append]

Samples: `--samples` prompt/completion rows whose completion lengths are log-normal (median 96 words,
sigma 0.8, capped at 480), the same rows for both modes. Model: random-weight ~19M Qwen3 on CPU.
Reported: real (non-pad) tokens/s, the tokens the model actually had to process (pad included), and peak
resident memory growth of the step loop (CPU: `ru_maxrss`, which only grows, so padded runs first).
On GPU see benchmarks/gpu/gpu_bench.py, which also reports MFU.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import resource
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(__file__))

from workload import long_tailed_budgets, qwen3_model, report  # noqa: E402

from ssd_hf import SSDConfig, SSDTrainer  # noqa: E402
from ssd_hf.tiny import build_tiny_tokenizer  # noqa: E402

WORDS = "n = int ( input ( ) ) for i in range ( n ) : print ( sum ( map ( int , line . split ( ) ) ) )".split()


def samples_dataset(count: int):
    from datasets import Dataset

    lens = long_tailed_budgets(count, 96, 480, seed=3)
    return Dataset.from_list([
        {"prompt": [{"role": "user", "content": f"Problem {i}: read the input and print the answer."}],
         "completion": " ".join(WORDS[j % len(WORDS)] for j in range(n)), "model_id": "bench"}
        for i, n in enumerate(lens)
    ])


def run(mode: str, data, args, out_dir: str) -> dict:
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    data = samples_dataset(args.samples)
    with tempfile.TemporaryDirectory() as out_dir:
        rows = {mode: run(mode, data, args, out_dir) for mode in ("padded", "padding-free")}
    base = rows["padded"]["tps"]
    lines = [
        f"## Training, CPU ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__})",
        "",
        f"Command: `python benchmarks/bench_training.py --samples {args.samples} --steps {args.steps} "
        f"--batch {args.batch}`; random Qwen3 19M, fp32",
        "",
        "| batches | real tokens | tokens in tensors | seconds | real tokens/s | vs padded | peak RSS growth MiB |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, r in rows.items():
        lines.append(f"| {mode} | {r['real']} | {r['tensor']} | {r['seconds']:.1f} | {r['tps']:.0f} | "
                     f"{r['tps'] / base:.2f}x | {r['rss_growth_MiB']:.0f} |")
    report("\n".join(lines), args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
