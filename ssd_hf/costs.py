"""What each stage of a run cost: wall time, samples, tokens and devices, failed attempts included.

Why: "what did it cost?" is a question every SSD result is asked, and GPU-hours cannot be reconstructed
afterwards. Every stage `ssd-hf run` starts appends one line to <output_dir>/ssd_costs.jsonl when it
ends, whether it finished or raised (status "failed"), so a rerun after a failure keeps the failed
attempt's cost. The finished stages' records are also written into what the stage made (the model's
ssd_provenance.json and the results.json, field `costs`), so a report on those files has them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass

LEDGER = "ssd_costs.jsonl"


@dataclass
class StageCost:
    """One attempt at one stage."""

    stage: str  # sample | train | eval | eval-control
    status: str = "ok"  # ok | failed
    wall_s: float = 0.0
    samples: int | None = None
    tokens: int | None = None  # generated (sampling, evaluation) or trained-on (training) tokens, when known
    devices: int = 1  # processes of the launch (one accelerator each on GPU machines)
    device_kind: str = "cpu"
    round: int | None = None
    started_at: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def device_facts() -> tuple[int, str]:
    """(processes in this launch, the accelerator's name or 'cpu')."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    try:
        import torch

        if torch.cuda.is_available():
            return world, torch.cuda.get_device_name(0)
    except Exception:  # noqa: BLE001 - a cost record must never fail a run
        pass
    return world, "cpu"


@contextmanager
def timed(stage: str, output_dir: str, round_: int | None = None):
    """Yield a StageCost to fill in (samples, tokens); on exit, time it and append it to the ledger."""
    devices, kind = device_facts()
    cost = StageCost(stage=stage, devices=devices, device_kind=kind, round=round_, started_at=time.time())
    start = time.monotonic()
    try:
        yield cost
    except BaseException:
        cost.status = "failed"
        raise
    finally:
        cost.wall_s = round(time.monotonic() - start, 3)
        _append(output_dir, cost)


def _append(output_dir: str, cost: StageCost) -> None:
    if os.environ.get("RANK", "0") != "0":
        return
    try:
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, LEDGER), "a", encoding="utf-8") as handle:
            handle.write(json.dumps(cost.to_dict()) + "\n")
    except OSError:
        pass  # the ledger is a record, not a reason to stop


def read_ledger(output_dir: str) -> list[dict]:
    path = os.path.join(output_dir, LEDGER)
    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def attach(json_path: str, costs: list[StageCost | dict]) -> None:
    """Add stage records to a JSON file's `costs` list (ssd_provenance.json, results.json), atomically."""
    if os.environ.get("RANK", "0") != "0" or not os.path.isfile(json_path):
        return
    from .records import atomic_write

    with open(json_path, encoding="utf-8") as handle:
        data = json.load(handle)
    data["costs"] = list(data.get("costs") or []) + [c.to_dict() if isinstance(c, StageCost) else c for c in costs]
    atomic_write(json_path, json.dumps(data, indent=1))


def sample_tokens(dataset) -> int | None:
    """Generated tokens in a samples Dataset (its completion_tokens column), when recorded."""
    try:
        return int(sum(t for t in dataset["completion_tokens"] if t is not None))
    except (KeyError, TypeError, ValueError):
        return None
