"""SSD's sampling stage: frozen-base self-samples from any engine into the resumable store.

An engine turns `SampleRequest`s into `GeneratedSample`s (in any order, as they finish). This module
does everything engines share: which (prompt, index) pairs are still missing, per-sample seeds,
sharding over processes, the progress bar with tokens/s, writing shards, and the final merge.

Engines:
- `transformers`: in-process, continuous batching (`sampling/transformers.py`)
- `endpoint`: TGI / OpenAI-protocol servers over HTTP (`sampling/endpoint.py`)
- `vllm`: in-process `vllm.LLM` (`sampling/vllm.py`, optional extra)
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from tqdm.auto import tqdm

from ..config import PromptOptions, SamplingParams, stable_hash
from ..prompts import PromptItem
from .store import SampleStore, load_samples

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SampleRequest:
    """One sample to draw: which prompt, which index, and its own seed."""

    prompt: PromptItem
    sample_index: int
    seed: int

    @property
    def key(self) -> str:
        return f"{self.prompt.prompt_id}:{self.sample_index}"


@dataclass
class GeneratedSample:
    """What an engine returns for one request."""

    request: SampleRequest
    completion: str
    finish_reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int
    model_id: str | None = None  # engines that learn the served model's id/revision report it here
    model_revision: str | None = None


class Engine(Protocol):
    name: str
    model_id: str
    model_revision: str
    # False for engines that must run on the main process only (servers are shared by all ranks).
    data_parallel: bool

    def generate(self, requests: list[SampleRequest], params: SamplingParams) -> Iterator[GeneratedSample]: ...


def sample_seed(base_seed: int, prompt_id: str, sample_index: int) -> int:
    """A per-sample seed that does not depend on order, batch size or process count."""
    return int(stable_hash([base_seed, prompt_id, sample_index], length=8), 16) % (2**31 - 1)


def sampling_config_hash(model_id: str, model_revision: str, params: SamplingParams, options: PromptOptions) -> str:
    """What makes two samples interchangeable: the model, the decoding and the prompt rendering."""
    return stable_hash(
        {"model_id": model_id, "model_revision": model_revision, "params": params.to_dict(), "prompts": options.to_dict()}
    )


def build_requests(prompts: list[PromptItem], num_samples: int, base_seed: int) -> list[SampleRequest]:
    return [
        SampleRequest(prompt=p, sample_index=i, seed=sample_seed(base_seed, p.prompt_id, i))
        for p in prompts
        for i in range(num_samples)
    ]


def to_record(sample: GeneratedSample, engine: Engine, params: SamplingParams, config_hash: str) -> dict:
    request = sample.request
    return {
        "prompt_id": request.prompt.prompt_id,
        "sample_index": request.sample_index,
        "source_id": request.prompt.source_id,
        "prompt": request.prompt.messages,
        "completion": sample.completion,
        "model_id": sample.model_id or engine.model_id,
        "model_revision": sample.model_revision or engine.model_revision,
        "engine": engine.name,
        "temperature": params.temperature,
        "top_k": params.top_k,
        "top_p": params.top_p,
        "max_new_tokens": params.max_new_tokens,
        "seed": request.seed,
        "finish_reason": sample.finish_reason,
        "prompt_tokens": sample.prompt_tokens,
        "completion_tokens": sample.completion_tokens,
        "sampling_config_hash": config_hash,
    }


def write_as_finished(
    samples: Iterable[GeneratedSample],
    store: SampleStore,
    engine: Engine,
    params: SamplingParams,
    total: int,
    shard_size: int,
    flush_seconds: float = 10.0,
    show_progress: bool = True,
    samples_per_prompt: dict[str, int] | None = None,
) -> int:
    """Consume an engine's output, writing a shard every `shard_size` samples or `flush_seconds`.

    The bar counts samples, with tokens/s and, given `samples_per_prompt` (what this run draws for each
    prompt), how many prompts have all their samples."""
    buffer, written, tokens = [], 0, 0
    remaining = dict(samples_per_prompt or {})
    prompts_done = 0
    start = last_flush = time.perf_counter()
    with tqdm(total=total, desc=f"Sampling ({engine.name})", unit="sample", disable=not show_progress) as bar:
        try:
            for sample in samples:
                buffer.append(to_record(sample, engine, params, store.config_hash))
                tokens += sample.completion_tokens
                bar.update(1)
                prompt_id = sample.request.prompt.prompt_id
                if prompt_id in remaining:
                    remaining[prompt_id] -= 1
                    prompts_done += remaining[prompt_id] == 0
                postfix = {"tok_s": f"{tokens / max(time.perf_counter() - start, 1e-9):.1f}"}
                if samples_per_prompt:
                    postfix["prompts"] = f"{prompts_done}/{len(samples_per_prompt)}"
                bar.set_postfix(postfix, refresh=False)
                if len(buffer) >= shard_size or time.perf_counter() - last_flush > flush_seconds:
                    store.write_shard(buffer)
                    written += len(buffer)
                    buffer, last_flush = [], time.perf_counter()
        finally:  # an engine error or Ctrl-C still keeps every sample that finished
            store.write_shard(buffer)
            written += len(buffer)
    elapsed = time.perf_counter() - start
    logger.info("Sampled %d completions, %d tokens in %.1fs (%.1f tok/s)", written, tokens, elapsed, tokens / max(elapsed, 1e-9))
    return written


def run_sampling(
    prompts: list[PromptItem],
    engine: Engine,
    params: SamplingParams,
    options: PromptOptions,
    samples_dir: str,
    num_samples_per_prompt: int = 1,
    shard_size: int = 64,
    manifest_extra: dict | None = None,
):
    """Draw every missing (prompt, index) sample, resume-safe and data-parallel; return the merged Dataset.

    Under `accelerate launch` each process samples its own slice of the missing requests into the shared
    store (engines that are not data-parallel sample on the main process only); the main process merges
    once everyone is done; every process returns the same dataset. Waiting for the others goes through
    marker files in the store, not a collective: sampling may take hours, longer than a barrier's timeout.
    """
    from accelerate import PartialState

    state = PartialState()
    config_hash = sampling_config_hash(engine.model_id, engine.model_revision, params, options)
    manifest = {
        "model_id": engine.model_id,
        "model_revision": engine.model_revision,
        "sampling": params.to_dict(),
        "prompts": options.to_dict(),
        "num_samples_per_prompt": num_samples_per_prompt,
        "num_prompts": len(prompts),
        **(manifest_extra or {}),
    }
    with state.main_process_first():
        store = SampleStore(samples_dir, config_hash, manifest if state.is_main_process else None)
        if state.is_main_process:
            store.clear_marks()
    state.wait_for_everyone()
    wanted = build_requests(prompts, num_samples_per_prompt, params.seed)
    wanted_keys = {(r.prompt.prompt_id, r.sample_index) for r in wanted}
    done = store.done_keys() & wanted_keys
    requests = [r for r in wanted if (r.prompt.prompt_id, r.sample_index) not in done]
    if done:
        logger.info("Resuming: %d samples already on disk, %d to go", len(done), len(requests))
    if engine.data_parallel:
        mine = requests[state.process_index :: state.num_processes]
    else:
        mine = requests if state.is_main_process else []
    if mine:
        write_as_finished(
            engine.generate(mine, params), store, engine, params, len(mine), shard_size,
            show_progress=state.is_local_main_process,
            samples_per_prompt=dict(Counter(r.prompt.prompt_id for r in mine)),
        )
    store.mark(f"sampled-{state.process_index}")
    if state.is_main_process:
        store.wait_for([f"sampled-{rank}" for rank in range(state.num_processes)])
        store.update_manifest(engines=sorted({*store.manifest.get("engines", []), engine.name}))
        store.finalize(wanted_keys)
        store.mark("merged")
    else:
        store.wait_for(["merged"])
    state.wait_for_everyone()  # everyone arrives within a poll of each other; keeps the next run's clear_marks after
    return load_samples(samples_dir)


def load_engine(name: str, **kwargs) -> Engine:
    """Engine registry: import lazily so optional extras (vllm) are only needed when used."""
    if name == "transformers":
        from .transformers import TransformersEngine

        return TransformersEngine(**kwargs)
    if name == "endpoint":
        from .endpoint import EndpointEngine

        return EndpointEngine(**kwargs)
    if name == "vllm":
        from .vllm import VLLMEngine

        return VLLMEngine(**kwargs)
    raise ValueError(f"unknown engine {name!r}")
