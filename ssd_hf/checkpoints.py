"""Checkpoints that are whole or invisible: what a rerun may resume from, and a save that fails cleanly.

A kill -9 or a full disk in the middle of a save leaves `checkpoint-N/` half written; transformers' own
`get_last_checkpoint` would pick it and every rerun would crash on it. Here a checkpoint counts only when its
`trainer_state.json` (written last) reads and its weights and optimizer files are complete; an incomplete one
is reported in one line and removed, and the run resumes from the newest whole one.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import re
import shutil
import struct
import zipfile

from .errors import SSDError

logger = logging.getLogger(__name__)

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
WEIGHTS = ("model.safetensors", "adapter_model.safetensors", "pytorch_model.bin", "adapter_model.bin")
INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")
# Other layouts (DeepSpeed, FSDP) keep their weights in a folder; their own loader checks them.
WEIGHT_FOLDERS = ("global_step", "pytorch_model_fsdp")
TORCH_FILES = ("optimizer.pt", "scheduler.pt", "scaler.pt", "rng_state.pth")
FULL_DISK_SIGNS = ("no space left", "storagefull", "unexpected pos", "disk quota exceeded")


def _safetensors_whole(path: str) -> bool:
    """The header reads and the file is as long as the header says: a truncated write fails this."""
    size = os.path.getsize(path)
    with open(path, "rb") as handle:
        head = handle.read(8)
        if len(head) < 8:
            return False
        length = struct.unpack("<Q", head)[0]
        if length > size - 8:
            return False
        header = json.loads(handle.read(length))
    ends = [entry["data_offsets"][1] for key, entry in header.items() if key != "__metadata__"]
    return size == 8 + length + max(ends, default=0)


def _file_whole(path: str) -> bool:
    try:
        if path.endswith(".safetensors"):
            return _safetensors_whole(path)
        if path.endswith((".pt", ".pth", ".bin")):  # torch.save's zip: its directory is written last
            with zipfile.ZipFile(path) as archive:
                return bool(archive.namelist())
        return True
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, struct.error):
        return False


def _weight_files(folder: str, names: set[str]) -> list[str] | None:
    """The weight files a checkpoint needs, or None when it names none it could be loaded from."""
    for index in INDEXES:
        if index in names:
            with open(os.path.join(folder, index), encoding="utf-8") as handle:
                return sorted(set(json.load(handle)["weight_map"].values()))
    present = [name for name in WEIGHTS if name in names]
    if present:
        return present
    return [] if any(name.startswith(WEIGHT_FOLDERS) for name in names) else None


def why_incomplete(folder: str) -> str | None:
    """None for a whole checkpoint, else what is missing or broken (for the one log line)."""
    try:
        names = set(os.listdir(folder))
        with open(os.path.join(folder, "trainer_state.json"), encoding="utf-8") as handle:
            if "global_step" not in json.load(handle):
                return "trainer_state.json has no global_step"
        weights = _weight_files(folder, names)
    except FileNotFoundError as error:
        return f"no {os.path.basename(error.filename or 'trainer_state.json')}"
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"unreadable ({type(error).__name__})"
    if weights is None:
        return "no weights file"
    for name in [*weights, *(n for n in TORCH_FILES if n in names)]:
        if name not in names or not _file_whole(os.path.join(folder, name)):
            return f"{name} is {'missing' if name not in names else 'incomplete'}"
    return None


def checkpoints(output_dir: str) -> list[str]:
    """Every `checkpoint-N` folder in output_dir, newest (highest N) first."""
    if not os.path.isdir(output_dir):
        return []
    found = [(int(m.group(1)), name) for name in os.listdir(output_dir) if (m := CHECKPOINT.match(name))]
    return [os.path.join(output_dir, name) for _, name in sorted(found, reverse=True)
            if os.path.isdir(os.path.join(output_dir, name))]


def remove_checkpoint(folder: str) -> None:
    """Out of sight at once (a rename), then deleted; a concurrent reader never sees half of it as a checkpoint."""
    aside = os.path.join(os.path.dirname(folder), f".incomplete-{os.path.basename(folder)}-{os.getpid()}")
    try:
        os.rename(folder, aside)
    except FileNotFoundError:
        return  # another rank removed it first
    shutil.rmtree(aside, ignore_errors=True)


def newest_whole(output_dir: str) -> tuple[str | None, list[tuple[str, str]]]:
    """The newest whole checkpoint (None when there is none) and the (folder, reason) of newer incomplete ones."""
    broken = []
    for folder in checkpoints(output_dir):
        reason = why_incomplete(folder)
        if reason is None:
            return folder, broken
        broken.append((folder, reason))
    return None, broken


def last_whole_checkpoint(output_dir: str, remove: bool = True) -> str | None:
    """The newest whole checkpoint; newer incomplete ones are named in one line and (main process) removed."""
    folder, broken = newest_whole(output_dir)
    if broken:
        names = ", ".join(f"{os.path.basename(f)} ({reason})" for f, reason in broken)
        (logger.warning if remove else logger.info)("Skipping incomplete checkpoint%s from an interrupted save: %s; %s; %s",
                       "s" if len(broken) > 1 else "", names, "removed" if remove else "left in place",
                       f"resuming from {os.path.basename(folder)}" if folder else "starting from step 0")
        if remove:
            for path, _ in broken:
                remove_checkpoint(path)
    return folder


def check_resumable(folder: str) -> None:
    """An explicitly named checkpoint must be whole: say what is wrong rather than crash inside the Trainer."""
    reason = why_incomplete(folder)
    if reason is not None:
        raise SSDError(f"--resume_from_checkpoint {folder} is incomplete ({reason}), likely from an interrupted save; "
                       "name an earlier checkpoint, or pass `true` to resume from the newest whole one.")


# ----------------------------------------------------------------------------------- full disk
def is_disk_full(error: BaseException, folder: str) -> bool:
    """ENOSPC anywhere in the chain, the signs torch and safetensors give for it, or no space left at folder."""
    seen = error
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(sign in str(seen).lower() for sign in FULL_DISK_SIGNS):
            return True
        seen = seen.__cause__ or seen.__context__
    try:
        return shutil.disk_usage(_existing(folder)).free < 1 << 20
    except OSError:
        return False


def mount_point(path: str) -> str:
    path = os.path.realpath(_existing(path))
    while not os.path.ismount(path):
        path = os.path.dirname(path)
    return path


def _existing(path: str) -> str:
    path = os.path.abspath(path)
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path = os.path.dirname(path)
    return path


def remove_written_since(folder: str, started: float) -> None:
    """The files a failed save wrote at the top of folder (checkpoints and samples below it stay)."""
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        path = os.path.join(folder, name)
        try:
            if os.path.isfile(path) and os.path.getmtime(path) >= started - 1:
                os.remove(path)
        except OSError:
            pass


def disk_full_error(what: str, folder: str, resume_from: str | None) -> SSDError:
    then = f"it resumes from {os.path.basename(resume_from)}" if resume_from else "it starts training again"
    return SSDError(f"cannot save {what} to {folder}: the disk at {mount_point(folder)} is full; free space there or "
                    f"choose another --output_dir, then rerun the same command ({then}).")


def finished_state(checkpoint, max_steps: int):
    """The TrainerState of `checkpoint` when training had already reached its last step there, else None.

    Why: transformers resumed from its final checkpoint runs one more step before it checks the step count
    (checkpoint-8 of an 8-step run gives a model of 9 steps), so a rerun of a finished command would not end
    with the weights of the uninterrupted run. `max_steps` <= 0: the step count the checkpoint's run planned.
    """
    from transformers import TrainerState

    path = os.path.join(checkpoint, "trainer_state.json") if isinstance(checkpoint, str) else None
    if path is None or not os.path.isfile(path):
        return None
    state = TrainerState.load_from_json(path)
    target = max_steps if max_steps > 0 else state.max_steps
    return state if target and state.global_step >= target else None
