"""Evaluation runs: score completions in parallel sandboxes, generate completions through the sampling
engine (cached and resumable in a sample store under the output dir), temperature sweeps, baselines.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ThreadPoolExecutor, as_completed

from tqdm.auto import tqdm

from ..errors import SSDError
from .checking import check_candidate
from .extract import extract_code
from .problems import Problem
from .sandbox import SandboxLimits

logger = logging.getLogger(__name__)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def score_completions(problems: list[Problem], completions: list[dict], limits: SandboxLimits,
                      workers: int | None = None, show_progress: bool = True) -> list[dict]:
    """Judge every {"question_id", "sample_index", "completion"}; returns per-sample records.

    Threads are enough for the pool: each judge waits on its sandbox subprocess, which releases the GIL.
    """
    by_id = {p.question_id: p for p in problems}
    unknown = sorted({c["question_id"] for c in completions} - set(by_id))
    if unknown:
        raise SSDError(f"solutions name {len(unknown)} unknown problem id(s), e.g. {unknown[0]!r}; check --problems/--benchmark")

    def judge(item: dict) -> dict:
        code = extract_code(item["completion"])
        verdict, detail = check_candidate(by_id[item["question_id"]], code, limits, item["completion"])
        return {"question_id": item["question_id"], "sample_index": item["sample_index"], "verdict": verdict,
                "completion": item["completion"], "code": code, "detail": detail}

    records = []
    with ThreadPoolExecutor(max_workers=workers or default_workers()) as pool:
        futures = [pool.submit(judge, c) for c in completions]
        for fut in tqdm(as_completed(futures), total=len(futures), desc="scoring", disable=not show_progress):
            records.append(fut.result())
    return records


def read_solutions(path: str) -> list[dict]:
    """`--solutions` JSONL: {"question_id" or "task_id", "completion"}; rows per problem numbered in order."""
    from .problems import read_jsonl

    counters: dict[str, int] = {}
    out = []
    for i, row in enumerate(read_jsonl(path), 1):
        qid = row.get("question_id", row.get("task_id"))
        if qid is None or not isinstance(row.get("completion"), str):
            raise SSDError(f"{path} row {i} needs 'question_id' (or 'task_id') and a string 'completion'")
        qid = str(qid)
        out.append({"question_id": qid, "sample_index": counters.get(qid, 0), "completion": row["completion"]})
        counters[qid] = counters.get(qid, 0) + 1
    if not out:
        raise SSDError(f"no solutions in {path}; it needs one JSON row per completion: "
                       '{"question_id" (or "task_id"): ..., "completion": ...}')
    return out


def parse_grid(spec: str) -> list[float]:
    """'a:b:step' (inclusive) or 'x,y,z' -> temperatures."""
    try:
        if ":" in spec:
            a, b, step = (float(x) for x in spec.split(":"))
            if step <= 0 or b < a:
                raise ValueError
            count = int(round((b - a) / step)) + 1
            return [round(a + i * step, 6) for i in range(count)]
        return [float(x) for x in spec.split(",")]
    except ValueError:
        raise SSDError(f"bad temperature grid {spec!r}; use start:stop:step like 0.5:1.5:0.1, or a list like 0.6,0.8") from None


def ssd_train_temperature(model: str) -> float | None:
    """T_train from a model folder's ssd_provenance.json, when the model was trained by SSD."""
    path = os.path.join(model, "ssd_provenance.json")
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return (json.load(f).get("sampling") or {}).get("temperature")
