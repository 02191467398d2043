"""The sampling loop every engine shares: what is missing, per-sample seeds, sharding, the store, the merge.

`run_sampling` draws every missing (prompt, index) sample of a prompt list into a samples directory and
returns the merged dataset. It is resumable (the store skips what is on disk) and data-parallel: under
`accelerate launch` each process (or each group of processes that shares one engine) samples its own
slice, the main process merges once everyone is done, and every process returns the same dataset.
Ranks wait for each other through the launch's rendezvous store (`nodes.sync`), not a file another node may
not see nor a collective whose timeout sampling may outlast. Where the samples folder is node-local, the
samples travel between the nodes (`exchange`).
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from tqdm.auto import tqdm

from .. import nodes
from ..data import load_samples
from ..prompts import PromptItem
from ..records import PromptOptions, PromptPool, SamplesManifest, SamplingParams, stable_hash
from . import exchange
from .engine import Engine, GeneratedSample, SampleRequest, sample_seed
from .store import SampleStore

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SkippedSample:
    """A request an engine cannot serve (e.g. a prompt longer than the model's context): recorded, not fatal."""

    request: SampleRequest
    reason: str


@dataclass(frozen=True)
class Placement:
    """Which slice of the missing requests this process draws, and whether it writes them.

    Processes that share one engine (a tensor-parallel group) draw the same slice; only one of them writes.
    A process with `shard` None draws nothing (servers are driven from the main process only).
    """

    shard: int | None
    num_shards: int
    writes: bool


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
        "prompt_token_ids": sample.prompt_token_ids,
        "completion_token_ids": sample.completion_token_ids,
        "token_ids": sample.token_ids if sample.completion_token_ids is not None else None,
        "sampling_config_hash": config_hash,
    }


class _Progress:
    """The bar: samples done, tokens/s, and prompts with all their samples (what a user waits for)."""

    def __init__(self, engine: Engine, total: int, per_prompt: dict[str, int], show: bool):
        self.bar = tqdm(total=total, desc=f"Sampling ({engine.name})", unit="sample", disable=not show)
        self.remaining, self.prompts_done, self.tokens = dict(per_prompt), 0, 0
        self.start = time.perf_counter()

    def update(self, request: SampleRequest, tokens: int) -> None:
        self.tokens += tokens
        self.bar.update(1)
        prompt_id = request.prompt.prompt_id
        if prompt_id in self.remaining:
            self.remaining[prompt_id] -= 1
            self.prompts_done += self.remaining[prompt_id] == 0
        rate = self.tokens / max(time.perf_counter() - self.start, 1e-9)
        self.bar.set_postfix({"tok_s": f"{rate:.1f}", "prompts": f"{self.prompts_done}/{len(self.remaining)}"},
                             refresh=False)

    def close(self) -> float:
        self.bar.close()
        return time.perf_counter() - self.start


def write_as_finished(samples: Iterable, store: SampleStore, engine: Engine, params: SamplingParams, total: int,
                      shard_size: int, flush_seconds: float = 10.0, show_progress: bool = True, writes: bool = True,
                      samples_per_prompt: dict[str, int] | None = None) -> int:
    """Consume an engine's output, writing a shard every `shard_size` samples or `flush_seconds`.

    On any error (the engine's, a full disk, Ctrl-C) the samples already finished are written first and the
    engine's generator is closed, so its threads and requests stop instead of outliving the error.
    """
    buffer, skipped, written = [], [], 0
    progress = _Progress(engine, total, samples_per_prompt or {}, show_progress)
    last_flush = time.perf_counter()
    try:
        for item in samples:
            if isinstance(item, SkippedSample):
                skipped.append({"prompt_id": item.request.prompt.prompt_id,
                                "sample_index": item.request.sample_index, "reason": item.reason})
                progress.update(item.request, 0)
                continue
            buffer.append(to_record(item, engine, params, store.config_hash))
            progress.update(item.request, item.completion_tokens)
            if len(buffer) >= shard_size or time.perf_counter() - last_flush > flush_seconds:
                written += _flush(store, buffer, writes)
                buffer, last_flush = [], time.perf_counter()
    finally:
        try:
            close = getattr(samples, "close", None)
            if callable(close):
                close()
            written += _flush(store, buffer, writes)
            if skipped and writes:
                store.write_skipped(skipped)
        finally:  # the bar ends before any error is printed
            elapsed = progress.close()
    logger.info("Sampled %d completions, %d tokens in %.1fs (%.1f tok/s)%s", written, progress.tokens, elapsed,
                progress.tokens / max(elapsed, 1e-9), f"; {len(skipped)} skipped" if skipped else "")
    return written


def _flush(store: SampleStore, buffer: list[dict], writes: bool) -> int:
    if writes and buffer:
        store.write_shard(buffer)
    return len(buffer)


def default_placement(engine: Engine, process_index: int, num_processes: int, is_main: bool) -> Placement:
    placement = getattr(engine, "placement", None)
    if callable(placement):
        return placement(process_index, num_processes)
    if getattr(engine, "data_parallel", True):
        return Placement(process_index, num_processes, True)
    return Placement(0 if is_main else None, 1, is_main)


def run_sampling(prompts: list[PromptItem], engine: Engine, params: SamplingParams, options: PromptOptions,
                 samples_dir: str, num_samples_per_prompt: int = 1, shard_size: int = 64,
                 prompt_pool: PromptPool | None = None, purpose: str = "training"):
    """Draw every missing (prompt, index) sample, resume-safe and data-parallel; return the merged Dataset."""
    from accelerate import PartialState

    state = PartialState()
    config_hash = sampling_config_hash(engine.model_id, engine.model_revision, params, options)
    manifest = SamplesManifest(
        model_id=engine.model_id, model_revision=engine.model_revision, sampling=params.to_dict(),
        prompts=options.to_dict(), num_samples_per_prompt=num_samples_per_prompt, num_prompts=len(prompts),
        prompt_pool=prompt_pool, purpose=purpose,
    )
    if state.num_processes > 1:
        nodes.start()  # a launch that did not come through the CLI (SSDTrainer in a user's script)
    storage = nodes.storage(samples_dir) if nodes.active() else None
    owner = storage is None or state.process_index in storage.owners  # writes this folder's manifest and merge
    with state.main_process_first():
        store = SampleStore(samples_dir, config_hash, manifest if owner else None)
        if owner:
            store.clear_stale_temporaries()
    wanted = build_requests(prompts, num_samples_per_prompt, params.seed)
    wanted_keys = {(r.prompt.prompt_id, r.sample_index) for r in wanted}
    done, on_main = store.done_keys() & wanted_keys, set()
    state.wait_for_everyone()  # every rank has read what is done before any rank writes anything new
    if storage is not None and not storage.shared:
        done, on_main = exchange.agreed_done(store, wanted_keys, storage, state.process_index)
    requests = [r for r in wanted if (r.prompt.prompt_id, r.sample_index) not in done]
    if done:
        logger.info("Resuming: %d samples already on disk, %d to go", len(done), len(requests))
    if requests and state.is_main_process and store.manifest.finalized:
        store.update_manifest(finalized=False)  # being extended: not finished until the new merge is
    written = _draw_my_share(requests, engine, params, store, shard_size, state)
    if storage is None:
        _finalize(store, engine, wanted_keys)
        return load_samples(store.root)
    nodes.sync("sampled", str(written), wait_for=None if not storage.shared or state.is_main_process else [],
               doing="drawing their share of the samples")
    if not storage.shared:
        exchange.collect_on_main(store, wanted_keys, on_main, storage, state.process_index)
    if state.is_main_process:
        _finalize(store, engine, wanted_keys)
    if not storage.shared:
        exchange.spread_merged(store, wanted_keys, storage, state.process_index, sorted({*store.manifest.engines, engine.name}))
    nodes.sync("merged", wait_for=storage.owners, doing="merging the samples")
    return load_samples(store.root)


def _draw_my_share(requests, engine: Engine, params: SamplingParams, store: SampleStore, shard_size: int, state) -> int:
    placement = default_placement(engine, state.process_index, state.num_processes, state.is_main_process)
    mine = [] if placement.shard is None else requests[placement.shard :: placement.num_shards]
    if placement.shard is not None and state.num_processes > 1:
        logger.info("Process %d: drawing %d of %d missing samples (shard %d of %d)", state.process_index, len(mine),
                    len(requests), placement.shard + 1, placement.num_shards)
    if not mine:
        return 0
    return write_as_finished(engine.generate(mine, params), store, engine, params, len(mine), shard_size,
                             show_progress=state.is_local_main_process, writes=placement.writes,
                             samples_per_prompt=Counter(r.prompt.prompt_id for r in mine))


def _finalize(store: SampleStore, engine: Engine, wanted_keys) -> None:
    store.update_manifest(engines=sorted({*store.manifest.engines, engine.name}))
    store.finalize(wanted_keys)
