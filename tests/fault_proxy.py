"""A fault-injecting HTTP proxy for tests: sits in front of a real server on 127.0.0.1.

Each proxied POST is, with probability `fault_rate`, turned into one of the faults inference
servers really show: a dropped connection, a 429, a 503, or a stall (no answer for `slow_s` seconds,
past the client's timeout, then a closed connection). None of them reaches the server, so a fault costs
the server nothing: the tests' `transformers serve` generates one request at a time, and abandoned
work queued on it would make later requests time out too.
GETs (health, /info, /v1/models) pass through untouched unless `fault_gets` is set. The proxy counts
what it did, remembers the Authorization headers it saw, and can add a fixed delay to every POST
(`delay_s`) so a test can kill a sampler mid-run.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

FAULTS = ("drop", "429", "503", "slow")


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        fault_rate: float = 0.0,
        faults: tuple[str, ...] = FAULTS,
        seed: int = 0,
        slow_s: float = 3.0,
        delay_s: float = 0.0,
        fault_gets: bool = False,
        reject_status: int | None = None,
        reject_after: int | None = None,
    ):
        parts = urlsplit(upstream)
        self.upstream_host, self.upstream_port = parts.hostname, parts.port
        self.fault_rate, self.faults, self.slow_s, self.delay_s = fault_rate, faults, slow_s, delay_s
        self.fault_gets, self.reject_status = fault_gets, reject_status
        self.reject_after = reject_after  # with reject_status: reject only once this many POSTs went through
        self.rng = random.Random(seed)
        self.dead = False
        self.lock = threading.Lock()
        self.counts: Counter = Counter()
        self.auth_headers: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> FaultProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        if not self.dead:
            self.server.shutdown()
            self.server.server_close()

    def kill(self) -> None:
        """Die like a crashed server: refuse new connections, drop the kept-alive ones."""
        self.dead = True
        self.server.shutdown()
        self.server.server_close()

    def _choose(self, method: str) -> str:
        with self.lock:
            if method == "GET" and not self.fault_gets:
                return "pass"
            if self.rng.random() < self.fault_rate:
                return self.rng.choice(self.faults)
            return "pass"

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                self._proxy("GET")

            def do_POST(self):
                self._proxy("POST")

            def _reply(self, status: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {"Content-Type": "application/json"}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _proxy(self, method: str) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if proxy.dead:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                with proxy.lock:
                    if self.headers.get("Authorization"):
                        proxy.auth_headers.append(self.headers["Authorization"])
                passed = proxy.counts["forwarded_POST"]
                if method == "POST" and proxy.reject_status and passed >= (proxy.reject_after or 0):
                    proxy.counts["rejected"] += 1
                    return self._reply(proxy.reject_status, b'{"error": "unsupported parameter: top_k"}')
                fault = proxy._choose(method)
                with proxy.lock:
                    proxy.counts[fault] += 1
                if fault == "drop":
                    self.close_connection = True
                    self.connection.shutdown(2)  # no response at all
                    return
                if fault in ("429", "503"):
                    return self._reply(int(fault), b'{"error": "injected fault"}')
                if fault == "slow":
                    time.sleep(proxy.slow_s)
                    self.close_connection = True
                    return
                if method == "POST" and proxy.delay_s:
                    time.sleep(proxy.delay_s)
                upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port, timeout=600)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")
                }
                try:
                    upstream.request(method, self.path, body=body or None, headers=headers)
                    response = upstream.getresponse()
                    payload = response.read()
                except OSError:
                    return self._reply(502, b'{"error": "upstream unreachable"}')
                finally:
                    upstream.close()
                with proxy.lock:
                    proxy.counts[f"upstream_{response.status}"] += 1
                    proxy.counts[f"forwarded_{method}"] += 1
                    if (
                        method == "POST"
                        and response.status == 200
                        and json.loads(body).get("max_tokens") != 1
                    ):
                        proxy.counts["samples"] += 1  # a generation that is not a one-token probe
                content_type = response.getheader("Content-Type", "application/json")
                try:
                    self._reply(response.status, payload, {"Content-Type": content_type})
                except OSError:  # the client gave up (timeout) while we were slow
                    pass

        return Handler
