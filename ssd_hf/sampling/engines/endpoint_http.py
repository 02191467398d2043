"""HTTP for the endpoint engine: the client, the token, and what a failed request means.

Every failure becomes a `RetriableError` (timeouts, dropped connections, 429, TGI's 424 and 5xx: worth
another try, maybe on another server) or a `PermanentError` (a bad parameter, a wrong token, an unknown
route: stop and say so). Nothing here ever puts the token in a message.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re

from ...refs import redact_url

TOKEN_ENV_VARS = ("SSD_HF_ENDPOINT_TOKEN", "HF_TOKEN")
BACKOFF_BASE_S = 0.5
BACKOFF_MAX_S = 30.0
# The phrases servers use when a prompt does not fit the model's context (vLLM, TGI, SGLang, transformers serve).
TOO_LONG_PHRASES = ("maximum context length", "max_model_len", "maximum model length", "too long", "input validation error: `inputs` tokens")


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
                    event_hooks={"response": [read_error_body]}, follow_redirects=True, timeout=None,
                    limits=httpx2.Limits(max_connections=None, max_keepalive_connections=64),
                )
                self._async_client = await self.exit_stack.enter_async_context(session)
            return self._async_client

    return ServerInferenceClient


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

    @property
    def prompt_too_long(self) -> bool:
        """The server refused this one prompt for its length: skip it, the run goes on."""
        return self.status in (400, 413, 422) and any(p in self.body.lower() for p in TOO_LONG_PHRASES)


def classify(error: BaseException, url: str) -> Exception:
    """Turn a client exception into RetriableError or PermanentError (never containing the token)."""
    import httpx2
    from huggingface_hub.errors import HfHubHTTPError, InferenceTimeoutError, TextGenerationError

    if isinstance(error, (RetriableError, PermanentError)):
        return error
    cause = error.__cause__  # the hub client turns TGI's error answers into TextGenerationError from the HTTP error
    if isinstance(error, TextGenerationError) and isinstance(cause, HfHubHTTPError) and cause.response is not None:
        return _classify_status(cause.response, url)
    if isinstance(error, InferenceTimeoutError):
        connect = isinstance(error.__cause__, (httpx2.ConnectTimeout, httpx2.PoolTimeout))
        return RetriableError(f"{url}: timed out", connect=connect, kind="timeouts")
    if isinstance(error, httpx2.ConnectError):
        return RetriableError(f"{url}: connection refused or host unreachable", connect=True, kind="refused connections")
    if isinstance(error, (httpx2.TimeoutException, asyncio.TimeoutError)):
        return RetriableError(f"{url}: timed out ({type(error).__name__})", kind="timeouts")
    if isinstance(error, (httpx2.TransportError, json.JSONDecodeError)):
        return RetriableError(f"{url}: {type(error).__name__}: {error}", kind="dropped connections")
    if isinstance(error, HfHubHTTPError) and error.response is not None:
        return _classify_status(error.response, url)
    if isinstance(error, (KeyError, IndexError, TypeError, ValueError)):  # a malformed answer
        return RetriableError(f"{url}: malformed response ({type(error).__name__}: {error})", kind="malformed responses")
    return error if isinstance(error, Exception) else RuntimeError(str(error))


NOT_SERVED = (501, 505)  # "not implemented": no retry makes a server that is not an inference server one


def _classify_status(response, url: str) -> Exception:
    status = response.status_code
    try:
        body = response.text[:500]
    except Exception:  # noqa: BLE001 - a streamed body that was not read
        body = ""
    if status in (408, 424, 425, 429) or status >= 500 and status not in NOT_SERVED:  # 424: TGI's "Request failed during generation"
        return RetriableError(f"{url}: HTTP {status}", kind=f"HTTP {status}")
    return PermanentError(f"{url} answered HTTP {status}: {short_reason(body)}", status=status, body=body)


def short_reason(text: str) -> str:
    """The server's reason from an error body: FastAPI/vLLM/TGI put it under "detail", "error" or "message"."""
    text = " ".join(text.split())
    if text.startswith("<"):  # an HTML error page: its words, not its markup
        text = " ".join(re.sub(r"<(title|head|style)>.*?</\1>|<[^>]+>", " ", text).split())
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            inner = data.get("detail") or data.get("error") or data.get("message") or text
            if isinstance(inner, dict):
                inner = inner.get("message") or inner
            text = str(inner)
    except ValueError:
        pass
    return text[:200] or "(empty body)"


def hint(status: int | None) -> str:
    """What to check for a permanent failure, by status."""
    if status in (401, 403):
        return " Check the token in SSD_HF_ENDPOINT_TOKEN or HF_TOKEN."
    if status == 404:
        return " Check the URL and --endpoint_protocol (tgi: /generate, openai: /v1/chat/completions)."
    if status in NOT_SERVED:
        return (" It does not serve this route: check that --endpoint is an inference server (TGI, vLLM, SGLang, "
                "`transformers serve`) and --endpoint_protocol.")
    if status in (400, 422):
        return " The server rejected a decoding parameter; check temperature, top_k, top_p and max_new_tokens against what it supports."
    return ""


async def get_json(url: str, path: str, token: str | None, timeout: float, max_retries: int, backoff) -> dict | list | None:
    """GET a small JSON document, retrying what is worth retrying; None when the server lacks that route.

    Refused connections are retried at most twice (a server that is down should leave the probe fast).
    """
    import httpx2
    from tenacity import AsyncRetrying, RetryError, retry_if_exception, stop_after_attempt

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    where = f"{redact_url(url)}{path}"

    def worth_retrying(error: BaseException) -> bool:
        return isinstance(error, RetriableError)

    def stop(state) -> bool:
        error = state.outcome.exception()
        return stop_after_attempt(max_retries + 1)(state) or (isinstance(error, RetriableError) and error.connect
                                                               and state.attempt_number >= 3)

    async def attempt():
        try:
            async with httpx2.AsyncClient(timeout=min(timeout, 30.0)) as http:
                response = await http.get(f"{url}{path}", headers=headers)
        except Exception as error:  # noqa: BLE001 - classified
            raise classify(error, redact_url(url)) from None
        if response.status_code in (401, 403):
            raise PermanentError(f"{redact_url(url)} answered HTTP {response.status_code}", status=response.status_code)
        if response.status_code in (429, 503):  # busy or still loading: worth waiting for
            raise RetriableError(f"{where}: HTTP {response.status_code}")
        if response.status_code != 200:
            return None
        try:
            return response.json()
        except ValueError:
            return None

    retrying = AsyncRetrying(retry=retry_if_exception(worth_retrying), stop=stop,
                             wait=lambda state: backoff(state.attempt_number), reraise=True)
    try:
        return await retrying(attempt)
    except RetryError as error:  # pragma: no cover - reraise=True re-raises the last error instead
        raise error.last_attempt.exception() from None
