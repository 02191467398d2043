"""Kill training with SIGKILL after its second checkpoint, rerun the same command: it resumes from the last
checkpoint (and says which), does not sample again, and ends with the weights an uninterrupted run gets."""

from __future__ import annotations

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from hub_fixtures import make_samples_dir
from safetensors.torch import load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = os.path.join(ROOT, "ssd_hf", "data", "demo_prompts.jsonl")
STEPS, SAVE_EVERY = 120, 20


def training_flags(out: str) -> list[str]:
    return ["--output_dir", out, "--max_steps", str(STEPS), "--save_strategy", "steps", "--save_steps", str(SAVE_EVERY),
            "--per_device_train_batch_size", "1", "--learning_rate", "1e-3", "--warmup_steps", "0",
            "--report_to", "none", "--gradient_checkpointing", "false", "--dtype", "float32", "--bf16", "false",
            "--logging_steps", "10", "--seed", "0", "--drop_empty_and_stubs", "false", "--max_length", "1024"]


def command(kind: str, model: str, samples: str, out: str) -> list[str]:
    if kind == "train":
        return [sys.executable, "-m", "ssd_hf.cli", "train", "--model_name_or_path", model, "--samples_dataset", samples,
                *training_flags(out)]
    return [sys.executable, os.path.join(ROOT, "recipes", "qwen3_4b_instruct.py"), "--model_name_or_path", model,
            "--dataset_name", PROMPTS, "--paper_prompt_selection", "false", "--max_prompts", "6", "--max_new_tokens", "12",
            "--engine", "transformers", "--run_eval", "false", "--global_batch_size", "1", *training_flags(out)]


def kill_after_second_checkpoint(argv: list[str], out: str) -> None:
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    second = os.path.join(out, f"checkpoint-{2 * SAVE_EVERY}", "trainer_state.json")
    deadline = time.time() + 240
    while not os.path.exists(second) and process.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not os.path.exists(os.path.join(out, f"checkpoint-{STEPS}"))


def weights(folder: str) -> dict:
    return load_file(os.path.join(folder, "model.safetensors"))


@pytest.mark.parametrize("kind", ["train", "recipe"])
def test_sigkill_after_second_checkpoint_then_rerun_resumes(kind, tiny_qwen3, tmp_path):
    samples = make_samples_dir(str(tmp_path / "samples"), model_id=tiny_qwen3)
    whole, broken = str(tmp_path / "whole"), str(tmp_path / "broken")
    reference = subprocess.run(command(kind, tiny_qwen3, samples, whole), cwd=ROOT, capture_output=True, text=True,
                               timeout=400)
    assert reference.returncode == 0, reference.stderr[-3000:]

    kill_after_second_checkpoint(command(kind, tiny_qwen3, samples, broken), broken)
    last = sorted(glob.glob(os.path.join(broken, "checkpoint-*")), key=lambda p: int(p.rsplit("-", 1)[1]))[-1]
    resumed = subprocess.run(command(kind, tiny_qwen3, samples, broken), cwd=ROOT, capture_output=True, text=True,
                             timeout=400)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"Resuming training from {last}" in resumed.stderr
    assert f"resumed from {os.path.basename(last)}" in resumed.stdout
    if kind == "recipe":
        assert "samples are already in" in resumed.stderr and "Sampling (" not in resumed.stderr
    with open(os.path.join(broken, f"checkpoint-{STEPS}", "trainer_state.json")) as handle:
        state = json.load(handle)
    assert state["global_step"] == STEPS
    logged = [entry["step"] for entry in state["log_history"] if "loss" in entry]
    assert logged == list(range(10, STEPS + 1, 10))  # one history: before the kill, then continued
    expected, got = weights(whole), weights(broken)
    assert expected.keys() == got.keys()
    for name in expected:
        torch.testing.assert_close(got[name], expected[name], rtol=1e-5, atol=1e-6)
