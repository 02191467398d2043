"""How a sandboxed process is started: bubblewrap over a minimal read-only root, or a weaker fallback.

bubblewrap (`bwrap`, the sandbox Flatpak uses) builds each program a new root holding only what Python
needs, read-only: /usr (the system's libraries, and the interpreter when it is the system's) and the
interpreter's own prefixes and site-packages when they live elsewhere. It adds its own /proc and a minimal
/dev (both read-only but for the device nodes), and a size-capped tmpfs /tmp that is the working
directory, and nothing else: no /etc, no /run, no HOME, no host sockets, no project folder, no test data.
`--unshare-all` gives it new network (no interface but loopback), PID, IPC, UTS, cgroup and user
namespaces; `--die-with-parent` and the PID namespace kill every process it started when it or we die;
`--new-session` detaches it from our terminal; all capabilities are dropped and it runs as uid 65534.
It cannot make user namespaces of its own (`--disable-userns`), has its own hostname, and sees a fixed
/proc/cmdline and boot id instead of the host's. The seccomp filter (seccomp_filter.py) goes in with
`--seccomp`, and a launcher joins the program's cgroup (cgroups.py) before anything else starts.

When we are root, bubblewrap itself is started as the unprivileged user 65534 (through `setpriv`, after the
launcher joined the cgroup as root): run as root, the sandbox's
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
from .cgroups import CgroupRoots, cgroup_roots
from .seccomp_filter import seccomp_program

logger = logging.getLogger(__name__)

NOBODY = 65534
TOP_LEVEL_SYSTEM = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
BWRAP_BASE = ("--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
              "--uid", str(NOBODY), "--gid", str(NOBODY))
SHM_BYTES = 16 * 1024**2
# Runs as root inside a private mount namespace: joins the program's cgroup (each cgroup.procs file in $4,
# as JOIN_SCRIPT does), opens every source folder ($2, newline-separated) on the free descriptors in $3,
# covers each unreachable folder ($1) with a small tmpfs, re-creates the source paths inside it and
# bind-mounts the opened folders there, then runs the command as user 65534.
STAGE_SCRIPT = r"""set -e
IFS='
'
umask 022
set -f
for f in $4; do echo $$ > "$f"; done
fds=$3
for s in $2; do fd=${fds%% *}; fds=${fds#* }; eval "exec $fd<\"\$s\""; done
for d in $1; do mount -t tmpfs -o size=64k,mode=0755 ssd-stage "$d"; done
fds=$3
for s in $2; do fd=${fds%% *}; fds=${fds#* }; mkdir -p "$s"; mount -c --bind "/proc/self/fd/$fd" "$s"; eval "exec $fd<&-"; done
shift 4
exec setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
"""


# Runs first, as whoever starts the sandbox: writes its own pid into each cgroup.procs file ($1, newline-
# separated), so that every process of the program is born inside the group, then becomes the command.
JOIN_SCRIPT = r"""set -f
IFS='
'
for f in $1; do echo $$ > "$f" || exit 125; done
shift
exec "$@"
"""
DROP_TO_NOBODY = ("setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups")
FAKE_PROC_FILES = {"/proc/cmdline": b"sandbox\n", "/proc/sys/kernel/random/boot_id": b"00000000-0000-4000-8000-000000000000\n"}


@dataclass(frozen=True)
class Launch:
    """What to run: `argv` for subprocess.Popen, `cwd` None for the sandbox's own working directory,
    `fds` descriptors the launch reads (the seccomp filter, the masked /proc files): passed to the child,
    closed by the caller once it started."""

    argv: list[str]
    cwd: str | None = None
    fds: tuple[int, ...] = ()


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


def _data_fd(data: bytes) -> int:
    fd = os.memfd_create("ssd-sandbox-data", os.MFD_CLOEXEC)
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@functools.lru_cache(maxsize=1)
def _bwrap_knows_disable_userns() -> bool:
    try:
        return "--disable-userns" in subprocess.run(["bwrap", "--help"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return False


def bwrap_args(tmp_bytes: int, seccomp: bytes | None = None) -> tuple[list[str], list[int]]:
    """bubblewrap's options and the descriptors they name: the read-only root (system folders, then the
    interpreter's), /proc with the host's boot facts masked, /dev, a capped /tmp as working directory, no
    further user namespaces, the seccomp filter; / and /dev remounted read-only last."""
    fds: list[int] = []
    base = [*BWRAP_BASE, "--hostname", "sandbox"]
    if _bwrap_knows_disable_userns():
        base += ["--unshare-user", "--disable-userns"]
    args = ["bwrap", *base, "--ro-bind", "/usr", "/usr"]
    for top in TOP_LEVEL_SYSTEM:
        if os.path.islink(top):
            args += ["--symlink", os.readlink(top), top]
        elif os.path.isdir(top):
            args += ["--ro-bind", top, top]
    args += ["--proc", "/proc", "--dev", "/dev", "--size", str(SHM_BYTES), "--tmpfs", "/dev/shm",
             "--size", str(tmp_bytes), "--tmpfs", "/tmp"]
    for path, data in FAKE_PROC_FILES.items():
        fds.append(_data_fd(data))
        args += ["--ro-bind-data", str(fds[-1]), path]
    for root in python_roots():
        args += ["--ro-bind", root, root]
    if seccomp is not None:
        fds.append(_data_fd(seccomp))
        args += ["--seccomp", str(fds[-1])]
    return [*args, "--remount-ro", "/dev", "--remount-ro", "/", "--chdir", "/tmp"], fds


def _staged(command: list[str], pass_fds: tuple[int, ...], procs_files: list[str]) -> list[str]:
    """Root with an interpreter user 65534 cannot reach: expose it through a private mount namespace."""
    sources = [r for r in python_roots() if _unreachable_ancestor(r)]
    hidden = sorted({_unreachable_ancestor(r) for r in sources})
    free = [str(fd) for fd in range(3, 10) if fd not in pass_fds]
    if len(free) < len(sources) or any("\n" in p for p in sources):
        raise SSDError("the sandbox cannot expose this Python's folders to its unprivileged user; "
                       "install Python where user 65534 can read it (e.g. /usr or /opt)")
    script_args = ["\n".join(hidden), "\n".join(sources), " ".join(free[: len(sources)]) + " ", "\n".join(procs_files)]
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", STAGE_SCRIPT, "sh", *script_args, *command]


def in_cgroup(argv: list[str], procs_files: list[str]) -> list[str]:
    """`argv` started by a shell that first joins the program's cgroup (nothing to join: `argv` itself)."""
    if not procs_files:
        return argv
    return ["sh", "-c", JOIN_SCRIPT, "sh", "\n".join(procs_files), *argv]


def bwrap_launch(argv: list[str], tmp_bytes: int, pass_fds: tuple[int, ...], procs_files: list[str] = (),
                 seccomp: bytes | None = None) -> Launch:
    """`argv` (paths as seen inside) wrapped in bubblewrap, started the safe way for who we are: inside
    the cgroup, and as root dropped to user 65534 before bubblewrap starts."""
    args, fds = bwrap_args(tmp_bytes, seccomp)
    command = [*args, *argv]
    if os.geteuid() == 0 and any(_unreachable_ancestor(r) for r in python_roots()):
        return Launch(_staged(command, (*pass_fds, *fds), list(procs_files)), fds=tuple(fds))  # joins the cgroup itself
    if os.geteuid() == 0:
        command = [*DROP_TO_NOBODY, *command]
    return Launch(in_cgroup(command, list(procs_files)), fds=tuple(fds))


def close_launch_fds(launch: Launch) -> None:
    for fd in launch.fds:
        try:
            os.close(fd)
        except OSError:
            pass


def popen_kwargs(launch: Launch) -> dict:
    """Popen options for `launch`: a new session, the launch's own descriptors kept open."""
    return {"start_new_session": True, "cwd": launch.cwd or "/"}


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
    launch = None
    try:
        launch = bwrap_launch([sys.executable, "-I", "-S", "-c", "pass"], 1024**2, ())
        proc = subprocess.run(launch.argv, capture_output=True, timeout=60, env=child_env(), pass_fds=launch.fds,
                              **popen_kwargs(launch))
    except (OSError, subprocess.TimeoutExpired, SSDError) as exc:
        return str(exc)
    finally:
        if launch is not None:
            close_launch_fds(launch)
    if proc.returncode != 0:
        return (proc.stderr.decode(errors="replace").strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
    return None


@dataclass(frozen=True)
class Layers:
    """What isolates a program here: `backend` "bwrap" | "fallback", the cgroup roots (None: per-process
    limits only) and the seccomp filter (None: none could be built)."""

    backend: str
    cgroup: CgroupRoots | None
    seccomp: bytes | None

    def record(self) -> dict:
        """What results.json says about the sandbox."""
        return {"backend": self.backend, "cgroup": f"v{self.cgroup.version}" if self.cgroup else None,
                "seccomp": self.seccomp is not None}


@functools.cache
def choose_layers(sandbox: str, cgroup: str = "auto") -> Layers:
    """The layers for a requested sandbox ("auto" | "bwrap" | "fallback") and cgroup ("auto" | "off");
    each missing layer is one warning line, once per process, naming what still holds."""
    backend = choose_backend(sandbox)
    roots = None
    if cgroup != "off":
        roots, why = cgroup_roots()
        if roots is None:
            logger.warning("sandbox: %s; memory is limited per process (RLIMIT_AS) and processes per user "
                           "(RLIMIT_NPROC) only, not for the program as a whole (docs/eval.md)", why)
    else:
        logger.warning("sandbox: no cgroup (--sandbox_cgroup off): memory is limited per process (RLIMIT_AS) and "
                       "processes per user (RLIMIT_NPROC) only, not for the program as a whole")
    seccomp = None
    if backend == "bwrap":
        seccomp, why = seccomp_program()
        if seccomp is None:
            logger.warning("sandbox: no seccomp filter (%s); namespaces and limits still hold", why)
    return Layers(backend, roots, seccomp)


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
