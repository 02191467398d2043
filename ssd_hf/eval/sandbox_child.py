"""The runner that executes one candidate program inside the sandbox process.

Why a separate script: generated code never runs in the evaluator's own process. The parent starts
`python -I -c <this source>` in a new session (optionally inside fresh network and PID namespaces);
this runner first applies resource limits and an audit hook, then runs the candidate. It imports
nothing from `ssd_hf`, so it runs the same with or without the package on the path.

argv: mode ("stdin" | "call" | "script"), config JSON path. Config keys: program, cwd, cpu_s, mem_bytes,
fsize_bytes, nproc, func_name, inputs (call mode), deny_read (path prefixes).
Call mode writes one JSON line per test to the inherited fd `result_fd`: {"ok": true, "result": ...} or {"ok": false, "error": ...}.
"""

import json
import os
import resource
import sys


def _limit(which, value):
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass


def _install_hook(cwd, deny_read):
    real = os.path.realpath
    me = os.getpid()
    fork_events = {"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                   "subprocess.Popen", "os.startfile", "pty.spawn"}
    path_events = {"os.remove", "os.unlink", "os.rmdir", "os.rename", "os.replace", "shutil.rmtree",
                   "os.chmod", "os.chown", "os.truncate", "os.mkdir", "os.symlink", "os.link", "shutil.move",
                   "os.utime"}

    def inside(path):
        try:
            p = real(os.fsdecode(path))
        except Exception:
            return False
        return p == cwd or p.startswith(cwd + os.sep)

    def hook(event, args):
        if event == "open":
            path, mode, flags = args[0], args[1], args[2]
            if isinstance(path, int) or path is None:
                return
            writing = (mode and any(c in str(mode) for c in "wax+")) or (
                isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND))
            if writing and not inside(path):
                raise PermissionError(f"sandbox: writing outside the working directory is not allowed: {path}")
            p = real(os.fsdecode(path))
            if any(p.startswith(d) for d in deny_read) or (p.startswith("/proc/") and p.endswith("/environ")):
                raise PermissionError(f"sandbox: reading {path} is not allowed")
        elif event in path_events:
            for a in args[:2]:
                if isinstance(a, (str, bytes, os.PathLike)) and not inside(a):
                    raise PermissionError(f"sandbox: {event} outside the working directory is not allowed")
        elif event in fork_events:
            raise PermissionError(f"sandbox: {event} is not allowed")
        elif event in ("os.kill", "os.killpg", "signal.pthread_kill"):
            if event != "os.kill" or args[0] != me:
                raise PermissionError(f"sandbox: {event} is not allowed")
        elif event in ("socket.connect", "socket.bind", "socket.sendto", "socket.getaddrinfo"):
            raise PermissionError("sandbox: network access is not allowed")
        elif event == "os.chdir" and not inside(args[0]):
            raise PermissionError("sandbox: leaving the working directory is not allowed")

    sys.addaudithook(hook)


def main():
    mode, config_path = sys.argv[1], sys.argv[2]
    with open(config_path) as f:
        cfg = json.load(f)
    os.unlink(config_path)
    cwd = os.path.realpath(cfg["cwd"])
    os.chdir(cwd)
    _limit(resource.RLIMIT_CPU, int(cfg["cpu_s"]))
    _limit(resource.RLIMIT_AS, int(cfg["mem_bytes"]))
    _limit(resource.RLIMIT_FSIZE, int(cfg["fsize_bytes"]))
    _limit(resource.RLIMIT_NPROC, int(cfg["nproc"]))
    _limit(resource.RLIMIT_CORE, 0)
    program = cfg["program"]
    results = os.fdopen(int(cfg["result_fd"]), "w") if mode == "call" else os.close(int(cfg["result_fd"]))
    sys.argv = ["solution.py"]
    code = compile(program, "solution.py", "exec")
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    _install_hook(cwd, cfg.get("deny_read", []))
    if mode != "call":
        exec(code, namespace)
        return
    try:
        exec(code, namespace)
        solution_cls = namespace.get("Solution")
        func = getattr(solution_cls(), cfg["func_name"]) if solution_cls else namespace[cfg["func_name"]]
    except BaseException as exc:  # the candidate failed to define the function
        results.write(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}) + "\n")
        results.flush()
        return
    for args in cfg["inputs"]:
        try:
            value = func(*args)
            line = json.dumps({"ok": True, "result": value})
        except BaseException as exc:
            results.write(json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}) + "\n")
            results.flush()
            return
        results.write(line + "\n")
        results.flush()


main()
