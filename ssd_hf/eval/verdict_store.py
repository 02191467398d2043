"""Judged verdicts, appended to OUTPUT/verdicts.jsonl as each program finishes, like the sample store.

Why: judging thousands of programs takes a while, and a killed run, a full disk or a bad output path
must not throw that work away. Each line is one `SampleVerdict`, keyed by everything its verdict depends
on (grader and version, limits, problem, sample index, completion); a rerun loads the file and judges
only what is missing. A line torn by a kill is cut off when the file is next opened. The output folder is
checked before any program runs (`prepare_output`), so a wrong --output costs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass

from ..errors import SSDError

FILENAME = "verdicts.jsonl"
MIN_FREE_BYTES = 4 * 1024**2
PROBE_BYTES = 64 * 1024


@dataclass(frozen=True)
class SampleVerdict:
    """One judged sample; `record()` is its row in results.json's `samples`."""

    key: str
    question_id: str
    sample_index: int
    verdict: str
    detail: str
    code: str | None
    completion: str

    def record(self) -> dict:
        return {k: v for k, v in asdict(self).items() if k != "key"}


def verdict_key(grader_record: dict, limits_record: dict, question_id: str, sample_index: int, completion: str) -> str:
    payload = json.dumps([grader_record, limits_record, question_id, sample_index, completion], sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def prepare_output(path: str) -> None:
    """Stop with one line, before any scoring, when results could not be written to `path`."""
    if os.path.exists(path) and not os.path.isdir(path):
        raise SSDError(f"--output {path} is a file; pass a folder (results.json and {FILENAME} are written inside it)")
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".ssd-write-probe-") as probe:
            probe.write(b"\0" * PROBE_BYTES)
            probe.flush()
            os.fsync(probe.fileno())
        free = os.statvfs(path).f_bavail * os.statvfs(path).f_frsize
    except OSError as exc:
        raise SSDError(f"cannot write results into --output {path} ({exc.strerror or exc}); "
                       "pass a folder you can write to") from None
    if free < MIN_FREE_BYTES:
        raise SSDError(f"--output {path} has only {free // 1024} KiB free; results need at least "
                       f"{MIN_FREE_BYTES // 1024**2} MiB: free some space or pass another folder")


class VerdictStore:
    """Append-only store of `SampleVerdict`s in `output_dir`."""

    def __init__(self, output_dir: str):
        self.path = os.path.join(output_dir, FILENAME)
        self._fd: int | None = None
        self.written = 0

    def load(self) -> dict[str, SampleVerdict]:
        """Every complete line (a torn last line is skipped; later lines win)."""
        done: dict[str, SampleVerdict] = {}
        if not os.path.exists(self.path):
            return done
        with open(self.path, encoding="utf-8", errors="surrogatepass") as f:
            for line in f:
                try:
                    item = SampleVerdict(**json.loads(line))
                except (ValueError, TypeError):
                    continue
                done[item.key] = item
        return done

    def _open(self) -> int:
        """An append descriptor, after cutting off a line a kill left unfinished."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
        size = os.lseek(fd, 0, os.SEEK_END)
        if size:
            tail = os.pread(fd, min(size, 1 << 20), max(0, size - (1 << 20)))
            if not tail.endswith(b"\n"):
                cut = tail.rfind(b"\n")
                os.ftruncate(fd, size - len(tail) + cut + 1 if cut >= 0 else 0)
        return fd

    def append(self, item: SampleVerdict) -> None:
        """Write one verdict through to the OS (it survives our being killed the moment after). A failed
        write is undone, so the file never holds half a line."""
        data = (json.dumps(asdict(item)) + "\n").encode("utf-8", "surrogatepass")
        start = None
        try:
            if self._fd is None:
                self._fd = self._open()
            start = os.lseek(self._fd, 0, os.SEEK_END)
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            if start is not None:
                try:
                    os.ftruncate(self._fd, start)
                except OSError:
                    pass
            raise SSDError(f"cannot write verdicts to {self.path} ({exc.strerror or exc}); every verdict written "
                           "so far is kept there: free space or fix the folder, then rerun to continue") from None
        self.written += 1

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
