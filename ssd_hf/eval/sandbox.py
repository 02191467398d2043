"""One sandboxed run of a candidate program, timed by our clock; never in our own process.

A `Sandbox` starts the runner (sandbox_child.py) under bubblewrap (isolation.py), hands it its config
through an unnamed temporary file, gives it stdin/stdout/stderr as unnamed temporary files (nothing is
left on disk if we are killed), and talks to it over a unix socket, which also carries each stdin test's
files. Time limits are ours alone: the runner says "ready" once, before the program is compiled (so
interpreter start-up, limited separately by `startup_s`, is not the program's time), and from then on
deadlines are measured on our monotonic clock from the moment we send a test. Nothing the program writes
can move them: in stdin mode each test's process closes the channel before the program runs; in call
mode every line is taken as the answer to the input we sent last.
At the end the whole sandbox is killed: its process, every process it started (the PID namespace dies
with it), whatever it left running.
"""

from __future__ import annotations

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

from .isolation import Launch, bwrap_launch, child_env, choose_backend, popen_kwargs, site_paths

CHILD_SOURCE = Path(__file__).with_name("sandbox_child.py").read_text()
STDERR_TAIL_BYTES = 4096
KILLED_BY_LIMIT = {128 + signal.SIGXCPU, -signal.SIGXCPU}  # out of CPU time; any other death is a runtime error


@dataclass(frozen=True)
class SandboxLimits:
    """Per-program limits. `timeout_s`: the wall limit of one test (LCB: 6 s). `startup_s`: the most the
    interpreter may take to start before the program's clock runs (a slow machine, not the program).
    `sandbox`: "auto" (bubblewrap, else the fallback with a warning), "bwrap" (required) or "fallback"."""

    timeout_s: float = 6.0
    memory_bytes: int = 4 * 1024**3
    output_bytes: int = 32 * 1024**2
    tmp_bytes: int = 64 * 1024**2
    nproc: int = 64
    startup_s: float = 60.0
    sandbox: str = "auto"


class SandboxStartError(RuntimeError):
    """The runner never said ready: a broken sandbox or machine, not the program's fault."""


class ProtocolError(RuntimeError):
    """A line on the channel that is not a result (the program wrote there, or it was too long)."""


@dataclass
class RunResult:
    """A finished single-process run. status: ok | error | timeout. `seconds`: from ready to exit."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    done: bool = False  # script mode: the runner reached the end of the program


def decode_output(data: bytes) -> str:
    """Program output as text; lone surrogates pass (as in the official harness's in-memory stdout) and
    bytes that are not UTF-8 become undecodable-byte escapes, which equal no expected text."""
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", "surrogateescape")


def _limits_config(limits: SandboxLimits, budget_s: float) -> dict:
    return {"cpu_s": int(budget_s) + 2, "mem_bytes": limits.memory_bytes, "fsize_bytes": limits.output_bytes,
            "nproc": limits.nproc}


class Sandbox:
    """A running sandbox (context manager). `config` is the runner's config without limits/site paths;
    `budget_s` sizes the CPU limit (the wall limits are the caller's deadlines)."""

    def __init__(self, config: dict, limits: SandboxLimits, stdin: bytes = b"", budget_s: float | None = None,
                 keep_stdout: bool = True):
        self.limits = limits
        self.ready_at = 0.0
        self._buf = bytearray()
        budget = limits.timeout_s if budget_s is None else budget_s
        self._config = {**config, "limits": _limits_config(limits, budget), "site_paths": site_paths()}
        self._files = [tempfile.TemporaryFile() for _ in range(3)]
        self._stdout, self._stderr = self._files[1:]
        self._stdin = tempfile.TemporaryFile()
        self._stdin.write(stdin)
        self._stdin.seek(0)
        self._keep_stdout = keep_stdout
        self._sock, child_end = socket.socketpair()
        self._child_end = child_end
        self._child_fds = (self._files[0].fileno(), child_end.fileno())
        self._argv = [sys.executable, "-I", "-S", "-B", "-c", CHILD_SOURCE, *map(str, self._child_fds)]
        self._workdir: str | None = None
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Sandbox:
        backend = choose_backend(self.limits.sandbox)
        cfg = self._files[0]
        cfg.write(json.dumps({**self._config, "own_pid_namespace": backend == "bwrap"}).encode())
        cfg.seek(0)
        if backend == "bwrap":
            launch = bwrap_launch(self._argv, self.limits.tmp_bytes, self._child_fds)
        else:
            self._workdir = tempfile.mkdtemp(prefix="ssd-sandbox-")
            launch = Launch(self._argv, cwd=self._workdir)
        try:
            self.proc = subprocess.Popen(
                launch.argv, stdin=self._stdin, stdout=self._stdout if self._keep_stdout else subprocess.DEVNULL,
                stderr=self._stderr, env=child_env(), pass_fds=self._child_fds, **popen_kwargs(launch))
        finally:
            self._child_end.close()  # our copy of the runner's end of the channel
        self.started_at = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
        self._sock.close()
        for f in (*self._files, self._stdin):
            f.close()
        if self._workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL the sandbox; with bubblewrap its PID namespace, so everything it started, dies too."""
        if self.proc is None or self.proc.returncode is not None:
            return
        for send in (lambda: os.killpg(self.proc.pid, signal.SIGKILL), lambda: self.proc.kill()):
            try:
                send()
            except (ProcessLookupError, PermissionError):
                pass
        self.proc.wait()

    def _line(self, deadline: float) -> bytes | None:
        """The next line from the runner, None at the deadline; EOFError when the channel closed."""
        while b"\n" not in self._buf:
            if len(self._buf) > self.limits.output_bytes:
                raise ProtocolError("a result larger than the output limit")
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([self._sock], [], [], remaining)[0]:
                return None
            try:
                chunk = self._sock.recv(1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                raise EOFError
            self._buf += chunk
        line, _, rest = self._buf.partition(b"\n")
        self._buf = bytearray(rest)
        return bytes(line)

    def receive(self, deadline: float) -> dict | None:
        """The next message (None at the deadline). Raises EOFError, or ProtocolError for a bad line."""
        line = self._line(deadline)
        if line is None:
            return None
        try:
            message = json.loads(line)
        except ValueError:
            raise ProtocolError("an unreadable line on the judge's channel") from None
        if not isinstance(message, dict):
            raise ProtocolError("an unreadable line on the judge's channel")
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

    def send(self, obj, files: tuple = ()) -> None:
        """One line to the runner, with file descriptors attached when given; a runner that stopped
        reading is noticed by the caller's deadline."""
        data = json.dumps(obj).encode() + b"\n"
        try:
            if files:
                socket.send_fds(self._sock, [data], [f.fileno() for f in files])
            else:
                self._sock.sendall(data)
        except OSError:
            pass

    def run_test(self, index: int, stdin: bytes, allowed_s: float) -> RunResult:
        """stdin mode: one test as a fresh process forked by the runner, given `allowed_s` of our clock
        from the moment we hand it over. Its stdin/stdout/stderr are unnamed files of ours."""
        files = [tempfile.TemporaryFile() for _ in range(3)]
        try:
            files[0].write(stdin)
            files[0].seek(0)
            start = time.monotonic()
            self.send({"test": index, "cpu_s": int(allowed_s) + 2}, files)
            try:
                message = self.receive(start + allowed_s)
            except (EOFError, ProtocolError):
                message = {"test": index, "status": None}  # the runner is gone: the program took it down
            seconds = time.monotonic() - start
            status, returncode = _test_status(message, index)
            files[1].seek(0)
            stdout = decode_output(files[1].read(self.limits.output_bytes))
            size = files[2].seek(0, os.SEEK_END)
            files[2].seek(max(0, size - STDERR_TAIL_BYTES))
            stderr = files[2].read().decode("utf-8", "replace").strip()
            if returncode is None and status == "error":
                stderr = stderr or "the sandbox's runner was killed"
            return RunResult(status, returncode, stdout, stderr, seconds)
        finally:
            for f in files:
                f.close()

    def wait_exit(self, deadline: float) -> int | None:
        """The exit status, or None (and the sandbox killed) when the deadline passes first."""
        try:
            return self.proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def stdout_text(self) -> str:
        self._stdout.seek(0)
        return decode_output(self._stdout.read(self.limits.output_bytes))

    def stderr_tail(self) -> str:
        size = self._stderr.seek(0, os.SEEK_END)
        self._stderr.seek(max(0, size - STDERR_TAIL_BYTES))
        return self._stderr.read().decode("utf-8", "replace").strip()


def _test_status(message: dict | None, index: int) -> tuple[str, int | None]:
    """(status, exit status) of a test from the runner's report (None: our deadline passed first)."""
    if message is None:
        return "timeout", None
    returncode = message.get("status")
    if message.get("test") != index or not isinstance(returncode, int):
        return "error", None
    if returncode == 0:
        return "ok", 0
    return ("timeout" if returncode in KILLED_BY_LIMIT else "error"), returncode


def run_stdin_once(program: str, rules: dict, limits: SandboxLimits, stdin: bytes = b"") -> RunResult:
    """One stdin-mode run of `program` (a sandbox for a single test)."""
    with Sandbox({"mode": "stdin", "program": program, "rules": rules}, limits, keep_stdout=False) as box:
        box.wait_ready()
        return box.run_test(0, stdin, limits.timeout_s)


def run_once(config: dict, limits: SandboxLimits, stdin: bytes = b"", budget_s: float | None = None) -> RunResult:
    """Run a script-mode program to its end, within `budget_s` (default `timeout_s`) of our clock from
    the moment it is ready. Raises SandboxStartError when it never gets ready."""
    budget = limits.timeout_s if budget_s is None else budget_s
    with Sandbox(config, limits, stdin, budget) as box:
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
        return RunResult(status, returncode, box.stdout_text(), box.stderr_tail(), seconds, done)
