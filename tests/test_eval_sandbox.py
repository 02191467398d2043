"""Hostile programs through the real sandbox: each gets a verdict within its limit, none escapes,
and the evaluator keeps going (a correct program judged after them still passes)."""

import os
import socket
import threading
import time

import pytest

from ssd_hf.eval.problems import load_problems
from ssd_hf.eval.runner import score_completions
from ssd_hf.eval.sandbox import SandboxLimits, namespaces_available, run_program

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
    import subprocess
    import sys

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
