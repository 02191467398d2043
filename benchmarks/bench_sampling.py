"""Sampling benchmark: native continuous batching (seeded) vs transformers' own unseeded continuous batching vs
padded `model.generate`, alternating over rounds, at one or more vocabulary sizes.

    python benchmarks/bench_sampling.py [--model qwen3-cpu-25m] [--vocab 512,151936] [--requests 48 --median 24
        --cap 96] [--rounds 3] [--threads 1] [--padded-batches 8,32] [--vllm] [--append]

Workload (benchmarks/workload.py): a random-weight Qwen3 (`--model`: the ~19M-parameter `qwen3-cpu-25m`, or
`qwen3-tiny-width`, 2 layers of width 128, where the vocabulary's share of a step is largest), its vocabulary
set to each `--vocab` size (151,936: Qwen3's; 128,256: Llama 3's). The tokenizer is the tiny 512-token one:
prompts use ids below 512, the rest of the vocabulary are extra random rows of the embedding/LM head that can
be drawn and decode to nothing; throughput counts token ids. Prompts of 20-80 words, completion budgets
log-normal (median `--median`, sigma 0.8, capped at `--cap`). Decoding: temperature 1.0 -> top-k 20 -> top-p 0.8.

Contenders, each run once per round in a rotated order after one untimed warm-up run of each (which builds
managers and caches): ssd-hf's native continuous batching (the seeded draw); transformers' continuous batching
with the same config and its own unseeded `torch.multinomial`; the native engine's padded path at the same
number of requests in flight as continuous batching, and at each `--padded-batches` size (the best of them is
"padded at its best batch"). All in one process, threads pinned with `torch.set_num_threads(--threads)`.
Printed: every round's tokens/s, then medians and the median of the per-round ratios; the seeded draw's share
of the native run (time inside the sampler / wall time) and the draw's cost per step in isolation, beside what
the previous release's full-vocabulary draw costs on the same scores.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from workload import length_stats, make_requests, qwen3_model, report  # noqa: E402

from ssd_hf.records import SamplingParams  # noqa: E402
from ssd_hf.sampling.engines import seeded_sampler  # noqa: E402
from ssd_hf.sampling.engines.native import TransformersEngine, generation_config_for, stop_token_ids  # noqa: E402
from ssd_hf.sampling.engines.native_batching import continuous_batching_config, in_flight_for  # noqa: E402
from ssd_hf.tiny import build_tiny_tokenizer  # noqa: E402

PARAMS = SamplingParams(temperature=1.0, top_k=20, top_p=0.8, max_new_tokens=128, seed=0)
DRAW_CLOCK = {"seconds": 0.0, "calls": 0}


def _clocked(call):
    def timed(self, scores, tensor_arg):
        start = time.perf_counter()
        out = call(self, scores, tensor_arg)
        DRAW_CLOCK["seconds"] += time.perf_counter() - start
        DRAW_CLOCK["calls"] += 1
        return out
    return timed


seeded_sampler.SeededSampler.__call__ = _clocked(seeded_sampler.SeededSampler.__call__)


def hints_for(engine, requests):
    from transformers.generation.continuous_batching.utils import WorkloadHints

    prompts = [engine._encode(r) for r in requests]
    return prompts, WorkloadHints(max_prompt_length=max(map(len, prompts)),
                                  max_generated_length=max(r.max_new_tokens for r in requests), num_requests=len(requests))


class UnseededCB:
    """transformers' continuous batching as it ships: warpers from the GenerationConfig, `torch.multinomial`;
    the same continuous-batching config as the native engine, one manager kept across rounds like ours."""

    def __init__(self, engine, requests):
        from transformers import ContinuousBatchingManager

        prompts, hints = hints_for(engine, requests)
        stops = stop_token_ids(engine.tokenizer, engine.model)
        cb_config = continuous_batching_config(engine.model.device, hints, 0)
        gen = generation_config_for(PARAMS, stops, engine.tokenizer.pad_token_id)
        self.model, self.stops = engine.model, stops
        self.manager = ContinuousBatchingManager(engine.model, gen, cb_config, hints)
        self.manager.warmup()

    def __call__(self, engine, requests) -> int:
        prompts, _ = hints_for(engine, requests)
        manager = self.manager
        manager.switch_to_cb_friendly_attn(self.model, manager.continuous_batching_config.auto_switch_to_flash)
        manager.start()
        tokens, pending = 0, {r.key for r in requests}
        try:
            for r, ids in zip(requests, prompts):
                manager.add_request(input_ids=ids, request_id=r.key, max_new_tokens=r.max_new_tokens, eos_token_id=self.stops)
            while pending:
                result = manager.get_result(timeout=1)
                if result is not None and result.is_finished() and result.request_id in pending:
                    pending.discard(result.request_id)
                    tokens += len(result.generated_tokens)
        finally:
            manager.stop(block=True, timeout=10, keep_for_next_session=True)
        return tokens


def contenders(engine, requests, padded_batches):
    """name -> run(requests) -> generated tokens."""
    _, hints = hints_for(engine, requests)
    in_flight = in_flight_for(engine.model.device, hints)

    def native(continuous: bool, batch: int):
        def run(reqs) -> int:
            engine.continuous_batching, engine.batch_size = continuous, batch
            return sum(s.completion_tokens for s in engine.generate(reqs, PARAMS))
        return run

    runs = {"CB seeded (ssd-hf native)": native(True, in_flight), "CB unseeded (transformers)": None,
            f"padded, batch {in_flight} (= CB in flight)": native(False, in_flight)}
    for batch in padded_batches:
        runs.setdefault(f"padded, batch {batch}", native(False, batch))
    return runs, in_flight


def draw_cost(rows: int, vocab: int, repeats: int = 5) -> tuple[float, float]:
    """Seconds per step of the fused warp-and-draw vs transformers' warpers + the previous full-vocabulary draw."""
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    logits = torch.randn(rows, vocab) * 4
    keys = torch.arange(rows, dtype=torch.int32)
    decoding = torch.tensor([PARAMS.temperature, 1.0 - PARAMS.top_p])
    warpers = [TemperatureLogitsWarper(0.999), TopKLogitsWarper(PARAMS.top_k), TopPLogitsWarper(PARAMS.top_p)]

    def fused():
        seeded_sampler.warp_and_draw(logits, keys, decoding, PARAMS.top_k, True)

    def previous():
        scores = logits
        for w in warpers:
            scores = w(None, scores)
        seeded_sampler.seeded_draw(scores, keys, width=vocab, read_back=False)

    out = []
    for fn in (fused, previous):
        fn()
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        out.append(statistics.median(times))
    return out[0], out[1]


def run_rounds(model_name: str, vocab: int, args) -> list[str]:
    torch.manual_seed(0)
    model = qwen3_model(model_name, vocab_size=vocab).eval()
    engine = TransformersEngine(model_name, model=model, tokenizer=build_tiny_tokenizer())
    requests = make_requests(args.requests, args.median, args.cap)
    runs, in_flight = contenders(engine, requests, args.padded_batches)
    rates: dict[str, list[float]] = {name: [] for name in runs}
    draw_share: list[float] = []
    for rnd in range(args.rounds + 1):  # round 0: the untimed warm-up
        names = list(runs)
        names = names[rnd % len(names):] + names[: rnd % len(names)]
        line = []
        for name in names:
            if runs[name] is None:
                runs[name] = UnseededCB(engine, requests)
            DRAW_CLOCK.update(seconds=0.0, calls=0)
            start = time.perf_counter()
            tokens = runs[name](engine, requests) if isinstance(runs[name], UnseededCB) else runs[name](requests)
            seconds = time.perf_counter() - start
            if rnd:
                rates[name].append(tokens / seconds)
                line.append(f"{name}: {tokens / seconds:.1f}")
                if name.startswith("CB seeded"):
                    draw_share.append(DRAW_CLOCK["seconds"] / seconds)
        print(f"vocab {vocab} round {rnd}: " + ("warm-up (untimed)" if not rnd else "; ".join(line)), flush=True)
    engine.close()
    return summarize(model_name, vocab, model, rates, draw_share, in_flight, args)


def summarize(model_name, vocab, model, rates, draw_share, in_flight, args) -> list[str]:
    names = list(rates)
    same = next(n for n in names if n.endswith("(= CB in flight)"))
    best = max((n for n in names if n.startswith("padded")), key=lambda n: statistics.median(rates[n]))
    cb = names[0]

    def ratio(a, b):
        return statistics.median(x / y for x, y in zip(rates[a], rates[b]))

    fused, previous = draw_cost(in_flight, vocab)
    params_m = sum(p.numel() for p in model.parameters()) / 1e6
    lines = [f"**{model_name} at vocabulary {vocab:,}** ({params_m:.0f}M parameters, {in_flight} requests in flight):", "",
             "| contender | tokens/s per round | median |", "|---|---|---|"]
    lines += [f"| {n} | {', '.join(f'{x:.1f}' for x in rates[n])} | {statistics.median(rates[n]):.1f} |" for n in names]
    lines += ["", f"- median of per-round ratios: CB seeded / padded at the same concurrency **{ratio(cb, same):.2f}x**; "
              f"/ padded at its best batch ({best}) **{ratio(cb, best):.2f}x**; "
              f"seeded / unseeded CB **{ratio(cb, 'CB unseeded (transformers)'):.2f}**",
              f"- seeded draw's share of the native CB run: {statistics.median(draw_share):.1%} (median of rounds); "
              f"in isolation, one step of {in_flight} rows: fused warp+draw {fused * 1e3:.2f} ms vs transformers' "
              f"warpers + the previous full-vocabulary draw {previous * 1e3:.2f} ms"]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="qwen3-cpu-25m")
    ap.add_argument("--vocab", default="512", help="comma list of vocabulary sizes (151936 = Qwen3, 128256 = Llama 3)")
    ap.add_argument("--requests", type=int, default=48)
    ap.add_argument("--median", type=int, default=24)
    ap.add_argument("--cap", type=int, default=96)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--padded-batches", default="8,32")
    ap.add_argument("--append", action="store_true", help="append the table to benchmarks/RESULTS.md")
    args = ap.parse_args(argv)
    args.padded_batches = [int(x) for x in args.padded_batches.split(",") if x]
    torch.set_num_threads(args.threads)
    budgets = length_stats([r.max_new_tokens for r in make_requests(args.requests, args.median, args.cap)])
    start = time.perf_counter()
    lines = [f"## Sampling, CPU, alternating rounds ({datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
             f"{platform.machine()}, {os.cpu_count()} cores shared, {args.threads} thread(s), torch {torch.__version__})", "",
             f"Command: `python benchmarks/bench_sampling.py --model {args.model} --vocab {args.vocab} --requests "
             f"{args.requests} --median {args.median} --cap {args.cap} --rounds {args.rounds} --threads {args.threads} "
             f"--padded-batches {','.join(map(str, args.padded_batches))}`; budgets {budgets}; T 1.0, top-k 20, top-p 0.8", ""]
    for vocab in (int(v) for v in args.vocab.split(",")):
        lines += run_rounds(args.model, vocab, args) + [""]
    lines.append(f"Wall time of the whole run: {time.perf_counter() - start:.0f} s.")
    report("\n".join(lines), args.append)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
