"""Running a recipe script end to end on a tiny model, as a user would (`python recipes/<name>.py ...`).

Shared by the recipe tests and the Space's browser test (the `recipe_run` fixture): one smoke run's models
and results are what the Space is shown on.
"""

from __future__ import annotations

import os
import runpy
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPES = os.path.join(ROOT, "recipes")
PROMPTS = os.path.join(ROOT, "ssd_hf", "data", "demo_prompts.jsonl")


def smoke_overrides(model: str, output_dir: str, controls: bool = False) -> list[str]:
    """Tiny limits for a CPU run: 2 prompts, 16 new tokens, 1 step, 1 fixture problem; with `controls`, the base
    evaluated at T_train and over a two-point grid (the report's controls), else none."""
    return [
        "--eval_controls", str(controls).lower(), "--eval_controls_grid", "0.7,1.1",
        "--model_name_or_path", model, "--dataset_name", PROMPTS, "--paper_prompt_selection", "false",
        "--max_prompts", "2", "--max_new_tokens", "16", "--engine", "transformers", "--max_steps", "1",
        "--max_length", "1024", "--per_device_train_batch_size", "2",
        "--bf16", "false", "--dtype", "float32", "--gradient_checkpointing", "false", "--save_strategy", "no",
        "--warmup_steps", "0", "--drop_empty_and_stubs", "false", "--logging_steps", "1",
        "--eval_benchmark", "custom", "--eval_problems", "fixtures", "--eval_limit", "1", "--eval_n", "1",
        "--eval_workers", "1", "--global_batch_size", "2", "--output_dir", output_dir,
    ]


def run_recipe(name: str, argv: list[str]) -> None:
    """`python recipes/<name>.py ARGV` in this process; the script must exit 0."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", [f"{name}.py", *argv])
        with pytest.raises(SystemExit) as exit_info:
            runpy.run_path(os.path.join(RECIPES, f"{name}.py"), run_name="__main__")
    assert exit_info.value.code == 0
