"""LiveCodeBench problems: load from the Hub's JSONL release files or a local JSONL, decode tests, select.

Why fetch JSONL files: the Hub repo `livecodebench/code_generation_lite` is backed by a loading script
that recent `datasets` versions refuse, so we download `test.jsonl` ... `test6.jsonl` with
`ssd_hf.hub.download_dataset_file` (huggingface_hub's cache) and parse them ourselves.

Private tests are stored upstream as base64(zlib(pickle(json_string))). Pickle can run arbitrary code,
so we decode with an unpickler that refuses every global: only plain strings (and containers of them)
can come out, anything else is an `SSDError`.
"""

from __future__ import annotations

import base64
import gzip
import io
import json
import logging
import os
import pickle
import zlib
from dataclasses import dataclass, field
from datetime import date

from ..errors import SSDError

logger = logging.getLogger(__name__)

LCB_REPO = "livecodebench/code_generation_lite"
RELEASE_FILES = {
    "release_v1": ["test.jsonl"],
    "release_v2": ["test.jsonl", "test2.jsonl"],
    "release_v3": ["test.jsonl", "test2.jsonl", "test3.jsonl"],
    "release_v4": ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl"],
    "release_v5": ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl"],
    "release_v6": ["test.jsonl", "test2.jsonl", "test3.jsonl", "test4.jsonl", "test5.jsonl", "test6.jsonl"],
    "v1": ["test.jsonl"], "v2": ["test2.jsonl"], "v3": ["test3.jsonl"], "v4": ["test4.jsonl"],
    "v5": ["test5.jsonl"], "v6": ["test6.jsonl"],
}
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "lcb_fixtures", "problems.jsonl")


@dataclass
class Problem:
    """One benchmark problem with all its tests decoded (public first, then private)."""

    question_id: str
    question_content: str
    starter_code: str = ""
    difficulty: str = "unknown"
    platform: str = ""
    contest_date: str = ""
    question_title: str = ""
    func_name: str | None = None
    tests: list[dict] = field(default_factory=list)  # {"input", "output", "testtype": "stdin"|"functional"}
    num_public: int = 0  # tests[:num_public] are the public tests, the rest private
    extra: dict = field(default_factory=dict)  # benchmark-specific (HumanEval: prompt, test, entry_point)

    @property
    def is_functional(self) -> bool:
        return bool(self.tests) and self.tests[0].get("testtype") == "functional"


class _StringsOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        raise SSDError(f"private tests contain a pickled object {module}.{name}; only plain strings are accepted")


def decode_private_tests(blob: str) -> list[dict]:
    """base64 -> zlib -> restricted unpickle -> JSON list of tests. Plain JSON text is accepted too."""
    if not blob:
        return []
    if blob.lstrip().startswith("["):
        return _json_tests(blob, "private tests")
    try:
        raw = zlib.decompress(base64.b64decode(blob))
    except (ValueError, zlib.error) as exc:
        raise SSDError(f"private tests are not base64+zlib data ({exc}); re-export them in LCB's encoding") from exc
    try:
        value = _StringsOnlyUnpickler(io.BytesIO(raw)).load()
    except SSDError:
        raise
    except Exception as exc:  # corrupt or truncated pickles fail in many ways (UnpicklingError, EOFError, ...)
        raise SSDError(f"private tests are not a readable pickle ({type(exc).__name__}); re-export them in LCB's encoding") from exc
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        raise SSDError(f"private tests decode to {type(value).__name__}, expected a JSON string")
    return _json_tests(value, "private tests")


def _json_tests(text: str, what: str) -> list[dict]:
    try:
        tests = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SSDError(f"{what} are not valid JSON ({exc.msg}); re-export them in LCB's encoding") from exc
    if not isinstance(tests, list):
        raise SSDError(f"{what} decode to {type(tests).__name__}, expected a JSON list of tests")
    return tests


def encode_private_tests(tests: list[dict]) -> str:
    """The upstream encoding, used to write fixtures: base64(zlib(pickle(json string)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


def _tests_field(value) -> list[dict]:
    if isinstance(value, list):
        return value
    return _json_tests(value, "public tests") if value else []


def problem_from_row(row: dict) -> Problem:
    """An LCB `code_generation_lite` row (public tests JSON text, private tests compressed) -> Problem."""
    missing = [k for k in ("question_id", "question_content") if k not in row]
    if missing:
        raise SSDError(f"problem row lacks {missing}; rows need the LiveCodeBench code_generation_lite columns")
    metadata = row.get("metadata") or {}
    if isinstance(metadata, str):
        metadata = json.loads(metadata) if metadata.strip() else {}
    try:
        public = _tests_field(row.get("public_test_cases"))
        tests = public + decode_private_tests(row.get("private_test_cases") or "")
    except SSDError as exc:
        raise SSDError(f"problem {row['question_id']}: {exc}") from exc
    if not tests:
        raise SSDError(f"problem {row['question_id']} has no test cases; every problem needs public or private tests")
    return Problem(
        question_id=str(row["question_id"]),
        question_content=row["question_content"],
        starter_code=row.get("starter_code") or "",
        difficulty=(row.get("difficulty") or "unknown").lower(),
        platform=row.get("platform") or "",
        contest_date=str(row.get("contest_date") or ""),
        question_title=row.get("question_title") or "",
        func_name=metadata.get("func_name"),
        tests=tests,
        num_public=len(public),
    )


HUMANEVAL_KEYS = ("task_id", "prompt", "test", "entry_point")


def is_humaneval_row(row: dict) -> bool:
    return all(k in row for k in HUMANEVAL_KEYS)


def humaneval_problem(row: dict) -> Problem:
    """A HumanEval row as a functional problem: the prompt (signature + docstring) is the starter code to
    complete, so a model sees LCB's starter-code prompt form, not the stdin one."""
    return Problem(
        question_id=row["task_id"],
        question_content=f"Complete the Python function `{row['entry_point']}` so that it does what its docstring says.",
        starter_code=row["prompt"], difficulty="unknown", func_name=row["entry_point"],
        extra={k: row.get(k, "") for k in ("prompt", "test", "entry_point", "canonical_solution")},
    )


def read_jsonl(path: str) -> list[dict]:
    """Rows of a JSONL file; a `.gz` file is read through gzip (HumanEval ships as HumanEval.jsonl.gz)."""
    if not os.path.exists(path):
        raise SSDError(f"{path} does not exist; pass an existing JSONL file")
    rows = []
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise SSDError(f"{path}:{lineno} is not valid JSON ({exc.msg}); fix that line") from exc
                if not isinstance(row, dict):
                    raise SSDError(f"{path}:{lineno} is not a JSON object; each line must be one {{...}} row")
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise SSDError(f"{path} is not UTF-8 text; pass a JSONL file, or a gzip-compressed one named *.jsonl.gz") from exc
    except (OSError, EOFError, zlib.error) as exc:
        raise SSDError(f"{path} cannot be read as gzip ({exc}); pass a plain .jsonl or a valid .jsonl.gz") from exc
    return rows


def fetch_release_rows(release: str = "release_v6", revision: str | None = None) -> list[dict]:
    """Download the release's JSONL files from the Hub (through hub.py, cached) and parse them."""
    from ..hub import download_dataset_file

    if release not in RELEASE_FILES:
        raise SSDError(f"unknown LiveCodeBench release {release!r}; choose one of {sorted(RELEASE_FILES)}")
    rows = []
    for name in RELEASE_FILES[release]:
        try:
            path = download_dataset_file(LCB_REPO, name, revision)
        except SSDError as exc:
            raise SSDError(f"{exc}; check the network / HF_HUB_OFFLINE, or pass --problems FILE") from None
        rows.extend(read_jsonl(path))
    return rows


def select_by_date(problems: list[Problem], start: str | None, end: str | None) -> list[Problem]:
    """Keep problems whose contest_date (ISO, date part) is within [start, end]."""
    def day(p: Problem) -> date | None:
        try:
            return date.fromisoformat(p.contest_date[:10])
        except ValueError:
            return None
    lo = date.fromisoformat(start) if start else date.min
    hi = date.fromisoformat(end) if end else date.max
    return [p for p in problems if (d := day(p)) is not None and lo <= d <= hi]


def load_problems(source: str, start: str | None = None, end: str | None = None, release: str | None = None,
                  limit: int | None = None) -> tuple[list[Problem], dict]:
    """Problems plus the selection record written into the results (problem_sets.selection_record: name,
    description, count, ids_sha256, ids).

    source: a JSONL path, "fixtures" (the project's bench data), a named LiveCodeBench set (lcb-v6,
    lcb-v6-delta, lcb-release-v6, lcb-v5-heldout: fetched from the Hub and cut to its window unless
    start/end are given) or a release name.
    """
    from .problem_sets import LCB_SETS, PROBLEM_SETS, selection_record

    whole = not (limit or ((start or end) and source not in LCB_SETS))
    if source == "fixtures":
        rows, description, name = read_jsonl(FIXTURES), "ssd-hf LCB-schema fixtures", "fixtures"
    elif source in LCB_SETS:
        named = PROBLEM_SETS[source]
        window = named.window or (None, None)
        whole = whole and (start or window[0], end or window[1]) == window and release in (None, named.release)
        start, end = start or window[0], end or window[1]
        rows, name = fetch_release_rows(release or named.release), source
        description = f"LiveCodeBench {release or named.release}"
    elif source.endswith((".jsonl", ".jsonl.gz")) or os.path.exists(source):
        rows, description, name = read_jsonl(source), f"file {os.path.basename(source)}", f"file:{os.path.basename(source)}"
    elif source in RELEASE_FILES:
        rows, description, name = fetch_release_rows(source), f"LiveCodeBench {source}", f"lcb-{source}"
    else:
        raise SSDError(f"unknown problems source {source!r}; pass a JSONL file, 'fixtures', one of {', '.join(LCB_SETS)} "
                       "or a release name")
    problems = rows_to_problems(rows)
    if start or end:
        problems = select_by_date(problems, start, end)
        description += f", contest_date {start or '...'} to {end or '...'}"
    if limit:
        problems = problems[:limit]
        description += f", first {limit}"
    if not problems:
        raise SSDError(f"no problems selected from {source!r}; widen the date window or check the file")
    selection = selection_record(name, description, [p.question_id for p in problems], whole_set=whole)
    logger.info("Selected %d problems: %s", len(problems), description)
    return problems, selection


def rows_to_problems(rows: list[dict]) -> list[Problem]:
    """LCB rows, or HumanEval-schema rows (e.g. --problems HumanEval.jsonl.gz, or HumanEval+ rows)."""
    if rows and all(is_humaneval_row(r) for r in rows):
        return [humaneval_problem(r) for r in rows]
    return [problem_from_row(r) for r in rows]
