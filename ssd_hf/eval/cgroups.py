"""A cgroup per sandboxed program: one memory limit for every process and page it makes, one process cap,
one kill for all of it.

Why: RLIMIT_AS is per process (three forked processes hold three times the cap) and sees no memfd, SysV
shared memory or tmpfs page; RLIMIT_NPROC counts per user. A memory cgroup charges every page the program's
processes touch (anonymous memory, page cache, tmpfs, memfd, shm) against one limit, the kernel's OOM killer
ends the program when it is reached, and the pids controller caps processes and threads together.

Where the group is made: cgroup v1 (a `memory` and a `pids` hierarchy, as root): a child of our own group in
each. cgroup v2: a child of our own group when its subtree already has the memory and pids controllers (the
root group), else a sibling of our group when the parent delegates them to us (root, or a user's systemd
`user@.service` subtree). The launcher's first process writes itself into the group before anything of the
program runs (isolation.py), so nothing escapes it by forking early. Where no group can be made, the caller
says so in one line and the per-process limits still hold (docs/eval.md).
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import time
import uuid
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class CgroupRoots:
    """Where program groups go: `version` 1 or 2; `parents` the folder per hierarchy (v2: one folder)."""

    version: int
    parents: tuple[str, ...]


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, fs type, options) of the cgroup file systems we see."""
    out = []
    with open("/proc/self/mounts") as f:
        for line in f:
            _dev, point, fstype, options, *_ = line.split()
            if fstype in ("cgroup", "cgroup2"):
                out.append((point.replace("\\040", " "), fstype, set(options.split(","))))
    return out


def _own_paths() -> dict[str, str]:
    """Our group per v1 controller, and under "" the v2 one (/proc/self/cgroup)."""
    paths = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            _hid, controllers, path = line.rstrip("\n").split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path
    return paths


def _writable(folder: str) -> bool:
    return os.path.isdir(folder) and os.access(folder, os.W_OK | os.X_OK)


def _read_words(path: str) -> set[str]:
    try:
        with open(path) as f:
            return set(f.read().split())
    except OSError:
        return set()


def _v1_roots(mounts, own) -> CgroupRoots | None:
    parents = []
    for controller in ("memory", "pids"):
        point = next((p for p, t, opts in mounts if t == "cgroup" and controller in opts), None)
        if point is None or controller not in own:
            return None
        folder = os.path.join(point, own[controller].lstrip("/"))
        if not _writable(folder):
            return None
        parents.append(folder)
    return CgroupRoots(1, tuple(parents))


def _v2_roots(mounts, own) -> CgroupRoots | None:
    point = next((p for p, t, _ in mounts if t == "cgroup2"), None)
    if point is None or "" not in own:
        return None
    ours = os.path.join(point, own[""].lstrip("/"))
    wanted = {"memory", "pids"}
    for folder in (ours, os.path.dirname(ours.rstrip("/"))):
        if not folder.startswith(point) or not _writable(folder):
            continue
        enabled = _read_words(os.path.join(folder, "cgroup.subtree_control"))
        if not wanted <= enabled and wanted <= _read_words(os.path.join(folder, "cgroup.controllers")):
            try:  # allowed where the folder holds no process of its own (or is the root group)
                with open(os.path.join(folder, "cgroup.subtree_control"), "w") as f:
                    f.write("+memory +pids")
                enabled = wanted
            except OSError:
                pass
        if wanted <= enabled:
            return CgroupRoots(2, (folder,))
    return None


@functools.lru_cache(maxsize=1)
def cgroup_roots() -> tuple[CgroupRoots | None, str]:
    """(where program groups go, "") or (None, why none can be made here); checked once per process."""
    try:
        mounts, own = _mounts(), _own_paths()
    except OSError as exc:
        return None, f"cannot read /proc ({exc})"
    roots = _v1_roots(mounts, own) or _v2_roots(mounts, own)
    if roots is None:
        kind = "cgroup v2" if any(t == "cgroup2" for _, t, _ in mounts) and not any(t == "cgroup" for _, t, _ in mounts) else "cgroups"
        return None, (f"no {kind} memory+pids group can be made here (they need root, or a delegated subtree such as "
                      "`systemd-run --user --scope -p Delegate=yes`)")
    _remove_orphans(roots)
    try:  # one real group proves we may make them (a read-only or restricted cgroupfs says no only here)
        ProgramCgroup(roots, 64 * 1024**2, 8).remove()
    except OSError as exc:
        return None, f"cannot make a cgroup under {roots.parents[0]} ({exc.strerror or exc})"
    return roots, ""


def _remove_orphans(roots: CgroupRoots) -> None:
    """Empty groups an evaluator left when it was killed (its pid is in the name and no longer runs)."""
    for parent in roots.parents:
        for name in os.listdir(parent):
            parts = name.split("-")
            if name.startswith("ssd-hf-") and len(parts) == 4 and parts[2].isdigit() and not os.path.exists(f"/proc/{parts[2]}"):
                try:
                    os.rmdir(os.path.join(parent, name))
                except OSError:
                    pass


class ProgramCgroup:
    """One program's group (v1: one folder per hierarchy). `procs_files`: where a launcher writes its pid."""

    def __init__(self, roots: CgroupRoots, memory_bytes: int, max_tasks: int):
        self.version = roots.version
        name = f"ssd-hf-{os.getpid()}-{uuid.uuid4().hex[:12]}"
        self.folders = [os.path.join(parent, name) for parent in roots.parents]
        try:
            for folder in self.folders:
                os.mkdir(folder, 0o755)
            if self.version == 1:
                self._write(self.folders[0], "memory.limit_in_bytes", memory_bytes)
                self._write(self.folders[0], "memory.memsw.limit_in_bytes", memory_bytes, optional=True)  # no swap either
                self._write(self.folders[1], "pids.max", max_tasks)
            else:
                self._write(self.folders[0], "memory.max", memory_bytes)
                self._write(self.folders[0], "memory.swap.max", 0, optional=True)
                self._write(self.folders[0], "pids.max", max_tasks)
        except OSError:
            self.remove()
            raise
        self.procs_files = [os.path.join(f, "cgroup.procs") for f in self.folders]

    @staticmethod
    def _write(folder: str, name: str, value: int, optional: bool = False) -> None:
        path = os.path.join(folder, name)
        if optional and not os.path.exists(path):
            return
        with open(path, "w") as f:
            f.write(str(value))

    def pids(self) -> list[int]:
        pids: set[int] = set()
        for folder in self.folders:
            try:
                with open(os.path.join(folder, "cgroup.procs")) as f:
                    pids.update(int(p) for p in f.read().split())
            except (OSError, ValueError):
                pass
        return sorted(pids)

    def kill_all(self) -> None:
        """SIGKILL every process in the group (v2: cgroup.kill; v1: until the group is empty)."""
        if self.version == 2 and os.path.exists(os.path.join(self.folders[0], "cgroup.kill")):
            try:
                self._write(self.folders[0], "cgroup.kill", 1)
            except OSError:
                pass
        for _ in range(200):
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            time.sleep(0.005)

    def out_of_memory(self) -> bool:
        """Whether the kernel's OOM killer ended a process of this group (the memory limit was reached)."""
        path = os.path.join(self.folders[0], "memory.oom_control" if self.version == 1 else "memory.events")
        try:
            with open(path) as f:
                fields = dict(line.split() for line in f if line.strip())
        except (OSError, ValueError):
            return False
        return fields.get("oom_kill", "0") != "0"

    def remove(self) -> None:
        """Kill what is left and remove the group's folders. A killed process leaves its group only once it
        is reaped, which on a busy machine takes a moment: retried for up to 5 s."""
        deadline = time.monotonic() + 5.0
        for folder in self.folders:
            while True:
                try:
                    os.rmdir(folder)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        logger.warning("sandbox: could not remove cgroup %s (a process of it is still exiting)", folder)
                        break
                    self.kill_all()
                    time.sleep(0.02)
