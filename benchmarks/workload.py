"""Shared benchmark workload: random-weight models of real configs and a long-tailed set of requests.

Why random weights: the benchmarks measure the engine, not the model, and must run offline. A random
model never emits EOS at a realistic rate, so each request carries its own completion budget drawn from
a log-normal distribution (median `median_tokens`, sigma 0.8, capped at `max_new_tokens`): a few long
completions among many short ones, as code completions are. A padded batch runs until its longest
member's budget is spent, exactly as it would run until its last member emitted EOS.
"""

from __future__ import annotations

import math
import random

# Public config.json values (no download): Qwen/Qwen3-0.6B and Qwen/Qwen3-4B-Instruct-2507.
QWEN3_CONFIGS = {
    "qwen3-0.6b": dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True,
                       rope_theta=1_000_000, max_position_embeddings=40960, rms_norm_eps=1e-6),
    "qwen3-4b": dict(hidden_size=2560, intermediate_size=9728, num_hidden_layers=36, num_attention_heads=32,
                     num_key_value_heads=8, head_dim=128, vocab_size=151936, tie_word_embeddings=True,
                     rope_theta=5_000_000, max_position_embeddings=262144, rms_norm_eps=1e-6),
    # A ~25M-parameter Qwen3 for the CPU benchmark (small vocab so the tiny tokenizer covers it).
    "qwen3-cpu-25m": dict(hidden_size=512, intermediate_size=1536, num_hidden_layers=6, num_attention_heads=8,
                          num_key_value_heads=4, head_dim=64, vocab_size=512, tie_word_embeddings=True,
                          rope_theta=1_000_000, max_position_embeddings=8192, rms_norm_eps=1e-6),
    # Two layers of width 128: with a real vocabulary (--vocab 151936) the LM head and the draw are most of a
    # step, the worst case for a per-token cost that grows with the vocabulary.
    "qwen3-tiny-width": dict(hidden_size=128, intermediate_size=384, num_hidden_layers=2, num_attention_heads=4,
                             num_key_value_heads=2, head_dim=32, vocab_size=512, tie_word_embeddings=True,
                             rope_theta=1_000_000, max_position_embeddings=8192, rms_norm_eps=1e-6),
}


def timed_generate(engine, requests, params):
    """Run an engine to completion and time it: (samples, seconds)."""
    import time

    start = time.perf_counter()
    samples = list(engine.generate(requests, params))
    return samples, time.perf_counter() - start


def qwen3_model(name: str, vocab_size: int | None = None, **kwargs):
    """A random-weight Qwen3 model of one of the configs above."""
    from transformers import AutoModelForCausalLM, Qwen3Config

    values = dict(QWEN3_CONFIGS[name])
    if vocab_size:
        values["vocab_size"] = vocab_size
    config = Qwen3Config(**values, bos_token_id=0, eos_token_id=2, pad_token_id=0)
    return AutoModelForCausalLM.from_config(config, **kwargs)


def long_tailed_budgets(count: int, median_tokens: int, max_new_tokens: int, seed: int = 0) -> list[int]:
    rng = random.Random(seed)
    return [max(4, min(max_new_tokens, int(median_tokens * math.exp(rng.gauss(0.0, 0.8))))) for _ in range(count)]


def make_requests(count: int, median_tokens: int, max_new_tokens: int, prompt_words: int = 40, seed: int = 0):
    """`count` single-sample requests with varied prompt lengths and long-tailed completion budgets."""
    from ssd_hf.prompts import PromptItem
    from ssd_hf.sampling.engine import SampleRequest

    rng = random.Random(seed + 1)
    words = "read the integers from stdin and print the sum of the largest values modulo a prime".split()
    budgets = long_tailed_budgets(count, median_tokens, max_new_tokens, seed)
    requests = []
    for i, budget in enumerate(budgets):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(prompt_words // 2, prompt_words * 2)))
        prompt = PromptItem(prompt_id=f"p{i}", source_id=str(i), messages=[{"role": "user", "content": text}])
        requests.append(SampleRequest(prompt=prompt, sample_index=0, seed=i, max_new_tokens=budget))
    return requests


def length_stats(budgets: list[int]) -> str:
    s = sorted(budgets)
    q = lambda f: s[min(len(s) - 1, int(f * len(s)))]  # noqa: E731
    return f"n={len(s)} mean={sum(s) / len(s):.0f} p50={q(0.5)} p90={q(0.9)} p99={q(0.99)} max={s[-1]}"


def report(table: str, append: bool) -> None:
    """Print a result table and, with `append`, add it to benchmarks/RESULTS.md."""
    import os

    print(table)
    if append:
        with open(os.path.join(os.path.dirname(__file__), "RESULTS.md"), "a") as handle:
            handle.write("\n" + table + "\n")


def tree_at(rev: str, into: str) -> str:
    """The repository's files at git revision `rev`, unpacked under `into` (for a benchmark against an earlier commit)."""
    import io
    import os
    import subprocess
    import tarfile

    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
    archive = subprocess.run(["git", "-C", root, "archive", rev], capture_output=True, check=True).stdout
    path = os.path.join(into, "tree")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(path, filter="data")
    return path
