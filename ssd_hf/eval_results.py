"""A model's scores as the Hub shows them: `.eval_results/*.yaml`, written with huggingface_hub's own types.

The Hub reads these files for the model page and, when the dataset is a registered benchmark, for that
benchmark's leaderboard (`model-index` in the card is the legacy form, kept for older tools). One file per
results file of this model (never the base's, which the card only shows for comparison); pass@1 and
pass@5 are separate entries so a leaderboard keyed on (dataset, task) never mixes the two.
"""

from __future__ import annotations

import datetime
import os
import re

from .records import EvalResults

EVAL_RESULTS_DIR = ".eval_results"
BENCHMARK_DATASETS = {  # benchmark -> (Hub dataset, display name)
    "lcb-v6": ("livecodebench/code_generation_lite", "LiveCodeBench v6"),
    "lcb-v5-heldout": ("livecodebench/code_generation_lite", "LiveCodeBench v5 (held-out window)"),
    "humaneval": ("openai/openai_humaneval", "HumanEval"),
}
METRICS = ("pass@1", "pass@5")


def evaluation_date(result: EvalResults, path: str | None = None) -> str | None:
    """When the evaluation ran: a recorded `date`, else the results file's modification time (UTC, ISO-8601).

    Kept in the published results JSON (`extra["date"]`), so a later push reads the same date back.
    """
    recorded = result.extra.get("date") or result.config.get("date")
    if recorded or not path:
        return recorded
    stamp = datetime.datetime.fromtimestamp(os.path.getmtime(path), tz=datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def task_id(result: EvalResults) -> str:
    """The problem set: its recorded name (a named set), else its description (release, window, limit) as a slug."""
    selection = result.config.get("problem_selection") or {}
    name = selection.get("name") or selection.get("description") or result.benchmark
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(name)).strip("-").lower() or result.benchmark


def benchmark_dataset(result: EvalResults, traces_repo: str | None) -> tuple[str | None, str | None]:
    """(dataset id, revision): the benchmark's Hub dataset; a problem set with none is named by its traces dataset."""
    selection = result.config.get("problem_selection") or {}
    if result.benchmark in BENCHMARK_DATASETS:
        return BENCHMARK_DATASETS[result.benchmark][0], selection.get("revision") or result.config.get("dataset_revision")
    return traces_repo, None


def _notes(result: EvalResults, metric: str, known_benchmark: bool) -> str:
    grader = result.grader or {}
    decoding = result.decoding
    parts = [f"{metric} (%)", f"grader {grader.get('name', 'not recorded')} v{grader.get('version', '?')}",
             f"T_eval {decoding.get('temperature')}", f"top-k {decoding.get('top_k')}", f"top-p {decoding.get('top_p')}",
             f"n={result.config.get('n')}", f"{(result.aggregates.get('all') or {}).get('num_problems')} problems"]
    if not known_benchmark:
        selection = result.config.get("problem_selection") or {}
        parts.append(f"problem set: {selection.get('description') or result.benchmark} (no Hub benchmark; "
                     "the dataset named is the evaluation's traces)")
    return "; ".join(parts)


def entries(result: EvalResults, traces_url: str | None, traces_repo: str | None):
    """This results file as EvalResultEntry objects: pass@1 on the problem set's task, pass@5 on its own."""
    from huggingface_hub import EvalResultEntry

    dataset_id, revision = benchmark_dataset(result, traces_repo)
    if dataset_id is None:
        return []
    found = []
    for metric in METRICS:
        value = result.metric("all", metric)
        if value is None:
            continue
        task = task_id(result) if metric == "pass@1" else f"{task_id(result)}-{metric}"
        found.append(EvalResultEntry(
            dataset_id=dataset_id, task_id=task, value=round(100 * value["value"], 2), dataset_revision=revision,
            date=evaluation_date(result), source_url=traces_url, source_name="Evaluation traces" if traces_url else None,
            notes=_notes(result, metric, result.benchmark in BENCHMARK_DATASETS)))
    return found


def eval_results_files(own: list[tuple[str, EvalResults]], traces_repo: str | None, endpoint: str) -> dict[str, bytes]:
    """`.eval_results/<name>.yaml` per (results file name, results) of this model; bytes the same on every push."""
    import yaml
    from huggingface_hub import eval_result_entries_to_yaml

    traces_url = f"{endpoint}/datasets/{traces_repo}" if traces_repo else None
    files = {}
    for name, result in own:
        found = entries(result, traces_url, traces_repo)
        if found:
            stem = os.path.splitext(os.path.basename(name))[0]
            text = yaml.safe_dump(eval_result_entries_to_yaml(found), sort_keys=False, allow_unicode=True)
            files[f"{EVAL_RESULTS_DIR}/{stem}.yaml"] = text.encode()
    return files
