"""Before the endpoint engine samples, it asks each server once: are you there, which protocol, which model,
and do you take our decoding fields (top-k above all, which OpenAI's schema lacks)?

A one-token request with the run's decoding settings goes to every server; a server that rejects top-k both
as a field and inside `generation_config` is refused with one line, never silently ignored. The answers
fix each `Endpoint`'s protocol, top-k style and served model name, and the engine's recorded model id and
revision (by the same rules as the native engine: a local folder is "local"). `engine` below is the
`EndpointEngine` being prepared (not imported here: it imports this module).
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass, field

from ...errors import SSDError
from ...prompts import PromptItem
from ...records import SamplingParams
from ...refs import is_local, redact_url
from ..engine import SampleRequest
from .endpoint_http import PermanentError, RetriableError, get_json, hint, short_reason

logger = logging.getLogger(__name__)


@dataclass
class Endpoint:
    """One server: its client, protocol, how it takes top-k, and its health."""

    url: str
    client: object = None
    protocol: str = "openai"
    top_k_style: str = "field"  # "field" (vLLM, SGLang) or "generation_config" (transformers serve)
    model_id: str | None = None
    model_revision: str | None = None
    served_name: str | None = None  # the `model` field of OpenAI requests
    ask_token_ids: bool = True  # OpenAI protocol: ask for the generated token ids (vLLM's `return_token_ids`)
    in_flight: int = 0
    connect_failures: int = 0
    alive: bool = True
    completed: int = 0
    last_error: str = field(default="", repr=False)


def split_model_revision(reported: str | None) -> tuple[str | None, str | None]:
    """`transformers serve` reports `id@revision`; other servers report the id alone."""
    if reported and "@" in reported and not reported.startswith("@"):
        model, _, revision = reported.rpartition("@")
        return model, revision or None
    return reported, None


def probe_request(params: SamplingParams) -> tuple[SampleRequest, SamplingParams]:
    prompt = PromptItem(prompt_id="probe", source_id="probe", messages=[{"role": "user", "content": "Say hi."}])
    one_token = SamplingParams(params.temperature, params.top_k, params.top_p, 1, params.seed)
    return SampleRequest(prompt=prompt, sample_index=0, seed=params.seed), one_token


async def prepare(engine, params: SamplingParams | None) -> None:
    """Probe every endpoint once, then settle the model id and revision every record will carry."""
    try:
        await asyncio.gather(*(probe(engine, e, params) for e in engine.endpoints))
    finally:
        for e in engine.endpoints:
            if e.client is not None:
                await e.client.close()
            e.client = None
    live = [e for e in engine.endpoints if e.alive]
    if not live:
        reasons = "; ".join(e.last_error for e in engine.endpoints)
        raise SSDError(f"no endpoint is reachable ({reasons}); start the server or fix --endpoint.")
    models = {e.model_id for e in live if e.model_id}
    if len(models) > 1:
        served = ", ".join(f"{redact_url(e.url)} serves {e.model_id}" for e in live)
        raise SSDError(f"the endpoints serve different models ({served}); give servers of one model only.")
    reported = next(iter(models), None) or engine.requested_model or "unknown"
    revision = next((e.model_revision for e in live if e.model_revision), None)
    if engine.requested_model and reported != engine.requested_model and not _same_path(reported, engine.requested_model):
        logger.warning("Requested model %s but the server reports %s; recording the server's.", engine.requested_model, reported)
    engine.model_id = reported
    engine.model_revision = revision_of(reported, revision, engine.revision, engine.requested_model)
    for e in live:  # every record gets the engine's normalised provenance, not each answer's raw `model`
        e.model_id, e.model_revision = engine.model_id, engine.model_revision
        logger.info("Endpoint %s: %s protocol, top-k as %s, model %s", redact_url(e.url), e.protocol, e.top_k_style,
                    e.model_id)


def revision_of(reported: str, server_revision: str | None, pinned: str | None, requested: str | None) -> str:
    """The revision to record, as the native engine would record it for the same model.

    An explicit --model_revision wins. A local folder is "local" for every engine: the server names a
    folder (a path: `transformers serve` then appends a meaningless "@main"), or the server says no
    revision and --model_name_or_path is a folder here. Otherwise the server's word (TGI's commit
    sha), else "unknown".
    """
    if pinned:
        return pinned
    if is_local(reported):
        return "local"
    if server_revision:
        return server_revision
    if requested and os.path.isdir(requested):
        return "local"
    return "unknown"


def _same_path(a: str, b: str) -> bool:
    return os.path.abspath(os.path.expanduser(a)) == os.path.abspath(os.path.expanduser(b))


async def probe(engine, endpoint: Endpoint, params: SamplingParams | None) -> None:
    """Learn one endpoint's protocol and top-k style; an unreachable one is left out with a warning."""
    endpoint.client = engine.new_client(endpoint.url)
    try:
        endpoint.protocol = await detect_protocol(engine, endpoint)
        if endpoint.protocol == "openai" and not engine.use_chat_template:
            raise SSDError(
                f"use_chat_template false needs raw-prompt generation, which {redact_url(endpoint.url)} only offers via "
                "TGI's /generate; pass --endpoint_protocol tgi with a TGI server, or keep the chat template."
            )
        if params is not None:
            await _settle_top_k(engine, endpoint, params)
    except RetriableError as error:
        endpoint.alive, endpoint.last_error = False, str(error)
        logger.warning("Endpoint %s is not usable (%s); leaving it out.", redact_url(endpoint.url), error)
    except PermanentError as error:
        raise SSDError(f"{error}{hint(error.status)}") from None


async def _settle_top_k(engine, endpoint: Endpoint, params: SamplingParams) -> None:
    request, one_token = probe_request(params)
    if endpoint.protocol == "tgi":
        await engine.send_with_retries(endpoint, request, one_token, fixed=True)
        return
    styles = ["field", "generation_config"] if endpoint.top_k_style == "field" else [endpoint.top_k_style]
    rejected = None
    while styles:
        endpoint.top_k_style = styles[0]
        try:
            sample = await engine.send_with_retries(endpoint, request, one_token, fixed=True)
        except PermanentError as error:
            token_ids = error.status in (400, 422) and endpoint.ask_token_ids and "return_token_ids" in error.body
            top_k = error.status in (400, 422) and ("top_k" in error.body or "generation_config" in error.body)
            if not (token_ids or top_k):
                raise
            if token_ids:
                endpoint.ask_token_ids = False  # a server without token ids: samples get retokenized ids
            if top_k:
                rejected = error
                styles.pop(0)
            continue
        endpoint.model_id, endpoint.model_revision = sample.model_id, sample.model_revision
        return
    raise SSDError(
        f"{redact_url(endpoint.url)} rejects top_k={params.top_k} both as a field and in generation_config "
        f"({short_reason(rejected.body)}); use a server that supports top-k (TGI, vLLM, SGLang, transformers serve)."
    )


async def detect_protocol(engine, endpoint: Endpoint) -> str:
    info = await _get(engine, endpoint, "/info") if engine.protocol in ("auto", "tgi") else None
    if isinstance(info, dict) and info.get("model_id"):  # TGI answers /info with its model and commit
        endpoint.model_id, endpoint.model_revision = info["model_id"], info.get("model_sha")
        return "tgi"
    if engine.protocol == "tgi":
        raise PermanentError(f"{redact_url(endpoint.url)} does not answer TGI's /info", status=404)
    endpoint.served_name = await served_name(engine, endpoint)
    return "openai"


async def served_name(engine, endpoint: Endpoint) -> str:
    """The `model` field OpenAI servers want: the requested model if listed, else the only one served."""
    listing = await _get(engine, endpoint, "/v1/models")
    ids = [m.get("id") for m in listing.get("data", []) if isinstance(m, dict)] if isinstance(listing, dict) else []
    requested = engine.requested_model
    if requested in ids or (not ids and requested):
        return requested
    if len(ids) == 1:
        return ids[0]
    if not ids:
        raise SSDError(f"{redact_url(endpoint.url)} does not list its models; pass --model_name_or_path with the served model name.")
    raise SSDError(f"{redact_url(endpoint.url)} serves {', '.join(ids)}; pass --model_name_or_path with the one to sample from.")


async def _get(engine, endpoint: Endpoint, path: str):
    return await get_json(endpoint.url, path, engine.token, engine.timeout, engine.max_retries, engine.backoff)
