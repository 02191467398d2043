"""`ssd-hf sample | train | run | demo`: parse one config, then call the library.

Arguments are TRL's: `ScriptArguments` (--dataset_name ...), `SSDConfig` (training + sampling) and
`ModelConfig` (--model_name_or_path, --use_peft, --lora_r ...), read from `--config FILE.yaml` with
command-line overrides, exactly as TRL's own scripts do.
"""

from __future__ import annotations

import logging
import os
import sys

from .config import SSDConfig
from .errors import SSDError

logger = logging.getLogger(__name__)


def parse_args(argv: list[str]):
    """(script_args, ssd_config, model_args) from YAML + command line, with one-line errors."""
    from trl import ModelConfig, ScriptArguments, TrlParser

    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise SSDError("--config needs a YAML file path.")
        if not os.path.isfile(argv[index + 1]):
            raise SSDError(f"config file {argv[index + 1]} does not exist; check the path.")
    from .recipe import RecipeArguments

    argv = normalise_argv(argv)
    # RecipeArguments are parsed too, so a recipe YAML (recipes/*.yaml) works here as it is; its stage and
    # evaluation keys belong to `recipes/*.py` and are not used by sample/train/run.
    parser = TrlParser((ScriptArguments, SSDConfig, ModelConfig, RecipeArguments))
    try:
        script_args, config, model_args, _recipe_args = parser.parse_args_and_config(argv)
    except SSDError:
        raise
    except ValueError as error:  # unknown YAML keys, bad values
        raise SSDError(str(error).splitlines()[0]) from None
    if not model_args.model_name_or_path:
        raise SSDError("no model given; pass --model_name_or_path (a Hub id or a local folder).")
    config.model_init_kwargs = {
        **(config.model_init_kwargs or {}),
        "revision": model_args.model_revision,
        **({"attn_implementation": model_args.attn_implementation} if model_args.attn_implementation else {}),
        **({"dtype": model_args.dtype} if model_args.dtype else {}),
    }
    return script_args, config, model_args


def normalise_argv(argv: list[str]) -> list[str]:
    """Let list flags repeat (`--endpoint A --endpoint B`), which argparse's nargs='+' would otherwise overwrite."""
    try:
        from .sampling.endpoint import merge_repeated_list_flags
    except ImportError:
        return argv
    return merge_repeated_list_flags(argv)


def load_prompt_items(script_args, config: SSDConfig):
    """The prompt pool named by --dataset_name, prepared as the config says."""
    from .hub import load_dataset_any
    from .prompts import prepare_prompts

    if not script_args.dataset_name:
        raise SSDError("no prompts given; pass --dataset_name (a Hub id or a local JSONL/Parquet file or folder).")
    dataset = load_dataset_any(script_args.dataset_name, script_args.dataset_config, script_args.dataset_train_split)
    return dataset, prepare_prompts(
        dataset, config.prompt_options(), config.deduplicate_prompts, config.paper_prompt_selection,
        config.max_prompts, source=script_args.dataset_name,
    )


def sample(script_args, config: SSDConfig, model_args):
    """Frozen-base samples for every prompt into `samples_dir`; returns the samples Dataset."""
    from . import hub
    from .sampling import load_engine, run_sampling

    dataset, prompts = load_prompt_items(script_args, config)
    engine = load_engine(
        config.engine, model_name_or_path=model_args.model_name_or_path, config=config,
        revision=model_args.model_revision if model_args.model_revision != "main" else None,
    )
    pool = {
        "name": script_args.dataset_name,
        "config": script_args.dataset_config,
        "split": script_args.dataset_train_split,
        "revision": hub.dataset_revision(script_args.dataset_name),  # 'local' for files, else the Hub commit
        "num_rows": len(dataset),
        "num_prompts": len(prompts),
    }
    return run_sampling(
        prompts, engine, config.sampling_params(), config.prompt_options(), config.resolved_samples_dir(),
        config.num_samples_per_prompt, config.sampling_batch_size, manifest_extra={"prompt_pool": pool},
    )


def train(config: SSDConfig, model_args, samples=None):
    """Fine-tune on the samples (from `samples_dataset`, the samples dir, or given); returns the trainer."""
    from trl import get_peft_config

    from .sampling.store import load_samples
    from .trainer import SSDTrainer

    if samples is None and not config.samples_dataset:
        samples = load_samples(config.resolved_samples_dir())
    trainer = SSDTrainer(
        model=model_args.model_name_or_path, args=config, train_dataset=samples,
        peft_config=get_peft_config(model_args),
    )
    trainer.train()
    trainer.save_model(config.output_dir)
    if trainer.accelerator.is_main_process:
        trainer.processing_class.save_pretrained(config.output_dir)
    if config.push_to_hub:
        push_all(trainer, config)
    return trainer


def push_all(trainer, config: SSDConfig) -> None:
    """TRL's convention, push_to_hub=True: SSDTrainer.train() pushed the samples dataset before training; the saved
    model goes now. Both through hub.py, never Trainer's upload of output_dir."""
    from . import hub

    if trainer.is_world_process_zero():
        hub.push_run_model(config, config.hub_token, trainer.samples_repo_id)


def summary(lines: dict) -> str:
    width = max(len(k) for k in lines)
    return "\n".join(f"  {key:<{width}}  {value}" for key, value in lines.items())


def sample_main(argv: list[str]) -> int:
    script_args, config, model_args = parse_args(argv)
    samples = sample(script_args, config, model_args)
    print(summary({"samples": len(samples), "written to": config.resolved_samples_dir()}))
    return 0


def train_main(argv: list[str]) -> int:
    _, config, model_args = parse_args(argv)
    trainer = train(config, model_args)
    print(summary({"trained on": f"{trainer.train_dataset.num_rows} samples", "model written to": config.output_dir}))
    return 0


def run_main(argv: list[str]) -> int:
    script_args, config, model_args = parse_args(argv)
    samples = sample(script_args, config, model_args)
    trainer = train(config, model_args, samples=samples)
    print(summary({
        "samples": f"{len(samples)} in {config.resolved_samples_dir()}",
        "trained on": f"{trainer.train_dataset.num_rows} samples",
        "model written to": config.output_dir,
    }))
    return 0


def demo_main(argv: list[str]) -> int:
    """The README's main job, offline: the paper's toy world learned by a tiny model, then improved by SSD.

    A tiny Qwen3 is trained to speak the toy world (PAPER.md, "The toy experiment"); SSDTrainer samples it
    at T_train 0.9 / top-p 0.85 and fine-tunes on the raw samples; both are then evaluated at one global
    eval temperature (top-p 0.80). `--coding` instead runs the coding pipeline on a tiny random Qwen3 and
    the bundled coding prompts (a smoke run of sample -> train: its text is noise).
    """
    import argparse

    parser = argparse.ArgumentParser(prog="ssd-hf demo", description=demo_main.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="ssd-demo-out")
    parser.add_argument("--num_samples", type=int, default=8000, help="SSD samples drawn from the toy base (N for its one prompt)")
    parser.add_argument("--eval_samples", type=int, default=4000, help="fresh samples per model at its best eval temperature")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--coding", action="store_true", help="run the coding pipeline on a tiny random Qwen3 instead")
    parser.add_argument("--use_peft", action="store_true", help="with --coding: train a LoRA adapter instead of the full model")
    options = parser.parse_args(argv)
    if options.coding:
        return _coding_demo(options.output_dir, options.use_peft)
    if options.num_samples < 1 or options.eval_samples < 1:
        raise SSDError("--num_samples and --eval_samples must be >= 1.")
    from .analysis.toy_learned import run_learned_toy

    results = run_learned_toy(os.path.join(options.output_dir, "toy"), num_samples=options.num_samples,
                              eval_samples=options.eval_samples, seed=options.seed)
    print(toy_summary(results))
    return 0


def toy_summary(results: dict) -> str:
    """What the toy demo measured, as a short report."""
    fit = results["base_fit"]["max_abs_error"]
    lines = [
        "",
        "SSD on the paper's toy world, learned (root -> fork -> 3 locks; PASS needs tok0/tok1, then tok0 x4)",
        f"  base: tiny Qwen3 trained to speak the toy world (largest |p - p_paper| over its states: {fit:.4f})",
        f"  SSD:  {results['num_samples']} raw samples from the frozen base at T_train {results['t_train']}, "
        f"top-p {results['top_p_train']} -> SSDTrainer (completion-only cross-entropy)",
        f"  eval: one global temperature, top-p {results['eval_top_p']:.2f}; best T from the models' exact success curves, "
        f"then {results['eval_samples']} fresh samples there, judged by the PASS rule (95% Wilson CI)",
        "",
        f"  {'model':<12} {'best T':>7} {'exact':>7} {'sampled [95% CI]':>24}   paper's analytic best",
    ]
    for name, label in (("base", "base"), ("ssd", "SSD student")):
        model, analytic = results["models"][name], results["analytic"][name]
        m = model["sampled_at_best"]
        sampled = f"{100 * m['success']:.1f}% [{100 * m['ci_low']:.1f}, {100 * m['ci_high']:.1f}]"
        lines.append(f"  {label:<12} {m['temperature']:>7.3f} {100 * model['exact_best']['success']:>6.1f}% {sampled:>24}   "
                     f"{100 * analytic['success']:.1f}% @ T={analytic['temperature']:.2f}")
    base, ssd = results["models"]["base"]["sampled_at_best"], results["models"]["ssd"]["sampled_at_best"]
    verdict = "SSD ahead: the intervals do not overlap" if ssd["ci_low"] > base["ci_high"] else "intervals overlap: not a clear win"
    labels = results["token_stats"]["labels"]
    lines += [
        f"  {verdict} ({100 * (ssd['success'] - base['success']):+.1f} points)",
        "",
        "  next-token positions on 32 of the samples (lock: top token >= 0.9; fork: top < 0.6 and >= 2 tokens >= 0.1):",
        f"    base {labels['base']['lock']} locks / {labels['base']['fork']} forks / {labels['base']['other']} other;  "
        f"SSD {labels['ssd']['lock']} locks / {labels['ssd']['fork']} forks / {labels['ssd']['other']} other",
        "",
        f"  samples dataset: {results['samples_dir']}",
        f"  models:          {results['models']['base']['path']} (base), {results['models']['ssd']['path']} (SSD)",
        f"  results:         {os.path.join(os.path.dirname(results['models']['base']['path']), 'toy_results.json')}",
        f"  plots:           {', '.join(results['plots'])}",
        f"  wall time:       {results['wall_seconds']:.0f} s",
    ]
    return "\n".join(lines)


def _coding_demo(output_dir: str, use_peft: bool) -> int:
    """The coding pipeline on a tiny random Qwen3 built here, with the bundled demo prompts."""
    from .tiny import build_tiny_model

    model_dir = build_tiny_model(os.path.join(output_dir, "tiny-qwen3-base"), "qwen3")
    prompts = os.path.join(os.path.dirname(__file__), "data", "demo_prompts.jsonl")
    args = [
        "--model_name_or_path", model_dir, "--dataset_name", prompts,
        "--output_dir", os.path.join(output_dir, "model"),
        "--num_samples_per_prompt", "2", "--max_new_tokens", "64", "--sampling_batch_size", "64",
        "--drop_empty_and_stubs", "false", "--learning_rate", "1e-3", "--num_train_epochs", "1",
        "--per_device_train_batch_size", "8", "--max_length", "512", "--save_strategy", "no",
        "--report_to", "none", "--gradient_checkpointing", "false",
    ] + (["--use_peft", "--lora_r", "8", "--lora_alpha", "16"] if use_peft else [])
    return run_main(args)


if __name__ == "__main__":
    from .cli import main

    sys.exit(main(["run", *sys.argv[1:]]))
