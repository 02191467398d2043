"""The library side of `recipes/*.py`: one paper model's run, sample -> train -> evaluate -> push.

A recipe YAML holds TRL's three argument groups (ScriptArguments, SSDConfig, ModelConfig) plus the
`RecipeArguments` below, which carry what SSDConfig does not: which stages to run and the paper's
evaluation decoding (T_eval / top-k / top-p, Table 3). Keeping this here keeps the entry scripts
to three lines, so the recipe logic is tested like the rest of the library.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from .errors import SSDError

logger = logging.getLogger(__name__)


@dataclass
class RecipeArguments:
    """Stages and evaluation settings of a recipe (the training-time decoding lives in SSDConfig)."""

    run_sample: bool = field(default=True, metadata={"help": "Draw the frozen base model's samples (skipped when samples_dataset is set)."})
    run_train: bool = field(default=True, metadata={"help": "Fine-tune on the samples."})
    run_eval: bool = field(default=True, metadata={"help": "Evaluate the trained model (needs ssd_hf.eval)."})
    global_batch_size: int | None = field(
        default=None,
        metadata={"help": "Sequences per optimizer step over all processes (paper: 32). When set, gradient_accumulation_steps "
                          "is derived from it and the number of processes, so the recipe keeps the paper's batch on any GPU count."},
    )
    eval_benchmark: str = field(default="lcb-v6", metadata={"help": "lcb-v6, lcb-v5-heldout, humaneval, or custom (with eval_problems)."})
    eval_problems: str | None = field(default=None, metadata={"help": "LCB-schema JSONL, 'fixtures', or a release name."})
    eval_start_date: str | None = field(default=None, metadata={"help": "Keep problems with contest_date >= this (paper v6: 2025-02-01)."})
    eval_end_date: str | None = field(default=None, metadata={"help": "Keep problems with contest_date <= this (paper v6: 2025-05-31)."})
    eval_limit: int | None = field(default=None, metadata={"help": "Only the first N problems (smoke runs)."})
    eval_temperature: float = field(default=1.0, metadata={"help": "T_eval (paper Table 3)."})
    eval_top_k: int = field(default=20, metadata={"help": "Eval top-k (paper Table 3)."})
    eval_top_p: float = field(default=0.8, metadata={"help": "Eval top-p (paper Table 3)."})
    eval_n: int = field(default=10, metadata={"help": "Samples per problem (paper: 10, for pass@1 and pass@5)."})
    eval_max_new_tokens: int | None = field(default=None, metadata={"help": "Eval generation budget; default: max_new_tokens."})
    eval_sweep_temperature: str | None = field(default=None, metadata={"help": "Optional T_eval grid start:stop:step."})
    eval_output_dir: str | None = field(default=None, metadata={"help": "Where results.json goes; default: <output_dir>/eval."})
    eval_workers: int | None = field(default=None, metadata={"help": "Parallel sandboxes (default: all cores)."})


def parse_recipe_args(argv: list[str]):
    """(script_args, ssd_config, model_args, recipe_args) from `--config YAML` plus command-line overrides."""
    from trl import ModelConfig, ScriptArguments, TrlParser

    from .config import SSDConfig
    from .pipeline import normalise_argv

    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv) or not os.path.isfile(argv[index + 1]):
            raise SSDError(f"recipe config {argv[index + 1] if index + 1 < len(argv) else '(none)'} does not exist; check the path.")
    parser = TrlParser((ScriptArguments, SSDConfig, ModelConfig, RecipeArguments))
    try:
        script_args, config, model_args, recipe_args = parser.parse_args_and_config(normalise_argv(argv))
    except ValueError as error:
        raise SSDError(str(error).splitlines()[0]) from None
    if not model_args.model_name_or_path:
        raise SSDError("no model given; set model_name_or_path in the recipe YAML or pass --model_name_or_path.")
    # Same hand-over as pipeline.parse_args: ModelConfig's loading options reach the trainer's from_pretrained.
    config.model_init_kwargs = {
        **(config.model_init_kwargs or {}),
        "revision": model_args.model_revision,
        **({"attn_implementation": model_args.attn_implementation} if model_args.attn_implementation else {}),
        **({"dtype": model_args.dtype} if model_args.dtype else {}),
    }
    return script_args, config, model_args, recipe_args


def eval_argv(model_dir: str, config, recipe: RecipeArguments) -> list[str]:
    """The `ssd-hf eval` command line equivalent to the recipe's evaluation settings."""
    argv = [
        "--model", model_dir, "--output", recipe.eval_output_dir or os.path.join(config.output_dir, "eval"),
        "--n", str(recipe.eval_n), "--temperature", str(recipe.eval_temperature),
        "--top_k", str(recipe.eval_top_k), "--top_p", str(recipe.eval_top_p),
        "--max_new_tokens", str(recipe.eval_max_new_tokens or config.max_new_tokens),
        "--seed", str(config.effective_sampling_seed),
        "--benchmark", recipe.eval_benchmark,
    ]
    optional = {
        "--problems": recipe.eval_problems, "--start_date": recipe.eval_start_date, "--end_date": recipe.eval_end_date,
        "--limit": recipe.eval_limit, "--sweep_temperature": recipe.eval_sweep_temperature, "--workers": recipe.eval_workers,
        "--system_prompt": config.system_prompt,
    }
    argv += [item for flag, value in optional.items() if value is not None for item in (flag, str(value))]
    if not config.use_chat_template:
        argv.append("--no_chat_template")
    return argv


def evaluate(model_dir: str, config, recipe: RecipeArguments) -> str | None:
    """Run `ssd_hf.eval` on the trained model; returns the results path (main process) or None.

    Every process generates its share (the eval engine shards like sampling does); every process also
    scores, since the eval module has no main-only scoring path, and only the main process writes.
    """
    try:
        from .eval.cli import build_parser, run
        from .eval.results import write_results
    except ImportError:
        logger.warning("evaluation skipped: the ssd_hf.eval module is not installed")
        return None
    from accelerate import PartialState

    args = build_parser().parse_args(eval_argv(model_dir, config, recipe))
    results = run(args)
    state = PartialState()
    path = write_results(results, args.output) if state.is_main_process else None
    state.wait_for_everyone()
    return path


def apply_global_batch_size(config, recipe: RecipeArguments) -> None:
    """gradient_accumulation_steps = global batch / (per-device batch x processes), which must divide exactly."""
    if recipe.global_batch_size is None:
        return
    per_step = config.per_device_train_batch_size * config.world_size
    if recipe.global_batch_size < 1 or recipe.global_batch_size % per_step:
        raise SSDError(
            f"global_batch_size {recipe.global_batch_size} is not a multiple of per_device_train_batch_size "
            f"{config.per_device_train_batch_size} x {config.world_size} processes; change one of them."
        )
    config.gradient_accumulation_steps = recipe.global_batch_size // per_step
    logger.info("Global batch %d = %d per device x %d processes x %d accumulation steps", recipe.global_batch_size,
                config.per_device_train_batch_size, config.world_size, config.gradient_accumulation_steps)


def run_recipe(script_args, config, model_args, recipe: RecipeArguments) -> dict:
    """Sample -> train -> evaluate -> push, as the recipe configures; returns what was produced."""
    from . import pipeline

    apply_global_batch_size(config, recipe)
    produced: dict = {}
    samples = None
    if recipe.run_sample and not config.samples_dataset:
        samples = pipeline.sample(script_args, config, model_args)
        produced["samples"] = config.resolved_samples_dir()
        produced["num_samples"] = len(samples)
    if recipe.run_train:
        trainer = pipeline.train(config, model_args, samples=samples)  # pushes samples + model when push_to_hub
        produced["model"] = config.output_dir
        produced["num_train_records"] = trainer.train_dataset.num_rows
        del trainer
    if recipe.run_eval:
        model_dir = config.output_dir if recipe.run_train else model_args.model_name_or_path
        path = evaluate(model_dir, config, recipe)
        produced["results"] = path
        if path and config.push_to_hub:
            from . import hub

            repo_id = config.hub_model_id or os.path.basename(os.path.abspath(config.output_dir))
            hub.push_results(path, repo_id, token=config.hub_token)
    return produced


def init_distributed_state() -> None:
    """Set up the process group before sampling, so sampling shards over the same ranks training uses.

    A multi-process launch (`accelerate launch --multi_gpu --num_processes N`, torchrun) on a machine with no
    GPU runs on CPU with gloo: accelerate only forms a CPU group when asked (`ACCELERATE_USE_CPU`), and
    TrainingArguments re-creates the state from that same variable, so both stages agree.
    """
    import torch
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        os.environ["ACCELERATE_USE_CPU"] = "true"
    PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))


def main(argv: list[str], default_config: str | None = None) -> int:
    """Entry of `recipes/<model>.py`: the recipe's YAML unless `--config` is given, then CLI overrides."""
    import sys

    if default_config and "--config" not in argv:
        argv = ["--config", default_config, *argv]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    init_distributed_state()
    try:
        produced = run_recipe(*parse_recipe_args(argv))
    except SSDError as error:
        sys.stderr.write(f"error: {error}\n")
        return 2
    from accelerate import PartialState

    if PartialState().is_main_process:
        from .pipeline import summary

        print(summary({key: str(value) for key, value in produced.items()}))  # the recipe's final report
    return 0
