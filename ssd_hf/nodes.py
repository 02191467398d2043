"""The ranks of one launch across nodes: which folders they share, waits that name whom they wait for, a rank
that fails or falls silent stops the others, and records that travel between nodes in bounded chunks.

Under `accelerate launch --num_machines N` the nodes may or may not share a filesystem (cloud nodes have local
disks). So ranks never wait on a file another node wrote: they meet through the launch's rendezvous store (the
key-value server every rank of a launch reaches), which has no timeout a long sampling run could trip, and move
data over the launch's process group (a gloo group beside NCCL on GPUs). Every wait says every few minutes
whom it waits for; a rank's error, or a rank that stops answering for a minute, ends every rank with one line.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .errors import SSDError, first_line

logger = logging.getLogger(__name__)

SILENT_S = float(os.environ.get("SSD_HF_PEER_TIMEOUT", "60"))  # a rank not heard from this long has died
BEAT_S = min(5.0, SILENT_S / 4)  # how often each rank says it is alive
WAIT_LOG_S = 120.0  # a wait names whom it waits for this often
CHUNK_BYTES = 4 << 20  # records per gather/broadcast round, at most about this many bytes
PROBE_FILE = ".ssd-shared-{token}"


@dataclass(frozen=True)
class Storage:
    """Whether every rank sees the main process's copy of `folder` (one filesystem) or a node-local one.

    `seen[r]`: rank r found the token the main process wrote there. `owners`: the ranks that write the folder's
    merged files, the main process and, where the folder is node-local, the first rank of each other node.
    """

    folder: str
    seen: tuple[bool, ...]
    local_ranks: tuple[int, ...]

    @property
    def shared(self) -> bool:
        return all(self.seen)

    @property
    def owners(self) -> tuple[int, ...]:
        return tuple(r for r, (seen, local) in enumerate(zip(self.seen, self.local_ranks)) if r == 0 or (not seen and local == 0))

    def senders(self) -> tuple[int, ...]:
        """Owners of a copy the main process does not see: their samples travel to it, the merged ones come back."""
        return tuple(r for r in self.owners if r != 0)


class _Launch:
    """This process's view of the launch, set up once by `start`."""

    def __init__(self, store, rank: int, world: int, group):
        self.store, self.rank, self.world, self.group = store, rank, world, group
        self.seq, self.hosts, self.storages = 0, {}, {}
        self.finished, self.peer_error = False, None
        self.stopped, self.watcher = threading.Event(), None


_launch: _Launch | None = None


def active() -> bool:
    return _launch is not None


def start() -> None:
    """After the process group exists (several ranks): name this rank's host, start the heartbeat and watch."""
    global _launch
    import torch.distributed as dist
    from torch.distributed import distributed_c10d

    if _launch is not None or not dist.is_available() or not dist.is_initialized() or dist.get_world_size() < 2:
        return
    group = None if dist.get_backend() == "gloo" else dist.new_group(backend="gloo")  # objects travel on CPU
    _launch = _Launch(distributed_c10d._get_default_store(), dist.get_rank(), dist.get_world_size(), group)
    local = os.environ.get("LOCAL_RANK", "0")
    _launch.store.set(f"ssd/host/{_launch.rank}", f"{socket.gethostname()}|{local}")
    _launch.watcher = threading.Thread(target=_watch, args=(_launch,), name="ssd-hf-watch", daemon=True)
    _launch.watcher.start()
    atexit.register(finish)  # a script's rank that ends is not mistaken for a silent one (the CLI says it sooner)
    previous = sys.excepthook

    def report_then_print(kind, error, trace):  # a script's rank that dies of an error tells the others
        report_failure(error)
        previous(kind, error, trace)

    sys.excepthook = report_then_print


def host(rank: int) -> str:
    """'rank 1 (host node-b)', for messages."""
    launch = _launch
    if rank not in launch.hosts:
        launch.hosts[rank] = launch.store.get(f"ssd/host/{rank}").decode().split("|")[0]
    return f"rank {rank} ({launch.hosts[rank]})"


def _local_rank(rank: int) -> int:
    return int(_launch.store.get(f"ssd/host/{rank}").decode().split("|")[1])


# ----------------------------------------------------------------------------- failures and silence
def report_failure(error: BaseException) -> None:
    """This rank stops with an error: the first failure of the launch is what every other rank prints."""
    if _launch is None or _launch.finished:
        return
    try:
        _launch.store.compare_set("ssd/failure", "", f"{_launch.rank}\t{first_line(error)}")
    except Exception:  # noqa: BLE001 - the store may be gone with the main process; nothing more to tell
        pass


def finish() -> None:
    """This rank is done: it stops beating, and the others stop watching it. The watcher thread is joined
    before the process exits: left inside a store call, its C++ client aborted the exit ("terminate called
    without an active exception")."""
    if _launch is not None and not _launch.finished:
        _launch.finished = True
        _launch.stopped.set()
        try:
            _launch.store.set(f"ssd/done/{_launch.rank}", "1")
        except Exception:  # noqa: BLE001 - the main process may have left first
            pass
        watcher = _launch.watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(timeout=3 * BEAT_S)


def peer_error() -> str | None:
    """Why another rank stopped this one (the watcher interrupted it), or None."""
    return None if _launch is None else _launch.peer_error


def _failure(store, ignore: int | None = None) -> str | None:
    """The launch's first failure, as every other rank prints it (None when none, or when it is `ignore`'s own)."""
    if not store.check(["ssd/failure"]):
        return None
    rank, message = store.get("ssd/failure").decode().split("\t", 1)
    return None if int(rank) == ignore else f"{host(int(rank))} stopped: {message}"


def _watch(launch: _Launch) -> None:
    """Beat; stop this rank when another failed or fell silent (the main thread may be inside a collective)."""
    try:
        store = launch.store.clone()
    except Exception:  # noqa: BLE001 - an older store without clone(): share the client (its calls are serialized)
        store = launch.store
    heard = {r: (0, time.monotonic()) for r in range(launch.world)}
    lost_since = None
    while not launch.finished:
        try:
            store.add(f"ssd/beat/{launch.rank}", 1)
            problem = _failure(store, ignore=launch.rank) or _silent(store, launch, heard)
            lost_since = None
        except Exception:  # noqa: BLE001 - the rendezvous store went away: the main process's node stopped
            lost_since = lost_since or time.monotonic()
            problem = None
            if time.monotonic() - lost_since > 3 * BEAT_S:
                problem = "lost the launch's main process (rank 0): it stopped or its node went down"
        if problem and not launch.finished:
            _stop(launch, problem)
            return
        launch.stopped.wait(BEAT_S)


def _silent(store, launch: _Launch, heard: dict) -> str | None:
    now = time.monotonic()
    for rank in range(launch.world):
        if rank == launch.rank or store.check([f"ssd/done/{rank}"]):
            continue
        beats = int(store.add(f"ssd/beat/{rank}", 0))
        if beats != heard[rank][0]:
            heard[rank] = (beats, now)
        elif now - heard[rank][1] > SILENT_S:
            return f"{host(rank)} has not answered for {SILENT_S:.0f} s (killed, or its node went down)"
    return None


def _stop(launch: _Launch, problem: str) -> None:
    import _thread

    launch.peer_error = (f"{problem}; stop the launch on every node and rerun the same command there: finished "
                         "samples and checkpoints are kept.")
    _thread.interrupt_main()  # the CLI prints peer_error() as its one line
    if launch.stopped.wait(30):  # the main thread took the interrupt and is ending (finish() joins us)
        return
    # still here: the main thread is stuck in a collective
    print(f"ssd-hf: error: {launch.peer_error}", file=sys.stderr, flush=True)
    os._exit(2)


# ----------------------------------------------------------------------------- meeting points
def sync(name: str, value: str = "", wait_for: Iterable[int] | None = None, doing: str = "") -> dict[int, str]:
    """Every rank posts `value` under `name`; returns the values of the ranks in `wait_for` (default: all) once
    each has posted. Says every few minutes whom it still waits for; a failed or silent rank ends the wait."""
    launch = _launch
    launch.seq += 1
    prefix = f"ssd/sync/{launch.seq}/{name}"
    launch.store.set(f"{prefix}/{launch.rank}", value)
    ranks = list(range(launch.world) if wait_for is None else wait_for)
    start, logged = time.monotonic(), time.monotonic()
    while True:
        try:
            missing = [r for r in ranks if not launch.store.check([f"{prefix}/{r}"])]
            problem = _failure(launch.store) if missing else None
        except Exception:  # noqa: BLE001
            raise SSDError("lost the launch's main process (rank 0): it stopped or its node went down; rerun the "
                           "same command on every node.") from None
        if not missing:
            return {r: launch.store.get(f"{prefix}/{r}").decode() for r in ranks}
        if problem or launch.peer_error:
            raise SSDError(problem or launch.peer_error)
        if time.monotonic() - logged >= WAIT_LOG_S:
            logged = time.monotonic()
            logger.warning("%s: waiting %.0f min for %s%s", host(launch.rank), (logged - start) / 60,
                           ", ".join(host(r) for r in missing), f" ({doing})" if doing else "")
        time.sleep(0.2)


def wait_all(doing: str) -> None:
    """Every rank waits for the others, e.g. while the main process judges. Under several ranks through the
    rendezvous store (no collective timeout to trip, names whom it waits for); else accelerate's barrier."""
    if _launch is None:
        from accelerate import PartialState

        PartialState().wait_for_everyone()
        return
    sync("wait", doing=doing)


def from_main(value):
    """The main process's `value` (JSON-able) on every rank; the other ranks wait on the launch's store, not in a
    collective, so the main process may take as long as it needs (judging) before it posts. One process: the value."""
    if _launch is None:
        from accelerate import PartialState
        from accelerate.utils import broadcast_object_list

        return broadcast_object_list([value])[0] if PartialState().num_processes > 1 else value
    return json.loads(sync("from-main", json.dumps(value) if _launch.rank == 0 else "", wait_for=[0])[0])


def everywhere(flag: bool) -> bool:
    """True when `flag` is true on every rank (one process: the flag)."""
    if _launch is None:
        return flag
    return all(v == "1" for v in sync("everywhere", "1" if flag else "0").values())


def storage(folder: str) -> Storage:
    """Whether every rank sees the main process's `folder` (asked once per folder; creates it on every rank)."""
    launch = _launch
    if folder in launch.storages:
        return launch.storages[folder]
    token = uuid.uuid4().hex if launch.rank == 0 else ""
    try:
        os.makedirs(folder, exist_ok=True)
        if token:
            with open(os.path.join(folder, PROBE_FILE.format(token=token)), "w") as handle:
                handle.write(token)
    except OSError as error:
        raise SSDError(f"{host(launch.rank)} cannot create {folder}: {error.strerror}; give a folder this node can "
                       "write (node-local or shared storage both work).") from None
    token = sync("probe", token, wait_for=[0], doing=f"looking at {folder}")[0]
    path = os.path.join(folder, PROBE_FILE.format(token=token))
    seen = os.path.isfile(path)
    answers = sync("probe-seen", "1" if seen else "0", doing=f"looking at {folder}")
    if launch.rank == 0:
        os.remove(path)
    found = Storage(folder, tuple(answers[r] == "1" for r in range(launch.world)),
                    tuple(_local_rank(r) for r in range(launch.world)))
    launch.storages[folder] = found
    return found


def require_everywhere(paths: dict[str, str]) -> None:
    """Inputs every rank reads (a local samples dataset, prompt file, model folder): a path some rank sees and
    another does not is one line, on every rank, at start (a Hub id is on no rank's disk and passes)."""
    mine = [flag for flag, path in paths.items() if os.path.exists(path)]
    answers = {rank: set(json.loads(v)) for rank, v in sync("inputs", json.dumps(mine), doing="checking the inputs").items()}
    for flag, path in paths.items():
        lacking = [rank for rank, seen in sorted(answers.items()) if flag not in seen]
        if lacking and len(lacking) < len(answers):
            raise SSDError(f"{flag} {path} is not on {host(lacking[0])}: copy it to the same path on every node, "
                           "or put it on storage every node mounts.")


# ----------------------------------------------------------------------------- records between nodes
def _chunks(lines: Iterable[str]) -> list[list[str]]:
    chunks, current, size = [], [], 0
    for line in lines:
        if current and size + len(line) > CHUNK_BYTES:
            chunks.append(current)
            current, size = [], 0
        current.append(line)
        size += len(line)
    return chunks + ([current] if current else [])


def gather_to_main(records: Iterable[dict]) -> Iterator[list[dict]]:
    """Every rank's records to the main process, about CHUNK_BYTES per rank and round; the main process yields
    each round's records (the others yield nothing). Every rank must call it."""
    import torch.distributed as dist

    launch = _launch
    chunks = _chunks(json.dumps(r, ensure_ascii=False) for r in records)
    counts = [None] * launch.world
    dist.all_gather_object(counts, len(chunks), group=launch.group)
    for round_ in range(max(counts)):
        mine = chunks[round_] if round_ < len(chunks) else []
        received = [None] * launch.world if launch.rank == 0 else None
        dist.gather_object(mine, received, dst=0, group=launch.group)
        if launch.rank == 0:
            yield [json.loads(line) for part in received for line in part]


def broadcast_from_main(records: Iterable[dict] | None) -> Iterator[list[dict]]:
    """The main process's records to every rank, a bounded chunk per round. Every rank must call it."""
    import torch.distributed as dist

    launch = _launch
    chunks = _chunks(json.dumps(r, ensure_ascii=False) for r in records) if launch.rank == 0 else []
    count = [len(chunks)]
    dist.broadcast_object_list(count, src=0, group=launch.group)
    for round_ in range(count[0]):
        box = [chunks[round_] if launch.rank == 0 else None]
        dist.broadcast_object_list(box, src=0, group=launch.group)
        yield [json.loads(line) for line in box[0]]
