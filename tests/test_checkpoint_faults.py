"""Checkpoints are whole or invisible: kill -9 during a save (made deterministic by damaging the newest checkpoints
as a killed save leaves them, and real kills at random moments) and a disk that fills during a save; the same
command then resumes from the newest whole checkpoint and ends with exactly the weights of an uninterrupted run."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from hub_fixtures import make_samples_dir
from safetensors.torch import load_file

from ssd_hf.checkpoints import checkpoints, why_incomplete

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STEPS, SAVE_EVERY = 8, 2


def train_command(model: str, samples: str, out: str) -> list[str]:
    return [sys.executable, "-m", "ssd_hf.cli", "train", "--model_name_or_path", model, "--samples_dataset", samples,
            "--output_dir", out, "--max_steps", str(STEPS), "--save_strategy", "steps", "--save_steps", str(SAVE_EVERY),
            "--per_device_train_batch_size", "1", "--learning_rate", "1e-3", "--warmup_steps", "0",
            "--report_to", "none", "--gradient_checkpointing", "false", "--dtype", "float32", "--bf16", "false",
            "--seed", "0", "--drop_empty_and_stubs", "false", "--max_length", "256", "--full_determinism", "true"]


def run(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=300)


def final_weights(folder: str) -> dict:
    return load_file(os.path.join(folder, "model.safetensors"))


def assert_equal_weights(got: str, expected: dict) -> None:
    weights = final_weights(got)
    assert weights.keys() == expected.keys()
    assert all(torch.equal(weights[name], expected[name]) for name in expected)


def errors_of(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "error" in line.lower() or "Traceback" in line]


@pytest.fixture(scope="module")
def setup(tiny_qwen3, tmp_path_factory):
    """The samples, and the final weights of an uninterrupted run."""
    root = tmp_path_factory.mktemp("checkpoints")
    samples = make_samples_dir(str(root / "samples"), model_id=tiny_qwen3)
    whole = str(root / "whole")
    done = run(train_command(tiny_qwen3, samples, whole))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "missing keys" not in done.stderr
    return tiny_qwen3, samples, final_weights(whole), whole


def kill_when(argv: list[str], ready, delay: float = 0.0) -> None:
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while not ready() and process.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()


def test_whole_checkpoints_pass_and_every_kind_of_half_written_one_is_told(setup, tmp_path):
    whole = setup[3]
    found = checkpoints(whole)
    assert [os.path.basename(f) for f in found] == [f"checkpoint-{s}" for s in range(STEPS, 0, -SAVE_EVERY)]
    assert [why_incomplete(f) for f in found] == [None] * len(found)
    damages = {"trainer_state.json": "no trainer_state.json", "model.safetensors": "model.safetensors is incomplete",
               "optimizer.pt": "optimizer.pt is incomplete", "scheduler.pt": "scheduler.pt is incomplete"}
    for name, reason in damages.items():
        copy = str(tmp_path / name)
        shutil.copytree(found[0], copy)
        path = os.path.join(copy, name)
        if name.endswith(".json"):
            os.remove(path)
        else:
            os.truncate(path, os.path.getsize(path) // 2)
        assert why_incomplete(copy) == reason
    shutil.copytree(found[0], tmp_path / "empty-weights")
    os.remove(tmp_path / "empty-weights" / "model.safetensors")
    assert why_incomplete(str(tmp_path / "empty-weights")) == "no weights file"


def test_half_written_checkpoints_are_skipped_removed_and_the_run_ends_as_an_uninterrupted_one(setup, tmp_path):
    model, samples, expected, whole = setup
    out = str(tmp_path / "out")
    # What a kill during the saves after step 4 leaves: the finished run's folder cut back to that moment, then
    # checkpoint-6 without its state (written last) and checkpoint-4 cut short.
    shutil.copytree(whole, out, ignore=lambda folder, names: [] if folder != whole else
                    [n for n in names if not n.startswith("checkpoint-") or n == f"checkpoint-{STEPS}"])
    os.remove(os.path.join(out, "checkpoint-6", "trainer_state.json"))
    weights = os.path.join(out, "checkpoint-4", "model.safetensors")
    os.truncate(weights, os.path.getsize(weights) - 100)
    again = run(train_command(model, samples, out))
    assert again.returncode == 0, again.stderr[-3000:]
    skipped = [line for line in again.stderr.splitlines() if "incomplete checkpoint" in line]
    assert skipped == ["[ssd-hf] Skipping incomplete checkpoints from an interrupted save: checkpoint-6 (no "
                       "trainer_state.json), checkpoint-4 (model.safetensors is incomplete); removed; resuming from "
                       "checkpoint-2"], again.stderr[-3000:]
    assert "resumed from checkpoint-2" in again.stdout
    assert "missing keys" not in again.stderr
    assert sorted(os.listdir(out)) == sorted(os.listdir(whole))  # the broken ones replaced, nothing left aside
    assert_equal_weights(out, expected)


def test_a_rerun_of_a_finished_run_takes_the_last_checkpoint_without_another_step(setup, tmp_path):
    """Killed after the last checkpoint (or simply run again): transformers alone would train a step more."""
    model, samples, expected, whole = setup
    out = str(tmp_path / "out")
    shutil.copytree(whole, out, ignore=lambda folder, names: ["model.safetensors"] if folder == whole else [])
    again = run(train_command(model, samples, out))
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"Training had already reached step {STEPS} (checkpoint-{STEPS}); taking its weights" in again.stderr
    assert not os.path.exists(os.path.join(out, f"checkpoint-{STEPS + 1}"))
    assert_equal_weights(out, expected)


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_at_a_random_moment_then_the_same_command_ends_as_an_uninterrupted_run(setup, tmp_path, seed):
    model, samples, expected, _ = setup
    out = str(tmp_path / "out")
    argv = train_command(model, samples, out)
    first = os.path.join(out, f"checkpoint-{SAVE_EVERY}")
    kill_when(argv, lambda: os.path.exists(first), delay=random.Random(seed).uniform(0, 1.5))
    again = run(argv)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "Traceback" not in again.stderr
    assert_equal_weights(out, expected)


@pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("unshare"), reason="mounts a small tmpfs: needs root")
def test_a_disk_that_fills_during_a_save_is_one_line_and_the_rerun_resumes(setup, tmp_path):
    model, samples, expected, whole = setup
    checkpoint = sum(os.path.getsize(os.path.join(whole, "checkpoint-2", n)) for n in os.listdir(os.path.join(whole, "checkpoint-2")))
    disk, out = tmp_path / "disk", tmp_path / "disk" / "out"
    disk.mkdir()
    argv = " ".join(train_command(model, samples, str(out)))
    script = (f"mount -t tmpfs -o size={checkpoint * 3 // 2} tmpfs {disk} && {argv} 2>{tmp_path}/full.err; "
              f"echo $? > {tmp_path}/full.rc; mount -o remount,size={checkpoint * 8} {disk} && {argv} 2>{tmp_path}/again.err "
              f">{tmp_path}/again.out; echo $? > {tmp_path}/again.rc; cp {out}/model.safetensors {tmp_path}/final.safetensors")
    subprocess.run(["unshare", "--mount", "sh", "-c", script], cwd=ROOT, timeout=600)
    full = (tmp_path / "full.err").read_text()
    assert (tmp_path / "full.rc").read_text().strip() == "2", full[-3000:]
    assert errors_of(full) == [f"ssd-hf train: error: cannot save checkpoint-4 to {out}: the disk at {disk} is full; "
                               "free space there or choose another --output_dir, then rerun the same command (it "
                               "resumes from checkpoint-2)."], full[-3000:]
    again = (tmp_path / "again.err").read_text()
    assert (tmp_path / "again.rc").read_text().strip() == "0", again[-3000:]
    assert "incomplete checkpoint" not in again  # the failed save left nothing behind
    assert "resumed from checkpoint-2" in (tmp_path / "again.out").read_text()
    got = load_file(str(tmp_path / "final.safetensors"))
    assert all(torch.equal(got[name], expected[name]) for name in expected)
