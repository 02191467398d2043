"""SSD rounds: round r+1 samples from round r's trained model and trains it on those samples.

Why: the paper ran one round; in its toy world a second round keeps gaining (8.3% -> 13.8% -> about
16.5%, docs/paper.md). With `num_rounds` N > 1, round r lives in <output_dir>/round-<r>/ (its samples,
its model, its eval/results.json at its own best T_eval when a sweep is set); the base controls are made
once, in <output_dir>/controls/. The sampler of each round is frozen (a separate engine over the saved
model); a LoRA round is merged into full weights (round-<r>/merged/) before the next round samples.
A rerun skips every finished round (model saved and, with run_eval, results written) and resumes in the
round where it stopped, from that round's own checkpoints and samples store.
"""

from __future__ import annotations

import copy
import json
import logging
import os

from .args import RunArgs
from .pipeline import Produced, run_stages

logger = logging.getLogger(__name__)


def round_dir(output_dir: str, r: int) -> str:
    return os.path.join(output_dir, f"round-{r}")


def round_run(run: RunArgs, r: int, model: str) -> RunArgs:
    """The run of round r: its own folders, sampling from (and training) `model`."""
    config, model_args = copy.copy(run.config), copy.copy(run.model)
    config.output_dir = round_dir(run.config.output_dir, r)
    config.num_rounds = 1  # this is one round: its trainer trains once
    config.samples_dir = os.path.join(run.config.samples_dir, f"round-{r}") if run.config.samples_dir else None
    config.eval_output_dir = os.path.join(run.config.eval_output_dir, f"round-{r}") if run.config.eval_output_dir else None
    config.eval_controls = run.config.eval_controls and r == 1
    config.eval_controls_dir = run.config.eval_controls_dir or os.path.join(run.config.output_dir, "controls")
    if r > 1:
        config.samples_dataset = None  # given samples are the base's: later rounds draw their own
        model_args.model_name_or_path, model_args.model_revision = model, None
    return RunArgs(run.script, config, model_args)


def finished(config) -> bool:
    if not os.path.isfile(os.path.join(config.output_dir, "ssd_provenance.json")):
        return False
    return not config.run_eval or os.path.isfile(os.path.join(config.resolved_eval_dir(), "results.json"))


def stamp_lineage(model_dir: str, r: int, lineage: list[str]) -> None:
    """Write the round and the models it descends from into its ssd_provenance.json."""
    from .records import atomic_write

    path = os.path.join(model_dir, "ssd_provenance.json")
    if os.environ.get("RANK", "0") != "0" or not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if data.get("round") == r and data.get("lineage") == list(lineage):
        return  # a finished round stays untouched by a rerun
    data.update(round=r, lineage=list(lineage))
    atomic_write(path, json.dumps(data, indent=2))


def sampler_for_next_round(model_dir: str) -> str:
    """Full weights to sample from: the folder itself, or an adapter merged into its base (once)."""
    if not os.path.isfile(os.path.join(model_dir, "adapter_config.json")):
        return model_dir
    merged = os.path.join(model_dir, "merged")
    if not os.path.isfile(os.path.join(merged, "config.json")):
        from accelerate import PartialState
        from peft import AutoPeftModelForCausalLM
        from transformers import AutoTokenizer

        if PartialState().is_main_process:
            model = AutoPeftModelForCausalLM.from_pretrained(model_dir).merge_and_unload()
            model.save_pretrained(merged)
            AutoTokenizer.from_pretrained(model_dir).save_pretrained(merged)
        from . import nodes

        nodes.wait_all(f"the main process merges the adapter into {merged}")
    return merged


def run_rounds(run: RunArgs) -> list[Produced]:
    """Every round in order (finished ones skipped); one Produced per round run now."""
    if run.config.num_rounds < 1:
        from .errors import SSDError

        raise SSDError(f"--num_rounds must be at least 1 (got {run.config.num_rounds}); 1 is the paper's single round")
    if run.config.num_rounds == 1:
        return [run_stages(run)]
    base = run.model.model_name_or_path
    model, lineage, produced = base, [base], []
    for r in range(1, run.config.num_rounds + 1):
        this = round_run(run, r, model)
        if finished(this.config):
            logger.info("Round %d is done (%s); going on to the next", r, this.config.output_dir)
        else:
            logger.info("Round %d of %d: sampling from %s", r, run.config.num_rounds, model)
            produced.append(run_stages(this, round_=r, base_model=base))
        stamp_lineage(this.config.output_dir, r, lineage)
        model = sampler_for_next_round(this.config.output_dir)
        lineage.append(this.config.output_dir)
    return produced
