"""One sandboxed run of a candidate program, timed by our clock; never in our own process.

A `Sandbox` starts the runner (sandbox_child.py) under bubblewrap (isolation.py), hands it its config
through an unnamed temporary file, gives it stdin/stdout/stderr as unnamed temporary files (nothing is
left on disk if we are killed), and talks to it over two pipes. Time limits are ours alone: the runner
says "ready" once, before the program is compiled (so interpreter start-up, limited separately by
`startup_s`, is not the program's time), and from then on deadlines are measured on our monotonic clock.
Nothing the program writes can move them: in stdin mode the runner closes the channel before the program
runs; in call mode every line is taken as the answer to the input we sent last.
At the end the whole sandbox is killed: its process, every process it started (the PID namespace dies
with it), whatever it left running.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
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
        full = {**config, "limits": _limits_config(limits, budget), "site_paths": site_paths()}
        self._files = [tempfile.TemporaryFile() for _ in range(3)]
        cfg, self._stdout, self._stderr = self._files
        cfg.write(json.dumps(full).encode())
        cfg.seek(0)
        self._stdin = tempfile.TemporaryFile()
        self._stdin.write(stdin)
        self._stdin.seek(0)
        self._keep_stdout = keep_stdout
        self._out_r, out_w = os.pipe()
        in_r, self._in_w = os.pipe() if config["mode"] == "call" else (-1, None)
        self._child_fds = tuple(fd for fd in (cfg.fileno(), out_w, in_r) if fd >= 0)
        self._argv = [sys.executable, "-I", "-S", "-B", "-c", CHILD_SOURCE, str(cfg.fileno()), str(out_w), str(in_r)]
        self._workdir: str | None = None
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> Sandbox:
        backend = choose_backend(self.limits.sandbox)
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
            for fd in self._child_fds[1:]:  # our copies of the child's pipe ends
                os.close(fd)
        self._started = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.kill()
        for fd in (self._out_r, self._in_w):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
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
            if remaining <= 0 or not select.select([self._out_r], [], [], remaining)[0]:
                return None
            chunk = os.read(self._out_r, 1 << 16)
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
            message = self.receive(self._started + self.limits.startup_s)
        except (EOFError, ProtocolError):
            message = {}
        if message is None or message.get("ready") is not True:
            self.kill()
            why = "did not start within the start-up limit" if message is None else "failed to start"
            raise SandboxStartError(f"the sandbox {why}: {self.stderr_tail() or 'no message'}")
        self.ready_at = time.monotonic()

    def send(self, obj) -> None:
        """One line to the runner; a runner that stopped reading is noticed by the caller's deadline."""
        try:
            os.write(self._in_w, json.dumps(obj).encode() + b"\n")
        except (BrokenPipeError, OSError):
            pass

    def close_input(self) -> None:
        if self._in_w is not None:
            os.close(self._in_w)
            self._in_w = None

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


def run_once(config: dict, limits: SandboxLimits, stdin: bytes = b"", budget_s: float | None = None) -> RunResult:
    """Run a stdin- or script-mode program to its end, within `budget_s` (default `timeout_s`) of our
    clock from the moment it is ready. Raises SandboxStartError when it never gets ready."""
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
