"""The runner that executes one candidate program inside the sandbox process.

Why a separate script: generated code never runs in the evaluator's own process. The parent starts
`python -I -c <this source>` in a new session (where possible inside fresh namespaces and as an
unprivileged user, see sandbox.py); this runner applies resource limits, defuses the few functions that
write or spawn without raising an audit event, installs an audit hook, then runs the candidate. It imports
nothing from `ssd_hf`, so it runs the same with or without the package on the path.

argv: mode ("stdin" | "call" | "script"), the number of an inherited fd holding the config JSON. Config keys:
program, cwd, cpu_s, mem_bytes, fsize_bytes, nproc, func_name, inputs (call mode), deny_read (path
prefixes), result_fd. Call mode writes {"ready": true} to the inherited fd `result_fd` once the program is
defined, then one JSON line per test as soon as the call returns: {"ok": true, "result": ...} or
{"ok": false, "error": ...}. The parent times each call and stops the process at the first wrong
answer, so expected outputs never enter this process.
"""

import json
import os
import resource
import sys

# Native code (FFI) and POSIX shared memory write or spawn without audit events: not importable at all.
# ImportError, not PermissionError, so libraries that treat them as optional (numpy and ctypes) still import.
REFUSED_IMPORTS = ("ctypes", "_ctypes", "_posixshmem")
# Loaded and defused before the candidate runs; importing them again would bring the originals back.
DEFUSED_MODULES = ("posix", "_posixsubprocess")


def _limit(which, value):
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass


def _inside_checker(cwd):
    real = os.path.realpath

    def inside(path):
        try:
            p = real(os.fsdecode(path))
        except Exception:
            return False
        return p == cwd or p.startswith(cwd + os.sep)

    return inside


def _defuse_modules(inside):
    """Functions that spawn or create files with no audit event: refuse them, or check their path."""
    import _imp
    import _posixsubprocess
    import posix

    def no_spawn(*args, **kwargs):
        raise PermissionError("sandbox: starting processes is not allowed")

    _posixsubprocess.fork_exec = no_spawn  # what subprocess uses; it raises no event of its own

    def checked(fn):
        def wrapper(path, *args, dir_fd=None, **kwargs):
            if dir_fd is not None or not inside(path):
                raise PermissionError(f"sandbox: {fn.__name__} outside the working directory is not allowed")
            return fn(path, *args, **kwargs)

        return wrapper

    for name in ("mkfifo", "mknod"):
        setattr(posix, name, checked(getattr(posix, name)))
        setattr(os, name, getattr(posix, name))

    create_builtin = _imp.create_builtin

    def create_builtin_checked(spec):  # a second `posix` module would have the original functions
        if spec.name in DEFUSED_MODULES:
            raise ImportError(f"sandbox: re-creating {spec.name} is not allowed")
        return create_builtin(spec)

    _imp.create_builtin = create_builtin_checked


def _install_hook(cwd, deny_read, inside):
    real = os.path.realpath
    me = os.getpid()
    prefixes = tuple(real(p) + os.sep for p in {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix})
    fork_events = {"os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn", "os.spawn",
                   "subprocess.Popen", "os.startfile", "pty.spawn"}
    path_events = {"os.remove", "os.unlink", "os.rmdir", "os.rename", "os.replace", "shutil.rmtree",
                   "os.chmod", "os.chown", "os.truncate", "os.mkdir", "os.symlink", "os.link", "shutil.move",
                   "os.utime"}

    def check_import(name, filename):
        if name.split(".")[0] in REFUSED_IMPORTS or name in DEFUSED_MODULES:
            raise ImportError(f"sandbox: importing {name} is not allowed")
        # An extension module is native code: only the interpreter's own, never one the program wrote.
        if isinstance(filename, str) and not real(filename).startswith(prefixes):
            raise ImportError(f"sandbox: loading native code from {filename} is not allowed")

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
            # The open event does not carry dir_fd. No directory fd outside the working directory may exist,
            # so a relative path under any dir_fd the program holds can reach no further than from cwd,
            # which is what `inside` checks (for this event and for every path event below).
            if os.path.isdir(p) and not inside(p):
                raise PermissionError(f"sandbox: opening directory {path} is not allowed")
        elif event in path_events:
            for a in args[:2]:
                if isinstance(a, (str, bytes, os.PathLike)) and not inside(a):
                    raise PermissionError(f"sandbox: {event} outside the working directory is not allowed")
        elif event == "import":
            check_import(args[0], args[1])
        elif event.startswith("ctypes."):
            raise PermissionError(f"sandbox: {event} is not allowed")
        elif event.startswith("sqlite3."):  # even ':memory:' can ATTACH a file anywhere
            raise PermissionError("sandbox: sqlite3 is not allowed")
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


def _error(exc):
    return json.dumps({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:500]}) + "\n"


def main():
    mode, config_fd = sys.argv[1], int(sys.argv[2])
    with os.fdopen(config_fd) as f:
        cfg = json.load(f)
    cwd = os.path.realpath(cfg["cwd"])
    os.chdir(cwd)
    _limit(resource.RLIMIT_CPU, int(cfg["cpu_s"]))
    _limit(resource.RLIMIT_AS, int(cfg["mem_bytes"]))
    _limit(resource.RLIMIT_FSIZE, int(cfg["fsize_bytes"]))
    _limit(resource.RLIMIT_NPROC, int(cfg["nproc"]))
    _limit(resource.RLIMIT_CORE, 0)
    program = cfg["program"]
    results = os.fdopen(int(cfg["result_fd"]), "w") if mode == "call" else None
    sys.argv = ["solution.py"]
    code = compile(program, "solution.py", "exec")
    namespace = {"__name__": "__main__", "__builtins__": __builtins__}
    inside = _inside_checker(cwd)
    _defuse_modules(inside)
    _install_hook(cwd, cfg.get("deny_read", []), inside)
    if mode != "call":
        exec(code, namespace)
        return
    try:
        exec(code, namespace)
        solution_cls = namespace.get("Solution")
        func = getattr(solution_cls(), cfg["func_name"]) if solution_cls else namespace[cfg["func_name"]]
    except BaseException as exc:  # the candidate failed to define the function
        results.write(_error(exc))
        results.flush()
        return
    results.write('{"ready": true}\n')  # the parent starts timing the first call here
    results.flush()
    for args in cfg["inputs"]:
        try:
            line = json.dumps({"ok": True, "result": func(*args)}) + "\n"
        except BaseException as exc:
            results.write(_error(exc))
            results.flush()
            return
        results.write(line)
        results.flush()


main()
