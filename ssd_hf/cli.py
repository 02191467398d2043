"""`ssd-hf` command line: one sub-command per stage, each a thin module in `ssd_hf/commands/` (or its stage).

User errors (`SSDError`) print as one line on stderr and exit with status 2, without a traceback. Logs:
ssd-hf's own INFO lines once (main process), other libraries at WARNING and above; `--verbose` shows all.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import warnings

from .errors import SSDError

# subcommand -> (module, function, one-line help). Each function takes the remaining argv and returns an exit code.
COMMANDS = {
    "sample": ("ssd_hf.commands.stages", "sample_main", "draw frozen-base self-samples into a samples dataset"),
    "train": ("ssd_hf.commands.stages", "train_main", "fine-tune on the samples (full or LoRA)"),
    "run": ("ssd_hf.commands.stages", "run_main", "sample, train, then (with --run_eval true) evaluate and push"),
    "demo": ("ssd_hf.commands.demo", "main", "SSD end to end offline on the paper's toy world, learned by a tiny model"),
    "eval": ("ssd_hf.eval.cli", "main", "LiveCodeBench / HumanEval pass@k in a sandbox"),
    "report": ("ssd_hf.commands.report", "main", "one report.md with plots: base controls vs SSD rounds, paired differences"),
    "push": ("ssd_hf.commands.push", "main", "push samples, models or results to the Hub with cards"),
    "card": ("ssd_hf.commands.card", "main", "render a model's or samples dataset's card locally (no Hub)"),
    "toy": ("ssd_hf.analysis.cli", "toy_main", "the paper's toy world, analytic numbers"),
    "analyze": ("ssd_hf.analysis.cli", "analyze_main", "lock/fork token statistics of base vs SSD"),
    "space": ("ssd_hf.commands.space", "main", "push the Gradio comparison demo as a Space"),
}
QUIET_LIBRARIES = ("transformers", "datasets", "accelerate", "trl", "peft", "httpx", "httpx2", "huggingface_hub",
                   "urllib3", "vllm", "torch", "matplotlib", "filelock", "asyncio")


def usage() -> str:
    lines = ["usage: ssd-hf <command> [--config FILE.yaml] [--field value ...]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "Run `ssd-hf <command> --help` for the options of one command."]
    return "\n".join(lines)


def setup_logging(verbose: bool) -> None:
    """Our INFO lines on the main process; every other library at WARNING unless --verbose."""
    main_process = os.environ.get("RANK", "0") == "0" and os.environ.get("LOCAL_RANK", "0") == "0"
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s" if verbose else "[ssd-hf] %(message)s")
    logging.getLogger("ssd_hf").setLevel(logging.INFO if main_process or verbose else logging.WARNING)
    if verbose:
        return
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "warning")
    os.environ.setdefault("DATASETS_VERBOSITY", "warning")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", message=".*pin_memory.*")


def main(argv: list[str] | None = None, default_config: str | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"ssd-hf: unknown command {command!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    verbose = "--verbose" in rest
    rest = [arg for arg in rest if arg != "--verbose"]
    setup_logging(verbose)
    module_name, function_name, _ = COMMANDS[command]
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        if default_config is not None:
            return int(function(rest, default_config=default_config) or 0)
        return int(function(rest) or 0)
    except SSDError as error:
        print(f"ssd-hf {command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ssd-hf {command}: interrupted; rerun the same command to resume.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ssd-hf sample --help | head`: the reader left; nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
