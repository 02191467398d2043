"""The engines, imported only when used so optional extras (vLLM) are needed only by runs that use them."""

from __future__ import annotations

from ...errors import SSDError


def load_engine(name: str, model_name_or_path: str, config=None, **kwargs):
    """An engine by name: 'transformers', 'vllm' or 'endpoint' ('auto' is resolved by `SSDConfig.resolved_engine`)."""
    if name == "transformers":
        from .native import TransformersEngine

        return TransformersEngine(model_name_or_path, config=config, **kwargs)
    if name == "vllm":
        from .vllm import VLLMEngine

        return VLLMEngine(model_name_or_path, config=config, **kwargs)
    if name == "endpoint":
        from .endpoint import EndpointEngine

        return EndpointEngine(model_name_or_path, config=config, **kwargs)
    raise SSDError(f"unknown engine {name!r}; choose transformers, vllm or endpoint.")
