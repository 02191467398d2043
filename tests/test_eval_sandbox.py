"""Hostile programs through the real sandbox: each gets a verdict within its limit, none escapes,
and the evaluator keeps going (a correct program judged after them still passes)."""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from ssd_hf.eval.checking import check_candidate
from ssd_hf.eval.cli import main
from ssd_hf.eval.problems import load_problems
from ssd_hf.eval.runner import score_completions
from ssd_hf.eval.sandbox import SandboxLimits, namespaces_available, privilege_drop_args, run_program

LIMITS = SandboxLimits(timeout_s=1.0)
WALL = LIMITS.timeout_s + 1.0
SLACK = 2.0  # start-up of python (+ unshare) and killing the group


def run(code, **kw):
    start = time.perf_counter()
    result = run_program(code, "", LIMITS, **kw)
    assert time.perf_counter() - start < WALL + SLACK
    return result


def test_infinite_loop_times_out():
    assert run("while True:\n    pass\n").status == "timeout"


def test_sleep_past_limit_times_out():
    assert run("import time\ntime.sleep(30)\nprint('woke')\n").status == "timeout"


def test_fork_bomb_is_stopped_and_leaves_nothing(tmp_path):
    marker = f"ssd-fork-bomb-{os.getpid()}"
    code = f"import os, subprocess\nsubprocess.Popen(['sleep', '600', '{marker}'])\nwhile True:\n    os.fork()\n"
    result = run(code)
    assert result.status == "error"
    alive = [p for p in os.listdir("/proc") if p.isdigit() and marker.encode() in _cmdline(p)]
    assert alive == []


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_8gb_allocation_fails_fast():
    result = run("x = bytearray(8 * 1024 ** 3)\nprint('allocated')\n")
    assert result.status == "error" and "allocated" not in result.stdout
    assert "MemoryError" in result.stderr


def test_100mb_output_is_capped():
    result = run("import sys\nchunk = 'x' * (1024 * 1024)\nfor _ in range(100):\n    sys.stdout.write(chunk)\n")
    assert result.status == "error"
    assert len(result.stdout) <= LIMITS.output_bytes


@pytest.fixture
def tcp_server():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    hits = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            hits.append(conn.recv(100))
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join()
    server.close()


def test_socket_connect_to_localhost_is_refused(tcp_server):
    port, hits = tcp_server
    code = f"import socket\ns = socket.create_connection(('127.0.0.1', {port}), timeout=0.5)\ns.sendall(b'leak')\nprint('connected')\n"
    result = run(code)
    assert result.status == "error" and "connected" not in result.stdout
    time.sleep(0.3)
    assert hits == []


def test_network_namespace_alone_blocks_localhost(tcp_server):
    """Even if the audit hook were bypassed, the empty network namespace has no route to our server."""
    if not namespaces_available():
        pytest.skip("unshare not permitted here")
    port, hits = tcp_server
    code = f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), timeout=0.5).sendall(b'x')\n    print('ok')\nexcept OSError:\n    print('blocked')\n"
    out = subprocess.run(["unshare", "--net", sys.executable, "-c", code], capture_output=True, text=True, timeout=20).stdout
    assert out.strip() == "blocked" and hits == []


def test_writes_and_deletes_outside_cwd_are_refused(tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    for code in (
        f"open({str(victim)!r}, 'w').write('pwned')\n",
        f"import os\nos.remove({str(victim)!r})\n",
        f"import os\nos.rename({str(victim)!r}, 'stolen.txt')\n",
        f"import shutil\nshutil.rmtree({str(tmp_path)!r})\n",
        f"import os\nos.chdir('/')\nopen('{tmp_path.name}-x', 'w')\n",
        f"open({str(tmp_path / 'new.txt')!r}, 'x').write('x')\n",
    ):
        assert run(code).status == "error", code
    assert victim.read_text() == "precious"
    assert sorted(os.listdir(tmp_path)) == ["victim.txt"]
    # inside its own directory a program may write freely, and the directory is gone afterwards
    result = run("import os\nopen('scratch.txt', 'w').write('ok')\nprint(os.getcwd())\nos.remove('scratch.txt')\n")
    assert result.status == "ok" and not os.path.exists(result.stdout.strip())


def test_hf_token_is_not_visible(monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "hf_supersecret_value")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-also-secret")
    code = (
        "import os\nprint(dict(os.environ))\n"
        "for path in ['/proc/%d/environ' % os.getppid(), '/proc/1/environ', '/proc/self/environ']:\n"
        "    try:\n        print(open(path, 'rb').read())\n    except Exception as e:\n        print('denied', type(e).__name__)\n"
    )
    result = run(code)
    assert "hf_supersecret_value" not in result.stdout + result.stderr
    assert "sk-also-secret" not in result.stdout + result.stderr


def test_signalling_the_parent_is_refused():
    me = os.getpid()
    for code in (f"import os, signal\nos.kill({me}, signal.SIGKILL)\n", "import os, signal\nos.kill(os.getppid(), signal.SIGTERM)\n",
                 f"import os, signal\nos.killpg(os.getpgid({me}), signal.SIGKILL)\n"):
        assert run(code).status == "error"
    assert os.getpid() == me  # we are still here


def test_evaluator_keeps_going_after_hostile_batch():
    problems, _ = load_problems("fixtures")
    hostile = ["while True: pass", "import os\nwhile True: os.fork()", "x = bytearray(8 * 1024 ** 3)",
               "import time; time.sleep(30)", "print('x' * 10 ** 8)"]
    completions = [{"question_id": "fx_sum", "sample_index": i, "completion": f"```python\n{c}\n```"} for i, c in enumerate(hostile)]
    completions.append({"question_id": "fx_sum", "sample_index": len(hostile),
                        "completion": "```python\na, b = map(int, input().split())\nprint(a + b)\n```"})
    records = {r["sample_index"]: r["verdict"] for r in score_completions(problems, completions, LIMITS, workers=2, show_progress=False)}
    assert records == {0: "timeout", 1: "runtime_error", 2: "runtime_error", 3: "timeout", 4: "runtime_error", 5: "pass"}


# --- escapes found by the audit of issue 3: each layer is tested on its own where it can be -------------------

HOOK_ONLY = SandboxLimits(timeout_s=1.0, use_namespaces=False, drop_privileges=False)
LAYERS = pytest.mark.parametrize("limits", [LIMITS, HOOK_ONLY], ids=["all_layers", "audit_hook_only"])


def run_with(code, limits, **kw):
    start = time.perf_counter()
    result = run_program(code, "", limits, **kw)
    assert time.perf_counter() - start < limits.timeout_s + 1.0 + SLACK
    return result


@pytest.fixture
def outside(tmp_path):
    path = tmp_path / "outside"
    path.mkdir()
    (path / "keep.txt").write_text("precious")
    return path


def _untouched(path):
    return sorted(os.listdir(path)) == ["keep.txt"] and (path / "keep.txt").read_text() == "precious"


def assert_all_refused(programs, limits, outside):
    """Each program ends in an error, and none of them changed `outside`."""
    for code in programs:
        assert run_with(code, limits).status == "error", code
    assert _untouched(outside)


@LAYERS
def test_dir_fd_cannot_reach_outside(outside, limits):
    programs = (
        f"import os\nfd = os.open({str(outside)!r}, os.O_RDONLY)\nos.close(os.open('x', os.O_CREAT | os.O_WRONLY, dir_fd=fd))\n",
        f"import os\nfd = os.open({str(outside)!r}, os.O_RDONLY | os.O_DIRECTORY)\nos.mkdir('d', dir_fd=fd)\n",
        f"import os\nfd = os.open({str(outside)!r}, os.O_PATH)\nos.unlink('keep.txt', dir_fd=fd)\n",
        "import os\nfd = os.open('.', os.O_RDONLY)\nos.close(os.open('../escaped', os.O_CREAT | os.O_WRONLY, dir_fd=fd))\n",
    )
    assert_all_refused(programs, limits, outside)


@LAYERS
def test_sqlite_cannot_write_outside(outside, limits):
    programs = (
        f"import sqlite3\nsqlite3.connect({str(outside / 'db')!r}).execute('create table t(x)')\n",
        f"import sqlite3\nsqlite3.connect(':memory:').execute(\"attach database '{outside / 'db2'}' as x\")\n",
    )
    assert_all_refused(programs, limits, outside)


@LAYERS
def test_mkfifo_and_mknod_cannot_create_outside(outside, limits):
    programs = (
        f"import os\nos.mkfifo({str(outside / 'fifo')!r})\n",
        f"import os, stat\nos.mknod({str(outside / 'node')!r}, 0o600 | stat.S_IFREG)\n",
        f"import os\nfd = os.open({str(outside)!r}, os.O_RDONLY)\nos.mkfifo('fifo', dir_fd=fd)\n",
        f"import posix\nposix.mkfifo({str(outside / 'fifo')!r})\n",
    )
    assert_all_refused(programs, limits, outside)
    # inside its own directory a fifo is harmless and allowed
    assert run_with("import os\nos.mkfifo('f')\nprint(os.path.exists('f'))\n", limits).stdout.strip() == "True"


@LAYERS
def test_native_code_routes_are_closed(outside, limits):
    """ctypes, a native module the program writes itself, and spawning through _posixsubprocess (which
    raises no audit event) are all refused; none of them creates the marker or leaves a process."""
    marker = outside / "pwned"
    programs = {
        "ctypes": f"import ctypes\nlibc = ctypes.CDLL(None)\nlibc.fork()\nlibc.creat({str(marker).encode()!r}, 0o644)\n",
        "_ctypes": "import _ctypes\n",
        "own .so": ("import importlib.util, shutil, _json\nshutil.copy(_json.__file__, 'm.so')\n"
                    "spec = importlib.util.spec_from_file_location('_json', 'm.so')\nimportlib.util.module_from_spec(spec)\n"),
        "fork_exec": ("import _posixsubprocess, os\nr, w = os.pipe()\n_posixsubprocess.fork_exec("
                      f"[b'/bin/sh', b'-c', b'touch {marker}'], [b'/bin/sh'], True, (w,), None, None, -1, -1, -1, -1, -1, -1,"
                      " r, w, True, False, 0, None, None, None, -1, None, False)\n"),
        "re-import": "import sys\ndel sys.modules['_posixsubprocess']\nimport _posixsubprocess\n",
    }
    for name, code in programs.items():
        result = run_with(code, limits)
        assert result.status == "error" and "sandbox" in result.stderr, (name, result.stderr)
    assert _untouched(outside)


@LAYERS
def test_ordinary_programs_still_work(limits):
    """The hardening must not break what solutions use (numpy imports ctypes only optionally).

    numpy is checked whenever the child runs our own environment; a virtual environment under /tmp is
    hidden by the private /tmp, so there the child runs the base interpreter and sees only its packages."""
    from ssd_hf.eval.sandbox import child_python, namespaces_available

    own_env = child_python(limits.use_namespaces and namespaces_available()) == sys.executable
    numpy_import, numpy_sum = ("import numpy as np\n", "int(np.arange(4).sum())") if own_env else ("", "6")
    code = (
        "import bisect, collections, functools, heapq, itertools, math, re, sys, threading, random, decimal\n"
        "import fractions, statistics, string, typing, dataclasses, copy, json, array, operator, datetime, shutil, os\n"
        + numpy_import
        + "sys.setrecursionlimit(10 ** 6)\n"
        "threading.stack_size(64 * 1024 * 1024)\n"
        "@functools.lru_cache(None)\ndef depth(n):\n    return 0 if n == 0 else 1 + depth(n - 1)\n"
        "out = []\nt = threading.Thread(target=lambda: out.append(depth(20000)))\nt.start()\nt.join()\n"
        "h = [5, 1, 3]\nheapq.heapify(h)\n"
        "os.makedirs('a/b')\nopen('a/b/f.txt', 'w').write('x')\nshutil.rmtree('a')\n"
        "print(out[0], heapq.heappop(h), bisect.bisect([1, 2, 3], 2), collections.Counter('aab')['a'],"
        f" math.comb(5, 2), len(list(itertools.permutations(range(4)))), re.sub('a', 'b', 'aa'), {numpy_sum},"
        " os.path.exists('a'))\n"
    )
    result = run_with(code, SandboxLimits(timeout_s=10.0, use_namespaces=limits.use_namespaces,
                                          drop_privileges=limits.drop_privileges))
    assert result.status == "ok", result.stderr
    assert result.stdout.split() == ["20000", "1", "2", "2", "10", "24", "bb", "6", "False"]


EVALUATOR = """
import os, subprocess, sys, tempfile
from ssd_hf.eval.sandbox import SandboxLimits, clean_env, isolated_command, run_program
limits = SandboxLimits(timeout_s=2.0, use_namespaces=sys.argv[1] == "1")
me = str(os.getpid())
python_program = sys.argv[2].replace("EVAL_PID", me)
result = run_program(python_program, "", limits)
print("PY", result.status, result.stdout, result.stderr)
work = tempfile.mkdtemp()
native = subprocess.run(isolated_command(["sh", "-c", sys.argv[3].replace("EVAL_PID", me)], work, limits),
                        cwd=work, env=clean_env(work), capture_output=True, timeout=30)
print("NATIVE", native.stdout.decode(errors="replace"), native.stderr.decode(errors="replace"))
print("EVALUATOR ALIVE")
"""


@pytest.mark.parametrize("use_namespaces", [True, False], ids=["all_layers", "unprivileged_user_only"])
def test_native_code_cannot_read_secrets_or_write_outside(outside, use_namespaces):
    """The operating-system layers hold without the audit hook: a shell run under them (native code, as a
    ctypes program would be) cannot read the evaluator's environment through /proc, write root-owned
    paths, or signal the evaluator. The evaluator is a subprocess so that HF_TOKEN is in its real environ."""
    if privilege_drop_args() is None:
        pytest.skip("not root or no setpriv: native code is only contained by namespaces here")
    if use_namespaces and not namespaces_available():
        pytest.skip("unshare not permitted here")
    secret = "hf_fakeTokenForSandboxTest_93k2"
    tmp_marker = f"/tmp/ssd-native-escape-{os.getpid()}"
    python_program = (
        "import os, glob\n"
        "for p in ['/proc/EVAL_PID/environ', '/proc/EVAL_PID/task/EVAL_PID/environ'] + glob.glob('/proc/*/environ'):\n"
        "    try:\n        print(open(p, 'rb').read())\n    except Exception as e:\n        print('denied', type(e).__name__)\n"
    )
    hf_home = tempfile.mkdtemp(prefix="ssd-fake-hf-home-", dir=os.path.expanduser("~"))  # outside /tmp, like ~/.cache
    file_secret = "hf_fakeTokenFileForSandboxTest_7q1"
    with open(os.path.join(hf_home, "token"), "w") as handle:
        handle.write(file_secret)
    os.chmod(hf_home, 0o700)
    script = (f"cat /proc/EVAL_PID/environ /proc/[0-9]*/environ; cat {hf_home}/token; echo pwned > {outside}/x; "
              f"echo pwned > {tmp_marker}; kill -9 EVAL_PID; id -u")
    env = {**os.environ, "HF_TOKEN": secret, "HF_HOME": hf_home}
    proc = subprocess.run([sys.executable, "-c", EVALUATOR, "1" if use_namespaces else "0", python_program, script],
                          env=env, capture_output=True, text=True, timeout=60)
    shutil.rmtree(hf_home)
    assert "EVALUATOR ALIVE" in proc.stdout, proc.stderr
    assert secret not in proc.stdout + proc.stderr
    if use_namespaces:  # the token file is hidden even from a child that keeps CAP_DAC_READ_SEARCH
        assert file_secret not in proc.stdout + proc.stderr
    assert "NATIVE" in proc.stdout and "65534" in proc.stdout.split("NATIVE", 1)[1]
    assert _untouched(outside)
    if use_namespaces:  # world-writable directories are private to the run
        assert not os.path.exists(tmp_marker)
    elif os.path.exists(tmp_marker):  # without namespaces nobody may write /tmp, like any user (known, documented)
        os.remove(tmp_marker)


def test_secrets_are_scrubbed_from_results(tmp_path, monkeypatch):
    """Whatever a program prints (here it rebuilds the value from pieces) never reaches results.json."""
    secret = "hf_fakeScrubValue_4242"
    monkeypatch.setenv("HF_TOKEN", secret)
    monkeypatch.setenv("MY_API_KEY", "sk-other-secret-77")
    leak = "raise RuntimeError('hf_fake' + 'ScrubValue_4242' + ' sk-other' + '-secret-77')"
    rows = [{"question_id": "fx_sum", "completion": f"```python\n{leak}\n```"},
            {"question_id": "fx_two_sum", "completion": f"```python\nclass Solution:\n    def twoSum(self, nums, target):\n        {leak}\n```"}]
    solutions = tmp_path / "s.jsonl"
    solutions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    assert main(["--problems", "fixtures", "--solutions", str(solutions), "--output", str(out), "--workers", "2",
                 "--timeout", "2", "--start_date", "2025-02-01", "--end_date", "2025-02-28"]) == 0
    text = (out / "results.json").read_text()
    assert secret not in text and "sk-other-secret-77" not in text
    assert all("***" in s["detail"] for s in json.loads(text)["samples"])


# --- functional problems: a time limit per test call, and the first failing test ends the run -----------------

def _functional(qid):
    problems, _ = load_problems("fixtures")
    return next(p for p in problems if p.question_id == qid)


TWO_SUM = ("class Solution:\n    calls = 0\n    def twoSum(self, nums, target):\n        import time\n"
           "        Solution.calls += 1\n        if Solution.calls == 1:\n            time.sleep(SLEEP)\n"
           "        seen = {}\n        for i, x in enumerate(nums):\n            if target - x in seen:\n"
           "                return [seen[target - x], i]\n            seen[x] = i\n")


def test_functional_time_limit_is_per_test():
    problem = _functional("fx_two_sum")  # 3 tests: a 1.5 s first call fitted in the old 3 x 1 s budget
    start = time.perf_counter()
    verdict, _ = check_candidate(problem, TWO_SUM.replace("SLEEP", "1.5"), LIMITS)
    assert verdict == "timeout"
    assert time.perf_counter() - start < LIMITS.timeout_s + 1.0 + SLACK
    assert check_candidate(problem, TWO_SUM.replace("SLEEP", "0.1"), LIMITS)[0] == "pass"


def test_functional_run_stops_at_first_failing_test():
    problem = _functional("fx_max_subarray")  # 4 tests; every call after the first would take 2.5 s
    code = ("class Solution:\n    calls = 0\n    def maxSubArray(self, nums):\n        import time\n"
            "        Solution.calls += 1\n        if Solution.calls > 1:\n            time.sleep(2.5)\n        return -12345\n")
    start = time.perf_counter()
    verdict, detail = check_candidate(problem, code, SandboxLimits(timeout_s=3.0))
    assert (verdict, detail) == ("fail", "test 0: wrong answer")
    assert time.perf_counter() - start < 2.5
