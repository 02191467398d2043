"""`ssd-hf` command line: one subcommand per stage, each implemented next to its stage.

User errors (`SSDError`) print as one line on stderr and exit with status 2, without a traceback.
"""

from __future__ import annotations

import importlib
import logging
import sys

from .errors import SSDError

# subcommand -> (module, function, one-line help). Each function takes the remaining argv and returns an exit code.
COMMANDS = {
    "sample": ("ssd_hf.pipeline", "sample_main", "draw frozen-base self-samples into a samples dataset"),
    "train": ("ssd_hf.pipeline", "train_main", "fine-tune on the samples (full or LoRA)"),
    "run": ("ssd_hf.pipeline", "run_main", "sample, then train"),
    "demo": ("ssd_hf.pipeline", "demo_main", "SSD end to end offline on the paper's toy world, learned by a tiny model"),
    "eval": ("ssd_hf.eval.cli", "main", "LiveCodeBench / HumanEval pass@k in a sandbox"),
    "push": ("ssd_hf.hub_cli", "main", "push samples, models or results to the Hub with cards"),
    "toy": ("ssd_hf.analysis.cli", "toy_main", "the paper's toy world, analytic numbers"),
    "analyze": ("ssd_hf.analysis.cli", "analyze_main", "lock/fork token statistics of base vs SSD"),
    "space": ("ssd_hf.space_cli", "main", "push the Gradio comparison demo as a Space"),
}


def usage() -> str:
    lines = ["usage: ssd-hf <command> [--config FILE.yaml] [--field value ...]", "", "commands:"]
    lines += [f"  {name:<8} {help_}" for name, (_, _, help_) in COMMANDS.items()]
    lines += ["", "Run `ssd-hf <command> --help` for the options of one command."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"ssd-hf: unknown command {command!r}; choose one of: {', '.join(COMMANDS)}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    module_name, function_name, _ = COMMANDS[command]
    try:
        function = getattr(importlib.import_module(module_name), function_name)
        return int(function(rest) or 0)
    except SSDError as error:
        print(f"ssd-hf {command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ssd-hf {command}: interrupted; rerun the same command to resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
