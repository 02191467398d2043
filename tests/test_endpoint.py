"""The endpoint engine against a real `transformers serve` on 127.0.0.1, with and without injected faults."""

from __future__ import annotations

import glob
import json
import logging
import os
import signal
import subprocess
import sys
import time

import pytest
from fault_proxy import FaultProxy
from servers import chat_latency, free_port, transformers_serve, write_prompts

from ssd_hf.args import merge_repeated_list_flags
from ssd_hf.config import SSDConfig
from ssd_hf.errors import SSDError
from ssd_hf.prompts import prepare_prompts
from ssd_hf.sampling.engines import load_engine
from ssd_hf.sampling.runner import build_requests, run_sampling
from ssd_hf.sampling.store import RECORD_FIELDS

NUM_PROMPTS = 50
FAULT_PROMPTS = 40
FAULT_TOKENS = 8
KILL_PROMPTS = 30
MAX_NEW_TOKENS = 16


@pytest.fixture(scope="module")
def tserve(tiny_qwen3, tmp_path_factory):
    with transformers_serve(tiny_qwen3, str(tmp_path_factory.mktemp("hub-cache"))) as url:
        yield url


def make_config(tmp_path, endpoints, **overrides) -> SSDConfig:
    values = dict(
        output_dir=str(tmp_path / "out"),
        engine="endpoint",
        endpoint=list(endpoints),
        max_new_tokens=MAX_NEW_TOKENS,
        concurrency=8,
        report_to="none",
        sampling_batch_size=8,
    )
    values.update(overrides)
    return SSDConfig(**values)


def prompt_items(config, count=NUM_PROMPTS):
    return prepare_prompts(
        [{"question": f"Read n and print n + {i}."} for i in range(count)], config.prompt_options()
    )


def sample_with(config, model, prompts, samples_dir):
    engine = load_engine("endpoint", model_name_or_path=model, config=config)
    return engine, run_sampling(
        prompts,
        engine,
        config.sampling_params(),
        config.prompt_options(),
        samples_dir,
        shard_size=config.sampling_batch_size,
    )


def shard_keys(samples_dir) -> list[tuple[str, int]]:
    """Every record written to the store's shards, duplicates included."""
    keys = []
    for path in glob.glob(os.path.join(samples_dir, ".store", "shards", "*", "*.jsonl")):
        with open(path) as shard:
            keys += [(r["prompt_id"], r["sample_index"]) for r in map(json.loads, shard)]
    return keys


def assert_valid(dataset, prompts, model, max_new_tokens=MAX_NEW_TOKENS):
    assert dataset.num_rows == len(prompts)
    assert set(RECORD_FIELDS) <= set(dataset.column_names)
    assert {r["prompt_id"] for r in dataset} == {p.prompt_id for p in prompts}
    for record in dataset:
        assert record["engine"] == "endpoint"
        assert record["model_id"] == model
        assert record["finish_reason"] in ("stop", "length")
        assert 0 < record["completion_tokens"] <= max_new_tokens
        assert record["prompt_tokens"] > 0
        assert (record["temperature"], record["top_k"], record["top_p"]) == (1.6, 20, 0.8)


def test_transformers_serve_50_prompts(tserve, tiny_qwen3, tmp_path):
    config = make_config(tmp_path, [tserve])
    prompts = prompt_items(config)
    engine, dataset = sample_with(config, tiny_qwen3, prompts, str(tmp_path / "samples"))
    # transformers serve has no top_k field: the engine found it takes the decoder as generation_config.
    assert [e.top_k_style for e in engine.endpoints] == ["generation_config"]
    assert_valid(dataset, prompts, tiny_qwen3)
    # The server reports FOLDER@main; a folder is recorded as "local", as the native engine records it.
    assert {r["model_revision"] for r in dataset} == {"local"}


def test_native_and_endpoint_runs_differ_only_in_engine(tserve, tiny_qwen3, tmp_path):
    """Same model, prompts and decoding through both engines: the same provenance and sampling-config hash,
    so records differ only in the engine and in what was drawn; a store one engine started, the other resumes."""
    config = make_config(tmp_path, [tserve])
    native_config = make_config(tmp_path, [], engine="transformers")
    prompts = prompt_items(config, 6)
    native = load_engine("transformers", model_name_or_path=tiny_qwen3, config=native_config)
    params, options = config.sampling_params(), config.prompt_options()
    assert native_config.sampling_params() == params
    by_native = run_sampling(prompts[:4], native, params, options, str(tmp_path / "native"))
    _, by_endpoint = sample_with(config, tiny_qwen3, prompts[:4], str(tmp_path / "endpoint"))

    drawn = {"engine", "completion", "finish_reason", "completion_tokens", "completion_token_ids", "token_ids"}
    key = lambda r: (r["prompt_id"], r["sample_index"])  # noqa: E731
    rows_native, rows_endpoint = sorted(by_native, key=key), sorted(by_endpoint, key=key)
    assert len(rows_native) == len(rows_endpoint) == 4
    for a, b in zip(rows_native, rows_endpoint):
        assert (a["engine"], b["engine"]) == ("transformers", "endpoint")
        assert {k: v for k, v in a.items() if k not in drawn} == {k: v for k, v in b.items() if k not in drawn}
    assert rows_native[0]["model_revision"] == "local"

    # The endpoint engine resumes the native engine's store: only the two new prompts are sampled.
    _, resumed = sample_with(config, tiny_qwen3, prompts, str(tmp_path / "native"))
    assert sorted(r["engine"] for r in resumed) == ["endpoint"] * 2 + ["transformers"] * 4


def test_thirty_percent_faults_every_record_once(tserve, tiny_qwen3, tmp_path):
    """30% of requests fail (drops, 429s, 503s, stalls past the timeout); every record still lands exactly once.

    `transformers serve` generates one request at a time, so a request's latency is mostly its wait in the
    server's queue. Two in flight and a timeout of ten times what a request costs on this machine right now
    keep the injected stalls the only timeouts, however loaded the machine is.
    """
    request_timeout = min(max(3.0, 10 * chat_latency(tserve, tiny_qwen3, FAULT_TOKENS)), 30.0)
    with FaultProxy(tserve, fault_rate=0.3, seed=1, slow_s=request_timeout + 1) as proxy:
        config = make_config(
            tmp_path, [proxy.url], concurrency=2, max_new_tokens=FAULT_TOKENS,
            request_timeout=request_timeout, max_retries=12,
        )
        prompts = prompt_items(config, FAULT_PROMPTS)
        samples_dir = str(tmp_path / "samples")
        engine = load_engine("endpoint", model_name_or_path=tiny_qwen3, config=config)
        engine.backoff_max_s = 1.0  # production waits up to 30 s between tries; the test need not
        dataset = run_sampling(
            prompts, engine, config.sampling_params(), config.prompt_options(), samples_dir, shard_size=8
        )
    assert_valid(dataset, prompts, tiny_qwen3, max_new_tokens=FAULT_TOKENS)
    keys = shard_keys(samples_dir)
    assert len(keys) == len(set(keys)) == FAULT_PROMPTS
    faults = {kind: proxy.counts[kind] for kind in ("drop", "429", "503", "slow")}
    assert all(count > 0 for count in faults.values()), faults
    assert sum(faults.values()) >= 0.2 * (sum(faults.values()) + proxy.counts["pass"])


def test_exhausted_retries_name_the_main_failure(tserve, tiny_qwen3, tmp_path):
    """When a request runs out of retries, the one line says what mostly failed and what to change."""
    with FaultProxy(tserve) as proxy:
        config = make_config(tmp_path, [proxy.url], concurrency=1, request_timeout=1.0, max_retries=2)
        engine = load_engine("endpoint", model_name_or_path=tiny_qwen3, config=config)
        engine.backoff_max_s = 0.1
        requests = build_requests(prompt_items(config, 1), 1, 0)
        proxy.delay_s = 1.5  # every answer now comes after the client gave up
        with pytest.raises(SSDError) as timeouts:
            list(engine.generate(requests, config.sampling_params()))
        proxy.delay_s, proxy.reject_status = 0.0, 503
        with pytest.raises(SSDError) as overloaded:
            list(engine.generate(requests, config.sampling_params()))
    message = str(timeouts.value)
    assert "\n" not in message and "failed 3 times, mostly timeouts (3 timeouts;" in message
    assert "--request_timeout (1 s)" in message and "rerun the same command" in message
    message = str(overloaded.value)
    assert "mostly HTTP 503 (3 HTTP 503;" in message and "lower --concurrency" in message


def test_dead_endpoint_leaves_rotation_and_token_is_sent_never_logged(
    tserve, tiny_qwen3, tmp_path, monkeypatch, caplog
):
    secret = "hf_ssdtestsecret0123456789"
    monkeypatch.setenv("HF_TOKEN", secret)
    caplog.set_level(logging.DEBUG)
    a, b = FaultProxy(tserve, delay_s=0.05), FaultProxy(tserve, delay_s=0.05)
    with a, b:
        config = make_config(tmp_path, [a.url, b.url], concurrency=4)
        prompts = prompt_items(config, 20)
        engine = load_engine("endpoint", model_name_or_path=tiny_qwen3, config=config)
        samples = []
        for sample in engine.generate(build_requests(prompts, 1, 0), config.sampling_params()):
            samples.append(sample)
            if len(samples) == 6:
                a.kill()  # endpoint A dies mid-run: connections are refused from now on
    assert sorted(s.request.key for s in samples) == sorted(r.key for r in build_requests(prompts, 1, 0))
    assert [e.alive for e in engine.endpoints] == [False, True]
    assert "out of rotation" in caplog.text
    assert b.counts["pass"] > a.counts["pass"]
    assert a.auth_headers and set(a.auth_headers + b.auth_headers) == {f"Bearer {secret}"}
    assert secret not in caplog.text


def test_rejected_parameter_is_one_clear_line(tserve, tiny_qwen3, tmp_path):
    with FaultProxy(tserve, reject_status=400) as proxy:
        config = make_config(tmp_path, [proxy.url])
        with pytest.raises(SSDError) as error:
            load_engine("endpoint", model_name_or_path=tiny_qwen3, config=config)
    message = str(error.value)
    assert "\n" not in message
    assert "rejects top_k=20" in message and "unsupported parameter: top_k" in message


def test_permanent_error_mid_run_keeps_finished_samples(tserve, tiny_qwen3, tmp_path):
    samples_dir = str(tmp_path / "samples")
    # The server starts refusing a parameter after 2 probe requests and 10 samples.
    with FaultProxy(tserve, reject_status=400, reject_after=12) as proxy:
        config = make_config(tmp_path, [proxy.url], concurrency=2, sampling_batch_size=100)
        prompts = prompt_items(config, 24)
        with pytest.raises(SSDError) as error:
            sample_with(config, tiny_qwen3, prompts, samples_dir)
        assert (
            "\n" not in str(error.value)
            and "HTTP 400" in str(error.value)
            and "rerun to resume" in str(error.value)
        )
        kept = shard_keys(samples_dir)
        assert len(kept) >= 10  # written although the shard was not full when the error came
        proxy.reject_status = None
        _, dataset = sample_with(config, tiny_qwen3, prompts, samples_dir)
    assert dataset.num_rows == 24
    keys = shard_keys(samples_dir)
    assert len(keys) == len(set(keys)) == 24


def run_cli(args, **kwargs) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return subprocess.Popen(
        [sys.executable, "-m", "ssd_hf.cli", "sample", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


def test_unreachable_endpoint_is_one_clear_line(tiny_qwen3, tmp_path):
    pool = write_prompts(str(tmp_path / "prompts.jsonl"), 3)
    dead = f"http://127.0.0.1:{free_port()}"
    process = run_cli(
        [
            "--engine",
            "endpoint",
            "--endpoint",
            dead,
            "--model_name_or_path",
            tiny_qwen3,
            "--dataset_name",
            pool,
            "--output_dir",
            str(tmp_path / "out"),
            "--report_to",
            "none",
            "--max_retries",
            "1",
        ]
    )
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 2, stderr
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and stderr.rstrip().endswith(errors[0]) and "Traceback" not in stderr, stderr
    assert "no endpoint is reachable" in errors[0] and dead in errors[0] and "start the server" in errors[0]


def test_kill_mid_run_then_resume_without_loss_or_duplicates(tserve, tiny_qwen3, tmp_path):
    pool = write_prompts(str(tmp_path / "prompts.jsonl"), KILL_PROMPTS)
    samples_dir = str(tmp_path / "samples")
    with FaultProxy(tserve, delay_s=0.1) as proxy:
        args = [
            "--engine",
            "endpoint",
            "--endpoint",
            proxy.url,
            "--endpoint",
            proxy.url,
            "--concurrency",
            "2",
            "--sampling_batch_size",
            "4",
            "--model_name_or_path",
            tiny_qwen3,
            "--dataset_name",
            pool,
            "--output_dir",
            str(tmp_path / "out"),
            "--samples_dir",
            samples_dir,
            "--report_to",
            "none",
            "--max_new_tokens",
            str(MAX_NEW_TOKENS),
        ]
        first = run_cli(args, start_new_session=True)
        deadline = time.time() + 120
        while len(shard_keys(samples_dir)) < 8 and time.time() < deadline and first.poll() is None:
            time.sleep(0.2)
        os.killpg(first.pid, signal.SIGKILL)
        first.communicate()
        done_before = len(shard_keys(samples_dir))
        assert 8 <= done_before < KILL_PROMPTS
        time.sleep(2)  # requests the killed sampler left in flight still reach the server: count them first
        samples_before = proxy.counts["samples"]
        second = run_cli(args)
        _, stderr = second.communicate(timeout=180)
        assert second.returncode == 0, stderr
    keys = shard_keys(samples_dir)
    assert len(keys) == len(set(keys)) == KILL_PROMPTS
    # The rerun generated only what was missing (plus, at most, the killed run's last requests landing late).
    assert (
        KILL_PROMPTS - done_before <= proxy.counts["samples"] - samples_before <= KILL_PROMPTS - done_before + 2
    )


def test_repeated_endpoint_flags_merge():
    argv = [
        "--engine",
        "endpoint",
        "--endpoint",
        "http://a:1",
        "--concurrency",
        "4",
        "--endpoint=http://b:2",
        "--x",
        "y",
    ]
    assert merge_repeated_list_flags(argv) == [
        "--engine",
        "endpoint",
        "--endpoint",
        "http://a:1",
        "http://b:2",
        "--concurrency",
        "4",
        "--x",
        "y",
    ]


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"endpoint": None}, "needs at least one server"),
        ({"endpoint": ["tgi-0:8080"]}, r"not an http\(s\) URL"),
        ({"endpoint_protocol": "grpc"}, "endpoint_protocol"),
        ({"concurrency": 0}, "concurrency"),
    ],
)
def test_config_rejects_bad_endpoint_settings(tmp_path, overrides, needle):
    with pytest.raises(SSDError, match=needle):
        make_config(tmp_path, ["http://127.0.0.1:1"], **overrides)
