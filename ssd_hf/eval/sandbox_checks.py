"""HumanEval inside the sandbox: the candidate in a process of its own, the checks calling it through data.

Runs inside the sandbox as part of the runner (sandbox.py loads it); imports nothing from ssd_hf. Why two
processes: upstream runs the completion, the tests and the harness in one interpreter, so a completion can
reach the harness (send "done" itself, exit early through atexit) or return an object whose `__eq__` is
always true. Here the runner forks the candidate's process before any candidate code exists, keeps the
channel to the parent for itself, and calls the candidate only through a socket pair: arguments go as
tagged data, answers come back as tagged data (sandbox_values), so the checks compare plain values and
only the checks' process, which runs the dataset's prompt and tests and nothing of the completion, can
report `{"done": true}`. The candidate can kill that process (then there is no "done": not a pass), but
it cannot open it (the runner is not dumpable and the seccomp filter refuses ptrace and pidfd_getfd).
"""

import json
import os
import socket
import sys

import sandbox_values


class CandidateError(Exception):
    """The candidate raised, or its process ended, while the checks called it."""


def serve_candidate(program, entry_point, sock, namespace):
    """In the candidate's process: define the program (not as __main__, as upstream's exec), then answer
    each call's arguments with its value, until the checks' process closes the pair."""
    reader = sock.makefile("rb")

    def reply(obj):
        sock.sendall(json.dumps(obj).encode() + b"\n")

    try:
        exec(compile(program, "solution.py", "exec"), namespace)
        func = namespace[entry_point]
    except BaseException as exc:  # noqa: BLE001 - the program's error, told to the checks as data
        reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]})
        return
    reply({"defined": True})
    while line := reader.readline():
        try:
            args = sandbox_values.decode(json.loads(line))
            reply({"ok": True, "value": sandbox_values.encode(func(*args))})
        except BaseException as exc:  # noqa: BLE001
            reply({"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]})


def candidate_proxy(sock):
    """What the checks call instead of the candidate: a function of data to data."""
    reader = sock.makefile("rb")

    def read():
        line = reader.readline()
        if not line:
            raise CandidateError("the candidate's process ended without an answer")
        try:
            message = json.loads(line)
        except ValueError:
            raise CandidateError("an unreadable answer from the candidate") from None
        if not isinstance(message, dict):
            raise CandidateError("an unreadable answer from the candidate")
        return message

    first = read()
    if first.get("defined") is not True:
        raise CandidateError(str(first.get("error", "the candidate could not be defined")))

    def candidate(*args):
        sock.sendall(json.dumps(sandbox_values.encode(list(args))).encode() + b"\n")
        message = read()
        if message.get("ok") is not True or "value" not in message:
            raise CandidateError(str(message.get("error", "no answer")))
        return sandbox_values.decode(message["value"])

    return candidate


def run_checks(cfg, channel, fork, namespace_for):
    """The runner's side: fork the candidate, run the prompt and the tests here, `check(candidate)`."""
    channel.send({"ready": True})
    ours, theirs = socket.socketpair()
    pid = fork()
    if pid == 0:
        status = 0
        try:
            channel.close()
            ours.close()
            serve_candidate(cfg["program"], cfg["entry_point"], theirs, namespace_for(cfg["rules"], "candidate"))
        except BaseException:  # noqa: BLE001
            status = 1
        finally:
            os._exit(status)
    theirs.close()
    namespace = namespace_for(cfg["rules"], "checks")
    try:
        candidate = candidate_proxy(ours)
        exec(compile(cfg["checks"], "checks.py", "exec"), namespace)
        namespace[cfg["entry_point"]] = candidate  # tests may call it by name too (HumanEval/33)
        namespace["check"](candidate)
    except BaseException as exc:  # noqa: BLE001 - the checks failed: the last stderr line says how
        why = "" if isinstance(exc, AssertionError) or isinstance(exc, CandidateError) else " (in the checks)"
        sys.stderr.write(f"{type(exc).__name__}: {exc}"[:300] + why + "\n")
        sys.stderr.flush()
        os._exit(1)
    channel.send({"done": True})
