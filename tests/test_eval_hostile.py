"""The hostile program set of issue 16, run through `ssd-hf eval` as a new user would: from a project
folder outside /tmp, with credentials where real machines keep them and real servers listening. Each
program's verdict is asserted, and afterwards nothing outside has changed, no secret reached the results,
and no process of any program is left.

Most programs print "blocked" when every attempt of theirs failed, so `pass` means the sandbox held.
They run under the lcb grader, whose guard switches off os.fork & co. in Python; they go around it
(`posix`, ctypes), as an attacker would, so what is tested is the operating-system sandbox.
"""

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time

import pytest
from lcb_rows import lcb_row

from ssd_hf.eval.isolation import bwrap_problem

# CI sets SSD_REQUIRE_SANDBOX=1: there a sandbox that cannot run is a failure, not a skip.
pytestmark = pytest.mark.skipif(bwrap_problem() is not None and os.environ.get("SSD_REQUIRE_SANDBOX") != "1",
                                reason=f"bubblewrap cannot run here: {bwrap_problem()}")

TAG = f"ssdhostile{os.getpid()}"
HF_TOKEN = "hf_" + "EnvToken" * 4 + "x1"
SECRETS = {"hf_env": HF_TOKEN, "hf_file": "hf_" + "FileToken" * 4, "xdg": "hf_" + "XdgToken" * 4,
           "docker": "docker-auth-" + "Q" * 20, "project": "project-secret-" + "Z" * 20}
ANSWER = f"ANSWER-{TAG}"


def _blocked(body: str) -> str:
    """A program that prints "blocked" when `body` raised, else "escaped"."""
    return f"try:\n    {body}\n    print('escaped')\nexcept BaseException:\n    print('blocked')\n"


def _all_blocked(bodies: list[str]) -> str:
    lines = ["results = []"]
    for body in bodies:
        lines += ["try:", f"    results.append({body})", "except BaseException:", "    pass"]
    return "\n".join(lines) + "\nprint('blocked' if not results else results)\n"


def programs(w: dict) -> list[tuple[str, str, str, str]]:
    """(name, problem id, program, expected verdict). `w` holds the paths and ports of the world."""
    survivor = f"/usr/bin/sleep', ['{TAG}-survivor', '1000'"
    return [
        ("read_etc_shadow", "hx", _blocked("open('/etc/shadow').read()"), "pass"),
        ("read_hf_home_token", "hx", _blocked(f"open({w['hf_home'] + '/token'!r}).read()"), "pass"),
        ("read_xdg_cache_token", "hx", _blocked(f"open({w['xdg'] + '/huggingface/token'!r}).read()"), "pass"),
        ("read_docker_config", "hx", _blocked(f"open({w['home'] + '/.docker/config.json'!r}).read()"), "pass"),
        ("read_0600_project_file", "hx", _blocked(f"open({w['project'] + '/secret.txt'!r}).read()"), "pass"),
        ("read_problems_file", "hx", _blocked(f"open({w['problems']!r}).read()"), "pass"),
        ("read_other_solutions", "hx", _all_blocked([f"open({w['solutions']!r}).read()",
                                                     f"open({w['out'] + '/verdicts.jsonl'!r}).read()"]), "pass"),
        ("mountinfo_shows_nothing_of_ours", "hx",
         f"m = open('/proc/self/mountinfo').read()\nbad = [p for p in {[w['project'], w['home'], '/etc', '/run']!r} if p in m]\n"
         "print(bad or 'blocked')\n", "pass"),
        ("environ_has_no_token", "hx",
         "import os, glob\nseen = str(dict(os.environ))\nfor p in glob.glob('/proc/*/environ'):\n    try:\n"
         "        seen += open(p, 'rb').read().decode(errors='replace')\n    except OSError:\n        pass\n"
         "print('blocked' if 'HF_' not in seen and 'TOKEN' not in seen else seen)\n", "pass"),
        ("only_own_processes_visible", "hx",
         "import os\npids = [p for p in os.listdir('/proc') if p.isdigit()]\nprint('blocked' if len(pids) <= 3 else pids)\n", "pass"),
        ("cheat_by_searching_for_the_answer", "hcheat", CHEAT, "fail"),
        ("stderr_leak", "hx", "import sys\nsys.stderr.write('hf_' + 'Leak' * 9 + 'x' * 5000 + '\\n')\nraise SystemError('leak ' + 'hf_' + 'Q' * 30)\n",
         "runtime_error"),
        ("audit_hook_bypass_via_gc", "hx",
         "import gc, sys\nfor o in gc.get_objects():\n    if hasattr(o, '__code__') and getattr(o, '__name__', '') in ('hook', 'audit'):\n"
         "        o.__code__ = (lambda *a: None).__code__\n"
         "import ctypes\nlibc = ctypes.CDLL(None)\n" + _all_blocked_fds(["/etc/shadow", w['project'] + '/secret.txt']), "pass"),
        ("ctypes_fork_and_open", "hx",
         "import ctypes, os\nlibc = ctypes.CDLL(None)\npid = libc.fork()\nif pid == 0:\n    libc._exit(0)\n"
         "os.waitpid(pid, 0)\n" + _all_blocked_fds([w['hf_home'] + '/token', w['problems']]), "pass"),
        ("fork_exec_writes_outside", "hx",
         f"import posix, os\npid = posix.fork()\nif pid == 0:\n    posix.execv('/bin/sh', ['sh', '-c', 'echo pwned > {w['project']}/pwned; "
         f"echo pwned > /tmp/{TAG}-fork'])\nos.waitpid(pid, 0)\nprint('blocked' if not os.path.exists({w['project']!r}) else 'seen')\n", "pass"),
        ("tcp_to_localhost_server", "hx", _blocked(f"__import__('socket').create_connection(('127.0.0.1', {w['port']}), timeout=1).sendall(b'leak')"),
         "pass"),
        ("unix_stream_connect_by_path", "hx",
         _blocked(f"(lambda s: (s.connect({w['stream']!r}), s.sendall(b'leak')))(__import__('socket').socket(1, 1))"), "pass"),
        ("unix_datagram_sendmsg_by_path", "hx",
         _blocked(f"__import__('socket').socket(1, 2).sendmsg([b'leak'], [], 0, {w['dgram']!r})"), "pass"),
        ("abstract_unix_socket", "hx", _blocked(f"__import__('socket').socket(1, 1).connect({w['abstract']!r})"), "pass"),
        ("write_run_lock", "hx", _blocked("open('/run/lock/ssd-pwned', 'w').write('x')"), "pass"),
        ("pth_into_site_packages", "hx",
         _blocked(f"open({sysconfig.get_paths()['purelib'] + '/' + TAG + '.pth'!r}, 'w').write('import os')"), "pass"),
        ("rewrite_results_and_verdicts", "hx", _all_blocked([f"open({w['out'] + '/results.json'!r}, 'w').write('{{}}')",
                                                             f"open({w['out'] + '/verdicts.jsonl'!r}, 'a').write('x')",
                                                             f"open({w['problems']!r}, 'a').write('x')"]), "pass"),
        ("tmp_is_its_own", "hx", f"open('/tmp/{TAG}-tmp', 'w').write('x')\nprint('blocked')\n", "pass"),
        ("fill_tmp_hits_its_cap", "hx",
         "import os\nn = 0\ntry:\n    for i in range(40):\n        with open(f'/tmp/f{i}', 'wb') as f:\n"
         "            for _ in range(16):\n                f.write(b'x' * 1024 * 1024)\n                n += 1\nexcept OSError:\n    pass\n"
         "print('blocked' if n < 200 else n)\n", "pass"),
        ("setsid_survivor", "hx",
         f"import posix, os\npid = posix.fork()\nif pid == 0:\n    os.setsid()\n    posix.execv('{survivor}])\nprint('blocked')\n", "pass"),
        ("answer_then_daemon_keeps_stdout", "hx",
         f"import posix, os, sys\nprint('blocked')\nsys.stdout.flush()\nif posix.fork() == 0:\n    os.setsid()\n"
         f"    posix.execv('{survivor}])\n", "pass"),
        ("pid1_self_sigkill", "hx", "import signal\nsignal.raise_signal(signal.SIGKILL)\nprint('blocked')\n", "runtime_error"),
        ("self_sigterm", "hx", "import posix, os, signal\nposix.kill(os.getpid(), signal.SIGTERM)\nprint('blocked')\n", "runtime_error"),
        ("kill_everything_visible", "hx", "import posix, signal\nposix.kill(-1, signal.SIGKILL)\nprint('blocked')\n", "runtime_error"),
        ("signal_the_test_runner", "hx", _blocked(f"__import__('posix').kill({os.getpid()}, 9)"), "pass"),
        ("chmod_host_dev_null", "hx", _blocked("__import__('posix').chmod('/dev/null', 0o600)"), "pass"),
        ("write_sysctls", "hx", _all_blocked(["open('/proc/sys/kernel/hostname', 'w').write('pwned')",
                                              "open('/proc/sys/vm/swappiness', 'w').write(open('/proc/sys/vm/swappiness').read())"]), "pass"),
        ("no_capabilities_uid_nobody", "hx",
         "s = open('/proc/self/status').read()\ncap = s.split('CapEff:')[1].split()[0]\nuid = s.split('Uid:')[1].split()[0]\n"
         "print('blocked' if int(cap, 16) == 0 and uid == '65534' else (cap, uid))\n", "pass"),
        ("fork_bomb", "hx", "import posix\nwhile True:\n    try:\n        posix.fork()\n    except OSError:\n        pass\n", "timeout"),
        ("busy_loop", "hx", "while True:\n    pass\n", "timeout"),
        ("allocate_8gb", "hx", "x = bytearray(8 * 1024 ** 3)\nprint('blocked')\n", "runtime_error"),
        ("heartbeat_on_the_pipe", "hfn", HEARTBEAT, "runtime_error"),
        ("returns_then_stays_alive", "hfn",
         f"class Solution:\n    def add(self, nums):\n        import posix, os\n        if posix.fork() == 0:\n            os.setsid()\n"
         f"            posix.execv('{survivor}])\n        return sum(nums)\n", "pass"),
        ("correct_program_after_all_that", "hx", "print('blocked')\n", "pass"),
    ]


def _all_blocked_fds(paths: list[str]) -> str:
    """ctypes `libc.open` of each path; "blocked" when every one fails (returns -1)."""
    checks = " and ".join(f"libc.open({p.encode()!r}, 0) < 0" for p in paths)
    return f"print('blocked' if {checks} else 'opened')\n"


CHEAT = f"""
import glob, os
found = None
def look(data):
    global found
    i = data.find(b'ANSWER-')
    if i >= 0 and b'{TAG}' in data[i:i + 80]:
        found = data[i:i + 40].split()[0].decode(errors='replace')
for fd in range(64):
    try:
        look(os.pread(fd, 1 << 20, 0))
    except OSError:
        pass
for pattern in ['/proc/*/cmdline', '/proc/*/environ', '/proc/*/fd/*', '/tmp/**', '/*', '/dev/shm/*']:
    for p in glob.glob(pattern, recursive=True):
        try:
            with open(p, 'rb') as f:
                look(f.read(1 << 20))
        except OSError:
            pass
print(found or 'none')
"""

HEARTBEAT = """
import os, threading, time
def beat():
    while True:
        for fd in range(3, 64):
            try:
                os.write(fd, b'{"ready": true}\\n')
            except OSError:
                pass
        time.sleep(0.05)
threading.Thread(target=beat, daemon=True).start()
time.sleep(0.3)
class Solution:
    def add(self, nums):
        time.sleep(30)
        return sum(nums)
"""


class Listeners:
    """A TCP server, unix stream and datagram sockets by path and an abstract one; they record any contact."""

    def __init__(self, project: str):
        self.hits: list[str] = []
        self.tcp = socket.create_server(("127.0.0.1", 0))
        self.stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.stream.bind(os.path.join(project, "stream.sock"))
        self.dgram = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.dgram.bind(os.path.join(project, "dgram.sock"))
        self.abstract_name = f"\0{TAG}-abstract"
        self.abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.abstract.bind(self.abstract_name)
        for s in (self.tcp, self.stream, self.abstract):
            s.listen()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        import select

        socks = [self.tcp, self.stream, self.abstract, self.dgram]
        while not self.stop.is_set():
            for s in select.select(socks, [], [], 0.1)[0]:
                if s is self.dgram:
                    self.hits.append(repr(s.recv(100)))
                else:
                    conn, _ = s.accept()
                    self.hits.append("connection")
                    conn.close()

    def close(self):
        self.stop.set()
        self.thread.join()
        for s in (self.tcp, self.stream, self.dgram, self.abstract):
            s.close()


def _survivors() -> list[str]:
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f"{TAG}-survivor".encode() in f.read():
                    found.append(pid)
        except OSError:
            pass
    return found


def _snapshot(paths: list[str]) -> dict:
    out = {}
    for path in paths:
        if os.path.isdir(path):
            out[path] = sorted(os.listdir(path))
        elif os.path.exists(path):
            st = os.stat(path)
            out[path] = (st.st_mode, st.st_size, st.st_mtime_ns)
    return out


@pytest.fixture(scope="module")
def world():
    base = tempfile.mkdtemp(prefix=f"{TAG}-", dir=os.path.expanduser("~"))  # outside /tmp, like a real project
    home, project = os.path.join(base, "home"), os.path.join(base, "project")
    w = {"base": base, "home": home, "project": project, "hf_home": os.path.join(home, "hf"),
         "xdg": os.path.join(home, ".cache"), "problems": os.path.join(project, "problems.jsonl"),
         "solutions": os.path.join(project, "solutions.jsonl"), "out": os.path.join(project, "out")}
    for d in (w["hf_home"], os.path.join(w["xdg"], "huggingface"), os.path.join(home, ".docker"), project):
        os.makedirs(d)
    files = {os.path.join(w["hf_home"], "token"): SECRETS["hf_file"], os.path.join(w["xdg"], "huggingface", "token"): SECRETS["xdg"],
             os.path.join(home, ".docker", "config.json"): json.dumps({"auths": {"x": {"auth": SECRETS["docker"]}}}),
             os.path.join(project, "secret.txt"): SECRETS["project"]}
    for path, text in files.items():
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, 0o600)
    os.chmod(project, 0o700)
    listeners = Listeners(project)
    w.update(port=listeners.tcp.getsockname()[1], stream=os.path.join(project, "stream.sock"),
             dgram=os.path.join(project, "dgram.sock"), abstract=listeners.abstract_name, listeners=listeners, files=files)
    yield w
    listeners.close()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def hostile_run(world):
    w = world
    cases = programs(w)
    rows = [lcb_row("hx", [("go\n", "blocked\n"), ("go\n", "blocked\n")]), lcb_row("hcheat", [("go\n", ANSWER + "\n")] * 2),
            lcb_row("hfn", [("[1, 2]", "3"), ("[4, 5]", "9")], func_name="add")]
    with open(w["problems"], "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)
    with open(w["solutions"], "w") as f:
        f.writelines(json.dumps({"question_id": qid, "completion": f"```python\n{code}```\n"}) + "\n" for _, qid, code, _ in cases)
    watched = [w["project"], *w["files"], "/run/lock", sysconfig.get_paths()["purelib"], "/dev/null", tempfile.gettempdir()]
    before = _snapshot(watched)
    env = {**os.environ, "HOME": w["home"], "HF_HOME": w["hf_home"], "XDG_CACHE_HOME": w["xdg"], "HF_TOKEN": HF_TOKEN,
           "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "ssd_hf.cli", "eval", "--problems", w["problems"], "--solutions", w["solutions"],
                           "--output", w["out"], "--timeout", "2", "--workers", "2", "--sandbox", "bwrap"],
                          cwd=w["project"], env=env, capture_output=True, text=True, timeout=300)
    wall = time.monotonic() - start
    time.sleep(0.5)  # anything a program left would still be running now
    return {"cases": cases, "proc": proc, "wall": wall, "before": before, "after": _snapshot(watched), "survivors": _survivors()}


def test_the_run_completes_and_every_program_gets_its_verdict(hostile_run, world):
    proc = hostile_run["proc"]
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(hostile_run["cases"]) >= 30
    samples = json.load(open(os.path.join(world["out"], "results.json")))["samples"]
    got = {}
    for qid in ("hx", "hcheat", "hfn"):
        names = [name for name, q, _, _ in hostile_run["cases"] if q == qid]
        for s in (s for s in samples if s["question_id"] == qid):
            got[names[s["sample_index"]]] = (s["verdict"], s["detail"])
    wrong = {name: got[name] for name, _, _, want in hostile_run["cases"] if got[name][0] != want}
    assert wrong == {}
    assert hostile_run["wall"] < 120  # a heartbeat or a survivor cannot stall the run


def test_nothing_outside_changed(hostile_run, world):
    before, after = hostile_run["before"], hostile_run["after"]
    assert after[world["project"]] == sorted(before[world["project"]] + ["out"])
    for path in [*world["files"], "/run/lock", sysconfig.get_paths()["purelib"], "/dev/null"]:
        assert after.get(path) == before.get(path), path
    assert stat.S_IMODE(os.stat("/dev/null").st_mode) == 0o666
    assert not [n for n in after[tempfile.gettempdir()] if TAG in n]
    assert world["listeners"].hits == []
    assert hostile_run["survivors"] == []


def test_no_secret_reaches_the_results(hostile_run, world):
    for name in ("results.json", "verdicts.jsonl"):
        text = open(os.path.join(world["out"], name)).read()
        assert not [k for k, v in SECRETS.items() if v in text], name
        assert "hf_LeakLeak" not in text and "hf_QQQQ" not in text  # token-shaped text a program printed
    samples = json.load(open(os.path.join(world["out"], "results.json")))["samples"]
    assert all(len(s["detail"]) <= 300 for s in samples)
    leak = next(s for s in samples if "stderr" in s["code"] and "Leak" in s["code"])
    assert "***" in leak["detail"]
