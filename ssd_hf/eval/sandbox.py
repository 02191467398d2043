"""Run one untrusted program in a separate, limited, disposable process; never in our own process.

Layers (defence in depth), each enough to stop the common hostile programs on its own:
1. `unshare --net --pid --fork --kill-child` when available: an empty network namespace (no route even
   to 127.0.0.1) and a PID namespace whose processes all die with the runner. If `unshare` is missing
   or not permitted, we log a warning once and go on without it (`SandboxLimits.use_namespaces`).
2. The runner (`sandbox_child.py`) sets RLIMIT_CPU / RLIMIT_AS / RLIMIT_FSIZE / RLIMIT_NPROC / no core
   files, then installs a `sys.addaudithook` hook that refuses forks and subprocesses, signals to other
   processes, sockets, writes/deletes/renames outside the working directory, and reads of secret paths.
   (An audit hook cannot stop native code, e.g. ctypes; layers 1 and 3 still apply.)
3. The parent: a new session (own process group) killed as a whole on wall timeout and after exit, a
   fresh temporary working directory removed afterwards, an environment with no secrets (only PATH,
   LANG and a HOME pointing into the temp dir), stdin a file holding only the test input, stdout and
   stderr files capped by RLIMIT_FSIZE so a flood of output cannot fill memory or disk.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

CHILD_SOURCE = (Path(__file__).with_name("sandbox_child.py")).read_text()
SAFE_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ")


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run limits. `timeout_s` is the wall limit of one test (LCB uses 6 s)."""

    timeout_s: float = 6.0
    memory_bytes: int = 4 * 1024**3
    output_bytes: int = 32 * 1024**2
    nproc: int = 64
    use_namespaces: bool = True


@dataclass
class RunResult:
    """What a finished sandbox run produced. status: ok | error | timeout."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    call_results: list[dict] = field(default_factory=list)


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Whether `unshare -n -p -f` works here (needs root or unprivileged user namespaces)."""
    exe = shutil.which("unshare")
    if not exe:
        logger.warning("sandbox: `unshare` not found; running without network/PID namespaces (audit hook only)")
        return False
    try:
        ok = subprocess.run([exe, "--net", "--pid", "--fork", "--kill-child", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        ok = False
    if not ok:
        logger.warning("sandbox: `unshare --net --pid` is not permitted; running without namespaces (audit hook only)")
    return ok


def secret_read_prefixes() -> list[str]:
    """Paths a candidate must not read: Hugging Face token locations and the caller's credential dirs."""
    home = os.path.expanduser("~")
    prefixes = [os.path.join(home, d) for d in (".cache/huggingface", ".huggingface", ".netrc", ".ssh", ".aws", ".config", ".git-credentials")]
    for key in ("HF_HOME", "HF_TOKEN_PATH", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(key):
            prefixes.append(os.path.realpath(os.environ[key]))
    return prefixes


def clean_env(home: str) -> dict[str, str]:
    """The child's whole environment: nothing secret survives (no HF_TOKEN, no *_KEY, no proxies)."""
    env = {k: os.environ[k] for k in SAFE_ENV_KEYS if k in os.environ}
    env.setdefault("PATH", "/usr/bin:/bin")
    env.update(HOME=home, PYTHONDONTWRITEBYTECODE="1", PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    return env


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_program(
    program: str,
    stdin: str = "",
    limits: SandboxLimits = SandboxLimits(),
    mode: str = "stdin",
    func_name: str | None = None,
    call_inputs: list[list] | None = None,
    num_tests: int = 1,
) -> RunResult:
    """Run `program` once. mode "stdin"/"script": run as __main__; "call": call `func_name` on each input.

    The wall limit is `timeout_s * num_tests` (call mode runs all tests in one process) plus start-up slack.
    """
    tmp = tempfile.mkdtemp(prefix="ssd-sandbox-")
    work = os.path.join(tmp, "work")
    os.mkdir(work)
    wall = limits.timeout_s * num_tests + 1.0
    cfg = {
        "program": program, "cwd": work, "cpu_s": int(limits.timeout_s * num_tests) + 1,
        "mem_bytes": limits.memory_bytes, "fsize_bytes": limits.output_bytes, "nproc": limits.nproc,
        "func_name": func_name, "inputs": call_inputs or [], "deny_read": secret_read_prefixes(),
    }
    cfg_path = os.path.join(tmp, "config.json")
    cmd = [sys.executable, "-I", "-c", CHILD_SOURCE, mode, cfg_path]
    if limits.use_namespaces and namespaces_available():
        cmd = [shutil.which("unshare"), "--net", "--pid", "--fork", "--kill-child", *cmd]
    paths = {name: os.path.join(tmp, name) for name in ("stdin", "stdout", "stderr", "results")}
    Path(paths["stdin"]).write_text(stdin)
    start = time.perf_counter()
    status = "ok"
    try:
        with open(paths["stdin"], "rb") as fin, open(paths["stdout"], "wb") as fout, \
                open(paths["stderr"], "wb") as ferr, open(paths["results"], "wb") as fres:
            cfg["result_fd"] = fres.fileno()
            with open(cfg_path, "w") as f:
                json.dump(cfg, f)
            proc = subprocess.Popen(
                cmd, stdin=fin, stdout=fout, stderr=ferr, cwd=work, env=clean_env(work),
                start_new_session=True, close_fds=True, pass_fds=(fres.fileno(),),
            )
            try:
                returncode = proc.wait(timeout=wall)
            except subprocess.TimeoutExpired:
                status = "timeout"
                _kill_group(proc)
                returncode = proc.wait()
            _kill_group(proc)  # anything it left behind in its group
        seconds = time.perf_counter() - start
        cpu_killed = {-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU, 128 + signal.SIGKILL}
        if status == "ok" and returncode != 0:
            status = "timeout" if returncode in cpu_killed else "error"
        read = lambda p: Path(p).read_bytes()[: limits.output_bytes].decode("utf-8", "replace")  # noqa: E731
        call_results = []
        if mode == "call":
            for line in read(paths["results"]).splitlines():
                try:
                    call_results.append(json.loads(line))
                except json.JSONDecodeError:
                    call_results.append({"ok": False, "error": "unreadable result"})
        return RunResult(status, returncode, read(paths["stdout"]), read(paths["stderr"])[-2000:], seconds, call_results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
