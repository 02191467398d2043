"""One sandboxed run of a candidate program, timed by our clock and bounded in what it can make us hold.

A `Sandbox` starts the runner (sandbox_child.py and its helpers, loaded by a short `-c` program) under
bubblewrap (isolation.py), inside a cgroup of its own (cgroups.py) and under the seccomp filter
(seccomp_filter.py). It hands the runner its config and each test's stdin as sealed in-memory files, takes
output through pipes it drains itself (nothing of the program's is a file on the host disk), and talks to
the runner over a unix socket. Time limits are ours alone: the runner says "ready" once, before the program
is compiled (interpreter start-up is limited separately by `startup_s`), and from then on every send and
every receive has a deadline on our monotonic clock. What we read is capped before it is parsed: output at
`output_bytes` (the test ends there, as a runtime error), each channel line at what the caller allows.
At the end the whole sandbox is killed: its process, every process in its cgroup and PID namespace.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .cgroups import ProgramCgroup
from .isolation import (
    Launch,
    bwrap_launch,
    child_env,
    choose_layers,
    close_launch_fds,
    in_cgroup,
    popen_kwargs,
    site_paths,
)

RUNNER_MODULES = ("sandbox_values", "sandbox_checks", "sandbox_child")
STDERR_TAIL_BYTES = 4096
KILLED_BY_LIMIT = {128 + signal.SIGXCPU, -signal.SIGXCPU}  # out of CPU time; any other death is a runtime error
LAUNCHER_TASKS = 16  # the launcher, setpriv, bubblewrap and its init, counted by the cgroup's process cap
SEALS = fcntl.F_SEAL_SEAL | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_WRITE


def _loader_source() -> str:
    """The `-c` program: the runner's modules, as sources, made importable by name, then its entry."""
    lines = ["import sys, types"]
    for name in RUNNER_MODULES:
        source = Path(__file__).with_name(name + ".py").read_text()
        lines.append(f"_m = types.ModuleType({name!r}); sys.modules[{name!r}] = _m; "
                     f"exec(compile({source!r}, {name + '.py'!r}, 'exec'), _m.__dict__)")
    return "\n".join([*lines, "del _m", "sys.modules['sandbox_child'].entry()"]) + "\n"


LOADER_SOURCE = _loader_source()


@dataclass(frozen=True)
class SandboxLimits:
    """Per-program limits. `timeout_s`: the wall limit of one test (LCB: 6 s). `memory_bytes`: the cgroup's
    memory limit for everything the program makes (and RLIMIT_AS per process). `startup_s`: the most the
    interpreter may take to start before the program's clock runs. `sandbox`: "auto" (bubblewrap, else the
    fallback with a warning), "bwrap" (required) or "fallback". `cgroup`: "auto" (a cgroup per program where
    one can be made, else a warning) or "off" (per-process limits only)."""

    timeout_s: float = 6.0
    memory_bytes: int = 4 * 1024**3
    output_bytes: int = 32 * 1024**2
    tmp_bytes: int = 64 * 1024**2
    nproc: int = 64
    startup_s: float = 60.0
    sandbox: str = "auto"
    cgroup: str = "auto"


class SandboxStartError(RuntimeError):
    """The runner never said ready: a broken sandbox or machine, not the program's fault."""


class ProtocolError(RuntimeError):
    """A line on the channel that is not a result (the program wrote there, or it was too long)."""


@dataclass
class RunResult:
    """A finished run. status: ok | error | timeout | output_limit. `seconds`: from hand-over to exit."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    done: bool = False  # checks mode: the checks ran to their end


def decode_output(data: bytes | bytearray) -> str:
    """Program output as text; lone surrogates pass (as in the official harness's in-memory stdout) and
    bytes that are not UTF-8 become undecodable-byte escapes, which equal no expected text."""
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", "surrogateescape")


def sealed_file(data: bytes, name: str) -> int:
    """An in-memory file holding `data` that nobody can change or grow (not even with fallocate)."""
    fd = os.memfd_create(name, os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
    fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


class Drain:
    """One pipe the program writes, read as it comes: the first `cap` bytes kept (`overflow` past them),
    or with `tail` only the last `cap` bytes."""

    def __init__(self, fd: int, cap: int, tail: bool = False):
        self.fd, self.cap, self.tail = fd, cap, tail
        self.data = bytearray()
        self.overflow = self.closed = False
        os.set_blocking(fd, False)

    def read(self) -> None:
        try:
            chunk = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self.close()
            return
        self.data += chunk
        if self.tail and len(self.data) > 2 * self.cap:
            del self.data[: -self.cap]
        elif not self.tail and len(self.data) > self.cap:
            self.overflow = True
            del self.data[self.cap:]

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)

    def text(self) -> str:
        if self.tail:
            return bytes(self.data[-self.cap:]).decode("utf-8", "replace").strip()
        return decode_output(self.data)


def _limits_config(limits: SandboxLimits, budget_s: float) -> dict:
    return {"cpu_s": int(budget_s) + 2, "mem_bytes": limits.memory_bytes, "fsize_bytes": limits.output_bytes,
            "nproc": limits.nproc}


class Sandbox:
    """A running sandbox (context manager). `config` is the runner's config without limits/site paths;
    `budget_s` sizes the CPU limit (the wall limits are the caller's deadlines)."""

    def __init__(self, config: dict, limits: SandboxLimits, budget_s: float | None = None):
        self.limits = limits
        self.ready_at = self.started_at = 0.0
        self._buf = bytearray()
        budget = limits.timeout_s if budget_s is None else budget_s
        self._config = {**config, "limits": _limits_config(limits, budget), "site_paths": site_paths()}
        self._drains: list[Drain] = []
        self._workdir: str | None = None
        self.cgroup: ProgramCgroup | None = None
        self.proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None

    def __enter__(self) -> Sandbox:
        layers = choose_layers(self.limits.sandbox, self.limits.cgroup)
        try:
            self._start(layers)
        except OSError as exc:  # no cgroup, no process, no descriptor: the machine's trouble, not the program's
            self.__exit__()
            raise SandboxStartError(f"the sandbox could not be started: {exc}") from None
        except BaseException:
            self.__exit__()
            raise
        return self

    def _start(self, layers) -> None:
        if layers.cgroup is not None:
            self.cgroup = ProgramCgroup(layers.cgroup, self.limits.memory_bytes, self.limits.nproc + LAUNCHER_TASKS)
        procs = self.cgroup.procs_files if self.cgroup else []
        self._sock, child_end = socket.socketpair()
        self._sock.setblocking(False)
        cfg = {**self._config, "own_pid_namespace": layers.backend == "bwrap"}
        config_fd = sealed_file(json.dumps(cfg).encode(), "ssd-config")
        stdin_fd = sealed_file(b"", "ssd-stdin")
        err_read, err_write = os.pipe()
        child_fds = (config_fd, child_end.fileno())
        argv = [sys.executable, "-I", "-S", "-B", "-c", LOADER_SOURCE, *map(str, child_fds)]
        if layers.backend == "bwrap":
            launch = bwrap_launch(argv, self.limits.tmp_bytes, child_fds, procs, layers.seccomp)
        else:
            self._workdir = tempfile.mkdtemp(prefix="ssd-sandbox-")
            launch = Launch(in_cgroup(argv, procs), cwd=self._workdir)
        try:
            self.proc = subprocess.Popen(launch.argv, stdin=stdin_fd, stdout=subprocess.DEVNULL, stderr=err_write,
                                         env=child_env(), pass_fds=(*child_fds, *launch.fds), **popen_kwargs(launch))
        finally:
            for fd in (config_fd, stdin_fd, err_write):
                os.close(fd)
            child_end.close()
            close_launch_fds(launch)
            self._stderr = Drain(err_read, STDERR_TAIL_BYTES, tail=True)
            self._drains.append(self._stderr)
        self.started_at = time.monotonic()

    def __exit__(self, *exc) -> None:
        self.kill()
        if self.cgroup is not None:
            self.cgroup.remove()
        if self._sock is not None:
            self._sock.close()
        for drain in self._drains:
            drain.close()
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL the sandbox: its process group, and every process in its cgroup (with bubblewrap its PID
        namespace dies too)."""
        if self.proc is not None and self.proc.returncode is None:
            for send in (lambda: os.killpg(self.proc.pid, signal.SIGKILL), lambda: self.proc.kill()):
                try:
                    send()
                except (ProcessLookupError, PermissionError):
                    pass
        if self.cgroup is not None:
            self.cgroup.kill_all()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.wait()

    def out_of_memory(self) -> bool:
        return self.cgroup is not None and self.cgroup.out_of_memory()

    def _pump(self, deadline: float, writing: bool = False) -> tuple[bool, bool]:
        """Wait until the channel can be read (or written, with `writing`) or the deadline passes, draining
        the output pipes meanwhile. (channel ready, deadline passed)."""
        want = select.POLLOUT if writing else select.POLLIN
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False, True
            drains = {d.fd: d for d in self._drains if not d.closed}
            events = dict(_poll([(self._sock.fileno(), want), *((fd, select.POLLIN) for fd in drains)], remaining))
            for fd, drain in drains.items():
                if fd in events:
                    drain.read()
            if events.get(self._sock.fileno(), 0) & (want | select.POLLHUP | select.POLLERR):
                return True, False
            if any(d.overflow for d in drains.values()):
                return False, False

    def _line(self, deadline: float, max_bytes: int) -> bytes | None:
        """The next line from the runner, None at the deadline; EOFError when the channel closed,
        ProtocolError for a line longer than `max_bytes`."""
        while b"\n" not in self._buf:
            if len(self._buf) > max_bytes:
                raise ProtocolError(f"an answer over {max_bytes} bytes, longer than a right one could be")
            ready, _late = self._pump(deadline)
            if not ready:
                return None
            try:
                chunk = self._sock.recv(1 << 16)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                raise EOFError
            self._buf += chunk
        line, _, rest = self._buf.partition(b"\n")
        if len(line) > max_bytes:
            raise ProtocolError(f"an answer over {max_bytes} bytes, longer than a right one could be")
        self._buf = bytearray(rest)
        return bytes(line)

    def receive(self, deadline: float, max_bytes: int = 1 << 16) -> dict | None:
        """The next message (None at the deadline). Raises EOFError, or ProtocolError for a bad line."""
        line = self._line(deadline, max_bytes)
        if line is None:
            return None
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            raise ProtocolError("an unreadable line on the judge's channel (the program wrote there)") from None
        if not isinstance(message, dict):
            raise ProtocolError("an unreadable line on the judge's channel (the program wrote there)")
        return message

    def wait_ready(self) -> None:
        """Block until the runner is ready; the program's clock starts now (`ready_at`)."""
        try:
            message = self.receive(self.started_at + self.limits.startup_s)
        except (EOFError, ProtocolError):
            message = {}
        if message is None or message.get("ready") is not True:
            self.kill()
            why = "did not start within the start-up limit" if message is None else "failed to start"
            raise SandboxStartError(f"the sandbox {why}: {self.stderr_tail() or 'no message'}")
        self.ready_at = time.monotonic()

    def send(self, obj, deadline: float, fds: tuple[int, ...] = ()) -> bool:
        """One line to the runner, with descriptors attached when given. False when the runner stopped
        reading and the deadline passed first (or it is gone)."""
        view = memoryview(json.dumps(obj).encode() + b"\n")
        while view:
            ready, late = self._pump(deadline, writing=True)
            if late or not ready:
                return False
            try:
                sent = socket.send_fds(self._sock, [view], list(fds)) if fds else self._sock.send(view)
            except BlockingIOError:
                continue
            except OSError:
                return False
            fds, view = (), view[sent:]
        return True

    def run_test(self, index: int, stdin: bytes, allowed_s: float) -> RunResult:
        """stdin mode: one test as a fresh process forked by the runner, given `allowed_s` of our clock
        from the moment we hand it over. Its stdin is a sealed in-memory file, stdout/stderr our pipes."""
        stdin_fd = sealed_file(stdin, "ssd-test-input")
        out_read, out_write = os.pipe()
        err_read, err_write = os.pipe()
        out, err = Drain(out_read, self.limits.output_bytes), Drain(err_read, STDERR_TAIL_BYTES, tail=True)
        self._drains += [out, err]
        try:
            start = time.monotonic()
            sent = self.send({"test": index, "cpu_s": int(allowed_s) + 2}, start + allowed_s, (stdin_fd, out_write, err_write))
        finally:
            for fd in (stdin_fd, out_write, err_write):
                os.close(fd)
        try:
            message = self.receive(start + allowed_s) if sent else None
            if message is not None:  # the test's processes are gone: read what is left in the pipes
                self._finish_drains([out, err], time.monotonic() + 1.0)
        except (EOFError, ProtocolError):
            message = {"test": index, "status": None}  # the runner is gone: the program took it down
        seconds = time.monotonic() - start
        status, returncode = ("output_limit", None) if out.overflow else _test_status(message, index)
        stderr = err.text()
        if returncode is None and status == "error":
            stderr = stderr or "the sandbox's runner was killed"
        result = RunResult(status, returncode, out.text(), stderr, seconds)
        for drain in (out, err):
            drain.close()
            self._drains.remove(drain)
        return result

    def _finish_drains(self, drains: list[Drain], deadline: float) -> None:
        while any(not d.closed and not d.overflow for d in drains) and time.monotonic() < deadline:
            live = {d.fd: d for d in drains if not d.closed}
            for fd, _event in _poll([(fd, select.POLLIN) for fd in live], max(0.0, deadline - time.monotonic())):
                live[fd].read()

    def wait_exit(self, deadline: float) -> int | None:
        """The exit status, or None (and the sandbox killed) when the deadline passes first."""
        while self.proc.poll() is None and time.monotonic() < deadline:
            self._pump(min(deadline, time.monotonic() + 0.05))
        if self.proc.poll() is None:
            self.kill()
            return None
        return self.proc.returncode

    def stderr_tail(self) -> str:
        self._finish_drains([self._stderr], time.monotonic() + 0.2)
        return self._stderr.text()


def _poll(watched: list[tuple[int, int]], timeout_s: float) -> list[tuple[int, int]]:
    """poll(2) over (fd, events): no limit on descriptor numbers, unlike select (a big process has many)."""
    poller = select.poll()
    for fd, events in watched:
        poller.register(fd, events)
    return poller.poll(max(0, int(timeout_s * 1000) + 1))


def _test_status(message: dict | None, index: int) -> tuple[str, int | None]:
    """(status, exit status) of a test from the runner's report (None: our deadline passed first)."""
    if message is None:
        return "timeout", None
    returncode = message.get("status")
    if message.get("test") != index or type(returncode) is not int:
        return "error", None
    if returncode == 0:
        return "ok", 0
    return ("timeout" if returncode in KILLED_BY_LIMIT else "error"), returncode


def run_stdin_once(program: str, rules: dict, limits: SandboxLimits, stdin: bytes = b"") -> RunResult:
    """One stdin-mode run of `program` (a sandbox for a single test)."""
    with Sandbox({"mode": "stdin", "program": program, "rules": rules}, limits) as box:
        box.wait_ready()
        return box.run_test(0, stdin, limits.timeout_s)


def run_once(config: dict, limits: SandboxLimits, budget_s: float | None = None) -> RunResult:
    """Run a checks-mode program to its end, within `budget_s` (default `timeout_s`) of our clock from
    the moment it is ready. Raises SandboxStartError when it never gets ready."""
    budget = limits.timeout_s if budget_s is None else budget_s
    with Sandbox(config, limits, budget) as box:
        box.wait_ready()
        deadline = box.ready_at + budget
        done, timed_out = False, False
        try:
            while (message := box.receive(deadline)) is not None:
                done = done or message.get("done") is True
            timed_out = True
        except (EOFError, ProtocolError):
            pass
        returncode = None if timed_out else box.wait_exit(deadline)
        seconds = time.monotonic() - box.ready_at
        box.kill()
        if returncode is None:
            status = "timeout"
        else:
            status = "ok" if returncode == 0 else "timeout" if returncode in KILLED_BY_LIMIT else "error"
        return RunResult(status, returncode, "", box.stderr_tail(), seconds, done)
