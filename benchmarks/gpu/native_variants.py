"""GPU: the native engine's continuous batching under transformers' speed options, each as % of the roofline.

    python3 benchmarks/gpu/native_variants.py [--model qwen3-0.6b] [--requests 128 --median 160 --cap 512]
        [--variants eager,graphs,compile,flash,flash+compile] [--rounds 2]

Not run yet: no GPU was lent to the task that wrote it (issue 24). Each variant gets its own engine (its own
manager: KV cache, captured graphs, compiled code), one untimed warm-up call (`generate` on a few requests:
capture and compilation happen there), then `--rounds` timed calls on the whole workload; the median is
compared with the roofline of this exact workload (`gpu_bench.roofline_seconds`: every decode step reads all
bf16 weights plus the live KV cache at the measured copy bandwidth, or does 2 x params FLOPs per live
sequence at the measured bf16 matmul rate, whichever is slower). Variants:

- eager: `native_cuda_graphs=off`, `native_attention=sdpa`, compile level 0 (what turn 1 measured);
- graphs: CUDA graphs forced on over SDPA (padded masks; transformers would not pick it by itself);
- compile: `native_compile_level=1` over SDPA (transformers' default compile config);
- flash: `native_attention=auto`, which switches to flash attention when a flash kernel is installed, and with
  it the decode fast path, CUDA graphs and async batching (transformers' defaults); skipped without flash;
- flash+compile: the same plus compile level 1.

Every variant uses the seeded draw (fixed shapes, so it is captured with the rest of the step). Writes
`native_variants.json` under $OUT after each variant, so a timeout keeps what was measured.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
import time
from types import SimpleNamespace

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from gpu_bench import ceilings, roofline_seconds  # noqa: E402
from workload import length_stats, make_requests, qwen3_model  # noqa: E402

from ssd_hf.records import SamplingParams  # noqa: E402
from ssd_hf.sampling.engines.native import TransformersEngine  # noqa: E402
from ssd_hf.tiny import build_tiny_tokenizer  # noqa: E402

VARIANTS = {
    "eager": dict(native_cuda_graphs="off", native_async_batching="off", native_attention="sdpa", native_compile_level=0),
    "graphs": dict(native_cuda_graphs="on", native_async_batching="auto", native_attention="sdpa", native_compile_level=0),
    "compile": dict(native_cuda_graphs="auto", native_async_batching="auto", native_attention="sdpa", native_compile_level=1),
    "flash": dict(native_cuda_graphs="auto", native_async_batching="auto", native_attention="auto", native_compile_level=0),
    "flash+compile": dict(native_cuda_graphs="auto", native_async_batching="auto", native_attention="auto",
                          native_compile_level=1),
}


def flash_installed() -> bool:
    return any(importlib.util.find_spec(m) is not None for m in ("flash_attn", "flash_attn_interface", "kernels"))


def settings_for(variant: str, batch: int) -> SimpleNamespace:
    return SimpleNamespace(use_chat_template=True, sampling_batch_size=batch, continuous_batching=True, **VARIANTS[variant])


def run_variant(name, variant, requests, params, rounds, batch) -> dict:
    with torch.device("cuda"):
        model = qwen3_model(name, dtype=torch.bfloat16, attn_implementation="sdpa").eval()
    engine = TransformersEngine(name, config=settings_for(variant, batch), model=model, tokenizer=build_tiny_tokenizer())
    start = time.perf_counter()
    list(engine.generate(requests[:8], params))  # builds the manager: cache, graph capture, compilation
    warm = time.perf_counter() - start
    rates = []
    for _ in range(rounds):
        torch.cuda.synchronize()
        start = time.perf_counter()
        tokens = sum(s.completion_tokens for s in engine.generate(requests, params))
        torch.cuda.synchronize()
        rates.append(tokens / (time.perf_counter() - start))
    row = {"variant": variant, "settings": VARIANTS[variant], "warmup_s": warm, "tokens_per_s_rounds": rates,
           "tokens_per_s": statistics.median(rates), "managers_built": engine.managers.built,
           "attention": model.config._attn_implementation, "peak_mem_GiB": torch.cuda.max_memory_allocated() / 2**30}
    engine.close()
    del engine, model
    torch.cuda.empty_cache()
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen3-0.6b")
    ap.add_argument("--requests", type=int, default=128)
    ap.add_argument("--median", type=int, default=160)
    ap.add_argument("--cap", type=int, default=512)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    args = ap.parse_args()
    out = {"device": torch.cuda.get_device_name(), "model": args.model, "flash_installed": flash_installed(), "rows": []}
    bw, flops = ceilings()
    params = SamplingParams(temperature=1.0, top_k=20, top_p=0.8, max_new_tokens=args.cap, seed=0)
    requests = make_requests(args.requests, args.median, args.cap)
    tokenizer = build_tiny_tokenizer()
    from ssd_hf.prompts import apply_chat_template

    prompt_lens = [len(apply_chat_template(tokenizer, r.prompt.messages, True)) for r in requests]
    budgets = [r.max_new_tokens for r in requests]
    with torch.device("meta"):
        shape_model = qwen3_model(args.model)
    floor = roofline_seconds(shape_model, prompt_lens, budgets, bw, flops)
    out.update(budgets=length_stats(budgets), roofline_tokens_per_s=sum(budgets) / floor)
    print(f"roofline {out['roofline_tokens_per_s']:.0f} tok/s for {args.model}, budgets {out['budgets']}", flush=True)
    for variant in args.variants.split(","):
        if variant.startswith("flash") and not out["flash_installed"]:
            out["rows"].append({"variant": variant, "skipped": "no flash-attention kernel installed"})
            continue
        try:
            row = run_variant(args.model, variant, requests, params, args.rounds, args.batch)
            row["percent_of_roofline"] = 100 * row["tokens_per_s"] / out["roofline_tokens_per_s"]
            print(f"{variant}: {row['tokens_per_s']:.0f} tok/s = {row['percent_of_roofline']:.1f}% of roofline "
                  f"(warm-up {row['warmup_s']:.0f} s, attention {row['attention']})", flush=True)
        except Exception as exc:  # keep the other variants' figures
            row = {"variant": variant, "error": repr(exc)}
            print(f"{variant}: failed: {exc!r}", flush=True)
        out["rows"].append(row)
        with open(os.path.join(os.environ.get("OUT", "/tmp"), "native_variants.json"), "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
