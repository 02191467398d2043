"""`ssd-hf sample | train | run` and the recipe entries (`recipes/<model>.py`): parse, run the stages, report.

All four go through `args.parse` and `pipeline.run_stages`; they differ only in which stages they run.
`ssd-hf run --config recipes/x.yaml` and `accelerate launch recipes/x.py` are the same run.
"""

from __future__ import annotations

import os
import sys

from ..args import parse, print_help
from ..distributed import init_distributed_state
from ..errors import SSDError
from ..pipeline import Produced, run_stages

# command -> (run_sample, run_train, run_eval) it forces; None keeps the config's (run, recipes).
FORCED_STAGES = {"sample": (True, False, False), "train": (False, True, False), "run": None}


def wants_help(argv: list[str]) -> bool | None:
    """True for --help-all, False for --help/-h, None for neither."""
    if "--help-all" in argv:
        return True
    return False if ("--help" in argv or "-h" in argv) else None


def stage_main(command: str, argv: list[str], default_config: str | None = None) -> int:
    everything = wants_help(argv)
    if everything is not None:
        print_help(command, everything)
        return 0
    init_distributed_state()
    run = parse(argv, command, default_config)
    forced = FORCED_STAGES.get(command)
    if forced is not None:
        run.config.run_sample, run.config.run_train, run.config.run_eval = forced
    if command == "sample" and run.config.samples_dataset:
        raise SSDError("`ssd-hf sample` draws new samples; --samples_dataset names existing ones (use `ssd-hf train`).")
    if run.config.num_rounds > 1 and command == "run":
        from ..rounds import run_rounds

        produced = (run_rounds(run) or [Produced()])[-1]
    else:
        produced = run_stages(run)
    from accelerate import PartialState

    if PartialState().is_main_process:
        print(report(command, produced, run))
    return 0


def report(command: str, produced: Produced, run) -> str:
    """What the command produced, where, and the next command to run."""
    lines = [""]
    if produced.samples_dir:
        lines.append(f"samples:  {produced.num_samples} in {produced.samples_dir}")
    if produced.model_dir:
        what = "adapter" if produced.adapter else "model"
        resumed = f", resumed from {os.path.basename(produced.resumed_from)}" if produced.resumed_from else ""
        resumed += "; WARNING: the weights equal the base model's, no update was made" if produced.unchanged else ""
        lines.append(f"{what}:{' ' * (9 - len(what))}{produced.model_dir} (trained on {produced.num_train_records} samples{resumed})")
    if produced.results_path:
        scores = ", ".join(f"{d} {100 * v:.1f}%" for d, v in (produced.scores or {}).items())
        verdicts = ", ".join(f"{k} {v}" for k, v in sorted((produced.verdicts or {}).items()))
        lines += [f"results:  {produced.results_path}", f"pass@1:   {scores}", f"verdicts: {verdicts}"]
    if produced.model_url:
        lines.append(f"pushed:   {produced.model_url}")
    lines.append(f"next:     {next_command(command, produced, run)}")
    return "\n".join(lines)


def next_command(command: str, produced: Produced, run) -> str:
    config = run.config
    if command == "sample":
        samples = f" --samples_dir {config.samples_dir}" if config.samples_dir else ""
        return f"ssd-hf train --model_name_or_path {run.model.model_name_or_path} --output_dir {config.output_dir}" \
               f"{samples} (with the flags of this run)"
    if produced.results_path:
        return f"ssd-hf push results {produced.results_path} --repo_id YOU/{os.path.basename(os.path.abspath(config.output_dir))}"
    return f"ssd-hf eval --model {produced.model_dir or config.output_dir} --benchmark lcb-v6 --n 10 " \
           f"--temperature {config.eval_temperature} --output {config.resolved_eval_dir()}"


def sample_main(argv: list[str]) -> int:
    return stage_main("sample", argv)


def train_main(argv: list[str]) -> int:
    return stage_main("train", argv)


def run_main(argv: list[str], default_config: str | None = None) -> int:
    return stage_main("run", argv, default_config)


def recipe_main(recipe_file: str) -> None:
    """Entry of `recipes/<model>.py`: its YAML (beside it) unless `--config` is given, then command-line overrides."""
    from ..cli import main

    default_config = os.path.splitext(os.path.abspath(recipe_file))[0] + ".yaml"
    sys.exit(main(["run", *sys.argv[1:]], default_config=default_config))
