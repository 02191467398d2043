"""The seccomp filter every sandboxed program runs under: system calls a solution never needs are refused.

Built once per process with libseccomp (through `pyseccomp`, which drives the system's libseccomp.so.2) and
handed to bubblewrap (`--seccomp FD`), which installs it just before it starts the runner, after its own
namespace and mount work. Refused calls fail with EPERM (the program sees an ordinary error, we see its
verdict); `clone3` fails with ENOSYS so that the C library falls back to `clone`, whose flags a filter can
read. Calls of another architecture's ABI (32-bit `int 0x80`, x32) kill the process: libseccomp's default
for a foreign architecture. docs/eval.md lists the refused calls and why.
"""

from __future__ import annotations

import errno
import functools
import os
import tempfile

# (system calls, why a solution never needs them)
REFUSED = (
    (("keyctl", "add_key", "request_key"), "kernel keyrings: the caller's session keys, and keys that outlive the run"),
    (("ptrace", "process_vm_readv", "process_vm_writev", "kcmp"), "reading or steering another process (the runner)"),
    (("pidfd_getfd", "pidfd_open"), "copying another process's descriptors (the runner's channel)"),
    (("unshare", "setns"), "new namespaces: a user namespace with its own tmpfs and mounts outside our limits"),
    (("mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount",
      "fspick", "mount_setattr"), "mounts"),
    (("perf_event_open",), "performance counters (side channels, kernel attack surface)"),
    (("userfaultfd",), "stalling the kernel at a chosen page fault (a common exploit primitive)"),
    (("bpf",), "loading programs into the kernel"),
    (("open_by_handle_at", "name_to_handle_at"), "opening files by handle, around the sandbox's mounts"),
    (("io_uring_setup", "io_uring_enter", "io_uring_register"), "io_uring, whose operations this filter cannot see"),
    (("kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon",
      "swapoff", "syslog", "acct", "quotactl", "sethostname", "setdomainname", "settimeofday", "clock_settime",
      "clock_adjtime", "adjtimex", "iopl", "ioperm", "vhangup", "lookup_dcookie"), "administering the machine"),
)
NAMESPACE_FLAGS = {"CLONE_NEWNS": 0x00020000, "CLONE_NEWCGROUP": 0x02000000, "CLONE_NEWUTS": 0x04000000,
                   "CLONE_NEWIPC": 0x08000000, "CLONE_NEWUSER": 0x10000000, "CLONE_NEWPID": 0x20000000,
                   "CLONE_NEWNET": 0x40000000}
TERMINAL_IOCTLS = {"TIOCSTI": 0x5412, "TIOCLINUX": 0x541C}  # typing into (or reading) a terminal not its own


@functools.lru_cache(maxsize=1)
def seccomp_program() -> tuple[bytes | None, str]:
    """(the filter as BPF bytes, "") or (None, why it cannot be built here)."""
    try:
        import pyseccomp as sc
    except (ImportError, OSError) as exc:
        return None, f"pyseccomp or libseccomp is missing ({exc}); `pip install pyseccomp` and the libseccomp2 package"
    try:
        rules = sc.SyscallFilter(defaction=sc.ALLOW)
        for names, _why in REFUSED:
            for name in names:
                try:
                    rules.add_rule(sc.ERRNO(errno.EPERM), name)
                except (ValueError, RuntimeError, OSError):
                    pass  # a call this kernel/libseccomp does not know cannot be made either
        rules.add_rule(sc.ERRNO(errno.ENOSYS), "clone3")
        for flag in NAMESPACE_FLAGS.values():
            rules.add_rule(sc.ERRNO(errno.EPERM), "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
        for request in TERMINAL_IOCTLS.values():
            rules.add_rule(sc.ERRNO(errno.EPERM), "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
        with tempfile.TemporaryFile() as f:
            rules.export_bpf(f)
            f.seek(0)
            return f.read(), ""
    except Exception as exc:  # noqa: BLE001 - any failure of the library means: no filter, said once
        return None, f"libseccomp could not build the filter ({type(exc).__name__}: {exc})"


def refused_calls() -> list[str]:
    """Every system call the filter refuses, for docs and tests."""
    return [name for names, _ in REFUSED for name in names] + ["clone3", "clone with CLONE_NEW* flags", "ioctl TIOCSTI/TIOCLINUX"]


def filter_fd(program: bytes) -> int:
    """A sealed in-memory file holding the filter, for bubblewrap's `--seccomp FD` (which reads it)."""
    fd = os.memfd_create("ssd-seccomp", os.MFD_CLOEXEC)
    os.write(fd, program)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd
