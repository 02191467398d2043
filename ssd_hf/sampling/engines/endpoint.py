"""Endpoint engine: sample from inference servers over HTTP (TGI, vLLM, SGLang, `transformers serve`).

Large models are served, not loaded into the training process (TRL's "server" mode). This engine sends
one request per sample through `huggingface_hub.AsyncInferenceClient`, keeps `concurrency` requests in
flight spread over one or more servers, and hands samples back as they finish so the store can write them.

Two protocols:
- `tgi`: TGI's `POST /generate`. The chat template is applied here, so the server sees exactly the token
  sequence the native engine would, and every decoding field (top-k included) is native to it; the
  generated token ids come back in the response details (tests/test_tgi.py checks every request against
  TGI's published schema).
- `openai`: `/v1/chat/completions`. OpenAI's schema has no top-k, so top-k travels the way the server
  accepts it (see `endpoint_probe.py`). Token ids are asked for (`return_token_ids`, vLLM); servers
  that return text only have it tokenized here, and the record says so (`token_ids: retokenized`).

Faults: timeouts, dropped connections, 429 and 5xx are retried with exponential backoff and full
jitter, each retry going to the least busy live endpoint; an endpoint that refuses connections three
times running is taken out of rotation and its work goes to the others; a prompt the server finds too
long is skipped and recorded; any other 4xx stops the run with an `SSDError` after the samples already
finished have been handed back. The token (env `SSD_HF_ENDPOINT_TOKEN`, else `HF_TOKEN`) is sent as a
bearer header and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from ...errors import SSDError
from ...prompts import apply_chat_template
from ...records import SamplingParams
from ...refs import redact_url
from ..engine import TOKEN_IDS_RETOKENIZED, GeneratedSample, SampleRequest
from ..runner import SkippedSample
from .endpoint_http import (
    PermanentError,
    RetriableError,
    backoff_delay,
    classify,
    endpoint_token,
    hint,
    server_client_class,
)
from .endpoint_probe import Endpoint, prepare, split_model_revision

logger = logging.getLogger(__name__)

DEAD_AFTER_CONNECT_FAILURES = 3
CONNECT_RETRY_S = 0.1


# TGI's schema wants seed > 0; per-sample seeds lie in [0, 2**31 - 2], so this one stands for 0 alone.
TGI_SEED_FOR_ZERO = 2**31 - 1


def tgi_inputs(tokenizer, prompt_ids: list[int]) -> str:
    """The `inputs` text for TGI's /generate, which tokenizes it with the tokenizer's special tokens added: a
    chat template that already starts with the BOS token (Llama 3) would otherwise reach the model with two."""
    bos = getattr(tokenizer, "bos_token_id", None)
    if bos is not None and prompt_ids[:1] == [bos] and tokenizer("x")["input_ids"][:1] == [bos]:
        prompt_ids = prompt_ids[1:]
    return tokenizer.decode(prompt_ids, skip_special_tokens=False)


class EndpointEngine:
    """Samples through one or more inference servers; only the main process talks to them."""

    name = "endpoint"
    data_parallel = False
    backoff_base_s = 0.5
    backoff_max_s = 30.0

    def __init__(self, model_name_or_path: str | None = None, config=None, tokenizer=None, revision: str | None = None,
                 endpoints: list[str] | None = None, probe_params: SamplingParams | None = None):
        urls = endpoints or (config.endpoint if config is not None else None)
        if not urls:
            raise SSDError("--engine endpoint needs at least one server: pass --endpoint http://HOST:PORT.")
        self.requested_model = model_name_or_path
        self.protocol = getattr(config, "endpoint_protocol", "auto")
        self.concurrency = getattr(config, "concurrency", 64)
        self.timeout = float(getattr(config, "request_timeout", 600.0))
        self.max_retries = int(getattr(config, "max_retries", 8))
        self.use_chat_template = True if config is None else config.use_chat_template
        self.revision = revision if revision not in ("", "main") else None
        self._tokenizer, self._tokenizer_failed = tokenizer, False
        self.token = endpoint_token()
        self.endpoints = [Endpoint(url=u.rstrip("/")) for u in urls]
        self.model_id, self.model_revision = model_name_or_path or "", self.revision or ""
        probe_params = probe_params or (config.sampling_params() if config is not None else None)
        self._run_async(prepare(self, probe_params))

    def close(self) -> None:
        """Nothing held between runs: each `generate` opens and closes its own clients."""

    # ----- sync bridge -----

    def _run_async(self, coroutine):
        """Run a coroutine to completion on a private event loop (callers may already have one)."""
        result: dict = {}

        def target():
            try:
                result["value"] = asyncio.run(coroutine)
            except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
                result["error"] = error

        thread = threading.Thread(target=target, name="ssd-endpoint-setup", daemon=True)
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]
        return result.get("value")

    def new_client(self, url: str):
        return server_client_class()(base_url=url, token=self.token, timeout=self.timeout)

    def backoff(self, attempt: int) -> float:
        return backoff_delay(attempt, self.backoff_base_s, self.backoff_max_s)

    # ----- one request, retried -----

    async def send_with_retries(self, endpoint: Endpoint | None, request: SampleRequest, params: SamplingParams,
                                fixed: bool = False) -> GeneratedSample:
        """One sample, retried with backoff; each retry goes to the least busy live endpoint unless `fixed`.

        Written out rather than with tenacity: a retry picks its server anew, and refused connections
        (cheap, telling) retire a server without using up the request's retries.
        """
        attempt, kinds = 0, Counter()
        while True:
            target = endpoint if fixed else self._pick()
            target.in_flight += 1
            try:
                sample = await self._send(target, request, params)
                target.connect_failures = 0
                target.completed += 1
                return sample
            except Exception as error:  # noqa: BLE001 - classified
                failure = classify(error, redact_url(target.url))
                if not isinstance(failure, RetriableError):
                    raise failure from None
                target.last_error = str(failure)
                if failure.connect and self._refused(target, failure, fixed):
                    await asyncio.sleep(CONNECT_RETRY_S * target.connect_failures)
                    continue
                attempt += 1
                kinds[failure.kind] += 1
                if attempt > self.max_retries:
                    raise SSDError(self._exhausted_message(attempt, kinds, failure)) from None
                delay = self.backoff(attempt)
                logger.debug("Retrying %s in %.2fs after: %s", request.key, delay, failure)
                await asyncio.sleep(delay)
            finally:
                target.in_flight -= 1

    def _refused(self, target: Endpoint, failure: RetriableError, fixed: bool) -> bool:
        """Count a refused connection; True when the request should go straight to another live endpoint."""
        target.connect_failures += 1
        if target.connect_failures >= DEAD_AFTER_CONNECT_FAILURES and target.alive:
            target.alive = False
            left = sum(e.alive for e in self.endpoints)
            logger.warning("Taking %s out of rotation (%s); %d endpoint(s) left.", redact_url(target.url), failure, left)
        if fixed and not target.alive:
            raise failure
        return not fixed and any(e.alive for e in self.endpoints)

    def _exhausted_message(self, attempts: int, kinds: Counter, last: Exception) -> str:
        """One line naming what mostly went wrong, since the cure differs: timeouts vs an overloaded server."""
        tally = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
        main = kinds.most_common(1)[0][0]
        if main == "timeouts":
            advice = (f"answers take longer than --request_timeout ({self.timeout:g} s): raise it, or lower --concurrency "
                      "if the server queues requests")
        elif main in ("HTTP 429", "HTTP 503"):
            advice = "the server is overloaded or still loading: lower --concurrency or raise --max_retries"
        else:
            advice = "check the server, or raise --max_retries"
        return f"a request failed {attempts} times, mostly {main} ({tally}; last: {last}); {advice}; rerun the same command to resume."

    def _pick(self) -> Endpoint:
        live = [e for e in self.endpoints if e.alive]
        if not live:
            reasons = "; ".join(f"{redact_url(e.url)}: {e.last_error}" for e in self.endpoints)
            raise SSDError(f"every endpoint is out of rotation ({reasons}); restart the servers and rerun to resume.")
        low = min(e.in_flight for e in live)
        return random.choice([e for e in live if e.in_flight == low])

    async def _send(self, endpoint: Endpoint, request: SampleRequest, params: SamplingParams) -> GeneratedSample:
        if endpoint.protocol == "tgi":
            return await self._send_tgi(endpoint, request, params)
        return await self._send_openai(endpoint, request, params)

    # ----- the two protocols -----

    def _openai_extra(self, endpoint: Endpoint, params: SamplingParams) -> dict:
        if endpoint.top_k_style == "field":
            extra = {"top_k": params.top_k}
        else:  # transformers serve: the whole decoder as a GenerationConfig JSON, top-k included
            extra = {"generation_config": json.dumps({
                "do_sample": True, "temperature": params.temperature, "top_k": params.top_k, "top_p": params.top_p,
                "max_new_tokens": params.max_new_tokens})}
        if endpoint.ask_token_ids:
            extra["return_token_ids"] = True
        return extra

    async def _send_openai(self, endpoint: Endpoint, request: SampleRequest, params: SamplingParams) -> GeneratedSample:
        output = await endpoint.client.chat_completion(
            messages=request.prompt.messages, model=endpoint.served_name, max_tokens=params.max_new_tokens,
            temperature=params.temperature, top_p=params.top_p, seed=request.seed,
            extra_body=self._openai_extra(endpoint, params),
        )
        choice, usage = output.choices[0], output.usage
        model_id, model_revision = split_model_revision(output.model)
        sample = GeneratedSample(
            request=request, completion=choice.message.content or "",
            finish_reason="length" if choice.finish_reason == "length" else "stop",
            prompt_tokens=int(usage.prompt_tokens) if usage else 0,
            completion_tokens=int(usage.completion_tokens) if usage else 0,
            prompt_token_ids=output.get("prompt_token_ids"), completion_token_ids=choice.get("token_ids"),
            # After the probe the endpoint holds the normalised provenance; the probe itself learns it from here.
            model_id=endpoint.model_id or model_id, model_revision=endpoint.model_revision or model_revision,
        )
        if sample.completion_token_ids is None or sample.prompt_token_ids is None:
            self._retokenize(sample, endpoint)
        return sample

    def _retokenize(self, sample: GeneratedSample, endpoint: Endpoint) -> None:
        """Token ids for a text-only answer: our tokenizer's reading of prompt and completion, marked as such."""
        tokenizer = self._load_tokenizer(endpoint.model_id, required=False)
        if tokenizer is None:
            sample.prompt_token_ids = sample.completion_token_ids = sample.token_ids = None
            return
        sample.prompt_token_ids = apply_chat_template(tokenizer, sample.request.prompt.messages, self.use_chat_template)
        ids = tokenizer(sample.completion, add_special_tokens=False)["input_ids"]
        if sample.finish_reason == "stop" and tokenizer.eos_token_id is not None:
            ids = [*ids, tokenizer.eos_token_id]
        sample.completion_token_ids, sample.token_ids = ids, TOKEN_IDS_RETOKENIZED

    async def _send_tgi(self, endpoint: Endpoint, request: SampleRequest, params: SamplingParams) -> GeneratedSample:
        tokenizer = self._load_tokenizer(endpoint.model_id)
        prompt_ids = apply_chat_template(tokenizer, request.prompt.messages, self.use_chat_template)
        stop = [tokenizer.eos_token] if getattr(tokenizer, "eos_token", None) else None
        output = await endpoint.client.text_generation(
            tgi_inputs(tokenizer, prompt_ids), model=f"{endpoint.url}/generate", details=True,
            decoder_input_details=True, do_sample=True, temperature=params.temperature,
            top_k=params.top_k or None,  # TGI: absent means no top-k truncation
            top_p=params.top_p if params.top_p < 1 else None,  # TGI requires top_p < 1; absent means none
            seed=request.seed or TGI_SEED_FOR_ZERO, max_new_tokens=params.max_new_tokens, stop=stop,
            return_full_text=False,
        )
        text, details = output.generated_text, output.details
        if stop and text.endswith(stop[0]):
            text = text[: -len(stop[0])]
        prefill = [token.id for token in details.prefill or []]
        return GeneratedSample(
            request=request, completion=text, finish_reason="length" if details.finish_reason == "length" else "stop",
            prompt_tokens=len(prefill or prompt_ids), completion_tokens=int(details.generated_tokens),
            prompt_token_ids=prefill or prompt_ids, completion_token_ids=[token.id for token in details.tokens or []],
            model_id=endpoint.model_id, model_revision=endpoint.model_revision,
        )

    def _load_tokenizer(self, served_model: str | None, required: bool = True):
        if self._tokenizer is None and not self._tokenizer_failed:
            from transformers import AutoTokenizer

            source = self.requested_model or served_model
            try:
                self._tokenizer = AutoTokenizer.from_pretrained(source, revision=self.revision)
            except (OSError, ValueError) as error:
                self._tokenizer_failed = True
                if required:
                    raise SSDError(
                        f"the tgi protocol renders the chat template here and needs the tokenizer of {source}, which could "
                        f"not be loaded ({str(error).splitlines()[0]}); pass --model_name_or_path with a local copy."
                    ) from None
                logger.warning("No tokenizer for %s here: samples from this text-only server carry no token ids, and "
                               "training renders them through the chat template.", source)
        return self._tokenizer

    # ----- the engine contract -----

    def generate(self, requests: list[SampleRequest], params: SamplingParams) -> Iterator[GeneratedSample | SkippedSample]:
        """Yield samples as servers finish them; on a fatal error, yield what finished, then raise."""
        if not requests:
            return
        results: queue.Queue = queue.Queue()
        stop, started = threading.Event(), threading.Event()

        def run() -> None:
            try:
                asyncio.run(self._produce(requests, params, results, stop, started))
            except BaseException as error:  # noqa: BLE001 - anything before the workers started goes to the consumer
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

    async def _produce(self, requests, params, results: queue.Queue, stop: threading.Event, started: threading.Event):
        todo: asyncio.Queue = asyncio.Queue()
        for request in requests:
            todo.put_nowait(request)
        for e in self.endpoints:  # clients are bound to the loop that made them
            e.client, e.completed = (self.new_client(e.url) if e.alive else None), 0
        fatal: list[BaseException] = []
        start, tokens = time.perf_counter(), [0]

        async def worker() -> None:
            while not stop.is_set() and not fatal:
                try:
                    request = todo.get_nowait()
                except asyncio.QueueEmpty:
                    return
                item = await self._one(request, params, fatal)
                if item is not None:
                    tokens[0] += getattr(item, "completion_tokens", 0)
                    results.put(item)

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
            per_endpoint = ", ".join(f"{redact_url(e.url)}: {e.completed}" + ("" if e.alive else " (out)")
                                     for e in self.endpoints)
            logger.info("Endpoint engine: %d tokens in %.1fs (%.1f tok/s); per endpoint %s", tokens[0], elapsed,
                        tokens[0] / max(elapsed, 1e-9), per_endpoint)
            results.put(_Finished(fatal[0] if fatal else None))

    async def _one(self, request: SampleRequest, params: SamplingParams, fatal: list):
        """One request's outcome: a sample, a skip (prompt too long), or None with the run's error recorded."""
        try:
            return await self.send_with_retries(None, request, params)
        except PermanentError as error:
            if error.prompt_too_long:
                return SkippedSample(request, f"prompt_too_long: {error}"[:300])
            fatal.append(SSDError(f"{error}{hint(error.status)} Samples finished so far are kept; rerun to resume."))
        except Exception as error:  # noqa: BLE001 - SSDError, a bug or an unexpected answer: stop, keep what is done
            fatal.append(error)
        return None


@dataclass
class _Finished:
    error: BaseException | None
