"""The stages of an SSD run, in order: sample -> train -> evaluate -> push.

`ssd-hf sample|train|run` and every recipe call `run_stages` with the `RunArgs` of one parser; which
stages run is the config's (`run_sample`, `run_train`, `run_eval`, `push_to_hub`). Under `accelerate
launch` every process runs every stage: sampling and evaluation shard their requests over the ranks
(one engine per rank or tensor-parallel group), each engine is released before the next stage loads.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import re
from dataclasses import dataclass

from . import nodes
from .args import RunArgs
from .errors import SSDError
from .records import PromptPool
from .refs import split_revision

logger = logging.getLogger(__name__)


@dataclass
class Produced:
    """What a run made, for the command's closing report."""

    samples_dir: str | None = None
    num_samples: int | None = None
    model_dir: str | None = None
    adapter: bool = False
    num_train_records: int | None = None
    resumed_from: str | None = None
    unchanged: bool = False  # training left the weights as they were
    results_path: str | None = None
    scores: dict | None = None  # difficulty -> pass@1 value
    verdicts: dict | None = None  # verdict -> count
    samples_repo: str | None = None
    model_url: str | None = None


def load_prompts(run: RunArgs):
    """The prompt pool named by --dataset_name, prepared as the config says, and what to record about it."""
    from .data import load_dataset_any
    from .hub import dataset_revision
    from .prompts import prepare_prompts

    script, config = run.script, run.config
    if not script.dataset_name:
        raise SSDError("no prompts given; pass --dataset_name (a Hub id or a local JSONL/Parquet file or folder).")
    dataset = load_dataset_any(script.dataset_name, script.dataset_config, script.dataset_train_split)
    prompts = prepare_prompts(dataset, config.prompt_options(), config.deduplicate_prompts,
                              config.paper_prompt_selection, config.max_prompts, source=script.dataset_name)
    pool = PromptPool(name=script.dataset_name, config=script.dataset_config, split=script.dataset_train_split,
                      revision=dataset_revision(script.dataset_name), num_rows=len(dataset), num_prompts=len(prompts),
                      fingerprint=getattr(dataset, "_fingerprint", None))
    return prompts, pool


def sample_stage(run: RunArgs):
    """Frozen-base samples for every prompt into `samples_dir`; returns the samples Dataset."""
    from .sampling.stage import draw_samples

    prompts, pool = load_prompts(run)
    return draw_samples(prompts, run.config, run.model.model_name_or_path, pool, revision=run.model.model_revision)


def check_samples_match(config, model: str) -> None:
    """`ssd-hf train` on the samples dir of this config: refuse samples drawn under other settings, naming the field."""
    from .records import read_samples_manifest
    from .sampling.stage import config_differences

    samples_dir = config.resolved_samples_dir()
    manifest = read_samples_manifest(samples_dir)
    changed = config_differences(manifest, config, model) if manifest is not None else []
    if changed:
        name, was, is_ = changed[0]
        raise SSDError(f"{samples_dir} holds samples drawn with {name} {was!r}, but this run says {is_!r}; sample again "
                       f"(`ssd-hf sample` with a new --samples_dir), or train on them as they are with "
                       f"--samples_dataset {samples_dir}.")


def resume_point(config, main_process: bool = True) -> str | None:
    """The checkpoint to continue from: the one named, or (default, or `true`) the newest whole one in output_dir
    (newer half-written ones, from a save that was interrupted, are named and removed by the main process);
    `false`: none."""
    from .checkpoints import check_resumable, last_whole_checkpoint

    value = config.resume_from_checkpoint
    if isinstance(value, str) and value.lower() in ("false", "no", "none"):
        return None
    if value not in (None, True) and not (isinstance(value, str) and value.lower() == "true"):
        if not os.path.isdir(str(value)):
            raise SSDError(f"--resume_from_checkpoint {value} is not a checkpoint folder; give one, or `true` for the last one.")
        check_resumable(str(value))
        return str(value)
    last = last_whole_checkpoint(config.output_dir, remove=main_process)
    if nodes.active():
        last = common_checkpoint(config.output_dir, last)
    if last is None and value is not None:  # asked for (`true`), but there is none
        logger.info("No checkpoint in %s to resume from; training from the start", config.output_dir)
    return last


def common_checkpoint(output_dir: str, last: str | None) -> str | None:
    """The last checkpoint every rank holds (node-local output folders: a node killed mid-save may lack the newest)."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    from .checkpoints import why_incomplete

    here = sorted(name for name in (os.listdir(output_dir) if os.path.isdir(output_dir) else [])
                  if re.fullmatch(rf"{PREFIX_CHECKPOINT_DIR}-\d+", name) and os.path.isdir(os.path.join(output_dir, name))
                  and why_incomplete(os.path.join(output_dir, name)) is None)  # whole checkpoints only
    held = [set(json.loads(v)) for v in nodes.sync("checkpoints", json.dumps(here), doing="listing checkpoints").values()]
    common = set.intersection(*held)
    chosen = max(common, key=lambda name: int(name.rsplit("-", 1)[1])) if common else None
    if chosen != (os.path.basename(last) if last else None):
        logger.info("Resuming from %s, the last checkpoint every node holds", chosen or "the start")
    return os.path.join(output_dir, chosen) if chosen else None


def check_storage(run: RunArgs) -> None:
    """Several ranks: inputs on some nodes only are one line at start; a node-local output folder makes every
    node save the model and its checkpoints (`save_on_each_node`), so each node resumes and evaluates its own."""
    config = run.config
    if not nodes.active():
        return
    sampling = config.run_sample and not config.samples_dataset
    inputs = {"--model_name_or_path": run.model.model_name_or_path, "--samples_dataset": config.samples_dataset,
              "--dataset_name": run.script.dataset_name if sampling else None,
              "--resume_from_checkpoint": config.resume_from_checkpoint}
    nodes.require_everywhere({flag: split_revision(path)[0] for flag, path in inputs.items()
                              if isinstance(path, str) and path.lower() not in ("true", "false")})
    lines = []
    if sampling:
        samples = nodes.storage(config.resolved_samples_dir())
        lines.append(f"samples {samples.folder}: " + ("shared by every node" if samples.shared else
                     "node-local; samples travel to the main process, every node keeps its own and the merged set"))
    output = nodes.storage(config.output_dir)
    lines.append(f"output {output.folder}: " + ("shared by every node" if output.shared else
                 "node-local; every node saves the model and its checkpoints, the main process cards and results"))
    if not output.shared:
        config.save_on_each_node = True
    logger.info("Storage: %s", "; ".join(lines))


def train_stage(run: RunArgs, samples=None, produced: Produced | None = None) -> Produced:
    """Fine-tune on the samples (given, `samples_dataset`, or the samples dir); save model or adapter with its card."""
    from trl import get_peft_config

    from .data import load_samples
    from .trainer import SSDTrainer

    config, produced = run.config, produced or Produced()
    if samples is None and not config.samples_dataset:
        check_samples_match(config, run.model.model_name_or_path)
        samples = load_samples(config.resolved_samples_dir())
    try:
        trainer = SSDTrainer(model=run.model.model_name_or_path, args=config, train_dataset=samples,
                             peft_config=get_peft_config(run.model))
    except ValueError as error:  # peft: a LoRA target module the model does not have
        if "not found in the base model" not in str(error) and "Target modules" not in str(error):
            raise
        targets = run.model.lora_target_modules
        targets = " ".join(targets) if isinstance(targets, (list, tuple)) else targets
        raise SSDError(f"--lora_target_modules {targets} match no module of "
                       f"{run.model.model_name_or_path}; name its linear layers (e.g. q_proj v_proj) or all-linear.") from None
    checkpoint = resume_point(config, trainer.accelerator.is_main_process)
    if checkpoint:
        logger.info("Resuming training from %s", checkpoint)
    trainer.train(resume_from_checkpoint=checkpoint)
    trainer.save_final(config.output_dir)
    produced.model_dir, produced.adapter = config.output_dir, trainer.is_adapter
    produced.unchanged = trainer.weights_unchanged
    produced.num_train_records, produced.resumed_from = trainer.train_dataset.num_rows, checkpoint
    produced.samples_repo = trainer.samples_repo_id
    if config.push_to_hub and trainer.is_world_process_zero():
        from .publish import push_run_model

        produced.model_url = push_run_model(config, trainer.hub_token, trainer.samples_repo_id)
    del trainer
    release_memory()
    return produced


def release_memory() -> None:
    """Give back what the last stage held (the trainer's model and optimizer) before the next loads."""
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def eval_stage(run: RunArgs, model_dir: str, produced: Produced, role: str | None = None,
               round_: int | None = None) -> Produced:
    """Evaluate `model_dir` as the config's eval_* fields say, with the run's engine; main process writes."""
    from .eval.stage import evaluate_model

    outcome = evaluate_model(model_dir, run.config, role=role, round_=round_)
    if outcome is not None:
        produced.results_path, produced.scores, produced.verdicts = outcome
        if run.config.push_to_hub:
            from .publish import push_results, run_repo_id

            push_results(produced.results_path, run_repo_id(run.config), token=run.config.hub_token)
    return produced


def check_run(run: RunArgs) -> None:
    """What can be told before any model loads: a stage to run, a model that exists, samples that match the flags."""
    from .inputs import check_model_ref

    config = run.config
    if not (config.run_sample or config.run_train or config.run_eval):
        raise SSDError("every stage is off (run_sample, run_train and run_eval are all false); turn one on, e.g. "
                       "--run_sample true.")
    check_model_ref(run.model.model_name_or_path, run.model.model_revision)
    if config.samples_dataset and (config.run_train or config.run_sample):
        check_samples_dataset_flags(run)


def check_samples_dataset_flags(run: RunArgs) -> None:
    """A sampling flag given with --samples_dataset that the samples were not drawn with would be ignored: refuse."""
    from .data import samples_location
    from .records import read_samples_manifest
    from .sampling.stage import config_differences

    location = samples_location(run.config.samples_dataset)
    manifest = read_samples_manifest(location) if os.path.isdir(location) else None
    changed = config_differences(manifest, run.config, run.model.model_name_or_path) if manifest else []
    for name, was, is_ in changed:
        if name in run.explicit and name in ("temperature", "top_k", "top_p", "max_new_tokens"):
            raise SSDError(f"--{name} {is_} conflicts with --samples_dataset {run.config.samples_dataset}, drawn with "
                           f"{name} {was}; drop --{name} (it only applies to new samples), or sample again.")


def controls_stage(run: RunArgs, base_model: str) -> list[str]:
    """The base at T_train and at its best T_eval (eval.stage.evaluate_controls; each timed)."""
    from .eval.stage import evaluate_controls

    return evaluate_controls(base_model, run.config)


def run_stages(run: RunArgs, round_: int | None = None, base_model: str | None = None) -> Produced:
    """Sample -> train -> evaluate -> push, as the config says; returns what was produced. Each stage's
    cost goes to <output_dir>/ssd_costs.jsonl and into what it made (costs.py). `round_`/`base_model`:
    set by rounds.py for rounds after the first (the controls are the original base's, made once)."""
    from .costs import attach, sample_tokens, timed

    config, produced, samples, costs = run.config, Produced(), None, []
    check_storage(run)  # first: an input missing on some nodes is named as such, not as missing everywhere
    check_run(run)
    if config.run_sample and config.samples_dataset:
        logger.info("samples_dataset is set (%s): training on it, not sampling", config.samples_dataset)
    elif config.run_sample:
        with timed("sample", config.output_dir, round_) as cost:
            samples = sample_stage(run)
            cost.samples, cost.tokens = len(samples), sample_tokens(samples)
        costs.append(cost)
        produced.samples_dir, produced.num_samples = config.resolved_samples_dir(), len(samples)
    if config.run_train:
        with timed("train", config.output_dir, round_) as cost:
            train_stage(run, samples, produced)
            cost.samples = produced.num_train_records
        costs.append(cost)
        attach(os.path.join(config.output_dir, "ssd_provenance.json"), costs)
    if config.run_eval:
        with timed("eval", config.output_dir, round_) as cost:
            trained = config.run_train
            eval_stage(run, config.output_dir if trained else run.model.model_name_or_path, produced,
                       role="ssd" if trained else None, round_=(round_ or 1) if trained else None)
            cost.samples = sum((produced.verdicts or {}).values()) or None
        if produced.results_path:
            attach(produced.results_path, [*costs, cost])
        if config.eval_controls and config.run_train:
            controls_stage(run, base_model or run.model.model_name_or_path)
    return produced
