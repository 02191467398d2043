"""The evidence behind a score as a browsable dataset: one row per judged sample, one config per model.

Built from the results JSON files `ssd-hf eval` wrote (their `samples` are already scrubbed of secrets
and their `detail` capped), so the traces say exactly what the scores were computed from. Each model is
its own config (`data/<config>/test.parquet`), so the dataset viewer shows base and SSD side by side and
a reader can filter the failures of either on one problem.
"""

from __future__ import annotations

import io
import re

from .records import EvalResults
from .refs import hub_id, model_key, public_name

TRACES_SUFFIX = "-eval-traces"
COLUMNS = ("question_id", "difficulty", "sample_index", "model", "benchmark", "temperature", "top_k", "top_p",
           "max_new_tokens", "completion", "code", "verdict", "detail", "grader")


def traces_repo_for(model_repo: str) -> str:
    """The default traces dataset of a model repo: `<model repo>-eval-traces`."""
    return f"{model_repo}{TRACES_SUFFIX}"


def is_base(result: EvalResults, base_model: str | None) -> bool:
    return bool(result.model and base_model and model_key(str(result.model)) == model_key(str(base_model)))


def config_names(results: list[EvalResults], base_model: str | None) -> list[str]:
    """One readable, unique config name per results: `<benchmark>-base` / `<benchmark>-ssd` (plus a number)."""
    names: list[str] = []
    for result in results:
        stem = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{result.benchmark}-{'base' if is_base(result, base_model) else 'ssd'}")
        name, index = stem, 2
        while name in names:
            name, index = f"{stem}-{index}", index + 1
        names.append(name)
    return names


def rows(result: EvalResults) -> list[dict]:
    """The judged samples of one results file as dataset rows (problem, model, decoding, completion, verdict)."""
    difficulty = {p.get("question_id"): p.get("difficulty") for p in result.problems}
    grader = result.grader or {}
    decoding = result.decoding
    model = public_name(result.model) if result.model else None
    return [{
        "question_id": str(s.get("question_id")), "difficulty": difficulty.get(s.get("question_id")),
        "sample_index": s.get("sample_index"), "model": model, "benchmark": result.benchmark,
        "temperature": decoding.get("temperature"), "top_k": decoding.get("top_k"), "top_p": decoding.get("top_p"),
        "max_new_tokens": decoding.get("max_new_tokens"), "completion": s.get("completion"), "code": s.get("code"),
        "verdict": s.get("verdict"), "detail": s.get("detail"),
        "grader": f"{grader.get('name')} v{grader.get('version')}" if grader else None,
    } for s in result.samples]


def _parquet(table_rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("question_id", pa.string()), ("difficulty", pa.string()), ("sample_index", pa.int64()),
                        ("model", pa.string()), ("benchmark", pa.string()), ("temperature", pa.float64()),
                        ("top_k", pa.int64()), ("top_p", pa.float64()), ("max_new_tokens", pa.int64()),
                        ("completion", pa.string()), ("code", pa.string()), ("verdict", pa.string()),
                        ("detail", pa.string()), ("grader", pa.string())])
    table = pa.Table.from_pylist(table_rows, schema=schema)
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def traces_files(results: list[EvalResults], base_model: str | None, model_repo: str, traces_repo: str,
                 links: dict | None = None) -> dict[str, bytes]:
    """data/<config>/test.parquet per results with samples, and the README; empty when nothing was judged."""
    kept = [r for r in results if r.samples]
    if not kept:
        return {}
    names = config_names(kept, base_model)
    files = {f"data/{name}/test.parquet": _parquet(rows(result)) for name, result in zip(names, kept)}
    files["README.md"] = render_traces_card(kept, names, base_model, model_repo, traces_repo, links or {}).encode()
    return files


def render_traces_card(results: list[EvalResults], names: list[str], base_model: str | None, model_repo: str,
                       traces_repo: str, links: dict) -> str:
    """The dataset card: how the traces were produced, what each config holds, links to the model and its run."""
    from huggingface_hub import DatasetCardData

    from .cards import PAPER_URL, render_template, size_category

    total = sum(len(r.samples) for r in results)
    configs = [{"config_name": name, "data_files": [{"split": "test", "path": f"data/{name}/*.parquet"}]}
               for name in names]
    metadata = DatasetCardData(
        license="other", license_name="inherited", language=["en"], task_categories=["text-generation"],
        tags=["ssd", "evaluation", "code", "traces"], size_categories=[size_category(total)],
        pretty_name=f"Evaluation traces of {model_repo}", configs=configs,
    )
    verdicts = []
    for name, result in zip(names, results):
        counts: dict[str, int] = {}
        for sample in result.samples:
            counts[sample.get("verdict")] = counts.get(sample.get("verdict"), 0) + 1
        pass1 = result.metric("all", "pass@1")
        verdicts.append({"config": name, "model": public_name(result.model), "model_hub_id": hub_id(result.model),
                         "role": "base" if is_base(result, base_model) else "SSD", "benchmark": result.benchmark,
                         "rows": len(result.samples), "n": result.config.get("n"), "decoding": result.decoding,
                         "grader": result.grader or {}, "sandbox": result.config.get("sandbox"),
                         "timeout_s": result.config.get("timeout_s"),
                         "selection": (result.config.get("problem_selection") or {}).get("description"),
                         "pass1": None if pass1 is None else round(100 * pass1["value"], 2),
                         "verdicts": dict(sorted(counts.items(), key=lambda item: str(item[0])))})
    return render_template("traces_card.md.j2", metadata=metadata.to_yaml(), model_repo=model_repo,
                           traces_repo=traces_repo, configs=verdicts, total=total, columns=COLUMNS,
                           paper_url=PAPER_URL, links=links)
