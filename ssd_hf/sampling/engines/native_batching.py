"""The native engine's continuous-batching manager: built once, kept across `generate()` calls.

A `ContinuousBatchingManager` owns the paged KV cache (on a GPU, most of free memory), the captured CUDA
graphs and compiled code. Building one per call made every sampling shard and every temperature of an
evaluation sweep pay for all of that again. Here one manager serves every call whose decoder has the same
shape (top-k, and whether top-p truncates): temperature and top-p are rewritten in place
(`SeededSampler.set_decoding`), and between calls the manager is stopped with `keep_for_next_session`,
which puts the model's own attention back (the trainer may train it in between) and keeps cache and graphs.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from .seeded_sampler import SeededSampler, install_seeded_sampler

logger = logging.getLogger(__name__)

CPU_BATCH_KV_TOKENS = 8192  # cache tokens one CPU step may attend over: bounds the dense-mask attention cost
SWITCHES = {"auto": None, "on": True, "off": False}


@dataclass(frozen=True)
class BatchingOptions:
    """transformers' continuous-batching speed options, as the engine settings name them ('auto' = its own choice:
    CUDA graphs and async batching when the attention needs no mask, i.e. with flash attention; flash attention
    whenever a flash kernel is installed)."""

    cuda_graphs: str = "auto"  # auto | on | off
    compile_level: int = 0  # 0: eager; 1-3: transformers' default torch.compile configs (slower warm-up)
    async_batching: str = "auto"  # auto | on | off
    attention: str = "auto"  # auto (flash when installed, else the model's own), or an implementation name

    @classmethod
    def from_config(cls, config) -> BatchingOptions:
        if config is None:
            return cls()
        return cls(cuda_graphs=getattr(config, "native_cuda_graphs", "auto"),
                   compile_level=getattr(config, "native_compile_level", 0),
                   async_batching=getattr(config, "native_async_batching", "auto"),
                   attention=getattr(config, "native_attention", "auto"))


def in_flight_for(device, hints) -> int:
    """Requests a manager keeps in flight. On CPU the attention paths continuous batching can use ('sdpa',
    'paged|eager') compute a dense mask of every query token in the step against every cached token of every
    request in the step, so a step's attention grows with the square of the requests in flight, while the
    per-step overhead falls with it. We keep requests in flight x longest sequence near CPU_BATCH_KV_TOKENS
    (between 8 and 64 requests): on the sampling benchmark (prompts ~140 tokens, completions up to 128) 64
    in flight took 25.5 s, 32 took 20.2 s, 16 took 17.5-19.8 s and 8 took 24.2 s; the toy world keeps 64.
    """
    if torch.device(device).type != "cpu":
        return hints.num_requests
    longest = hints.max_prompt_length + hints.max_generated_length
    return max(1, min(hints.num_requests, 64, max(8, CPU_BATCH_KV_TOKENS // longest)))


def continuous_batching_config(device, hints, seed: int, options: BatchingOptions = BatchingOptions()):
    """Continuous-batching settings: on a GPU, transformers' fast paths as `options` ask, keeping the 20% margin it
    keeps when logits processors run; on CPU, a cache and a batch sized to the work (`in_flight_for`)."""
    from transformers import ContinuousBatchingConfig

    if torch.device(device).type != "cpu":
        return ContinuousBatchingConfig(
            seed=seed, max_memory_percent=0.8, use_cuda_graph=SWITCHES[options.cuda_graphs],
            use_async_batching=SWITCHES[options.async_batching], default_compile_level=options.compile_level,
            auto_switch_to_flash=options.attention == "auto")
    page = ContinuousBatchingConfig().page_size or 256
    longest = hints.max_prompt_length + hints.max_generated_length
    in_flight = in_flight_for(device, hints)
    blocks = max(8, in_flight * -(-longest // page))
    return ContinuousBatchingConfig(seed=seed, num_blocks=blocks, max_batch_tokens=512, max_requests_per_batch=in_flight,
                                    default_compile_level=options.compile_level)


def greedy_config(max_new_tokens: int, stops: list[int], pad_token_id: int | None):
    """The manager's own GenerationConfig: no warpers (the seeded sampler is the whole chain), argmax of its one-hot."""
    from transformers import GenerationConfig

    return GenerationConfig(do_sample=False, temperature=None, top_k=None, top_p=None, min_p=None,
                            repetition_penalty=None, max_new_tokens=max_new_tokens, eos_token_id=stops,
                            pad_token_id=pad_token_id)


class ManagerCache:
    """One continuous-batching manager for an engine, rebuilt only when a call needs another decoder shape or
    more room (more requests in flight, longer sequences) than the one it has."""

    def __init__(self, model, options: BatchingOptions):
        self.model, self.options = model, options
        self.manager, self.sampler, self.key, self.hints = None, None, None, None
        self.built = 0  # managers built by this engine (an evaluation sweep should build one)

    def _fits(self, key, hints) -> bool:
        """Can the manager we have serve a call with this decoder shape and workload?"""
        if self.manager is None or key != self.key:
            return False
        have, want = self.hints, hints
        return (in_flight_for(self.model.device, want) <= in_flight_for(self.model.device, have)
                and want.max_prompt_length <= have.max_prompt_length
                and want.max_generated_length <= have.max_generated_length)

    def _build(self, key, hints, stops, pad, seed: int) -> None:
        from transformers.generation.continuous_batching.utils import WorkloadHints

        if key == self.key and self.hints is not None:  # grow to hold both the old and the new calls
            have = self.hints
            hints = WorkloadHints(max_prompt_length=max(have.max_prompt_length, hints.max_prompt_length),
                                  max_generated_length=max(have.max_generated_length, hints.max_generated_length),
                                  num_requests=max(have.num_requests, hints.num_requests))
        self.close()
        if self.options.attention != "auto" and self.model.config._attn_implementation != self.options.attention:
            self.model.set_attn_implementation(self.options.attention)
        self.model.destroy_cached_continuous_batching_manager()  # another engine's, left on this model
        cb_config = continuous_batching_config(self.model.device, hints, seed, self.options)
        manager = self.model.init_continuous_batching(generation_config=greedy_config(hints.max_generated_length, stops, pad),
                                                      continuous_batching_config=cb_config, workload_hints=hints)
        self.sampler = SeededSampler(key[0], key[1], self.model.device)
        install_seeded_sampler(manager, self.sampler)
        manager.warmup()  # creates the cache; captures graphs / compiles when those are on
        self.manager, self.key, self.hints = manager, key, hints
        self.built += 1
        logger.info("continuous batching: built manager %d (top_k=%d, top-p truncates=%s, %d in flight, %d tokens long)",
                    self.built, key[0], key[1], in_flight_for(self.model.device, hints),
                    hints.max_prompt_length + hints.max_generated_length)

    @contextmanager
    def session(self, params, hints, stops: list[int], pad: int | None):
        """A started manager for one `generate()` call with `params`' decoder."""
        key = (params.top_k if params.top_k > 0 else 0, params.top_p < 1.0)
        if not self._fits(key, hints):
            self._build(key, hints, stops, pad, params.seed)
        manager = self.manager
        manager.switch_to_cb_friendly_attn(self.model, manager.continuous_batching_config.auto_switch_to_flash)
        self.sampler.set_decoding(params.temperature, params.top_p)
        manager.start()
        kept = False
        try:
            yield manager
            kept = True
        finally:
            manager.stop(block=True, timeout=10, keep_for_next_session=kept)
            if getattr(self.model, "_cached_continuous_batching_manager", None) is manager:
                del self.model._cached_continuous_batching_manager  # ours to keep: the engine's, not the model's
            if not kept:  # a failed call leaves no half-used manager behind
                self.close()

    def close(self) -> None:
        """Release the manager, its cache and graphs."""
        if self.manager is not None:
            self.manager.destroy()
        self.manager, self.sampler, self.key, self.hints = None, None, None, None
