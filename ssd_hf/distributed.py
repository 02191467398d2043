"""The processes of one launch (`accelerate launch`, torchrun): set up before any stage uses them."""

from __future__ import annotations

import os

from . import nodes
from .errors import SSDError

MPI_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "WORLD_SIZE")


def check_cpu_launch() -> None:
    """`accelerate launch --cpu --num_processes N` starts ONE process unless MPI is set up (accelerate 1.x): say so
    instead of silently running a single rank. Its trace: a CPU launch with a rendezvous address (set only for
    several processes) and no process count from any launcher."""
    cpu = os.environ.get("ACCELERATE_USE_CPU", "").lower() in ("1", "true", "yes")
    if cpu and "MASTER_ADDR" in os.environ and not any(v in os.environ for v in MPI_SIZE_VARS):
        raise SSDError("`accelerate launch --cpu --num_processes N` started one process (accelerate needs MPI, "
                       "--mpirun_hostfile, for several CPU ranks); use `accelerate launch --multi_gpu --num_processes N`, "
                       "which runs N CPU ranks with gloo on a machine without a GPU.")



def init_distributed_state() -> None:
    """Set up the process group before sampling, so sampling shards over the same ranks training uses.

    A multi-process launch (`accelerate launch --multi_gpu --num_processes N`, torchrun) on a machine with no
    GPU runs on CPU with gloo: accelerate only forms a CPU group when asked (`ACCELERATE_USE_CPU`), and
    TrainingArguments re-creates the state from that same variable, so both stages agree. With several ranks,
    `nodes.start` names each rank's host and watches for ranks that fail or fall silent.
    """
    import torch
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    check_cpu_launch()
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        os.environ["ACCELERATE_USE_CPU"] = "true"
    PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
    nodes.start()
