"""How a sandboxed process is started: bubblewrap over a minimal read-only root, or a weaker fallback.

bubblewrap (`bwrap`, the sandbox Flatpak uses) builds each program a new root holding only what Python
needs, read-only: /usr (the system's libraries, and the interpreter when it is the system's) and the
interpreter's own prefixes and site-packages when they live elsewhere. It adds its own /proc and a minimal
/dev (both read-only but for the device nodes), and a size-capped tmpfs /tmp that is the working
directory, and nothing else: no /etc, no /run, no HOME, no host sockets, no project folder, no test data.
`--unshare-all` gives it new network (no interface but loopback), PID, IPC, UTS, cgroup and user
namespaces; `--die-with-parent` and the PID namespace kill every process it started when it or we die;
`--new-session` detaches it from our terminal; all capabilities are dropped and it runs as uid 65534.

When we are root, bubblewrap itself is started as the unprivileged user 65534: run as root, the sandbox's
user namespace would map its uid to host root, which owns host device nodes and may write sysctls. An
interpreter that user 65534 cannot reach (pyenv under a 0700 /root) is first exposed through a private
mount namespace of ours (`unshare --mount`): a tmpfs over the unreachable folder holds a bind mount of
just the interpreter's prefix, made from a file descriptor opened before the folder was covered.

Fallback, only where bwrap cannot run (not installed, user namespaces disabled): the program runs as
ourselves in a temporary folder with the same resource limits, a clean environment and a new session,
but with NO filesystem, network or process isolation: it can read whatever we can read, reach the
network, write where we can write, and outlive the run by leaving its session. A one-line warning says
so when it is used; `--sandbox bwrap` refuses to run without bubblewrap instead.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import stat
import subprocess
import sys
from dataclasses import dataclass

from ..errors import SSDError

logger = logging.getLogger(__name__)

NOBODY = 65534
TOP_LEVEL_SYSTEM = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
BWRAP_BASE = ("--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
              "--uid", str(NOBODY), "--gid", str(NOBODY))
SHM_BYTES = 16 * 1024**2
# Runs as root inside a private mount namespace: opens every source folder ($2, newline-separated) on the
# free descriptors in $3, covers each unreachable folder ($1) with a small tmpfs, re-creates the source
# paths inside it and bind-mounts the opened folders there, then runs the command as user 65534.
STAGE_SCRIPT = r"""set -e
IFS='
'
umask 022
set -f
fds=$3
for s in $2; do fd=${fds%% *}; fds=${fds#* }; eval "exec $fd<\"\$s\""; done
for d in $1; do mount -t tmpfs -o size=64k,mode=0755 ssd-stage "$d"; done
fds=$3
for s in $2; do fd=${fds%% *}; fds=${fds#* }; mkdir -p "$s"; mount -c --bind "/proc/self/fd/$fd" "$s"; eval "exec $fd<&-"; done
shift 3
exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
"""


@dataclass(frozen=True)
class Launch:
    """What to run and as whom: `argv` for subprocess.Popen, `as_nobody` to start it as user 65534
    (Popen's user/group), `cwd` None for the sandbox's own working directory."""

    argv: list[str]
    as_nobody: bool = False
    cwd: str | None = None


def _covered(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def python_roots() -> list[str]:
    """Folders outside /usr the interpreter needs: its prefixes and the site-packages on our path."""
    candidates = {sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix,
                  os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    candidates.update(site_paths())
    roots: list[str] = []
    for path in sorted(os.path.realpath(p) for p in candidates if p and os.path.isdir(p)):
        if path != "/" and not _covered(path, ["/usr", *roots]):
            roots.append(path)
    return roots


def site_paths() -> list[str]:
    """The site-packages folders the child adds to its path itself: it starts with -S, so no .pth file
    of any package runs inside the sandbox."""
    return [p for p in sys.path if p and os.path.basename(p) in ("site-packages", "dist-packages") and os.path.isdir(p)]


def _unreachable_ancestor(path: str) -> str | None:
    """The first folder on `path` that user 65534 cannot enter (no execute bit for others), if any."""
    current = "/"
    for part in path.strip("/").split("/"):
        current = os.path.join(current, part)
        mode = os.stat(current).st_mode
        if stat.S_ISDIR(mode) and not mode & stat.S_IXOTH:
            return current
    return None


def bwrap_args(tmp_bytes: int) -> list[str]:
    """bubblewrap's options: the read-only root (system folders, then the interpreter's), /proc, /dev,
    a capped /tmp as working directory; / and /dev remounted read-only last."""
    args = ["bwrap", *BWRAP_BASE, "--ro-bind", "/usr", "/usr"]
    for top in TOP_LEVEL_SYSTEM:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
             "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    for root in python_roots():
        args += ["--ro-bind", root, root]
    return [*args, "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp"]


def _staged(command: list[str], pass_fds: tuple[int, ...]) -> Launch:
    """Root with an interpreter user 65534 cannot reach: expose it through a private mount namespace."""
    sources = [r for r in python_roots() if _unreachable_ancestor(r)]
    hidden = sorted({_unreachable_ancestor(r) for r in sources})
    free = [str(fd) for fd in range(3, 10) if fd not in pass_fds]
    if len(free) < len(sources) or any("\n" in p for p in sources):
        raise SSDError("the sandbox cannot expose this Python's folders to its unprivileged user; "
                       "install Python where user 65534 can read it (e.g. /usr or /opt)")
    script_args = ["\n".join(hidden), "\n".join(sources), " ".join(free[: len(sources)]) + " "]
    return Launch(["unshare", "--mount", "--propagation", "private", "sh", "-c", STAGE_SCRIPT, "sh", *script_args, *command])


def bwrap_launch(argv: list[str], tmp_bytes: int, pass_fds: tuple[int, ...]) -> Launch:
    """`argv` (paths as seen inside) wrapped in bubblewrap, started the safe way for who we are."""
    command = [*bwrap_args(tmp_bytes), *argv]
    if os.geteuid() != 0:
        return Launch(command)
    if any(_unreachable_ancestor(r) for r in python_roots()):
        return _staged(command, pass_fds)
    return Launch(command, as_nobody=True)


def popen_kwargs(launch: Launch) -> dict:
    """Popen options for `launch`: a new session always; user 65534 with no groups when asked."""
    kwargs: dict = {"start_new_session": True, "cwd": launch.cwd or "/"}
    if launch.as_nobody:
        kwargs.update(user=NOBODY, group=NOBODY, extra_groups=[])
    return kwargs


def child_env() -> dict[str, str]:
    """The child's whole environment: no HOME, no tokens, no proxies (the interpreter runs with -I, which
    ignores PYTHON* variables anyway); one thread for numerical libraries, as the official harness sets."""
    return {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


@functools.lru_cache(maxsize=1)
def bwrap_problem() -> str | None:
    """None when bubblewrap runs a Python here; else why not (checked once per process)."""
    for tool in ("bwrap",) + (("unshare", "setpriv") if os.geteuid() == 0 else ()):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed (Debian/Ubuntu/Fedora package: {'bubblewrap' if tool == 'bwrap' else 'util-linux'})"
    try:
        launch = bwrap_launch([sys.executable, "-I", "-S", "-c", "pass"], 1024**2, ())
        proc = subprocess.run(launch.argv, capture_output=True, timeout=60, env=child_env(), **popen_kwargs(launch))
    except (OSError, subprocess.TimeoutExpired, SSDError) as exc:
        return str(exc)
    if proc.returncode != 0:
        return (proc.stderr.decode(errors="replace").strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    return None


@functools.cache
def choose_backend(requested: str) -> str:
    """"bwrap" or "fallback" for a requested "auto" | "bwrap" | "fallback"; warns once on fallback."""
    if requested == "fallback":
        logger.warning("sandbox: running programs WITHOUT isolation (--sandbox fallback): limits only; see docs/eval.md")
        return "fallback"
    problem = bwrap_problem()
    if problem is None:
        return "bwrap"
    if requested == "bwrap":
        raise SSDError(f"the bubblewrap sandbox cannot run here: {problem}; install bubblewrap (scripts/setup_test_system.sh) "
                       "or pass --sandbox auto to accept the weaker fallback")
    logger.warning("sandbox: bubblewrap cannot run (%s); programs run WITHOUT isolation (limits only); "
                   "install bubblewrap, see docs/eval.md", problem)
    return "fallback"
