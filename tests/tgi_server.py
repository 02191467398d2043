"""A small server on 127.0.0.1 that speaks TGI's `/generate` as its OpenAPI document describes it (tests/tgi_schema.py).

Every POST is checked against the request schema; a request that breaks it is recorded and answered as TGI answers
a bad parameter (422, error_type "validation"). A valid one is tokenized as TGI does (the tokenizer's special
tokens added), and answered with seeded random tokens of the model's vocabulary ending the way the seed picks:
`length` (max_new_tokens tokens), `eos_token` (the EOS id last) or `stop_sequence` (the first stop string's tokens
last, its text in generated_text). Every answer is checked against the response schema before it is sent. `script`
lists statuses (422, 424, 429, 500) to answer the POSTs after the probe with, in TGI's error form, and a prompt longer than
`max_total_tokens` allows gets TGI's 422 for it.
"""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tgi_schema import ERRORS, FINISH_REASONS, check_response, request_errors

ERROR_TEXT = {422: "Input validation error: `top_k` must be strictly positive", 424: "Request failed during generation",
              429: "Model is overloaded", 500: "Incomplete generation"}


@dataclass
class Issued:
    """What the server drew for one request: the ids the model saw and generated, and why it stopped."""

    prompt_ids: list[int]
    token_ids: list[int]
    finish_reason: str


class TGIServer:
    def __init__(self, tokenizer_path: str, model_id: str = "org/tiny-tgi", model_sha: str = "0123456789abcdef",
                 max_total_tokens: int = 4096):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)
        special = set(self.tokenizer.all_special_ids)
        self.vocab = [i for i in range(len(self.tokenizer)) if i not in special]
        self.info = {"model_id": model_id, "model_sha": model_sha, "model_dtype": "torch.float16",
                     "max_total_tokens": max_total_tokens, "version": "3.3.6"}
        self.max_total_tokens = max_total_tokens
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # every POST body, in arrival order
        self.violations: list[tuple[dict, list[str]]] = []
        self.answered: Counter = Counter()  # status -> count
        self.issued: dict[int, Issued] = {}  # by the request's seed
        self.script: list[int] = []  # statuses for the next POSTs once `script_after` POSTs were served
        self.script_after = 1  # the engine's probe
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> TGIServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, body) -> tuple[int, dict]:
        """(status, JSON body) for one POST /generate."""
        with self.lock:
            self.requests.append(body)
            errors = request_errors(body)
            if errors:
                self.violations.append((body, errors))
                return 422, {"error": f"Input validation error: {errors[0]}", "error_type": "validation"}
            if self.script and len(self.requests) > self.script_after:
                status = self.script.pop(0)
                return status, {"error": ERROR_TEXT[status], "error_type": ERRORS[status]}
            return self._generate(body["inputs"], body.get("parameters") or {})

    def _generate(self, inputs: str, params: dict) -> tuple[int, dict]:
        tok = self.tokenizer
        prompt_ids = tok(inputs)["input_ids"]  # TGI's /generate adds the tokenizer's special tokens
        max_new = params.get("max_new_tokens") or 20
        if len(prompt_ids) + max_new > self.max_total_tokens:
            return 422, {"error": f"Input validation error: `inputs` tokens + `max_new_tokens` must be <= "
                                  f"{self.max_total_tokens}. Given: {len(prompt_ids)} `inputs` tokens and {max_new} "
                                  "`max_new_tokens`", "error_type": "validation"}
        seed = params.get("seed") or 1
        rng = random.Random(seed)
        stop = (params.get("stop") or [None])[0]
        ending = FINISH_REASONS[seed % 3] if max_new > 1 else "length"
        if ending == "stop_sequence" and not stop:
            ending = "eos_token"
        end_ids = {"length": [], "eos_token": [tok.eos_token_id],
                   "stop_sequence": tok(stop, add_special_tokens=False)["input_ids"] if stop else []}[ending]
        drawn = [rng.choice(self.vocab) for _ in range(max_new if ending == "length" else rng.randint(0, max_new - len(end_ids)))]
        ids = drawn + end_ids
        text = tok.decode(drawn, skip_special_tokens=True) + (stop if ending == "stop_sequence" else "")
        special = set(tok.all_special_ids)
        tokens = [{"id": i, "text": tok.decode([i]), "logprob": -rng.random(), "special": i in special} for i in ids]
        prefill = [{"id": i, "text": tok.decode([i]), "logprob": None if n == 0 else -rng.random()}
                   for n, i in enumerate(prompt_ids)] if params.get("decoder_input_details") else []
        details = {"finish_reason": ending, "generated_tokens": len(ids), "seed": seed, "prefill": prefill,
                   "tokens": tokens}
        self.issued[seed] = Issued(prompt_ids, ids, ending)
        full = inputs + text if params.get("return_full_text") else text
        return 200, {"generated_text": full, "details": details if params.get("details") else None}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _reply(self, status: int, payload) -> None:
                if self.command == "POST" and (status == 200 or status in ERRORS):
                    check_response(payload, status)  # the server never says what TGI could not
                    with server.lock:
                        server.answered[status] += 1
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path == "/info":
                    return self._reply(200, server.info)
                if self.path == "/health":
                    return self._reply(200, {})
                return self._reply(404, {"error": "not found", "error_type": "not_found"})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if self.path != "/generate":
                    return self._reply(404, {"error": f"no route {self.path}", "error_type": "not_found"})
                try:
                    body = json.loads(raw)
                except ValueError:
                    return self._reply(422, {"error": "Input validation error: body is not JSON", "error_type": "validation"})
                self._reply(*server.answer(body))

        return Handler
