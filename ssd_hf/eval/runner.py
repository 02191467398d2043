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


def problem_messages(problem: Problem, options) -> list[dict]:
    """The chat messages for one problem: LCB's stdin form, or its starter-code form when the problem has
    starter code (LeetCode-style problems, and HumanEval, whose prompt is the function to complete)."""
    from ..prompts import build_messages, render_user_text

    return build_messages(render_user_text(problem.question_content, problem.starter_code or None, options.template), options)


class Generator:
    """Draws n completions per problem with the project's sampling engine; one engine for all temperatures."""

    def __init__(self, model: str, revision: str | None, options, engine_name: str = "transformers", batch_size: int | None = None):
        from ..sampling.engines import load_engine

        self.options = options
        self.engine = load_engine(engine_name, model, revision=revision, batch_size=batch_size)
        # The engine reads the chat-template switch from a training config we do not have here; without
        # this, --no_chat_template would be ignored.
        if hasattr(self.engine, "use_chat_template"):
            self.engine.use_chat_template = options.use_chat_template

    def prompts(self, problems: list[Problem]):
        from ..prompts import PromptItem
        from ..records import stable_hash

        items = []
        for p in problems:
            messages = problem_messages(p, self.options)
            items.append(PromptItem(prompt_id=stable_hash([p.question_id, messages]), source_id=p.question_id, messages=messages))
        return items

    def generate(self, problems: list[Problem], params, n: int, samples_dir: str) -> list[dict]:
        """Completions as {"question_id", "sample_index", "completion"}; cached in `samples_dir`."""
        from ..sampling.runner import run_sampling

        dataset = run_sampling(self.prompts(problems), self.engine, params, self.options, samples_dir,
                               num_samples_per_prompt=n, purpose="evaluation")
        return [{"question_id": r["source_id"], "sample_index": int(r["sample_index"]), "completion": r["completion"]}
                for r in dataset.to_list()]
