"""Endpoint engine: sample from inference servers over HTTP (TGI, vLLM, SGLang, `transformers serve`).

Large models are served, not loaded into the training process. This engine sends one request per
sample through `huggingface_hub.AsyncInferenceClient`, keeps `concurrency` requests in flight spread
over one or more servers, and hands samples back as they finish so the store can write them.

Two protocols:
- `tgi`: TGI's `/generate`. The chat template is applied here, so the server sees exactly the token
  sequence the native engine would, and every decoding field (top-k included) is native to it.
- `openai`: `/v1/chat/completions`. OpenAI's schema has no top-k, so top-k travels the way the
  server accepts it: as a top-level `top_k` field (vLLM, SGLang) or inside the `generation_config`
  JSON that `transformers serve` reads. Which one is found by a one-token probe per endpoint before
  sampling starts; a server that takes neither is refused with one line, never silently ignored.

Faults: timeouts, dropped connections, 429 and 5xx are retried with exponential backoff and full
jitter, each retry going to the least busy live endpoint; an endpoint that refuses connections three
times running is taken out of rotation and its work goes to the others; any other 4xx stops the run
with an `SSDError` after the samples already finished have been handed back. The token (env
`SSD_HF_ENDPOINT_TOKEN`, else `HF_TOKEN`) is sent as a bearer header and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from ..config import SamplingParams
from ..errors import SSDError
from . import GeneratedSample, SampleRequest

logger = logging.getLogger(__name__)

PROTOCOLS = ("auto", "tgi", "openai")
LIST_FLAGS = ("--endpoint",)
DEAD_AFTER_CONNECT_FAILURES = 3
CONNECT_RETRY_S = 0.1
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
TOKEN_ENV_VARS = ("SSD_HF_ENDPOINT_TOKEN", "HF_TOKEN")


# ----- configuration helpers (called by SSDConfig and the CLI) -----


def merge_repeated_list_flags(argv: list[str], flags: tuple[str, ...] = LIST_FLAGS) -> list[str]:
    """`--endpoint A --endpoint B` -> `--endpoint A B`: argparse's nargs='+' would keep only the last one."""
    values: dict[str, list[str]] = {}
    first_at: dict[str, int] = {}
    out: list[str] = []
    index = 0
    while index < len(argv):
        arg = argv[index]
        name, _, inline = arg.partition("=")
        if name in flags:
            first_at.setdefault(name, len(out))
            if inline:
                values.setdefault(name, []).append(inline)
                index += 1
            else:
                index += 1
                while index < len(argv) and not argv[index].startswith("--"):
                    values.setdefault(name, []).append(argv[index])
                    index += 1
            continue
        out.append(arg)
        index += 1
    for name in sorted(first_at, key=first_at.get, reverse=True):
        out[first_at[name] : first_at[name]] = [name, *values.get(name, [])]
    return out


def validate_endpoint_fields(config) -> None:
    """The endpoint/vLLM part of `SSDConfig.validate_sampling`: one readable line per bad value."""
    if isinstance(config.endpoint, str):  # YAML `endpoint: http://...`
        config.endpoint = [config.endpoint]
    if config.endpoint_protocol not in PROTOCOLS:
        raise SSDError(
            f"endpoint_protocol must be one of {', '.join(PROTOCOLS)} (got {config.endpoint_protocol!r})."
        )
    for url in config.endpoint or []:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise SSDError(
                f"endpoint {redact(url)!r} is not an http(s) URL; pass e.g. --endpoint http://127.0.0.1:8080."
            )
    if config.engine == "endpoint" and not config.endpoint:
        raise SSDError(
            "--engine endpoint needs at least one server: pass --endpoint http://HOST:PORT (repeat for more)."
        )
    if config.concurrency < 1:
        raise SSDError(f"concurrency must be >= 1 (got {config.concurrency}).")
    if not config.request_timeout > 0:
        raise SSDError(f"request_timeout must be > 0 seconds (got {config.request_timeout}).")
    if config.max_retries < 0:
        raise SSDError(f"max_retries must be >= 0 (got {config.max_retries}).")
    if config.vllm_tensor_parallel_size < 1 or config.vllm_data_parallel_size < 1:
        raise SSDError("vllm_tensor_parallel_size and vllm_data_parallel_size must be >= 1.")
    if not 0 < config.vllm_gpu_memory_utilization <= 1:
        raise SSDError(
            f"vllm_gpu_memory_utilization must be in (0, 1] (got {config.vllm_gpu_memory_utilization})."
        )


def redact(url: str) -> str:
    """The URL without user:password, for logs and messages."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        parts = parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))
    return urlunsplit(parts).rstrip("/")


def endpoint_token() -> str | None:
    for name in TOKEN_ENV_VARS:
        if os.environ.get(name):
            return os.environ[name]
    return None


def backoff_delay(attempt: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_MAX_S) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**attempt)]."""
    return random.uniform(0, min(cap, base * 2**attempt))


def server_client_class():
    """`AsyncInferenceClient` whose HTTP session talks to the user's own servers even under HF_HUB_OFFLINE.

    The hub's default session refuses every request in offline mode, because it guards Hub calls; a
    TGI/vLLM server on the user's network is not the Hub, and offline clusters are where they run.
    """
    import httpx2
    from huggingface_hub import AsyncInferenceClient

    async def read_error_body(response) -> None:  # so error messages can quote the server's reason
        if response.status_code >= 400:
            await response.aread()

    class ServerInferenceClient(AsyncInferenceClient):
        async def _get_async_client(self):
            if self._async_client is None:
                session = httpx2.AsyncClient(
                    event_hooks={"response": [read_error_body]},
                    follow_redirects=True,
                    timeout=None,
                    limits=httpx2.Limits(max_connections=None, max_keepalive_connections=64),
                )
                self._async_client = await self.exit_stack.enter_async_context(session)
            return self._async_client

    return ServerInferenceClient


# ----- failure classification -----


class RetriableError(Exception):
    """A failure worth trying again (maybe on another endpoint)."""

    def __init__(self, message: str, connect: bool = False, kind: str = "other failures"):
        super().__init__(message)
        self.connect = connect  # nothing listening: counts towards taking the endpoint out of rotation
        self.kind = kind  # what the final error tallies: "timeouts", "HTTP 503", ...


class PermanentError(Exception):
    """A failure that will not go away by retrying (bad parameter, wrong token, unknown route)."""

    def __init__(self, message: str, status: int | None = None, body: str = ""):
        super().__init__(message)
        self.status = status
        self.body = body


def classify(error: BaseException, url: str) -> Exception:
    """Turn a client exception into RetriableError or PermanentError (never containing the token)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError

    if isinstance(error, (RetriableError, PermanentError)):
        return error
    if isinstance(error, InferenceTimeoutError):
        connect = isinstance(error.__cause__, (httpx2.ConnectTimeout, httpx2.PoolTimeout))
        return RetriableError(f"{url}: timed out", connect=connect, kind="timeouts")
    if isinstance(error, httpx2.ConnectError):
        return RetriableError(
            f"{url}: connection refused or host unreachable", connect=True, kind="refused connections"
        )
    if isinstance(error, (httpx2.TimeoutException, asyncio.TimeoutError)):
        return RetriableError(f"{url}: timed out ({type(error).__name__})", kind="timeouts")
    if isinstance(error, (httpx2.TransportError, json.JSONDecodeError)):
        return RetriableError(f"{url}: {type(error).__name__}: {error}", kind="dropped connections")
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        status = error.response.status_code
        try:
            body = error.response.text[:500]
        except Exception:  # a streamed body that was not read
            body = ""
        if status in (408, 425, 429) or status >= 500:
            return RetriableError(f"{url}: HTTP {status}", kind=f"HTTP {status}")
        return PermanentError(f"{url} answered HTTP {status}: {_short(body)}", status=status, body=body)
    if isinstance(error, (KeyError, IndexError, TypeError, ValueError)):  # a malformed answer
        return RetriableError(
            f"{url}: malformed response ({type(error).__name__}: {error})", kind="malformed responses"
        )
    return error if isinstance(error, Exception) else RuntimeError(str(error))


def _short(text: str) -> str:
    text = " ".join(text.split())
    try:  # FastAPI/vLLM/TGI put the reason under "detail", "error" or "message"
        data = json.loads(text)
        if isinstance(data, dict):
            inner = data.get("detail") or data.get("error") or data.get("message") or text
            if isinstance(inner, dict):
                inner = inner.get("message") or inner
            text = str(inner)
    except ValueError:
        pass
    return text[:200] or "(empty body)"


# ----- one server -----


@dataclass
class Endpoint:
    """One server: its client, protocol, how it takes top-k, and its health."""

    url: str
    client: object
    protocol: str = "openai"
    top_k_style: str = "field"  # "field" (vLLM, SGLang) or "generation_config" (transformers serve)
    model_id: str | None = None
    model_revision: str | None = None
    served_name: str | None = None  # the `model` field of OpenAI requests
    in_flight: int = 0
    connect_failures: int = 0
    alive: bool = True
    completed: int = 0
    last_error: str = field(default="", repr=False)


def is_local_path(model: str) -> bool:
    """A model named by a folder (here, or a path on the server's machine), not by a Hub id."""
    return os.path.isdir(model) or model.startswith(("/", "./", "../", "~"))


def split_model_revision(reported: str | None) -> tuple[str | None, str | None]:
    """`transformers serve` reports `id@revision`; other servers report the id alone."""
    if reported and "@" in reported and not reported.startswith("@"):
        model, _, revision = reported.rpartition("@")
        return model, revision or None
    return reported, None


class EndpointEngine:
    """Samples through one or more inference servers; only the main process talks to them."""

    name = "endpoint"
    data_parallel = False
    backoff_base_s = BACKOFF_BASE_S
    backoff_max_s = BACKOFF_MAX_S

    def __init__(
        self,
        model_name_or_path: str | None = None,
        config=None,
        tokenizer=None,
        revision: str | None = None,
        endpoints: list[str] | None = None,
        **_unused,
    ):
        urls = endpoints or (config.endpoint if config is not None else None)
        if not urls:
            raise SSDError("--engine endpoint needs at least one server: pass --endpoint http://HOST:PORT.")
        self.urls = [u.rstrip("/") for u in urls]
        self.requested_model = model_name_or_path
        self.protocol = getattr(config, "endpoint_protocol", "auto")
        self.concurrency = getattr(config, "concurrency", 64)
        self.timeout = float(getattr(config, "request_timeout", 600.0))
        self.max_retries = int(getattr(config, "max_retries", 8))
        self.use_chat_template = True if config is None else config.use_chat_template
        self.revision = revision
        self._tokenizer = tokenizer
        self._token = endpoint_token()
        # httpx2 logs every request at INFO: thousands of lines per run, and nothing our progress bar lacks.
        logging.getLogger("httpx2").setLevel(
            max(logging.getLogger("httpx2").getEffectiveLevel(), logging.WARNING)
        )
        self._probe_params = config.sampling_params() if config is not None else None
        self.endpoints = [Endpoint(url=u, client=None) for u in self.urls]
        self.model_id = model_name_or_path or ""
        self.model_revision = revision or ""
        self._run_async(self._prepare(self._probe_params))

    # ----- sync bridge -----

    def _run_async(self, coroutine):
        """Run a coroutine to completion on a private event loop (callers may already have one)."""
        result: dict = {}

        def target():
            try:
                result["value"] = asyncio.run(coroutine)
            except BaseException as error:  # re-raised in the caller's thread
                result["error"] = error

        thread = threading.Thread(target=target, name="ssd-endpoint-setup", daemon=True)
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]
        return result.get("value")

    def _new_client(self, url: str):
        return server_client_class()(base_url=url, token=self._token, timeout=self.timeout)

    # ----- setup: protocol, model id, parameter acceptance -----

    async def _prepare(self, params: SamplingParams | None) -> None:
        """Probe every endpoint once: reachable? which protocol? does it take our decoding fields?"""
        try:
            await asyncio.gather(*(self._probe(e, params) for e in self.endpoints))
        finally:
            for e in self.endpoints:
                if e.client is not None:
                    await e.client.close()
                e.client = None
        live = [e for e in self.endpoints if e.alive]
        if not live:
            reasons = "; ".join(e.last_error for e in self.endpoints)
            raise SSDError(f"no endpoint is reachable ({reasons}); start the server or fix --endpoint.")
        models = {e.model_id for e in live if e.model_id}
        if len(models) > 1:
            served = ", ".join(f"{redact(e.url)} serves {e.model_id}" for e in live)
            raise SSDError(
                f"the endpoints serve different models ({served}); give servers of one model only."
            )
        reported = next(iter(models), None) or self.requested_model or "unknown"
        revision = next((e.model_revision for e in live if e.model_revision), None)
        if self.requested_model and reported != self.requested_model and not self._same_model(reported):
            logger.warning(
                "Requested model %s but the server reports %s; recording the server's.",
                self.requested_model,
                reported,
            )
        self.model_id = reported
        self.model_revision = self._revision_of(reported, revision)
        for e in live:  # every record gets the engine's normalised provenance, not each answer's raw `model`
            e.model_id, e.model_revision = self.model_id, self.model_revision
        for e in live:
            logger.info(
                "Endpoint %s: %s protocol, top-k as %s, model %s",
                redact(e.url),
                e.protocol,
                e.top_k_style,
                e.model_id,
            )

    def _revision_of(self, reported: str, server_revision: str | None) -> str:
        """The revision to record, as the native engine would record it for the same model.

        An explicit --model_revision wins. A local folder is "local" for every engine: the server names a
        folder (a path: `transformers serve` then appends a meaningless "@main"), or the server says no
        revision and --model_name_or_path is a folder here. Otherwise the server's word (TGI's commit
        sha), else "unknown".
        """
        if self.revision:
            return self.revision
        if is_local_path(reported):
            return "local"
        if server_revision:
            return server_revision
        if self.requested_model and os.path.isdir(self.requested_model):
            return "local"
        return "unknown"

    def _same_model(self, reported: str) -> bool:
        a, b = (
            os.path.abspath(os.path.expanduser(reported)),
            os.path.abspath(os.path.expanduser(self.requested_model)),
        )
        return a == b

    async def _probe(self, endpoint: Endpoint, params: SamplingParams | None) -> None:
        endpoint.client = self._new_client(endpoint.url)
        try:
            endpoint.protocol = await self._detect_protocol(endpoint)
            if endpoint.protocol == "openai" and not self.use_chat_template:
                raise SSDError(
                    f"use_chat_template false needs raw-prompt generation, which {redact(endpoint.url)} only offers via "
                    "TGI's /generate; pass --endpoint_protocol tgi with a TGI server, or keep the chat template."
                )
            if params is None:
                return
            probe = SampleRequest(prompt=_PROBE_PROMPT, sample_index=0, seed=params.seed)
            one_token = SamplingParams(params.temperature, params.top_k, params.top_p, 1, params.seed)
            if endpoint.protocol == "tgi":
                await self._with_retries(endpoint, probe, one_token, fixed=True)
                return
            styles = (
                ["field", "generation_config"] if endpoint.top_k_style == "field" else [endpoint.top_k_style]
            )
            rejected = None
            for style in styles:
                endpoint.top_k_style = style
                try:
                    sample = await self._with_retries(endpoint, probe, one_token, fixed=True)
                except PermanentError as error:
                    if error.status in (400, 422) and (
                        "top_k" in error.body or "generation_config" in error.body
                    ):
                        rejected = error
                        continue
                    raise
                endpoint.model_id, endpoint.model_revision = sample.model_id, sample.model_revision
                return
            raise SSDError(
                f"{redact(endpoint.url)} rejects top_k={params.top_k} both as a field and in generation_config "
                f"({_short(rejected.body)}); use a server that supports top-k (TGI, vLLM, SGLang, transformers serve)."
            )
        except RetriableError as error:
            endpoint.alive, endpoint.last_error = False, str(error)
            logger.warning("Endpoint %s is not usable (%s); leaving it out.", redact(endpoint.url), error)
        except PermanentError as error:
            raise SSDError(f"{error}{_hint(error.status)}") from None

    async def _detect_protocol(self, endpoint: Endpoint) -> str:
        info = await self._get_json(endpoint, "/info") if self.protocol in ("auto", "tgi") else None
        if isinstance(info, dict) and info.get("model_id"):  # TGI answers /info with its model and commit
            endpoint.model_id, endpoint.model_revision = info["model_id"], info.get("model_sha")
            if self.protocol in ("auto", "tgi"):
                return "tgi"
        if self.protocol == "tgi":
            raise PermanentError(f"{redact(endpoint.url)} does not answer TGI's /info", status=404)
        endpoint.served_name = await self._served_name(endpoint)
        return "openai"

    async def _served_name(self, endpoint: Endpoint) -> str:
        """The `model` field OpenAI servers want: the requested model if listed, else the only one served."""
        listing = await self._get_json(endpoint, "/v1/models")
        ids = (
            [m.get("id") for m in listing.get("data", []) if isinstance(m, dict)]
            if isinstance(listing, dict)
            else []
        )
        if self.requested_model in ids or (not ids and self.requested_model):
            return self.requested_model
        if len(ids) == 1:
            return ids[0]
        if not ids:
            raise SSDError(
                f"{redact(endpoint.url)} does not list its models; pass --model_name_or_path with the served model name."
            )
        raise SSDError(
            f"{redact(endpoint.url)} serves {', '.join(ids)}; pass --model_name_or_path with the one to sample from."
        )

    async def _get_json(self, endpoint: Endpoint, path: str):
        """GET a small JSON document with retries; None when the server does not have that route."""
        import httpx2

        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        failure: Exception = RetriableError(f"{redact(endpoint.url)}{path}: no answer")
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(self._backoff(attempt))
            try:
                async with httpx2.AsyncClient(timeout=min(self.timeout, 30.0)) as http:
                    response = await http.get(f"{endpoint.url}{path}", headers=headers)
            except Exception as error:
                failure = classify(error, redact(endpoint.url))
                if isinstance(failure, RetriableError) and (
                    not failure.connect or attempt < DEAD_AFTER_CONNECT_FAILURES - 1
                ):
                    continue
                raise failure from None
            if response.status_code in (401, 403):
                raise PermanentError(
                    f"{redact(endpoint.url)} answered HTTP {response.status_code}",
                    status=response.status_code,
                )
            if response.status_code in (429, 503):  # busy or still loading: worth waiting for
                failure = RetriableError(f"{redact(endpoint.url)}{path}: HTTP {response.status_code}")
                continue
            if response.status_code != 200:
                return None
            try:
                return response.json()
            except ValueError:
                return None
        raise failure

    # ----- requests -----

    async def _with_retries(
        self, endpoint: Endpoint | None, request: SampleRequest, params: SamplingParams, fixed=False
    ):
        """One sample, retried with backoff; each retry goes to the least busy live endpoint unless `fixed`."""
        attempt, kinds = 0, Counter()
        while True:
            target = endpoint if fixed else self._pick()
            target.in_flight += 1
            try:
                sample = await self._send(target, request, params)
                target.connect_failures = 0
                target.completed += 1
                return sample
            except Exception as error:
                failure = classify(error, redact(target.url))
                if not isinstance(failure, RetriableError):
                    raise failure from None
                target.last_error = str(failure)
                if failure.connect:
                    target.connect_failures += 1
                    if target.connect_failures >= DEAD_AFTER_CONNECT_FAILURES and target.alive:
                        self._retire(target, failure)
                    if fixed and not target.alive:
                        raise failure from None
                    if not fixed and any(e.alive for e in self.endpoints):
                        # Refusals are cheap and telling: try again soon, so a dead server is found out
                        # (and retired) quickly; this does not use up the request's retries.
                        await asyncio.sleep(CONNECT_RETRY_S * target.connect_failures)
                        continue
                attempt += 1
                kinds[failure.kind] += 1
                if attempt > self.max_retries:
                    raise SSDError(self._exhausted_message(attempt, kinds, failure)) from None
                delay = self._backoff(attempt)
                logger.debug("Retrying %s in %.2fs after: %s", request.key, delay, failure)
                await asyncio.sleep(delay)
            finally:
                target.in_flight -= 1

    def _exhausted_message(self, attempts: int, kinds: Counter, last: Exception) -> str:
        """One line naming what mostly went wrong, since the cure differs: timeouts vs an overloaded server."""
        tally = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
        main = kinds.most_common(1)[0][0]
        if main == "timeouts":
            advice = (
                f"answers take longer than --request_timeout ({self.timeout:g} s): raise it, or lower --concurrency "
                "if the server queues requests"
            )
        elif main in ("HTTP 429", "HTTP 503"):
            advice = "the server is overloaded or still loading: lower --concurrency or raise --max_retries"
        else:
            advice = "check the server, or raise --max_retries"
        return (
            f"a request failed {attempts} times, mostly {main} ({tally}; last: {last}); {advice}; "
            "rerun the same command to resume."
        )

    def _backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self.backoff_base_s, self.backoff_max_s)

    def _pick(self) -> Endpoint:
        live = [e for e in self.endpoints if e.alive]
        if not live:
            reasons = "; ".join(f"{redact(e.url)}: {e.last_error}" for e in self.endpoints)
            raise SSDError(
                f"every endpoint is out of rotation ({reasons}); restart the servers and rerun to resume."
            )
        low = min(e.in_flight for e in live)
        return random.choice([e for e in live if e.in_flight == low])

    def _retire(self, endpoint: Endpoint, failure: Exception) -> None:
        endpoint.alive = False
        left = sum(e.alive for e in self.endpoints)
        logger.warning(
            "Taking %s out of rotation (%s); %d endpoint(s) left.", redact(endpoint.url), failure, left
        )

    async def _send(
        self, endpoint: Endpoint, request: SampleRequest, params: SamplingParams
    ) -> GeneratedSample:
        if endpoint.protocol == "tgi":
            return await self._send_tgi(endpoint, request, params)
        return await self._send_openai(endpoint, request, params)

    async def _send_openai(
        self, endpoint: Endpoint, request: SampleRequest, params: SamplingParams
    ) -> GeneratedSample:
        if endpoint.top_k_style == "field":
            extra = {"top_k": params.top_k}
        else:  # transformers serve: the whole decoder as a GenerationConfig JSON, top-k included
            extra = {
                "generation_config": json.dumps(
                    {
                        "do_sample": True,
                        "temperature": params.temperature,
                        "top_k": params.top_k,
                        "top_p": params.top_p,
                        "max_new_tokens": params.max_new_tokens,
                    }
                )
            }
        output = await endpoint.client.chat_completion(
            messages=request.prompt.messages,
            model=endpoint.served_name,
            max_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=request.seed,
            extra_body=extra,
        )
        choice = output.choices[0]
        usage = output.usage
        model_id, model_revision = split_model_revision(output.model)
        return GeneratedSample(
            request=request,
            completion=choice.message.content or "",
            finish_reason="length" if choice.finish_reason == "length" else "stop",
            prompt_tokens=int(usage.prompt_tokens) if usage else 0,
            completion_tokens=int(usage.completion_tokens) if usage else 0,
            # After the probe the endpoint holds the normalised provenance; the probe itself learns it from here.
            model_id=endpoint.model_id or model_id,
            model_revision=endpoint.model_revision or model_revision,
        )

    async def _send_tgi(
        self, endpoint: Endpoint, request: SampleRequest, params: SamplingParams
    ) -> GeneratedSample:
        tokenizer = self._load_tokenizer(endpoint.model_id)
        prompt_text, prompt_tokens = self._render(tokenizer, request.prompt.messages)
        stop = [tokenizer.eos_token] if getattr(tokenizer, "eos_token", None) else None
        output = await endpoint.client.text_generation(
            prompt_text,
            details=True,
            do_sample=True,
            temperature=params.temperature,
            top_k=params.top_k or None,  # TGI: absent means no top-k truncation
            top_p=params.top_p if params.top_p < 1 else None,  # TGI requires top_p < 1; absent means none
            seed=request.seed,
            max_new_tokens=params.max_new_tokens,
            stop=stop,
            return_full_text=False,
        )
        text = output.generated_text
        if stop and text.endswith(stop[0]):
            text = text[: -len(stop[0])]
        details = output.details
        return GeneratedSample(
            request=request,
            completion=text,
            finish_reason="length" if details.finish_reason == "length" else "stop",
            prompt_tokens=prompt_tokens,
            completion_tokens=int(details.generated_tokens),
            model_id=endpoint.model_id,
            model_revision=endpoint.model_revision,
        )

    def _load_tokenizer(self, served_model: str | None):
        if self._tokenizer is None:
            from transformers import AutoTokenizer

            source = self.requested_model or served_model
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(source, revision=self.revision)
            except OSError as error:
                raise SSDError(
                    f"the tgi protocol renders the chat template here and needs the tokenizer of {source}, which could "
                    f"not be loaded ({str(error).splitlines()[0]}); pass --model_name_or_path with a local copy."
                ) from None
        return self._tokenizer

    def _render(self, tokenizer, messages: list[dict]) -> tuple[str, int]:
        from ..prompts import apply_chat_template

        ids = apply_chat_template(tokenizer, messages, self.use_chat_template)
        return tokenizer.decode(ids, skip_special_tokens=False), len(ids)

    # ----- the engine contract -----

    def generate(self, requests: list[SampleRequest], params: SamplingParams) -> Iterator[GeneratedSample]:
        """Yield samples as servers finish them; on a fatal error, yield what finished, then raise."""
        if not requests:
            return
        results: queue.Queue = queue.Queue()
        stop, started = threading.Event(), threading.Event()

        def run() -> None:
            try:
                asyncio.run(self._produce(requests, params, results, stop, started))
            except BaseException as error:  # anything before the workers started: hand it to the consumer
                results.put(_Finished(error))

        thread = threading.Thread(target=run, name="ssd-endpoint", daemon=True)
        thread.start()
        finished = False
        try:
            while True:
                item = results.get()
                if isinstance(item, _Finished):
                    finished = True
                    if item.error is not None:
                        raise item.error
                    return
                yield item
        finally:
            stop.set()
            # The consumer stopped early: abandon the requests in flight.
            if not finished and started.wait(timeout=30):
                with contextlib.suppress(RuntimeError):  # the loop may just have closed
                    self._cancel_in_flight()
            thread.join(timeout=30)

    async def _produce(
        self, requests, params, results: queue.Queue, stop: threading.Event, started: threading.Event
    ) -> None:
        todo: asyncio.Queue = asyncio.Queue()
        for request in requests:
            todo.put_nowait(request)
        for e in self.endpoints:  # clients are bound to the loop that made them
            e.client, e.completed = (self._new_client(e.url) if e.alive else None), 0
        fatal: list[BaseException] = []
        start, tokens = time.perf_counter(), 0

        async def worker() -> None:
            nonlocal tokens
            while not stop.is_set() and not fatal:
                try:
                    request = todo.get_nowait()
                except asyncio.QueueEmpty:
                    return
                try:
                    sample = await self._with_retries(None, request, params)
                except PermanentError as error:
                    fatal.append(
                        SSDError(
                            f"{error}{_hint(error.status)} Samples finished so far are kept; rerun to resume."
                        )
                    )
                    return
                except SSDError as error:
                    fatal.append(error)
                    return
                except Exception as error:  # a bug or an unexpected answer: stop, keep what is done
                    fatal.append(error)
                    return
                tokens += sample.completion_tokens
                results.put(sample)

        workers = [asyncio.create_task(worker()) for _ in range(min(self.concurrency, len(requests)))]
        loop = asyncio.get_running_loop()
        self._cancel_in_flight = lambda: loop.call_soon_threadsafe(lambda: [w.cancel() for w in workers])
        started.set()
        try:
            await asyncio.gather(*workers, return_exceptions=True)
        finally:
            for e in self.endpoints:
                if e.client is not None:
                    await e.client.close()
            elapsed = time.perf_counter() - start
            per_endpoint = ", ".join(
                f"{redact(e.url)}: {e.completed}" + ("" if e.alive else " (out)") for e in self.endpoints
            )
            logger.info(
                "Endpoint engine: %d tokens in %.1fs (%.1f tok/s); per endpoint %s",
                tokens,
                elapsed,
                tokens / max(elapsed, 1e-9),
                per_endpoint,
            )
            results.put(_Finished(fatal[0] if fatal else None))


@dataclass
class _Finished:
    error: BaseException | None


def _hint(status: int | None) -> str:
    if status in (401, 403):
        return " Check the token in SSD_HF_ENDPOINT_TOKEN or HF_TOKEN."
    if status == 404:
        return " Check the URL and --endpoint_protocol (tgi: /generate, openai: /v1/chat/completions)."
    if status in (400, 422):
        return " The server rejected a decoding parameter; check temperature, top_k, top_p and max_new_tokens against what it supports."
    return ""


def _probe_prompt():
    from ..prompts import PromptItem

    return PromptItem(prompt_id="probe", source_id="probe", messages=[{"role": "user", "content": "Say hi."}])


_PROBE_PROMPT = _probe_prompt()
