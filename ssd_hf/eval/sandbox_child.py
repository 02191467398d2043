"""The runner inside the sandbox: sets limits, applies the grader's rules, then runs one candidate program.

Why a separate script: generated code never runs in the evaluator's process. The parent starts
`python -I -S -B -c <loader> CONFIG_FD CHANNEL_FD` inside bubblewrap (sandbox.py); the loader holds this
file, sandbox_values.py and sandbox_checks.py, which import nothing from `ssd_hf`. Security is the
sandbox's job (namespaces, cgroup, seccomp), not this runner's, with one exception: the runner makes itself
not dumpable before any candidate code exists, so that a test's process (same uid) cannot open it through
/proc/<pid>/mem or copy its channel. Nothing a test writes is a verdict: in stdin mode the runner reports
only the exit status it observed, and the parent reads the output itself.

What this runner owns is the grader's *rules* (graders.py sends them in the config): the preamble of
imports, the functions the official harness switches off, the integer-digit limit, how SystemExit ends a
program, and how a functional answer travels back. The config (one JSON object, read from CONFIG_FD and
closed) holds only this run's program and rules; test inputs come one at a time, expected outputs never.

Protocol on CHANNEL_FD, a unix socket (one JSON object per line): {"ready": true} once the interpreter,
the rules and the preamble's imports are loaded and before the program is compiled (the parent's clock
starts there); then, by mode:
  stdin  : per test the parent sends {"test": i, "cpu_s": n} with three descriptors (the test's stdin, a
           sealed in-memory file, and stdout and stderr pipes the parent drains); the runner forks, the child
           closes the channel, takes them as
           fds 0-2 and runs the program as __main__ like a script, and the runner answers
           {"test": i, "status": exit status} once that child has exited and every process it left is
           killed. So each test is a fresh process, but the interpreter starts only once per program.
  checks : HumanEval (sandbox_checks.py): {"done": true} once the tests' check(candidate) returned, the
           candidate running in a process of its own.
  call   : lcb: {"defined": true} or an error, then per input line one result;
           ml-ssd: per input line one result (the program is executed afresh for each test, as there).
A result is {"ok": true, "value": <tagged JSON>} (lcb), {"ok": true, "text": str} (ml-ssd) or
{"ok": false, "error": str}.
"""

import builtins
import importlib
import json
import os
import re
import resource
import socket
import sys
import types

import sandbox_checks
import sandbox_values

RLIMITS = (("cpu_s", resource.RLIMIT_CPU), ("mem_bytes", resource.RLIMIT_AS),
           ("fsize_bytes", resource.RLIMIT_FSIZE), ("nproc", resource.RLIMIT_NPROC))
PR_SET_DUMPABLE = 4
# Taken before the grader's guard switches them off in os (the runner itself still needs them).
FORK, KILL, KILLPG = os.fork, os.kill, os.killpg


class Channel:
    """JSON lines to and from the parent over a unix socket (which can also carry file descriptors)."""

    def __init__(self, fd):
        self.sock = socket.socket(fileno=fd)
        self.reader = None

    def send(self, obj):
        self.sock.sendall(json.dumps(obj).encode() + b"\n")

    def receive(self):
        if self.reader is None:
            self.reader = self.sock.makefile("rb")
        line = self.reader.readline()
        return json.loads(line) if line else None

    def receive_files(self):
        """One message with up to three descriptors; (None, []) when the parent closed the channel."""
        data, fds, _flags, _addr = socket.recv_fds(self.sock, 1 << 16, 3)
        return (json.loads(data) if data else None), fds

    def close(self):
        self.sock.close()


class LazyModule(types.ModuleType):
    """A module the preamble binds (ml-ssd's `np`, `pd`) that is imported only when first used, so that a
    program that never touches it does not pay its import time."""

    def __getattr__(self, attr):
        real = sys.modules.get(self.__name__) or __import__(self.__name__)  # via the guard's import hook
        self.__dict__.update(real.__dict__)
        return getattr(real, attr)


def set_limits(limits):
    """Hard limits the program cannot raise. The CPU limit's hard value is one second above the soft one,
    so running out of CPU time is SIGXCPU (reported as a timeout), not a bare SIGKILL."""
    for key, which in RLIMITS:
        value = int(limits[key])
        try:
            resource.setrlimit(which, (value, value + 1 if which == resource.RLIMIT_CPU else value))
        except (ValueError, OSError):
            pass
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def preload(rules, program):
    """Import the third-party modules the official harness process has loaded before its guard (numpy,
    pandas) when the program names them, before our clock starts: there, importing them costs nothing."""
    aliases = {module: [module] for module in rules.get("preloaded_modules", ())}
    for alias, module in rules.get("lazy_modules", {}).items():
        aliases.setdefault(module, []).append(alias)
    for module, names in aliases.items():
        if re.search(r"\b(" + "|".join(map(re.escape, names)) + r")\b", program):
            try:
                importlib.import_module(module)
            except ImportError:
                pass


def apply_rules(rules):
    """What the official harness does to its process before running a program (its "reliability guard"),
    so that a program behaves here as it does there: switched-off functions raise TypeError when called,
    blocked modules fail to import. Preloaded modules that were not loaded yet still import, with the guard
    lifted while they do, as they would have been loaded before it upstream."""
    import site  # started with -S: give builtins the exit/quit/help an ordinary interpreter has

    site.setquit()
    site.sethelper()
    if rules.get("int_max_str_digits") is not None:
        sys.set_int_max_str_digits(rules["int_max_str_digits"])
    targets = []
    for dotted in rules.get("disabled", ()):
        module_name, _, attr = dotted.rpartition(".")
        module = importlib.import_module(module_name)
        targets.append((module, attr, getattr(module, attr, None)))
    blocked = {name: sys.modules.get(name) for name in rules.get("blocked_modules", ())}

    def guard(on):
        for module, attr, original in targets:
            setattr(module, attr, None if on else original)
        for name, original in blocked.items():
            if on:
                sys.modules[name] = None
            elif original is not None:
                sys.modules[name] = original
            else:
                sys.modules.pop(name, None)

    preloaded = set(rules.get("preloaded_modules", ()))
    real_import = builtins.__import__

    def import_hook(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name.partition(".")[0] in preloaded and name.partition(".")[0] not in sys.modules:
            guard(False)
            try:
                return real_import(name, globals, locals, fromlist, level)
            finally:
                guard(True)
        return real_import(name, globals, locals, fromlist, level)

    if preloaded:
        builtins.__import__ = import_hook
    guard(True)


def namespace_for(rules, name):
    """A fresh global namespace; `name` None means a bare dict (ml-ssd execs into `{}`)."""
    if name is None:
        namespace = {}
    else:
        module = types.ModuleType(name)
        if name == "__main__":
            sys.modules["__main__"] = module
        namespace = module.__dict__
        namespace["__builtins__"] = builtins
    for alias, module_name in rules.get("lazy_modules", {}).items():
        namespace[alias] = sys.modules.get(module_name) or LazyModule(module_name)
    return namespace


def describe(exc):
    return f"{type(exc).__name__}: {exc}"[:300]


def compile_program(program, rules):
    """(preamble code, program code). Compiled apart, so that tracebacks count the program's own lines;
    a program only valid at the top of a file (`from __future__ import ...`) still fails, as it does
    upstream with the preamble in front of it."""
    preamble = rules.get("preamble", "")
    if preamble and "__future__" in program:
        compile(preamble + "\n" + program, "solution.py", "exec")
    return compile(preamble, "preamble.py", "exec"), compile(program, "solution.py", "exec")


def run_tests(program, rules, channel, own_pid_namespace):
    """stdin mode: one forked process per test (see the protocol above). The preamble runs here, once,
    into the namespace every test's process inherits (upstream runs it outside the per-test clock too)."""
    namespace = namespace_for(rules, "__main__")
    try:
        preamble, code = compile_program(program, rules)
        exec(preamble, namespace)
        error = None
    except Exception as exc:  # noqa: BLE001 - a program that does not compile fails each test it meets
        code, error = None, exc
    channel.send({"ready": True})
    while True:
        test, fds = channel.receive_files()
        if test is None:
            return
        pid = FORK()
        if pid == 0:
            run_one_test(code, error, namespace, fds, test, channel)
        for fd in fds:
            os.close(fd)
        _, status = os.waitpid(pid, 0)
        kill_leftovers(pid, own_pid_namespace)
        channel.send({"test": test["test"], "status": os.waitstatus_to_exitcode(status)})


def kill_leftovers(pid, own_pid_namespace):
    """Whatever the test's process left running dies before the next test: in our own PID namespace every
    process but us (kill(-1) spares the caller and init), elsewhere (the fallback) its process group."""
    import signal

    try:
        if own_pid_namespace and os.getpid() == 2:  # bubblewrap's init is 1, we are 2: never kill(-1) on a host
            KILL(-1, signal.SIGKILL)
        else:
            KILLPG(pid, signal.SIGKILL)
    except OSError:
        pass


def run_one_test(code, error, namespace, fds, test, channel):
    """In the forked child: become the test's process, run the program as a script, exit like one.
    SystemExit (any code) ends it normally: the official harness catches it and judges what was printed."""
    status = 1
    try:
        os.setsid()
        channel.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        cpu = int(test["cpu_s"])
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        if error is not None:
            raise error
        try:
            exec(code, namespace)
        except SystemExit:
            pass
        status = 0
    except BaseException:  # noqa: BLE001 - the program's error: a traceback, as a script would print
        import traceback

        traceback.print_exc()
    finally:
        os._exit(finish_like_an_interpreter(status))


def finish_like_an_interpreter(status):
    """What Python does at exit (join threads, atexit, flush), which os._exit in a fork would skip."""
    import atexit
    import threading

    for step in (threading._shutdown, atexit._run_exitfuncs):
        try:
            step()
        except BaseException:  # noqa: BLE001
            pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 - e.g. the output limit: a script would exit with 120
            status = status or 120
    return status


def lcb_function(program, func_name, rules):
    """LCB: the module (not named __main__) once, then `Solution()` when the program's text mentions
    `class Solution`, else the module itself; the same instance serves every test."""
    namespace = namespace_for(rules, "solution")
    for code in compile_program(program, rules):
        exec(code, namespace)
    owner = namespace["Solution"]() if "class Solution" in program else types.SimpleNamespace(**namespace)
    return getattr(owner, func_name)


def run_calls_lcb(program, func_name, rules, channel):
    channel.send({"ready": True})
    try:
        func = lcb_function(program, func_name, rules)
    except BaseException as exc:
        channel.send({"ok": False, "error": describe(exc)})
        return
    channel.send({"defined": True})
    while (text := channel.receive()) is not None:
        try:
            args = [json.loads(line) for line in text.split("\n")]
        except ValueError as exc:  # the parent checked every input: a program wrote to the channel
            channel.send({"ok": False, "error": describe(exc)})
            return
        try:
            value = func(*args)
            reply = {"ok": True, "value": sandbox_values.encode(value)}
            line = json.dumps(reply)
        except BaseException as exc:
            channel.send({"ok": False, "error": describe(exc)})
            return
        channel.sock.sendall(line.encode() + b"\n")


def run_calls_mlssd(program, func_name, rules, channel):
    """ml-ssd: for every test the program is executed again into a fresh `{}`, the answer (a tuple made a
    list) is turned into text with str(), and the parent compares texts."""
    class_based = "class Solution:" in program or "class Solution(" in program
    channel.send({"ready": True})
    codes = None
    while (text := channel.receive()) is not None:
        try:
            codes = codes or compile_program(program, rules)
            args = sandbox_values.mlssd_args(text)
            namespace = namespace_for(rules, None)
            for code in codes:
                exec(code, namespace)
            func = getattr(namespace["Solution"](), func_name) if class_based else namespace[func_name]
            value = func(*args)
            value = list(value) if isinstance(value, tuple) else value
            shown = value if isinstance(value, str) else str(value)
        except BaseException as exc:
            channel.send({"ok": False, "error": describe(exc)})
            return
        channel.send({"ok": True, "text": shown})


def not_dumpable():
    """Before anything else: no process of the same uid may open us (/proc/<pid>/mem, pidfd_getfd, ptrace)."""
    import ctypes

    if ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_DUMPABLE, 0) failed")


def main():
    not_dumpable()
    config_fd, channel_fd = (int(a) for a in sys.argv[1:3])
    with os.fdopen(config_fd, "rb") as f:
        cfg = json.loads(f.read())
    sys.path.extend(p for p in cfg["site_paths"] if p not in sys.path)
    sys.argv = ["solution.py"]
    for stream in (sys.stdin, sys.stdout, sys.stderr):  # -I ignores PYTHONIOENCODING: lone surrogates pass, as in
        stream.reconfigure(errors="surrogatepass")    # the official harness's in-memory streams
    set_limits(cfg["limits"])
    rules = cfg["rules"]
    preload(rules, cfg["program"])
    apply_rules(rules)
    channel, program, mode = Channel(channel_fd), cfg["program"], cfg["mode"]
    if mode == "stdin":
        run_tests(program, rules, channel, cfg.get("own_pid_namespace", False))
    elif mode == "checks":
        sandbox_checks.run_checks(cfg, channel, FORK, namespace_for)
    elif rules.get("calls") == "ml-ssd":
        run_calls_mlssd(program, cfg["func_name"], rules, channel)
    else:
        run_calls_lcb(program, cfg["func_name"], rules, channel)


def entry():
    """The loader's last line: run, and end like a script on the program's own error."""
    try:
        main()
    except BaseException:  # noqa: BLE001 - the program's own error: a traceback on stderr and exit status 1
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
        sys.exit(1)
