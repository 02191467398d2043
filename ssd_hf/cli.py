"""`ssd-hf` command line: one sub-command per stage, each a thin module in `ssd_hf/commands/` (or its stage).

User errors (`SSDError`, and argparse's own, which would print the whole usage first) print as one line on
stderr and exit with status 2, without a traceback; under a launch of several processes the first rank that
meets the error prints it and the others exit quietly. Anything else is a bug: its traceback shows, status 1. Logs:
ssd-hf's own INFO lines once (main process), other libraries at WARNING and above; `--verbose` shows all.
"""

from __future__ import annotations

import argparse
import contextlib
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


@contextlib.contextmanager
def one_line_usage_errors(command: str):
    """argparse (ours and TRL's parser) prints its whole usage before a bad value; here the value's line is all."""
    def error(parser, message):
        raise SSDError(f"{message}; see `ssd-hf {command} --help`.")

    original = argparse.ArgumentParser.error
    argparse.ArgumentParser.error = error
    try:
        yield
    finally:
        argparse.ArgumentParser.error = original


def first_to_report() -> bool:
    """True in a single process; under a launch, for the first rank of this node to report (a file made once)."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return True
    import tempfile

    launch = "-".join(os.environ.get(v, "") for v in ("TORCHELASTIC_RUN_ID", "MASTER_ADDR", "MASTER_PORT", "GROUP_RANK"))
    marker = os.path.join(tempfile.gettempdir(), f"ssd-hf-error-{os.getppid()}-{launch.replace('/', '_')}")
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return True
    except FileExistsError:
        return False
    except OSError:
        return os.environ.get("RANK", "0") == "0"


def report_error(command: str, error: SSDError) -> int:
    if first_to_report():
        print(f"ssd-hf {command}: error: {error}", file=sys.stderr)
    return 2


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
    try:
        with one_line_usage_errors(command):
            return run_command(command, rest, default_config)
    except SSDError as error:
        return report_error(command, error)
    except KeyboardInterrupt:
        from . import nodes

        if nodes.peer_error():  # another rank of the launch failed or went silent; the watcher stopped this one
            return report_error(command, SSDError(nodes.peer_error()))
        print(f"ssd-hf {command}: interrupted; rerun the same command to resume.", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ssd-hf sample --help | head`: the reader left; nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run_command(command: str, rest: list[str], default_config: str | None) -> int:
    """One sub-command; under a launch of several ranks, an error here is what the other ranks report."""
    from . import nodes

    module_name, function_name, _ = COMMANDS[command]
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        code = function(rest, default_config=default_config) if default_config is not None else function(rest)
    except BaseException as error:
        if not isinstance(error, KeyboardInterrupt) or not nodes.peer_error():
            nodes.report_failure(error)
        raise
    nodes.finish()
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
