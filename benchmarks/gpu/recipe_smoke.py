"""A paper recipe's smoke path on a GPU at the real model size: `recipes/qwen3_4b_instruct.py` end to end
(sample -> train -> evaluate) on a random-weight Qwen3-4B-Instruct-2507 (public config, bf16), launched with
`accelerate launch --config_file recipes/accelerate_configs/single_gpu.yaml` exactly as a user would.

Random weights never stop on their own, so every completion runs to `--max_new_tokens`: the sampling figure
is decode throughput at that length. The recipe's YAML values stay (T 1.6 / top-k 20 / top-p 0.8, AdamW,
cosine, bf16, gradient checkpointing); only the sizes are cut (prompts, tokens, steps, eval problems).

    python3 benchmarks/gpu/recipe_smoke.py [--prompts 32] [--max-new-tokens 256] [--steps 8]
    python3 benchmarks/gpu/recipe_smoke.py --size qwen3-cpu-25m --prompts 4 --max-new-tokens 16 --steps 1   # CPU check

Writes recipe_smoke.json and recipe_log.txt to $OUT (or the current folder).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))


def build_model(path: str, size: str) -> int:
    """Random weights of one of workload.py's Qwen3 configs (built on the GPU in bf16 when there is one),
    with the tiny offline tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig, Qwen3Config
    from workload import QWEN3_CONFIGS

    from ssd_hf.tiny import build_tiny_tokenizer

    tokenizer = build_tiny_tokenizer()
    eos, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.pad_token_id
    config = Qwen3Config(**QWEN3_CONFIGS[size], bos_token_id=None, eos_token_id=eos, pad_token_id=pad)
    cuda = torch.cuda.is_available()
    with torch.device("cuda" if cuda else "cpu"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if cuda else torch.float32)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return sum(p.numel() for p in model.parameters())


def watch_gpu_memory(stop: threading.Event, peak: list[int]) -> None:
    """Peak GPU memory used by every process (MiB), polled from nvidia-smi: the recipe runs in a child."""
    while not stop.is_set():
        try:
            used = subprocess.run(["nvidia-smi", "--query-gpu=memory.used", "--format=csv,noheader,nounits"],
                                  capture_output=True, text=True, timeout=10).stdout.split()
            peak[0] = max(peak[0], *(int(u) for u in used))
        except (OSError, ValueError, subprocess.TimeoutExpired):
            pass
        stop.wait(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--eval-problems", type=int, default=2)
    parser.add_argument("--size", default="qwen3-4b", help="a config of benchmarks/workload.py (qwen3-cpu-25m: CPU check)")
    args = parser.parse_args()
    out = os.environ.get("OUT", ".")
    model_dir, run_dir = "/tmp/ssd-smoke/qwen3-4b-random", "/tmp/ssd-smoke/run"
    start = time.perf_counter()
    params = build_model(model_dir, args.size)
    build_s = time.perf_counter() - start
    import torch

    cpu = [] if torch.cuda.is_available() else ["--cpu"]
    precision = [] if cpu == [] else ["--bf16", "false", "--dtype", "float32", "--gradient_checkpointing", "false"]
    command = [
        "accelerate", "launch", *cpu, "--config_file", os.path.join(ROOT, "recipes/accelerate_configs/single_gpu.yaml"),
        os.path.join(ROOT, "recipes/qwen3_4b_instruct.py"),
        "--model_name_or_path", model_dir, "--dataset_name", os.path.join(ROOT, "ssd_hf/data/demo_prompts.jsonl"),
        "--paper_prompt_selection", "false", "--max_prompts", str(args.prompts), "--engine", "transformers",
        "--max_new_tokens", str(args.max_new_tokens), "--drop_empty_and_stubs", "false",
        "--max_steps", str(args.steps), "--warmup_steps", "1", "--max_length", str(args.max_new_tokens + 512),
        "--save_strategy", "no", "--logging_steps", "1", "--output_dir", run_dir,
        "--eval_benchmark", "custom", "--eval_problems", "fixtures", "--eval_limit", str(args.eval_problems),
        "--eval_n", "2", "--eval_max_new_tokens", "64", *precision,
    ]
    stop, peak = threading.Event(), [0]
    watcher = threading.Thread(target=watch_gpu_memory, args=(stop, peak), daemon=True)
    watcher.start()
    start = time.perf_counter()
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    recipe_s = time.perf_counter() - start
    stop.set()
    log = run.stdout + run.stderr
    with open(os.path.join(out, "recipe_log.txt"), "w") as handle:
        handle.write(" ".join(command) + "\n\n" + log)
    sampled = re.search(r"Sampled (\d+) completions, (\d+) tokens in ([\d.]+)s \(([\d.]+) tok/s\)", log)
    train = re.search(r"'train_runtime': '?([\d.]+)'?.*?'train_samples_per_second': '?([\d.]+)'?", log)
    results_path = os.path.join(run_dir, "eval", "results.json")
    results = json.load(open(results_path)) if os.path.isfile(results_path) else None
    report = {
        "returncode": run.returncode,
        "model": f"random-weight {args.size} config", "parameters": params,
        "build_and_save_s": round(build_s, 1), "recipe_wall_s": round(recipe_s, 1), "peak_gpu_mib": peak[0],
        "sampling": dict(zip(("completions", "tokens", "seconds", "tokens_per_s"), map(float, sampled.groups())))
        if sampled else None,
        "training": {"steps": args.steps, "train_runtime_s": float(train.group(1)), "samples_per_s": float(train.group(2))}
        if train else None,
        "eval": {"problems": results["config"]["problem_selection"]["count"], "samples": len(results["samples"]),
                 "pass@1": results["aggregates"]["all"].get("pass@1")} if results else None,
        "checkpoint": sorted(os.listdir(run_dir)) if os.path.isdir(run_dir) else None,
    }
    import transformers
    import trl

    report["versions"] = {"torch": torch.__version__, "transformers": transformers.__version__, "trl": trl.__version__,
                          "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}
    with open(os.path.join(out, "recipe_smoke.json"), "w") as handle:
        json.dump(report, handle, indent=2)
    print(json.dumps(report, indent=2))
    if run.returncode:
        print(log[-4000:])


if __name__ == "__main__":
    main()
