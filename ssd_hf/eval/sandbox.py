"""Run one untrusted program in a separate, limited, disposable process; never in our own process.

Layers (defence in depth). The audit hook alone cannot stop native code, so the operating-system layers
are what hold when a program finds a way around it:
1. `unshare --net --pid --fork --kill-child --mount --mount-proc` when available (root): an empty network
   namespace (no route even to 127.0.0.1), a PID namespace whose processes all die with the runner and
   whose /proc shows none of ours, and a mount namespace with fresh tmpfs over /tmp, /var/tmp and
   /dev/shm, so world-writable directories are private and gone afterwards. The working directory is
   created inside that private /tmp.
2. When we are root, `setpriv` runs the child as nobody (65534) with no capabilities and no_new_privs:
   it cannot write root-owned paths, read /proc/<pid>/environ of our processes, or signal them. If the
   interpreter lives in a root-only directory (pyenv under /root), the child keeps exactly one
   capability, CAP_DAC_READ_SEARCH, so that it can read the standard library; it still cannot write.
   If `unshare` or `setpriv` is missing or not permitted, we log a warning once and go on without it
   (`SandboxLimits.use_namespaces`, `SandboxLimits.drop_privileges` turn them off).
3. The runner (`sandbox_child.py`) sets RLIMIT_CPU / RLIMIT_AS / RLIMIT_FSIZE / RLIMIT_NPROC / no core
   files, defuses the spawn and mkfifo/mknod functions that raise no audit event, then installs a
   `sys.addaudithook` hook that refuses forks and subprocesses, signals to other processes, sockets,
   ctypes and foreign native modules, sqlite3, opening directories or writing/deleting/renaming outside
   the working directory, and reads of secret paths.
4. The parent: a new session (own process group) killed as a whole on wall timeout and after exit, a
   fresh temporary working directory removed afterwards, an environment with no secrets (only PATH,
   LANG and a HOME pointing into the temp dir), stdin a file holding only the test input, stdout and
   stderr files capped by RLIMIT_FSIZE so a flood of output cannot fill memory or disk. In call mode
   every test call has its own wall limit, timed here as results stream in, and the run stops at the
   first wrong answer. Secret values from our environment are scrubbed from anything we report.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

CHILD_SOURCE = (Path(__file__).with_name("sandbox_child.py")).read_text()
SAFE_ENV_KEYS = ("PATH", "LANG", "LC_ALL", "TZ")
STARTUP_S = 1.0  # wall allowance for starting the interpreter (and namespaces) before the first test's clock
NOBODY = 65534
SECRET_NAME = re.compile(r"TOKEN|KEY|SECRET|PASSWORD", re.IGNORECASE)
UNSHARE_FLAGS = ("--net", "--pid", "--fork", "--kill-child", "--mount", "--mount-proc")
# Runs as root inside the new mount namespace: private tmpfs over the world-writable directories; the secret
# paths ($4, one per line) hidden under an empty read-only tmpfs (directories) or /dev/null (files), since a
# child that keeps CAP_DAC_READ_SEARCH could otherwise read a token file; then the working directory ($2)
# created inside the private /tmp for the user that will run the program ($3); then the command.
PRIVATE_TMP_SCRIPT = (
    'for d in /tmp /var/tmp /dev/shm; do if [ -d "$d" ]; then '
    'mount -t tmpfs -o "size=$1,mode=1777,nosuid,nodev" tmpfs "$d" || exit 125; fi; done; '
    'printf "%s\\n" "$4" | while IFS= read -r p; do '
    'if [ -d "$p" ]; then mount -t tmpfs -o ro,size=4k,mode=0 tmpfs "$p" || exit 125; '
    'elif [ -f "$p" ]; then mount --bind /dev/null "$p" || exit 125; fi; done || exit 125; '
    'mkdir -p "$2" && chown "$3" "$2" && chmod 700 "$2" && cd "$2" || exit 125; shift 4; exec "$@"'
)
SETPRIV_BASE = ("--reuid=65534", "--regid=65534", "--clear-groups", "--no-new-privs")
SETPRIV_NO_CAPS = ("--inh-caps=-all", "--bounding-set=-all")
SETPRIV_READ_ONLY_CAP = ("--inh-caps=-all,+dac_read_search", "--ambient-caps=-all,+dac_read_search",
                         "--bounding-set=-all,+dac_read_search")


@dataclass(frozen=True)
class SandboxLimits:
    """Per-run limits. `timeout_s` is the wall limit of one test (LCB uses 6 s)."""

    timeout_s: float = 6.0
    memory_bytes: int = 4 * 1024**3
    output_bytes: int = 32 * 1024**2
    nproc: int = 64
    use_namespaces: bool = True
    drop_privileges: bool = True


@dataclass
class RunResult:
    """What a finished sandbox run produced. status: ok | error | timeout."""

    status: str
    returncode: int | None
    stdout: str
    stderr: str
    seconds: float
    call_results: list[dict] = field(default_factory=list)


def _probe(cmd: list[str]) -> bool:
    try:
        return subprocess.run(cmd, capture_output=True, timeout=20, cwd="/", env=clean_env("/")).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.lru_cache(maxsize=1)
def namespaces_available() -> bool:
    """Whether `unshare` gives us network, PID and mount namespaces with a private /tmp (needs root)."""
    exe = shutil.which("unshare")
    if not exe:
        logger.warning("sandbox: `unshare` not found; running without network/PID/mount namespaces")
        return False
    probe_dir = tempfile.mkdtemp(prefix="ssd-sandbox-probe-")
    try:
        ok = _probe([exe, *UNSHARE_FLAGS, "sh", "-c", PRIVATE_TMP_SCRIPT, "sh", "1m", probe_dir, f"{os.getuid()}", "",
                     "true"])
    finally:
        shutil.rmtree(probe_dir, ignore_errors=True)
    if not ok:
        logger.warning("sandbox: `unshare --net --pid --mount` is not permitted; running without namespaces")
    return ok


@functools.lru_cache(maxsize=1)
def privilege_drop_args() -> tuple[str, ...] | None:
    """`setpriv ...` that runs the child as nobody, or None when we are not root or cannot (logged once)."""
    if os.geteuid() != 0:
        return None
    exe = shutil.which("setpriv")
    if not exe:
        logger.warning("sandbox: running as root without `setpriv`; programs run as root (audit hook only)")
        return None
    for caps in (SETPRIV_NO_CAPS, SETPRIV_READ_ONLY_CAP):
        args = (exe, *SETPRIV_BASE, *caps)
        # A child that cannot read its own installation falls back to another prefix (e.g. /usr): not usable.
        same_install = f"import json, sys; sys.exit(sys.prefix != {sys.prefix!r})"
        if _probe([*args, sys.executable, "-I", "-c", same_install]):
            return args
    logger.warning("sandbox: cannot run the interpreter as nobody; programs run as root (audit hook only)")
    return None


PRIVATE_DIRS = ("/tmp", "/var/tmp", "/dev/shm")  # replaced by fresh tmpfs inside the mount namespace


def child_python(use_namespaces: bool) -> str:
    """The interpreter the child runs: ours, or, when ours is a virtual environment under a directory the
    private mounts replace (a venv in /tmp), the interpreter it links to, which the child can still see."""
    exe = sys.executable
    if not use_namespaces or not any(exe.startswith(d + "/") for d in PRIVATE_DIRS):
        return exe
    real = os.path.realpath(exe)
    if any(real.startswith(d + "/") for d in PRIVATE_DIRS):
        raise RuntimeError(
            f"the sandbox replaces {', '.join(PRIVATE_DIRS)} with private directories, and this Python ({real}) "
            "lives there; run the evaluator from a Python installed elsewhere."
        )
    return real


def isolated_command(argv: list[str], work: str, limits: SandboxLimits) -> list[str]:
    """`argv` wrapped in the operating-system layers available here (namespaces, then an unprivileged user).

    Start it with cwd=`work`; `work` must already exist (it is the working directory when there are no
    namespaces, and is re-created inside the private /tmp when there are)."""
    drop = privilege_drop_args() if limits.drop_privileges else None
    cmd = [*drop, *argv] if drop else list(argv)
    if limits.use_namespaces and namespaces_available():
        owner = f"{NOBODY}:{NOBODY}" if drop else f"{os.getuid()}:{os.getgid()}"
        size = str(2 * limits.output_bytes)
        hidden = "\n".join(p for p in secret_read_prefixes() if os.path.exists(p))
        cmd = [shutil.which("unshare"), *UNSHARE_FLAGS, "sh", "-c", PRIVATE_TMP_SCRIPT, "sh", size, work, owner, hidden,
               *cmd]
    elif drop:
        os.chown(work, NOBODY, NOBODY)
    return cmd


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


def scrub_secrets(text: str) -> str:
    """`text` with the value of every *TOKEN* / *KEY* / *SECRET* / *PASSWORD* variable of our environment
    replaced by "***", so that nothing a program printed can carry a secret into results (values under
    4 characters are too short to be secrets and would mangle unrelated text)."""
    for name, value in os.environ.items():
        if len(value) >= 4 and SECRET_NAME.search(name) and value in text:
            text = text.replace(value, "***")
    return text


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _parse_call_result(line: bytes) -> dict:
    try:
        value = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {"ok": False, "error": "unreadable result"}
    return value if isinstance(value, dict) else {"ok": False, "error": "unreadable result"}


def _stream_calls(rfd: int, limits: SandboxLimits, num_calls: int,
                  keep_going: Callable[[int, dict], bool] | None) -> tuple[list[dict], str, float]:
    """Read the child's per-call results as they come: (results, outcome, deadline).

    Start-up and the program's top level get STARTUP_S + `timeout_s` until the child says it is ready;
    then each call has `timeout_s` of wall time from the previous result. outcome:
    "done" (all results), "stopped" (`keep_going` said no), "timeout", or "eof" (the child went quiet)."""
    results: list[dict] = []
    buf = bytearray()
    deadline = time.monotonic() + STARTUP_S + limits.timeout_s
    while len(results) < num_calls:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([rfd], [], [], remaining)[0]:
            return results, "timeout", deadline
        chunk = os.read(rfd, 1 << 16)
        if not chunk:
            return results, "eof", deadline
        buf += chunk
        while b"\n" in buf and len(results) < num_calls:
            line, _, rest = buf.partition(b"\n")
            buf = bytearray(rest)
            parsed = _parse_call_result(bytes(line))
            if parsed.get("ready") is True:  # the program is defined: from now on each call has its own clock
                deadline = time.monotonic() + limits.timeout_s
                continue
            results.append(parsed)
            if keep_going is not None and not keep_going(len(results) - 1, results[-1]):
                return results, "stopped", deadline
            deadline = time.monotonic() + limits.timeout_s
        if len(buf) > limits.output_bytes:
            results.append({"ok": False, "error": "result larger than the output limit"})
            return results, "stopped", deadline
    return results, "done", deadline


def run_program(
    program: str,
    stdin: str = "",
    limits: SandboxLimits = SandboxLimits(),
    mode: str = "stdin",
    func_name: str | None = None,
    call_inputs: list[list] | None = None,
    keep_going: Callable[[int, dict], bool] | None = None,
) -> RunResult:
    """Run `program` once. mode "stdin"/"script": run as __main__; "call": call `func_name` on each input.

    stdin/script mode: one wall limit of `timeout_s` (plus start-up). Call mode runs all tests in one
    process but times each call separately (`timeout_s` each, like LCB) and, when `keep_going(i, result)`
    returns False, kills the program at once: the first failing test ends the run.
    """
    ctl = tempfile.mkdtemp(prefix="ssd-sandbox-")
    work = tempfile.mkdtemp(prefix="ssd-sandbox-work-")
    inputs = call_inputs or []
    num_calls = len(inputs) if mode == "call" else 1
    paths = {name: os.path.join(ctl, name) for name in ("stdin", "stdout", "stderr", "config")}
    Path(paths["stdin"]).write_text(stdin)
    read_end = write_end = None
    start = time.perf_counter()
    status, returncode, call_results = "ok", None, []
    try:
        if mode == "call":
            read_end, write_end = os.pipe()
        cfg = {
            "program": program, "cwd": work, "cpu_s": int(limits.timeout_s * num_calls + STARTUP_S) + 1,
            "mem_bytes": limits.memory_bytes, "fsize_bytes": limits.output_bytes, "nproc": limits.nproc,
            "func_name": func_name, "inputs": inputs, "deny_read": secret_read_prefixes(), "result_fd": write_end,
        }
        Path(paths["config"]).write_text(json.dumps(cfg))
        with open(paths["stdin"], "rb") as fin, open(paths["stdout"], "wb") as fout, \
                open(paths["stderr"], "wb") as ferr, open(paths["config"], "rb") as fcfg:
            inherited = (fcfg.fileno(),) + ((write_end,) if write_end is not None else ())
            python = child_python(limits.use_namespaces and namespaces_available())
            argv = [python, "-I", "-c", CHILD_SOURCE, mode, str(fcfg.fileno())]
            proc = subprocess.Popen(
                isolated_command(argv, work, limits), stdin=fin, stdout=fout, stderr=ferr, cwd=work,
                env=clean_env(work), start_new_session=True, close_fds=True, pass_fds=inherited,
            )
            if write_end is not None:
                os.close(write_end)
                write_end = None
            if mode == "call":
                call_results, outcome, deadline = _stream_calls(read_end, limits, num_calls, keep_going)
            else:
                outcome, deadline = "eof", time.monotonic() + STARTUP_S + limits.timeout_s
            if outcome == "timeout":
                status = "timeout"
            elif outcome == "stopped":
                status = "ok"  # we ended it; the results say why
            else:
                try:
                    returncode = proc.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    status = "timeout"
            _kill_group(proc)  # on timeout or stop, and anything it left behind in its group
            proc.wait()
        seconds = time.perf_counter() - start
        cpu_killed = {-signal.SIGXCPU, -signal.SIGKILL, 128 + signal.SIGXCPU, 128 + signal.SIGKILL}
        if status == "ok" and returncode not in (None, 0):
            status = "timeout" if returncode in cpu_killed else "error"
        read = lambda p: Path(p).read_bytes()[: limits.output_bytes].decode("utf-8", "replace")  # noqa: E731
        stderr = scrub_secrets(read(paths["stderr"])[-2000:])
        return RunResult(status, returncode, read(paths["stdout"]), stderr, seconds, call_results)
    finally:
        for fd in (read_end, write_end):
            if fd is not None:
                os.close(fd)
        shutil.rmtree(ctl, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
