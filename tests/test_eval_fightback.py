"""Issue 21's hostile set: programs that fight the sandbox's own design (the runner, the channel, the limits,
the evaluator's parsing) and runaway solutions, run through `ssd-hf eval` as a user would. Each program's
verdict is asserted, and so is the evidence outside: the evaluator's peak memory, no process, cgroup or
kernel key left behind, no disk used on the host.

stdin programs print "blocked" when every attempt failed, so `pass` means the sandbox held. System calls go
through ctypes (libc), as an attacker's would, around Python's own guard.
"""

import ctypes
import json
import os
import platform
import subprocess
import sys
import threading
import time

import pytest
from lcb_rows import lcb_row

from ssd_hf.eval.cgroups import cgroup_roots
from ssd_hf.eval.isolation import bwrap_problem, choose_layers
from ssd_hf.eval.seccomp_filter import seccomp_program

REQUIRED = os.environ.get("SSD_REQUIRE_SANDBOX") == "1"
pytestmark = pytest.mark.skipif(bwrap_problem() is not None and not REQUIRED, reason=f"bubblewrap cannot run here: {bwrap_problem()}")

TAG = f"ssdfight{os.getpid()}"
# x86_64 / aarch64 numbers of the calls glibc has no wrapper for
NR = {"x86_64": {"keyctl": 250, "add_key": 248, "pidfd_getfd": 438, "pidfd_open": 434, "perf_event_open": 298,
                 "userfaultfd": 323, "bpf": 321, "io_uring_setup": 425, "clone3": 435, "clone": 56, "kcmp": 312},
      "aarch64": {"keyctl": 219, "add_key": 217, "pidfd_getfd": 438, "pidfd_open": 434, "perf_event_open": 241,
                  "userfaultfd": 282, "bpf": 280, "io_uring_setup": 425, "clone3": 435, "clone": 220, "kcmp": 272}}[platform.machine()]
LIBC = "import ctypes, os, posix\nlibc = ctypes.CDLL(None, use_errno=True)\n"


def _refused(call: str) -> str:
    """A program printing "blocked" when the libc call `call` returns -1 (refused), else what it returned."""
    return f"{LIBC}r = {call}\nprint('blocked' if r == -1 else r)\n"


def _raises(body: str) -> str:
    return f"{LIBC}try:\n    {body}\n    print('escaped')\nexcept BaseException:\n    print('blocked')\n"


HOG = f"{LIBC}import mmap\n"
RUNNER = "os.getppid()"
SOCKET_BY_GC = "import gc, socket\nchannel = [o for o in gc.get_objects() if isinstance(o, socket.socket)][0]\n"


def stdin_programs() -> list[tuple[str, str, str]]:
    """(name, program, expected verdict) for the stdin problem "hx" (expects "blocked" for "go")."""
    gib = 1024**3
    return [
        # the runner, from a test's own process (same uid)
        ("pidfd_open_runner", _refused(f"libc.syscall({NR['pidfd_open']}, {RUNNER}, 0)"), "pass"),
        ("pidfd_getfd_runner", _refused(f"libc.syscall({NR['pidfd_getfd']}, 3, 3, 0)"), "pass"),
        ("proc_mem_of_runner", _raises(f"open(f'/proc/{{{RUNNER}}}/mem', 'r+b').write(b'x')"), "pass"),
        ("proc_fds_of_runner", _raises(f"[open(f'/proc/{{{RUNNER}}}/fd/' + n, 'rb') for n in os.listdir(f'/proc/{{{RUNNER}}}/fd')]"), "pass"),
        ("ptrace_attach_runner", _refused(f"libc.ptrace(16, {RUNNER}, 0, 0)"), "pass"),
        ("process_vm_writev_runner", _refused(f"libc.process_vm_writev({RUNNER}, 0, 0, 0, 0, 0)"), "pass"),
        ("kcmp_runner", _refused(f"libc.syscall({NR['kcmp']}, os.getpid(), {RUNNER}, 0, 0, 0)"), "pass"),
        ("forge_status_then_overrun", f"{LIBC}import time\nfor fd in range(3, 64):\n    try:\n"
         "        os.write(fd, b'{\"test\": 0, \"status\": 0}\\n')\n    except OSError:\n        pass\ntime.sleep(12)\nprint('blocked')\n",
         "timeout"),
        ("stop_the_runner", f"{LIBC}import signal\nposix.kill({RUNNER}, signal.SIGSTOP)\nprint('blocked')\n", "timeout"),
        ("kill_the_runner", f"{LIBC}posix.kill({RUNNER}, 9)\nprint('blocked')\n", "runtime_error"),
        # limits that must count everything
        ("three_forks_over_the_cap", f"{LIBC}kids = []\nfor _ in range(3):\n    pid = posix.fork()\n    if pid == 0:\n"
         "        x = bytearray(130 * 1024 ** 2)\n        import time\n        time.sleep(0.5)\n        os._exit(0)\n    kids.append(pid)\n"
         "codes = [os.waitpid(k, 0)[1] for k in kids]\nprint('blocked' if any(codes) else codes)\n", "pass"),
        ("memfds_past_the_cap", f"{LIBC}chunk = b'x' * (30 * 1024 ** 2)\nfds = [os.memfd_create('x') for _ in range(12)]\n"
         "for fd in fds:\n    os.write(fd, chunk)\nprint('escaped')\n", "runtime_error"),
        ("sysv_shm_past_the_cap", f"{LIBC}libc.shmat.restype = ctypes.c_void_p\nlibc.shmdt.argtypes = [ctypes.c_void_p]\n"
         "size = 130 * 1024 ** 2\nfor _ in range(3):\n    addr = libc.shmat(libc.shmget(0, size, 0o1600), None, 0)\n"
         "    ctypes.memset(addr, 1, size)\n    libc.shmdt(addr)\nprint('escaped')\n", "runtime_error"),
        ("mmap_threads_in_two_processes", HOG + "import threading, time\ndef hog():\n    m = mmap.mmap(-1, 100 * 1024 ** 2)\n"
         "    m.write(b'x' * len(m))\n    time.sleep(0.5)\ndef proc():\n    ts = [threading.Thread(target=hog) for _ in range(2)]\n"
         "    [t.start() for t in ts]\n    [t.join() for t in ts]\n    os._exit(0)\n"
         "kids = []\nfor _ in range(2):\n    pid = posix.fork()\n    if pid == 0:\n        proc()\n    kids.append(pid)\n"
         "codes = [os.waitpid(k, 0)[1] for k in kids]\nprint('blocked' if any(codes) else codes)\n", "pass"),
        ("nested_userns_tmpfs", _refused("libc.unshare(0x10000000 | 0x00020000)"), "pass"),
        ("clone_new_net", _refused(f"libc.syscall({NR['clone']}, 0x40000000 | 17, 0, 0, 0, 0)"), "pass"),
        ("clone3", _refused(f"libc.syscall({NR['clone3']}, 0, 0)"), "pass"),
        ("mount_tmpfs", _refused("libc.mount(b'x', b'/tmp', b'tmpfs', 0, b'size=2g')"), "pass"),
        ("setns", _refused("libc.setns(os.open('/proc/self/ns/net', 0), 0)"), "pass"),
        ("fallocate_stdout", _raises(f"os.posix_fallocate(1, 0, {2 * gib})"), "pass"),
        ("fallocate_stdin", _raises(f"os.posix_fallocate(0, 0, {2 * gib})"), "pass"),
        ("fallocate_tmp", _raises(f"os.posix_fallocate(os.open('/tmp/f', os.O_CREAT | os.O_RDWR), 0, {2 * gib})"), "pass"),
        ("fill_dev_shm", _raises("open('/dev/shm/f', 'wb').write(b'x' * 100 * 1024 ** 2)"), "pass"),
        ("write_to_stdin", _raises("os.write(0, b'x')"), "pass"),
        ("fork_loop", f"{LIBC}import time\nwhile True:\n    try:\n        if posix.fork() == 0:\n            time.sleep(60)\n"
         "    except OSError:\n        pass\n", "timeout"),
        ("thread_loop", "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()\n",
         "runtime_error"),
        # the kernel keyring and host facts
        ("keyring_read_session", _refused(f"libc.syscall({NR['keyctl']}, 11, -3, 0, 0)"), "pass"),
        ("keyring_plant", _refused(f"libc.syscall({NR['add_key']}, b'user', b'{TAG}', b'planted', 7, -3)"), "pass"),
        ("keyring_plant_user", _refused(f"libc.syscall({NR['add_key']}, b'user', b'{TAG}-u', b'planted', 7, -4)"), "pass"),
        ("hostname_is_its_own", "import socket, os\nh = (socket.gethostname(), os.uname().nodename)\n"
         "print('blocked' if h == ('sandbox', 'sandbox') else h)\n", "pass"),
        ("proc_cmdline_masked", "print('blocked' if open('/proc/cmdline').read().strip() == 'sandbox' else 'host')\n", "pass"),
        ("boot_id_masked", "b = open('/proc/sys/kernel/random/boot_id').read().strip()\n"
         "print('blocked' if b.startswith('00000000-') else b)\n", "pass"),
        ("perf_event_open", _refused(f"libc.syscall({NR['perf_event_open']}, 0, 0, -1, -1, 0)"), "pass"),
        ("userfaultfd", _refused(f"libc.syscall({NR['userfaultfd']}, 0)"), "pass"),
        ("bpf", _refused(f"libc.syscall({NR['bpf']}, 0, 0, 0)"), "pass"),
        ("io_uring_setup", _refused(f"libc.syscall({NR['io_uring_setup']}, 1, ctypes.create_string_buffer(120))"), "pass"),
        ("open_by_handle_at", _refused("libc.open_by_handle_at(-100, ctypes.create_string_buffer(64), 0)"), "pass"),
        ("tiocsti", _refused("libc.ioctl(0, 0x5412, ctypes.byref(ctypes.c_char(b'x')))"), "pass"),
        # runaway output and the evaluator's own parsing
        ("numbers_until_the_limit", "import sys\ni = 0\nwhile True:\n    sys.stdout.write(' '.join(map(str, range(i, i + 5000))) + ' ')\n"
         "    i += 5000\n", "runtime_error"),
        ("sixteen_million_numbers", "import sys\nsys.stdout.write('1 ' * 16_000_000)\n", "fail"),
        ("stderr_flood_then_right", "import sys\nfor _ in range(100):\n    sys.stderr.write('e' * 1024 ** 2)\nprint('blocked')\n", "pass"),
        ("correct_after_all_that", "print('blocked')\n", "pass"),
    ]


def call_programs() -> list[tuple[str, str, str, str]]:
    """(name, problem id, program, expected verdict) for the functional problems."""
    return [
        ("stops_reading_a_1mb_input", "hbig",
         "import threading\ndef size(s):\n    threading.Thread(target=lambda: sum(range(10 ** 12)), daemon=True).start()\n"
         "    return len(s)\n", "timeout"),
        ("reply_of_32_mib", "hfn", "def add(a, b):\n    return 'x' * 32 * 1024 ** 2\n", "runtime_error"),
        ("reply_nested_100k_deep", "hfn", SOCKET_BY_GC + "def add(a, b):\n    channel.sendall(b'{\"ok\": true, \"value\": ' + b'[' * 100000 + "
         "b']' * 100000 + b'}\\n')\n    return a + b\n", "runtime_error"),
        ("forged_input_error", "hfn", SOCKET_BY_GC + "def add(a, b):\n    channel.sendall(b'{\"ok\": false, \"input_error\": true, \"error\": \"x\"}\\n')\n"
         "    return a - b\n", "runtime_error"),
        ("forged_answer_line_then_wrong", "hfn", SOCKET_BY_GC + "def add(a, b):\n    channel.sendall(b'{\"ok\": true, \"value\": 3}\\n')\n"
         "    return 0\n", "fail"),
        ("eq_always_true", "hfn", "class Yes:\n    def __eq__(self, other):\n        return True\ndef add(a, b):\n    return Yes()\n", "fail"),
        ("int_subclass_eq_true", "hfn", "class Yes(int):\n    def __eq__(self, other):\n        return True\n    __hash__ = int.__hash__\n"
         "def add(a, b):\n    return Yes(0)\n", "fail"),
        ("fraction_half", "hhalf", "from fractions import Fraction\ndef half(_):\n    return Fraction(1, 2)\n", "pass"),
        ("decimal_two_and_a_half", "h25", "from decimal import Decimal\ndef f(_):\n    return Decimal('2.5')\n", "pass"),
        ("fraction_subclass_eq_true", "hhalf", "from fractions import Fraction\nclass F(Fraction):\n    def __eq__(self, other):\n"
         "        return True\ndef half(_):\n    return F(1, 3)\n", "fail"),
        ("correct_add", "hfn", "def add(a, b):\n    return a + b\n", "pass"),
    ]


HUMANEVAL_0 = "    for i, a in enumerate(numbers):\n        for j, b in enumerate(numbers):\n            if i != j and abs(a - b) < threshold:\n" \
              "                return True\n    return False\n"
SEND_DONE_EVERYWHERE = "    import os, socket\n    for fd in range(64):\n        try:\n            os.write(fd, b'{\"done\": true}\\n')\n        except OSError:\n            pass\n"


def humaneval_completions() -> list[tuple[str, str, str]]:
    """(name, completion continuing HumanEval/0's prompt, expected verdict or verdicts: a forged "done" written to
    stderr as well may be the last line there, so some can end either way; never as a pass)."""
    return [
        ("he_send_done_on_every_fd", SEND_DONE_EVERYWHERE + "    return False\n", "runtime_error"),
        ("he_send_done_via_stack_frames", "    import sys\n    f = sys._getframe()\n    while f:\n        for v in list(f.f_locals.values()):\n"
         "            for name in ('send', 'reply'):\n                try:\n                    getattr(v, name, v if callable(v) and name == 'reply' else None)({'done': True})\n"
         "                except Exception:\n                    pass\n        f = f.f_back\n    return False\n", "runtime_error"),
        ("he_forked_child_sends_done", "    import posix, os\n    if posix.fork() == 0:\n" + SEND_DONE_EVERYWHERE.replace("    ", "        ", 1)
         .replace("\n    ", "\n        ") + "        os._exit(0)\n    return False\n", ("fail", "runtime_error")),
        ("he_atexit_after_early_exit", "    return False\nimport atexit, os, sys\ndef _done():\n" + SEND_DONE_EVERYWHERE.replace("    import os, socket\n", "")
         + "atexit.register(_done)\nsys.exit(0)\n", "runtime_error"),
        ("he_eq_always_true", "    class Yes:\n        def __eq__(self, other):\n            return True\n        __bool__ = lambda self: True\n"
         "    return Yes()\n", "fail"),
        ("he_kill_the_checks", "    import posix, os\n    posix.kill(os.getppid(), 9)\n    return False\n", "runtime_error"),
        ("he_patch_builtins", "    import builtins\n    builtins.AssertionError = type('Nope', (Exception,), {})\n    builtins.abs = lambda x: 0\n    return False\n",
         "fail"),
        ("he_correct", HUMANEVAL_0, "pass"),
    ]


def _cgroups_left(pids: list[int]) -> list[str]:
    """Program groups the given evaluator processes made and did not remove."""
    roots, _ = cgroup_roots()
    if roots is None:
        return []
    return [n for parent in roots.parents for n in os.listdir(parent) if n.startswith(tuple(f"ssd-hf-{p}-" for p in pids))]


def _key_found(description: str) -> bool:
    libc = ctypes.CDLL(None, use_errno=True)
    return any(libc.syscall(NR["keyctl"], 10, ring, b"user", description.encode(), 0) >= 0 for ring in (-3, -4))


class PeakRSS:
    """The peak resident memory of one process (not its children), sampled every 20 ms from /proc."""

    def __init__(self, pid: int):
        self.pid, self.peak = pid, 0
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()

    def _watch(self):
        while True:
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            self.peak = max(self.peak, int(line.split()[1]) * 1024)
            except OSError:
                return
            time.sleep(0.02)


def _eval(args: list[str], cwd: str) -> tuple[subprocess.CompletedProcess, int, float]:
    """`ssd-hf eval ARGS` in a subprocess: (result, its own peak RSS in bytes, seconds)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "TMPDIR": os.path.join(cwd, "tmp")}
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "ssd_hf.cli", "eval", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rss = PeakRSS(proc.pid)
    out, err = proc.communicate(timeout=600)
    rss.thread.join(timeout=1)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), rss.peak, time.monotonic() - start, proc.pid


def _write_jsonl(path, rows):
    with open(path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


@pytest.fixture(scope="module")
def fight(tmp_path_factory):
    work = tmp_path_factory.mktemp("fight")
    stdin_cases, call_cases, he_cases = stdin_programs(), call_programs(), humaneval_completions()
    big = "a" * 1024 * 1024
    problems = [lcb_row("hx", [("go\n", "blocked\n"), ("go\n", "blocked\n")]),
                lcb_row("hbig", [(json.dumps("ab"), "2"), (json.dumps(big), str(len(big)))], func_name="size"),
                lcb_row("hfn", [("1\n2", "3"), ("4\n5", "9")], func_name="add"),
                lcb_row("hhalf", [("0", "0.5")], func_name="half"), lcb_row("h25", [("0", "2.5")], func_name="f")]
    _write_jsonl(work / "problems.jsonl", problems)
    _write_jsonl(work / "solutions.jsonl", [{"question_id": "hx", "completion": f"```python\n{code}```\n"} for _, code, _ in stdin_cases]
                 + [{"question_id": q, "completion": f"```python\n{code}```\n"} for _, q, code, _ in call_cases])
    _write_jsonl(work / "trivial.jsonl", [{"question_id": "hx", "completion": "```python\nprint('blocked')\n```\n"}])
    _write_jsonl(work / "he.jsonl", [{"task_id": "HumanEval/0", "completion": c} for _, c, _ in he_cases])
    os.makedirs(work / "tmp")
    common = ["--timeout", "6", "--workers", "2", "--sandbox", "bwrap", "--memory_mb", "320"]
    trivial = _eval(["--problems", str(work / "problems.jsonl"), "--solutions", str(work / "trivial.jsonl"),
                     "--output", str(work / "trivial"), *common], str(work))
    lcb = _eval(["--problems", str(work / "problems.jsonl"), "--solutions", str(work / "solutions.jsonl"),
                 "--output", str(work / "lcb"), *common], str(work))
    he = _eval(["--benchmark", "humaneval", "--solutions", str(work / "he.jsonl"), "--output", str(work / "he"), *common], str(work))
    time.sleep(0.5)
    return {"work": work, "stdin": stdin_cases, "call": call_cases, "he": he_cases, "trivial": trivial, "lcb": lcb, "he_run": he,
            "tmp_left": os.listdir(work / "tmp")}


def _verdicts(out_dir, names_by_qid: dict[str, list[str]]) -> dict[str, tuple[str, str]]:
    samples = json.load(open(os.path.join(out_dir, "results.json")))["samples"]
    return {names_by_qid[s["question_id"]][s["sample_index"]]: (s["verdict"], s["detail"]) for s in samples if s["question_id"] in names_by_qid}


def test_every_hostile_program_gets_its_verdict(fight):
    for key in ("trivial", "lcb", "he_run"):
        proc = fight[key][0]
        assert proc.returncode == 0, proc.stderr[-3000:]
    names = {"hx": [n for n, _, _ in fight["stdin"]]}
    for name, qid, _, _ in fight["call"]:
        names.setdefault(qid, []).append(name)
    got = _verdicts(fight["work"] / "lcb", names)
    got.update(_verdicts(fight["work"] / "he", {"HumanEval/0": [n for n, _, _ in fight["he"]]}))
    want = {n: v for n, _, v in fight["stdin"]} | {n: v for n, _, _, v in fight["call"]} | {n: v for n, _, v in fight["he"]}
    assert len(want) >= 40
    wrong = {n: got.get(n) for n, v in want.items() if got.get(n, ("missing",))[0] not in ((v,) if isinstance(v, str) else v)}
    assert wrong == {}
    for name in ("memfds_past_the_cap", "sysv_shm_past_the_cap"):
        assert "out of memory" in got[name][1], got[name]


def test_the_limits_were_the_kernels(fight):
    """The run used a cgroup per program and the seccomp filter (CI requires both)."""
    layers = json.load(open(fight["work"] / "lcb" / "results.json"))["config"]["sandbox_layers"]
    if REQUIRED:
        assert layers["backend"] == "bwrap" and layers["cgroup"] in ("v1", "v2") and layers["seccomp"] is True, layers


def test_the_evaluator_stays_small_and_in_time(fight):
    """Judging the runaway and oversized programs costs the evaluator at most 200 MB more than judging one
    trivial program; a program that stops reading its input costs one time limit, not the run."""
    trivial_peak, hostile_peak = fight["trivial"][1], fight["lcb"][1]
    assert hostile_peak - trivial_peak <= 200 * 1024**2, (trivial_peak, hostile_peak)
    assert fight["lcb"][2] < 240


def test_nothing_left_behind(fight):
    """Every program group was removed, which the kernel allows only once no process is left in it; no kernel
    key was planted; the evaluator's temporary folder stayed empty."""
    assert _cgroups_left([fight[key][3] for key in ("trivial", "lcb", "he_run")]) == []
    assert not _key_found(TAG) and not _key_found(f"{TAG}-u")
    assert fight["tmp_left"] == []  # the evaluator's temporary folder: no file of any program's was ever on disk


def test_layers_are_active_where_required():
    if REQUIRED:
        assert cgroup_roots()[0] is not None, cgroup_roots()[1]
        assert seccomp_program()[0] is not None, seccomp_program()[1]
        layers = choose_layers("bwrap")
        assert layers.cgroup is not None and layers.seccomp is not None
