"""What a user reads after a run is true and readable: the SSD card in every saved folder (and a local preview),
one record of the filters for both cards, short runs that train, flags that do what they say, stale samples
refused, a CPU launch that says what it did, few and quiet lines, and endings that say what comes next."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from ssd_hf.cli import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = os.path.join(ROOT, "ssd_hf", "data", "demo_prompts.jsonl")
PROGRESS = ("it/s]", "s/it]", "sample/s", "examples/s]", "ba/s]", "%|")


def printed_lines(text: str) -> list[str]:
    """Lines a user sees, progress bars (tqdm, drawn with carriage returns) left out."""
    lines = [line for chunk in text.split("\n") for line in chunk.split("\r")]
    return [line for line in lines if line.strip() and not any(mark in line for mark in PROGRESS)]


@pytest.fixture(scope="module")
def small_run(tiny_qwen3, tmp_path_factory):
    """`ssd-hf run` as a user types it: 8 prompts, one step, no checkpoint, the stub filter off."""
    out = str(tmp_path_factory.mktemp("small-run") / "model")
    argv = [sys.executable, "-m", "ssd_hf.cli", "run", "--model_name_or_path", tiny_qwen3, "--dataset_name", PROMPTS,
            "--output_dir", out, "--max_prompts", "8", "--max_new_tokens", "8", "--max_steps", "1",
            "--per_device_train_batch_size", "4", "--report_to", "none", "--save_strategy", "no",
            "--gradient_checkpointing", "false", "--drop_empty_and_stubs", "false"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return {"out": out, "stdout": done.stdout, "stderr": done.stderr, "base": tiny_qwen3, "argv": argv}


def test_few_lines_and_an_ending_that_says_what_next(small_run):
    lines = printed_lines(small_run["stdout"] + small_run["stderr"])
    assert len(lines) <= 15, "\n".join(lines)
    assert not any("ContinuousBatchingLogger" in line or "FutureWarning" in line for line in lines)
    report = small_run["stdout"]
    assert "samples:  8 in" in report and "model:" in report and "trained on 8 samples" in report
    assert "next:     ssd-hf eval --model" in report


def test_verbose_shows_the_library_logs(tiny_qwen3, tmp_path):
    argv = [sys.executable, "-m", "ssd_hf.cli", "sample", "--model_name_or_path", tiny_qwen3, "--dataset_name", PROMPTS,
            "--output_dir", str(tmp_path), "--max_prompts", "2", "--max_new_tokens", "4", "--verbose"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ContinuousBatchingLogger" in done.stderr and "INFO ssd_hf.sampling.runner" in done.stderr
    assert "next:     ssd-hf train --model_name_or_path" in done.stdout


def test_the_saved_folder_has_the_ssd_card_and_provenance_and_a_local_preview(small_run, capsys):
    out = small_run["out"]
    with open(os.path.join(out, "README.md")) as handle:
        card = handle.read()
    assert "Simple Self-Distillation" in card and "fine-tuned version of" not in card and "licence: license" not in card
    assert os.path.isfile(os.path.join(out, "ssd_provenance.json"))
    assert main(["card", out]) == 0 and "## SSD recipe" in capsys.readouterr().out
    assert main(["card", os.path.join(out, "samples")]) == 0 and "# SSD samples from" in capsys.readouterr().out


def test_dataset_card_and_model_card_state_the_filters_the_run_used(small_run):
    from ssd_hf.commands.card import render

    out = small_run["out"]
    model_card, dataset_card = render(out), render(os.path.join(out, "samples"))
    assert "| drop empty responses and single-line stubs | False | 0 |" in dataset_card
    assert "Records used for training: 8 of 8" in dataset_card and "recorded by that run" in dataset_card
    assert "| drop empty responses and single-line stubs | False | 0 |" in model_card and "8 used for training" in model_card


def test_a_one_step_run_changes_the_weights(small_run):
    trained, base = load_file(os.path.join(small_run["out"], "model.safetensors")), \
        load_file(os.path.join(small_run["base"], "model.safetensors"))
    assert any(not torch.equal(trained[name], base[name]) for name in base)
    with open(os.path.join(small_run["out"], "ssd_provenance.json")) as handle:
        assert json.load(handle)["training"]["max_steps"] == 1
    assert "WARNING: the weights equal" not in small_run["stdout"]


def test_warm_up_never_takes_every_step(tmp_path):
    from ssd_hf import SSDConfig

    config = SSDConfig(output_dir=str(tmp_path), report_to="none")  # warm-up 10%
    assert [config.get_warmup_steps(n) for n in (1, 2, 10, 2500)] == [0, 0, 1, 250]
    assert SSDConfig(output_dir=str(tmp_path), report_to="none", warmup_steps=250).get_warmup_steps(1) == 0


def test_train_refuses_samples_drawn_under_another_config(small_run, capsys):
    argv = small_run["argv"][small_run["argv"].index("run") + 1:]
    argv[argv.index("--max_new_tokens") + 1] = "16"
    assert main(["train", *argv]) == 2
    error = capsys.readouterr().err
    assert "max_new_tokens 8" in error and "says 16" in error and len(error.strip().splitlines()) == 1


def test_accelerate_cpu_launch_with_several_processes_says_which_flag_runs_them(tmp_path):
    done = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--cpu", "--num_processes", "2",
                           "-m", "ssd_hf.cli", "run", "--model_name_or_path", "unused", "--output_dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode != 0
    assert "ssd-hf run: error: `accelerate launch --cpu --num_processes N` started one process" in done.stderr
    assert "--multi_gpu --num_processes N" in done.stderr


def test_help_is_short_groups_ssd_flags_first_and_help_all_lists_the_rest():
    import time

    start = time.perf_counter()
    short = subprocess.run([sys.executable, "-m", "ssd_hf.cli", "sample", "--help"], capture_output=True, text=True)
    assert time.perf_counter() - start < 3 and short.returncode == 0
    lines = short.stdout.splitlines()
    assert len(lines) < 120 and lines[0].startswith("usage: ssd-hf sample")
    assert any("--temperature" in line for line in lines[:25]) and not any("--eval_n" in line for line in lines)
    everything = subprocess.run([sys.executable, "-m", "ssd_hf.cli", "sample", "--help-all"], capture_output=True, text=True)
    assert "--lr_scheduler_type" in everything.stdout and "--gradient_checkpointing" in everything.stdout
    eval_help = subprocess.run([sys.executable, "-m", "ssd_hf.cli", "eval", "--help"], capture_output=True, text=True).stdout
    assert "(default: 1.0)" in eval_help and "T_eval" in eval_help
