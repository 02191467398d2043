"""The processes of one launch (`accelerate launch`, torchrun): set up before any stage uses them."""

from __future__ import annotations

import os


def init_distributed_state() -> None:
    """Set up the process group before sampling, so sampling shards over the same ranks training uses.

    A multi-process launch (`accelerate launch --multi_gpu --num_processes N`, torchrun) on a machine with no
    GPU runs on CPU with gloo: accelerate only forms a CPU group when asked (`ACCELERATE_USE_CPU`), and
    TrainingArguments re-creates the state from that same variable, so both stages agree.
    """
    import torch
    from accelerate import PartialState
    from accelerate.utils import parse_flag_from_env

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        os.environ["ACCELERATE_USE_CPU"] = "true"
    PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))
