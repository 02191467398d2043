"""Native sampling engine: the frozen base model in this process, with transformers' continuous batching.

Continuous batching (`ContinuousBatchingManager`, the engine behind `generate_batch`) keeps a fixed
number of sequences in flight and refills a slot as soon as a sequence stops, so one long completion
does not hold a whole padded batch hostage. Finished samples are handed back one by one, which is what
lets the store write them to disk as they arrive.

Decoding is temperature -> top-k -> top-p, with min-p and every penalty left off, then a draw seeded per
sample (`seeded_sampler.py`): a sample's tokens depend on its own seed only, not on its batch, its process
or the order requests finish, so a data-parallel run gives the same samples as a single process. The
padded path uses transformers' warpers from a `GenerationConfig`; continuous batching runs the same chain
inside one logits processor over the top-k candidates, on one manager kept across calls
(`native_batching.py`).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator

import torch

from ...prompts import apply_chat_template
from ...records import SamplingParams
from ...refs import loading_revision, recorded_revision
from ..engine import GeneratedSample, SampleRequest
from ..runner import SkippedSample
from .native_batching import BatchingOptions, ManagerCache
from .seeded_sampler import SeededBatchSampler, seeded_continuous_batching_supported

logger = logging.getLogger(__name__)


def generation_config_for(params: SamplingParams, eos_token_ids: list[int], pad_token_id: int | None):
    """The paper's decoder as a GenerationConfig: nothing but temperature, top-k and top-p."""
    from transformers import GenerationConfig

    return GenerationConfig(
        do_sample=True,
        temperature=params.temperature,
        top_k=params.top_k if params.top_k > 0 else None,
        top_p=params.top_p,
        min_p=None,
        repetition_penalty=None,
        max_new_tokens=params.max_new_tokens,
        eos_token_id=eos_token_ids,
        pad_token_id=pad_token_id,
    )


def stop_token_ids(tokenizer, model) -> list[int]:
    """EOS of the tokenizer (the chat template's end-of-turn) plus whatever the model's config lists."""
    ids = []
    for value in (tokenizer.eos_token_id, getattr(model.generation_config, "eos_token_id", None)):
        if value is None:
            continue
        ids.extend(value if isinstance(value, list) else [value])
    return sorted(set(ids))


def token_budget(request: SampleRequest, params: SamplingParams) -> int:
    """Completion budget of one request: its own `max_new_tokens` when it carries one, else the shared one."""
    return request.max_new_tokens or params.max_new_tokens


def context_length(model) -> int | None:
    """Positions the model was built for; a longer prompt leaves no room to generate."""
    return getattr(model.config.get_text_config(), "max_position_embeddings", None)


class TransformersEngine:
    """Samples from an in-process `PreTrainedModel` (the frozen base: never an updated copy)."""

    name = "transformers"
    data_parallel = True

    def __init__(self, model_name_or_path: str, config=None, model=None, tokenizer=None, revision: str | None = None,
                 batch_size: int | None = None, continuous_batching: bool | None = None):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        revision = loading_revision(revision)
        self.model_id = model_name_or_path
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_name_or_path, revision=revision)
        self.model = model or AutoModelForCausalLM.from_pretrained(model_name_or_path, revision=revision, dtype="auto")
        text_config = self.model.config.get_text_config()
        if getattr(text_config, "output_router_logits", False):
            # MoE checkpoints saved by TRL keep output_router_logits=True (the training aux loss); generation needs no
            # router logits, and the aux-loss computation breaks on continuous batching's packed inputs.
            text_config.output_router_logits = False
        self.model_revision = recorded_revision(model_name_or_path, revision, getattr(self.model.config, "_commit_hash", None))
        self.use_chat_template = True if config is None else config.use_chat_template
        self.batch_size = batch_size or (config.sampling_batch_size if config is not None else 64)
        wanted = continuous_batching if continuous_batching is not None else getattr(config, "continuous_batching", True)
        self.continuous_batching = wanted and seeded_continuous_batching_supported()
        self.managers = ManagerCache(self.model, BatchingOptions.from_config(config))

    def close(self) -> None:
        """Release the continuous-batching manager (its KV cache); the model belongs to the caller."""
        self.managers.close()

    def _encode(self, request: SampleRequest) -> list[int]:
        return apply_chat_template(self.tokenizer, request.prompt.messages, self.use_chat_template)

    def _finish(self, request, prompt_ids, tokens, stops, params) -> GeneratedSample:
        # Drop the stop token itself from the text; "length" when the budget ran out before any stop token.
        stopped = bool(tokens) and tokens[-1] in stops
        text_tokens = tokens[:-1] if stopped else tokens
        finish_reason = "stop" if stopped or len(tokens) < token_budget(request, params) else "length"
        return GeneratedSample(
            request=request,
            completion=self.tokenizer.decode(text_tokens, skip_special_tokens=True),
            finish_reason=finish_reason,
            prompt_tokens=len(prompt_ids),
            completion_tokens=len(tokens),
            prompt_token_ids=list(prompt_ids),
            completion_token_ids=list(tokens),
        )

    def generate(self, requests: list[SampleRequest], params: SamplingParams) -> Iterator[GeneratedSample]:
        if not requests:
            return
        stops = stop_token_ids(self.tokenizer, self.model)
        gen_config = generation_config_for(params, stops, self.tokenizer.pad_token_id)
        encoded, by_key, limit = {}, {}, context_length(self.model)
        for request in requests:
            ids = self._encode(request)
            if limit and len(ids) >= limit:
                yield SkippedSample(request, f"prompt_too_long: {len(ids)} tokens, the model's context is {limit}")
                continue
            encoded[request.key], by_key[request.key] = ids, request
        if not encoded:
            return
        was_training = self.model.training
        self.model.eval()
        try:
            if self.continuous_batching:
                yield from self._generate_continuous(by_key, encoded, gen_config, stops, params)
            else:
                yield from self._generate_padded(by_key, encoded, gen_config, stops, params)
        finally:
            self.model.train(was_training)

    def _generate_continuous(self, by_key, encoded, gen_config, stops, params):
        from transformers.generation.continuous_batching.utils import WorkloadHints

        pending = set(by_key)
        hints = WorkloadHints(
            max_prompt_length=max(len(ids) for ids in encoded.values()),
            max_generated_length=max(token_budget(r, params) for r in by_key.values()),
            num_requests=len(encoded),
        )
        with self.managers.session(params, hints, stops, self.tokenizer.pad_token_id) as manager:
            for key, ids in encoded.items():
                request = by_key[key]
                manager.add_request(
                    input_ids=ids, request_id=key, max_new_tokens=token_budget(request, params), eos_token_id=stops,
                    seed=request.seed,
                )
            while pending:
                result = manager.get_result(timeout=1)
                if result is None:
                    if not manager.is_running():
                        raise RuntimeError("continuous batching stopped unexpectedly; rerun to resume from the store")
                    continue
                if not result.is_finished() or result.request_id not in pending:
                    continue
                if result.error is not None:
                    raise RuntimeError(f"generation failed for {result.request_id}: {result.error}")
                pending.discard(result.request_id)
                key = result.request_id
                yield self._finish(by_key[key], encoded[key], list(result.generated_tokens), stops, params)

    def _generate_padded(self, by_key, encoded, gen_config, stops, params):
        """Left-padded `model.generate` in fixed batches: the fallback, and the benchmark baseline.

        The chain is the same warpers plus the seeded draw, which must run after them; `generate` puts
        processors passed to it before its own warpers, so it gets the whole chain with greedy decoding,
        whose argmax picks the one token the draw left.
        """
        from transformers import LogitsProcessorList

        keys = list(by_key)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else stops[0]
        device = self.model.device
        warpers = self.model._get_logits_processor(gen_config)
        greedy = copy.deepcopy(gen_config)
        greedy.do_sample, greedy.temperature, greedy.top_k, greedy.top_p = False, None, None, None
        for start in range(0, len(keys), self.batch_size):
            batch = keys[start : start + self.batch_size]
            width = max(len(encoded[k]) for k in batch)
            input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
            attention = torch.zeros((len(batch), width), dtype=torch.long)
            for row, key in enumerate(batch):
                ids = encoded[key]
                input_ids[row, width - len(ids) :] = torch.tensor(ids)
                attention[row, width - len(ids) :] = 1
            # A padded batch runs until its longest member stops: the cost continuous batching avoids.
            budgets = [token_budget(by_key[k], params) for k in batch]
            batch_config = copy.deepcopy(greedy)
            batch_config.max_new_tokens = max(budgets)
            draw = SeededBatchSampler([by_key[k].seed for k in batch], [len(encoded[k]) for k in batch], width, params.top_k)
            with torch.no_grad():
                output = self.model.generate(
                    input_ids=input_ids.to(device), attention_mask=attention.to(device), generation_config=batch_config,
                    logits_processor=LogitsProcessorList([*warpers, draw]),
                )
            for row, key in enumerate(batch):
                tokens = output[row, width:].tolist()[: budgets[row]]
                if stops:  # everything after the first stop token is padding
                    cut = next((i + 1 for i, t in enumerate(tokens) if t in stops), len(tokens))
                    tokens = tokens[:cut]
                yield self._finish(by_key[key], encoded[key], tokens, stops, params)
