"""The evaluator as a typed call: `evaluate(EvalRequest) -> results dict`, what `ssd-hf run` uses.

Why: the run's evaluation stage used to build an `ssd-hf eval` command line and parse it again; a field
renamed on one side failed only at run time. Here the request is a dataclass whose fields are the
evaluator's options (checked against them at the border), and `ssd-hf eval` and `ssd-hf run` share one
`eval.cli.run`.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field

from ..errors import SSDError


@dataclass
class EvalRequest:
    """One evaluation: what to generate with, on which problems, how to decode and judge, where to write."""

    model: str | None
    output: str
    benchmark: str | None = None
    problems: str | None = None
    start_date: str | None = None
    end_date: str | None = None
    limit: int | None = None
    n: int = 10
    temperature: float = 1.0
    top_k: int = 20
    top_p: float = 0.8
    max_new_tokens: int = 4096
    seed: int = 0
    system_prompt: str | None = None
    no_chat_template: bool = False
    sweep_temperature: str | None = None
    decode_baseline: bool = False
    workers: int | None = None
    grader: str = "lcb"
    engine: dict = field(default_factory=dict)  # the engine options (eval.generation.add_engine_arguments' names)
    role: str | None = None  # recorded in results.json: base@T_train | base@best-T | ssd (report.inputs)
    round: int | None = None


def to_namespace(request: EvalRequest) -> argparse.Namespace:
    """The evaluator's options: its defaults, then the request's fields (an unknown engine option is refused)."""
    from .cli import build_parser

    defaults = vars(build_parser().parse_args([]))
    values = {k: v for k, v in dataclasses.asdict(request).items() if k not in ("engine", "role", "round")}
    unknown = sorted(set(request.engine) - set(defaults))
    if unknown:
        raise SSDError(f"unknown engine option {unknown[0]!r} in an evaluation request; use ssd-hf eval's engine option names")
    return argparse.Namespace(**{**defaults, **values, **request.engine})


def evaluate(request: EvalRequest) -> dict | None:
    """Generate and judge; the results dict on the main process (role and round added), None on the others."""
    from .cli import run
    from .runner import default_workers

    args = to_namespace(request)
    if args.workers is None:
        args.workers = default_workers()
    results = run(args)
    if results is not None and request.role:
        results["role"] = request.role
        if request.round is not None:
            results["round"] = request.round
    return results
