"""Two nodes of one launch, simulated on 127.0.0.1: `accelerate launch --num_machines 2 --machine_rank R`, one
process per node, each started in its own working folder (its "local disk"), with or without a shared folder.

Sampling survives a node killed mid-way (the other stops with one line naming it; a rerun of both draws only
what is missing), `ssd-hf run` then samples, trains and evaluates, and an input only one node has is one line
at start. One CPU thread per process; the tiny Qwen3, a few prompts, a few tokens, one or two steps.
"""

from __future__ import annotations

import glob
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = os.path.join(ROOT, "ssd_hf", "data", "demo_prompts.jsonl")
PROMPT_COUNT, SAMPLES_PER_PROMPT = 6, 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_nodes(folders, argv: list[str], port: int) -> list[subprocess.Popen]:
    """One `accelerate launch` per node, each in its own folder and session (so a node can be killed whole)."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": ROOT,
           "SSD_HF_PEER_TIMEOUT": "8", "TOKENIZERS_PARALLELISM": "false"}
    return [subprocess.Popen(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_machines", "2", "--machine_rank",
         str(rank), "--num_processes", "2", "--main_process_ip", "127.0.0.1", "--main_process_port", str(port),
         "--mixed_precision", "no", "--dynamo_backend", "no", "-m", "ssd_hf.cli", *argv],
        cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
        for rank, folder in enumerate(folders)]


def kill_node(node: subprocess.Popen) -> None:
    """SIGKILL a node's launcher and its workers (torchrun starts each worker in a session of its own)."""
    children: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.split("/")[2]))
    todo, tree = [node.pid], []
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo += children.get(pid, [])
    for pid in reversed(tree):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def finish(nodes: list[subprocess.Popen], timeout: float = 300) -> list[tuple[int, str]]:
    results = []
    for node in nodes:
        try:
            out, err = node.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_node(node)
            out, err = node.communicate()
            raise AssertionError(f"a node hung:\n{err[-3000:]}") from None
        results.append((node.returncode, out + err))
    return results


def sample_args(model: str, output: str) -> list[str]:
    return ["--model_name_or_path", model, "--dataset_name", PROMPTS, "--paper_prompt_selection", "false",
            "--max_prompts", str(PROMPT_COUNT), "--num_samples_per_prompt", str(SAMPLES_PER_PROMPT),
            "--max_new_tokens", "64", "--engine", "transformers", "--sampling_batch_size", "1", "--output_dir", output]


def run_args(model: str, output: str) -> list[str]:
    return [*sample_args(model, output), "--max_steps", "1", "--max_length", "1024", "--per_device_train_batch_size", "1",
            "--global_batch_size", "2", "--bf16", "false", "--dtype", "float32", "--gradient_checkpointing", "false",
            "--save_strategy", "steps", "--save_steps", "1", "--warmup_steps", "0", "--drop_empty_and_stubs", "false",
            "--eval_benchmark", "custom", "--eval_problems", "fixtures", "--eval_limit", "1", "--eval_n", "1",
            "--eval_workers", "1", "--run_eval", "true"]


def stored_keys(samples_dir: str) -> list[tuple[str, int]]:
    keys = []
    for path in glob.glob(os.path.join(samples_dir, ".store", "shards", "*", "*.jsonl")):
        with open(path) as handle:
            keys += [(r["prompt_id"], r["sample_index"]) for r in map(json.loads, handle)]
    return keys


@pytest.mark.parametrize("shared", [False, True], ids=["node-local", "shared"])
def test_two_nodes_sample_survive_a_killed_node_then_run(tiny_qwen3, tmp_path, shared):
    from ssd_hf.data import load_samples

    folders = [tmp_path / "node0", tmp_path / "node1"]
    for folder in folders:
        folder.mkdir()
    output = str(tmp_path / "shared" / "out") if shared else "out"  # relative: each node's own folder
    samples = [os.path.join(folder, output, "samples") for folder in folders]

    # 1. Sample; kill node 1 (launcher and worker) once the first samples are on disk.
    nodes = start_nodes(folders, ["sample", *sample_args(tiny_qwen3, output)], free_port())
    deadline = time.monotonic() + 240
    while not stored_keys(samples[1]) and time.monotonic() < deadline and nodes[1].poll() is None:
        time.sleep(0.05)
    kill_node(nodes[1])
    killed_at = time.monotonic()
    [(code, log)] = finish(nodes[:1], timeout=120)
    nodes[1].wait()
    assert code != 0 and time.monotonic() - killed_at < 60
    assert "error: rank 1 (" in log and "has not answered" in log, log[-3000:]
    before = set(stored_keys(samples[0])) | set(stored_keys(samples[1]))
    assert 0 < len(before) < PROMPT_COUNT * SAMPLES_PER_PROMPT

    # 2. Rerun both as one `ssd-hf run`: only the missing samples are drawn, then train and evaluate.
    # The base controls' evaluations run in the node-local case only (the same code with shared storage; ~15 s).
    controls = [] if not shared else ["--eval_controls", "false"]
    results = finish(start_nodes(folders, ["run", *run_args(tiny_qwen3, output), *controls], free_port()))
    for code, log in results:
        assert code == 0, log[-4000:]
    main_log = results[0][1]
    missing = PROMPT_COUNT * SAMPLES_PER_PROMPT - len(before)
    assert f"Resuming: {len(before)} samples already on disk, {missing} to go" in main_log
    assert ("node-local" in main_log) != shared
    merged = [load_samples(path) for path in samples]
    keys = list(zip(merged[0]["prompt_id"], merged[0]["sample_index"]))
    assert len(keys) == len(set(keys)) == PROMPT_COUNT * SAMPLES_PER_PROMPT
    assert merged[0].to_list() == merged[1].to_list()  # every node trains on the same rows
    for folder in folders:  # each node holds the model and its checkpoint; the main process the results
        assert os.path.isfile(os.path.join(folder, output, "model.safetensors"))
        assert os.path.isfile(os.path.join(folder, output, "checkpoint-1", "model.safetensors"))
    assert os.path.isfile(os.path.join(folders[0], output, "eval", "results.json"))
    assert "pass@1:" in main_log or "results:" in main_log


def test_a_node_without_the_samples_is_one_line_at_start(tiny_qwen3, tmp_path):
    folders = [tmp_path / "node0", tmp_path / "node1"]
    for folder in folders:
        folder.mkdir()
    (folders[0] / "samples.jsonl").write_text('{"prompt": "p", "completion": "c"}\n')  # on node 0 only
    started = time.monotonic()
    results = finish(start_nodes(folders, ["train", "--model_name_or_path", tiny_qwen3, "--samples_dataset",
                                           "samples.jsonl", "--output_dir", "out"], free_port()), timeout=120)
    assert time.monotonic() - started < 90  # start-up (imports) included: ~50 s on 2 busy cores; the check itself is instant
    for code, log in results:
        assert code != 0
        lines = [line for line in log.splitlines() if "ssd-hf train: error:" in line]
        assert len(lines) == 1 and "--samples_dataset samples.jsonl is not on rank 1 (" in lines[0], log[-3000:]
