"""One parser for every way in: `ssd-hf sample|train|run`, the recipes, and YAML files from Python.

Arguments are TRL's three groups (`ScriptArguments`, `SSDConfig`, `ModelConfig`), read from `--config
FILE.yaml` with command-line overrides of the same names, as TRL's own scripts do. Two rules on top:
- an explicit command-line flag wins over a value derived from the YAML (`--gradient_accumulation_steps`
  over the YAML's `global_batch_size`), and two explicit flags that disagree are a one-line error;
- a command-line flag the command does not use is an error, not a no-op (`ssd-hf sample --run_eval true`).

`--help` shows the SSD flags grouped, without importing TRL (fast); `--help-all` lists every flag.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
from dataclasses import dataclass

from .errors import SSDError
from .inputs import check_yaml_types
from .settings import GROUPS, SSDSettings, group_of

logger = logging.getLogger(__name__)

LIST_FLAGS = ("--endpoint",)
ENDPOINT_FLAGS = {"endpoint", "endpoint_protocol", "concurrency", "request_timeout", "max_retries"}
# TRL/Trainer flags `ssd-hf sample` uses (where to write, seeds, logging, the Hub); its other training flags are refused.
SAMPLE_USES_TRAINING = {"output_dir", "seed", "push_to_hub", "hub_model_id", "hub_token", "hub_private_repo",
                        "hub_revision", "bf16", "fp16", "tf32", "report_to", "run_name", "log_level", "logging_dir",
                        "disable_tqdm", "model_init_kwargs", "use_cpu", "local_rank", "ddp_backend", "ddp_timeout"}
# Flags a command ignores, by the SSDSettings group they belong to (and a few by name).
UNUSED_BY = {
    "sample": {"groups": {"evaluation"}, "names": {"run_sample", "run_train", "run_eval", "samples_dataset",
                                                   "global_batch_size", "truncated_samples", "drop_empty_and_stubs",
                                                   "drop_shortest_fraction", "num_rounds"}},
    "train": {"groups": {"evaluation"}, "names": {"run_sample", "run_train", "run_eval", "num_rounds"}},
    "run": {"groups": set(), "names": set()},
}
# The TRL/Trainer flags most runs touch, shown in the short help (the paper's defaults are SSDConfig's).
ESSENTIALS = {
    "model": [
        ("model_name_or_path", "Hub id or local folder of the base model (the frozen sampler and the model trained)."),
        ("model_revision", "Hub revision of the base model (default main)."),
        ("dtype", "Weights dtype: bfloat16, float16, float32 or auto."),
        ("use_peft", "Train a LoRA adapter instead of the full model (with --lora_r, --lora_alpha, --lora_target_modules)."),
    ],
    "data": [
        ("dataset_name", "The prompt pool: Hub id[@revision], or a local JSONL/Parquet/CSV file or folder."),
        ("dataset_config", "Hub dataset config (rStar-Coder: seed_sft)."),
        ("dataset_train_split", "Split to read (default train)."),
    ],
    "training": [
        ("output_dir", "Where the model, its samples (<output_dir>/samples) and evaluation (<output_dir>/eval) go."),
        ("learning_rate", "Peak learning rate (default 5e-6, the paper's; cosine to a 1e-6 floor)."),
        ("max_steps", "Optimizer steps (paper: 2500 for instruct models); -1 to use num_train_epochs."),
        ("num_train_epochs", "Epochs over the samples when max_steps is -1."),
        ("per_device_train_batch_size", "Sequences per device per step."),
        ("gradient_accumulation_steps", "Steps accumulated per update; derived from global_batch_size unless given."),
        ("max_length", "Longest training sequence (prompt + completion) in tokens."),
        ("save_strategy", "When to checkpoint: steps, epoch or no (with --save_steps)."),
        ("resume_from_checkpoint", "Continue training from a checkpoint folder, or `true` for the last one in output_dir."),
        ("push_to_hub", "Push the samples, the model and its card to the Hub (with --hub_model_id)."),
        ("seed", "Seed for training and, unless sampling_seed is set, for sampling."),
    ],
}
GENERAL = [("config", "A YAML file of any of these flags (recipes/*.yaml); command-line flags override it."),
           ("verbose", "Show library logs (transformers, datasets, HTTP) besides ssd-hf's own."),
           ("help-all", "Every flag, including all of TRL's and transformers' Trainer flags.")]


@dataclass
class RunArgs:
    """What one command line (or recipe, or YAML) resolves to: TRL's three argument groups."""

    script: object  # trl.ScriptArguments
    config: object  # SSDConfig
    model: object  # trl.ModelConfig
    explicit: frozenset = frozenset()  # the flags given on the command line (they win over the YAML)


def merge_repeated_list_flags(argv: list[str], flags: tuple[str, ...] = LIST_FLAGS) -> list[str]:
    """`--endpoint A --endpoint B` -> `--endpoint A B`: argparse's nargs='+' would keep only the last one."""
    values: dict[str, list[str]] = {}
    first_at: dict[str, int] = {}
    out: list[str] = []
    index = 0
    while index < len(argv):
        name, _, inline = argv[index].partition("=")
        if name not in flags:
            out.append(argv[index])
            index += 1
            continue
        first_at.setdefault(name, len(out))
        index += 1
        if inline:
            values.setdefault(name, []).append(inline)
            continue
        while index < len(argv) and not argv[index].startswith("--"):
            values.setdefault(name, []).append(argv[index])
            index += 1
    for name in sorted(first_at, key=first_at.get, reverse=True):
        out[first_at[name] : first_at[name]] = [name, *values.get(name, [])]
    return out


def flag_names(argv: list[str]) -> set[str]:
    """The flags given on a command line, without dashes (`--lr=1` and `--lr 1` both give 'lr')."""
    return {arg[2:].split("=", 1)[0] for arg in argv if arg.startswith("--")}


def _pop_config(argv: list[str], default_config: str | None) -> tuple[list[str], str | None]:
    if "--config" not in argv:
        return argv, default_config
    index = argv.index("--config")
    if index + 1 >= len(argv) or argv[index + 1].startswith("--"):
        raise SSDError("--config needs a YAML file path.")
    path = argv[index + 1]
    if not os.path.isfile(path):
        raise SSDError(f"config file {path} does not exist; check the path.")
    return argv[:index] + argv[index + 2 :], path


def load_yaml(path: str | None) -> dict:
    """A config file's values; its `env:` mapping goes into the environment, as TRL's parser does."""
    import yaml

    if path is None:
        return {}
    with open(path, encoding="utf-8") as handle:
        try:
            values = yaml.safe_load(handle) or {}
        except yaml.YAMLError as error:
            raise SSDError(f"{path} is not valid YAML ({str(error).splitlines()[0]}); fix the file.") from None
    if not isinstance(values, dict):
        raise SSDError(f"{path} must hold a YAML mapping of flag: value.")
    for key, value in (values.pop("env", None) or {}).items():
        os.environ[key] = str(value)
    return values


def check_flags_used(command: str, explicit: set[str]) -> None:
    """A flag the command ignores would be a silent no-op: refuse it in one line."""
    unused = UNUSED_BY.get(command, UNUSED_BY["run"])
    for name in sorted(explicit):
        if name in unused["names"] or group_of(name) in unused["groups"] or command == "sample" and _training_only(name):
            raise SSDError(f"--{name} is not used by `ssd-hf {command}`; drop it, or use `ssd-hf run`, which runs every stage.")


def check_engine_flags(engine: str, explicit: set[str]) -> None:
    """A flag of another engine than the one chosen would be ignored: refuse it in one line."""
    for name in sorted(explicit):
        owner = "vllm" if name.startswith("vllm_") else "endpoint" if name in ENDPOINT_FLAGS else None
        if owner == "endpoint" and engine != "endpoint" or owner == "vllm" and engine not in ("vllm", "auto"):
            raise SSDError(f"--{name} is a flag of --engine {owner}, but the engine is {engine}; drop it, or pass "
                           f"--engine {owner}.")


def _training_only(name: str) -> bool:
    """A TRL/Trainer training flag (not SSD's, not the model's or data's) that sampling does not read."""
    from transformers import TrainingArguments
    from trl import SFTConfig

    fields = {f.name for f in dataclasses.fields(SFTConfig)} | {f.name for f in dataclasses.fields(TrainingArguments)}
    ssd = {f.name for f in dataclasses.fields(SSDSettings)}
    return name in fields and name not in ssd and name not in SAMPLE_USES_TRAINING


def resolve_derived(values: dict, explicit: set[str]) -> None:
    """An explicit flag wins over a value the YAML would derive it from."""
    if "gradient_accumulation_steps" in explicit and "global_batch_size" not in explicit and values.get("global_batch_size"):
        logger.info("--gradient_accumulation_steps given: the config's global_batch_size %s is not used",
                    values.pop("global_batch_size"))


def parse(argv: list[str], command: str = "run", default_config: str | None = None) -> RunArgs:
    """(script, config, model) from YAML + command line, with one-line errors; the same for every entry point."""
    from trl import ModelConfig, ScriptArguments, TrlParser

    from .config import SSDConfig

    argv, config_path = _pop_config(merge_repeated_list_flags(list(argv)), default_config)
    explicit = flag_names(argv)
    check_flags_used(command, explicit)
    values = load_yaml(config_path)
    resolve_derived(values, explicit)
    parser = TrlParser((ScriptArguments, SSDConfig, ModelConfig))
    check_yaml_types(values, parser, config_path)
    try:
        unknown = parser.set_defaults_with_config(**values)
        if unknown:
            raise SSDError(f"{config_path} has unknown keys: {' '.join(unknown)}; check their spelling against --help-all.")
        script, config, model = parser.parse_args_into_dataclasses(args=argv)
    except SSDError:
        raise
    except ValueError as error:  # bad values, unknown flags
        raise SSDError(str(error).splitlines()[0]) from None
    check_engine_flags(config.engine, explicit)
    if not model.model_name_or_path:
        raise SSDError("no model given; pass --model_name_or_path (a Hub id or a local folder) or set it in the YAML.")
    config.model_init_kwargs = {
        **(config.model_init_kwargs or {}),
        "revision": model.model_revision,
        **({"attn_implementation": model.attn_implementation} if model.attn_implementation else {}),
        **({"dtype": model.dtype} if model.dtype else {}),
    }
    return RunArgs(script, config, model, frozenset(explicit))


def parse_args(argv: list[str], command: str = "run") -> tuple:
    """(script, config, model), as TRL's `parse_args_and_config` returns them."""
    run = parse(argv, command)
    return run.script, run.config, run.model


# ----------------------------------------------------------------------------------- help
def help_text(command: str) -> str:
    """The short help: SSD's flags grouped, then the TRL flags most runs touch. Imports nothing heavy."""
    unused = UNUSED_BY.get(command, UNUSED_BY["run"])
    lines = [f"usage: ssd-hf {command} [--config FILE.yaml] [--flag value ...]", ""]
    by_group: dict[str, list] = {}
    for f in dataclasses.fields(SSDSettings):
        group = group_of(f.name) or "training"
        if group not in unused["groups"] and f.name not in unused["names"]:
            by_group.setdefault(group, []).append(f)
    for group, title in GROUPS.items():
        if group == "training":
            continue
        lines += _group_lines(title, [(f.name, _with_default(f)) for f in by_group.get(group, [])])
    lines += _group_lines("Model and prompt pool", ESSENTIALS["model"] + ESSENTIALS["data"])
    training = ESSENTIALS["training"] + [(f.name, _with_default(f)) for f in by_group.get("training", [])]
    lines += _group_lines(GROUPS["training"], training)
    lines += _group_lines("General", GENERAL)
    return "\n".join(lines)


def _with_default(f) -> str:
    default = f.default if f.default is not dataclasses.MISSING else None
    return f"{f.metadata.get('help', '')} (default: {default})" if default not in (None, "") else f.metadata.get("help", "")


def _group_lines(title: str, rows: list[tuple[str, str]]) -> list[str]:
    if not rows:
        return []
    import textwrap

    lines = [f"{title}:"]
    for name, text in rows:
        flag = f"  --{name}"
        wrapped = textwrap.wrap(text, width=110 - 34) or [""]
        lines.append(f"{flag:<34}{wrapped[0]}" if len(flag) < 34 else f"{flag}\n{'':<34}{wrapped[0]}")
        lines += [f"{'':<34}{rest}" for rest in wrapped[1:]]
    return [*lines, ""]


def print_help(command: str, everything: bool = False) -> None:
    if not everything:
        print(help_text(command))
        return
    from trl import ModelConfig, ScriptArguments, TrlParser

    from .config import SSDConfig

    parser = TrlParser((ScriptArguments, SSDConfig, ModelConfig))
    parser.prog = f"ssd-hf {command}"
    parser.print_help(sys.stdout)
