"""Evaluation runs: score completions in parallel sandboxes (verdicts stored as they finish, so a rerun
continues), generate completions through the sampling engine (cached and resumable in a sample store under
the output dir), temperature sweeps, baselines.
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor, as_completed

from tqdm.auto import tqdm

from ..errors import SSDError
from .checking import check_candidate
from .graders import LCB, Grader
from .isolation import choose_layers
from .problems import Problem
from .sandbox import SandboxLimits, SandboxStartError
from .scrub import safe_detail, scrub_secrets
from .verdict_store import SampleVerdict, VerdictStore, verdict_key

UNJUDGED = "unjudged"  # the sandbox would not start: no verdict (fail closed), not stored, judged by a rerun

logger = logging.getLogger(__name__)


def default_workers() -> int:
    return max(1, os.cpu_count() or 1)


def limits_record(limits: SandboxLimits) -> dict:
    """The limits a verdict depends on (part of its key in the verdict store)."""
    return {"timeout_s": limits.timeout_s, "memory_bytes": limits.memory_bytes, "output_bytes": limits.output_bytes}


def _judge(problem: Problem, item: dict, key: str, grader: Grader, limits: SandboxLimits) -> SampleVerdict:
    code = grader.extract(item["completion"])
    try:
        verdict, detail = check_candidate(problem, code, limits, item["completion"], grader)
    except SandboxStartError as exc:  # no verdict: never stored, so the next run judges it again
        verdict, detail = UNJUDGED, safe_detail(str(exc))
    # The store is a file too: no secret value of our environment enters it, whichever field it hid in.
    return SampleVerdict(key, item["question_id"], int(item["sample_index"]), verdict, detail,
                         None if code is None else scrub_secrets(code), scrub_secrets(item["completion"]))


def score_completions(problems: list[Problem], completions: list[dict], limits: SandboxLimits,
                      workers: int | None = None, show_progress: bool = True, grader: Grader = LCB,
                      store: VerdictStore | None = None) -> list[dict]:
    """Judge every {"question_id", "sample_index", "completion"}; returns per-sample records.

    With a `store`, verdicts already in it are reused and each new one is appended the moment it is
    judged. Threads are enough for the pool: each judge waits on its sandbox subprocess.
    """
    by_id = {p.question_id: p for p in problems}
    unknown = sorted({c["question_id"] for c in completions} - set(by_id))
    if unknown:
        raise SSDError(f"solutions name {len(unknown)} unknown problem id(s), e.g. {unknown[0]!r}; check --problems/--benchmark")
    choose_layers(limits.sandbox, limits.cgroup)  # once, before the pool: one warning, or one error, not one per thread
    keys = [verdict_key(grader.record(), limits_record(limits), c["question_id"], int(c["sample_index"]), c["completion"])
            for c in completions]
    done = store.load() if store else {}
    pending = [(c, k) for c, k in zip(completions, keys) if k not in done]
    if done and pending != list(zip(completions, keys)):
        logger.info("scoring: %d of %d samples already judged in %s", len(completions) - len(pending), len(completions), store.path)
    pool = ThreadPoolExecutor(max_workers=workers or default_workers())
    try:
        futures = [pool.submit(_judge, by_id[c["question_id"]], c, k, grader, limits) for c, k in pending]
        for fut in tqdm(as_completed(futures), total=len(futures), desc="scoring", disable=not show_progress):
            item = fut.result()
            done[item.key] = item
            if store and item.verdict != UNJUDGED:
                store.append(item)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if store:
            store.close()
    records = [done[k].record() for k in keys]
    unjudged = [r for r in records if r["verdict"] == UNJUDGED]
    if unjudged:
        logger.warning("%d of %d samples could not be judged: the sandbox would not start (%s); they count in no score; "
                       "rerun the same command to judge them", len(unjudged), len(records), unjudged[0]["detail"])
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
    from ..records import read_provenance

    provenance = read_provenance(model)
    return provenance.train_temperature if provenance else None
