"""Dataset and model cards rendered from recorded provenance only (manifest, ssd_provenance.json, results).

Templates live in `ssd_hf/templates/` (Jinja2; `model_cards/` links to them). Nothing in a card is typed by
hand: every number comes from a record the run wrote (`records.py`), so a card can never disagree with the
artifact it describes.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os

from .errors import SSDError
from .eval_results import BENCHMARK_DATASETS
from .records import EvalResults, read_provenance, read_samples_manifest
from .refs import hub_id, model_key, public_name

logger = logging.getLogger(__name__)

TEMPLATE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "templates")
PAPER_URL = "https://arxiv.org/abs/2604.01193"
DIFFICULTIES = ("all", "easy", "medium", "hard")


def _template(name: str):
    import jinja2

    directory = TEMPLATE_DIR
    if not os.path.isfile(os.path.join(directory, name)):
        raise SSDError(f"card template {name} is missing from {directory}; reinstall ssd-hf.")
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(directory), undefined=jinja2.StrictUndefined,
                             keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)
    env.filters["tojson"] = lambda value: json.dumps(value)
    return env.get_template(name)


def render_template(name: str, **context) -> str:
    return _template(name).render(**context)


def size_category(count: int) -> str:
    for limit, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if count < limit:
            return label
    return "1M<n<10M"


def _samples(samples_dir: str):
    from .data import load_samples

    manifest = read_samples_manifest(samples_dir)
    return load_samples(samples_dir), manifest.to_dict() if manifest else {}


def _public_pool(pool: dict | None) -> dict:
    return {k: public_name(v) if k in ("dataset", "path", "name") else v for k, v in (pool or {}).items()}


def _length_stats(lengths: list[int]) -> dict:
    if not lengths:
        return {"count": 0}
    ordered = sorted(lengths)

    def pct(q: float) -> int:
        return ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1) + 0.5))]

    return {"count": len(ordered), "mean": round(sum(ordered) / len(ordered), 1), "min": ordered[0],
            "p10": pct(0.1), "median": pct(0.5), "p90": pct(0.9), "max": ordered[-1]}


def _completion_lengths(dataset) -> tuple[list[int], str]:
    tokens = dataset["completion_tokens"] if "completion_tokens" in dataset.column_names else None
    if tokens and all(t is not None for t in tokens):
        return [int(t) for t in tokens], "tokens"
    return [len(c or "") for c in dataset["completion"]], "characters"


def _dataset_filters(dataset, manifest: dict) -> dict:
    """The training filters as the last training on these samples applied them (recorded in the manifest); before
    any training, what the default filters would keep. Truncated samples are counted from the records."""
    from .filters import apply_filters
    from .records import FilterReport

    recorded = manifest.get("training_filters")
    if recorded:
        report = FilterReport.from_dict(recorded)
    else:
        _, stats = apply_filters(dataset)
        report = FilterReport(before=stats["before"], after=stats["after"], removed=stats["removed"])
    truncated = sum(r == "length" for r in dataset["finish_reason"]) if "finish_reason" in dataset.column_names else 0
    return {**dataclasses.asdict(report), "recorded": bool(recorded), "truncated": truncated}


def render_dataset_card(samples_dir: str, repo_id: str | None = None, links: dict | None = None) -> str:
    """README.md for a samples dataset, filled from its manifest and its records."""
    dataset, manifest = _samples(samples_dir)
    lengths, unit = _completion_lengths(dataset)
    sampling = manifest.get("sampling", {})
    first = dataset[0] if len(dataset) else {}
    finish = {}
    for reason in dataset["finish_reason"] if "finish_reason" in dataset.column_names else []:
        finish[reason or "unknown"] = finish.get(reason or "unknown", 0) + 1
    base_model = manifest.get("model_id") or first.get("model_id")
    pool = manifest.get("prompt_pool", {}) or {}
    context = {
        "base_model": public_name(base_model),
        "base_model_hub_id": hub_id(base_model),
        "base_model_revision": manifest.get("model_revision") or first.get("model_revision"),
        "engines": manifest.get("engines") or sorted({r for r in dataset["engine"]}) if "engine" in dataset.column_names else [],
        "sampling": {
            "temperature": sampling.get("temperature", first.get("temperature")),
            "top_k": sampling.get("top_k", first.get("top_k")),
            "top_p": sampling.get("top_p", first.get("top_p")),
            "max_new_tokens": sampling.get("max_new_tokens", first.get("max_new_tokens")),
            "seed": sampling.get("seed", first.get("seed")),
        },
        "num_samples_per_prompt": manifest.get("num_samples_per_prompt"),
        "num_prompts": manifest.get("num_prompts") or len(set(dataset["prompt_id"])),
        "num_records": len(dataset),
        "skipped": manifest.get("skipped") or {},
        "prompt_pool": _public_pool(pool),
        "prompt_pool_hub_id": hub_id(pool.get("dataset") or pool.get("name")),
        "prompts": manifest.get("prompts", {}),
        "filters": _dataset_filters(dataset, manifest),
        "with_token_ids": sum(bool(ids) for ids in dataset["completion_token_ids"])
        if "completion_token_ids" in dataset.column_names else 0,
        "lengths": _length_stats(lengths),
        "length_unit": unit,
        "finish_reasons": dict(sorted(finish.items())),
        "sampling_config_hash": manifest.get("sampling_config_hash") or first.get("sampling_config_hash"),
        "size_category": size_category(len(dataset)),
        "histogram_path": "assets/completion_lengths.png",
        "paper_url": PAPER_URL,
        "repo_id": repo_id or "OWNER/DATASET",
        "links": links or {},  # the other repos of a `push run`: model_repo, traces_repo, collection_url, endpoint
    }
    from huggingface_hub import DatasetCardData

    metadata = DatasetCardData(
        license="other", license_name="inherited", language=["en"], task_categories=["text-generation"],
        tags=["ssd", "self-distillation", "code", "synthetic"], size_categories=[size_category(len(dataset))],
        pretty_name=f"SSD samples from {context['base_model'] or 'a base model'}",
        configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "data/*.parquet"}]}],
        base_model=context["base_model_hub_id"],
    )
    return _template("dataset_card.md.j2").render(metadata=metadata.to_yaml(), **context)


def length_histogram_png(samples_dir: str) -> bytes:
    """PNG histogram of completion lengths (tokens when recorded), deterministic bytes for no-op re-pushes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dataset, _ = _samples(samples_dir)
    lengths, unit = _completion_lengths(dataset)
    figure, axis = plt.subplots(figsize=(6, 3.2), dpi=100)
    axis.hist(lengths or [0], bins=min(50, max(5, len(set(lengths)))), color="#4C72B0")
    axis.set_xlabel(f"completion length ({unit})")
    axis.set_ylabel("samples")
    axis.set_title(f"SSD samples: {len(lengths)} completions")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------- model card
def _fmt(metric: dict | None) -> str:
    if not metric:
        return "–"
    text = f"{100 * metric['value']:.1f}"
    if metric.get("ci_low") is not None and metric.get("ci_high") is not None:
        text += f" [{100 * metric['ci_low']:.1f}, {100 * metric['ci_high']:.1f}]"
    return text


def _as_results(results) -> list[EvalResults]:
    return [r if isinstance(r, EvalResults) else EvalResults.from_dict(r) for r in results or []]


def _is_base(result: EvalResults, base_model: str | None) -> bool:
    if not result.model or not base_model:
        return False
    return model_key(str(result.model)) == model_key(str(base_model))


def _table_row(difficulty: str, base: EvalResults | None, ssd: EvalResults | None) -> dict | None:
    b = base.aggregates.get(difficulty) if base else None
    s = ssd.aggregates.get(difficulty) if ssd else None
    if not b and not s:
        return None
    metric = lambda result, name: result.metric(difficulty, name) if result else None  # noqa: E731
    return {"difficulty": difficulty, "num_problems": (s or b or {}).get("num_problems"),
            "base_p1": _fmt(metric(base, "pass@1")), "base_p5": _fmt(metric(base, "pass@5")),
            "ssd_p1": _fmt(metric(ssd, "pass@1")), "ssd_p5": _fmt(metric(ssd, "pass@5"))}


def _results_tables(results: list[EvalResults], base_model: str | None) -> list[dict]:
    """One table per benchmark: rows per difficulty, base and SSD side by side."""
    tables = []
    for benchmark in sorted({r.benchmark for r in results}):
        group = [r for r in results if r.benchmark == benchmark]
        base = next((r for r in group if _is_base(r, base_model)), None)
        ssd = next((r for r in group if not _is_base(r, base_model)), None)
        rows = [row for d in DIFFICULTIES if (row := _table_row(d, base, ssd))]
        shown = ssd or base
        tables.append({"benchmark": benchmark, "name": BENCHMARK_DATASETS.get(benchmark, (None, benchmark))[1],
                       "rows": rows, "has_base": base is not None, "has_ssd": ssd is not None,
                       "n": shown.config.get("n"), "decoding": shown.decoding,
                       "grader": shown.grader})
    return tables


def _eval_results(results: list[EvalResults], base_model: str | None):
    """model-index entries for this model's own (SSD) results, as huggingface_hub EvalResult objects."""
    from huggingface_hub import EvalResult

    entries = []
    for result in results:
        if _is_base(result, base_model):
            continue
        dataset_type, dataset_name = BENCHMARK_DATASETS.get(result.benchmark, (result.benchmark, result.benchmark))
        for difficulty in DIFFICULTIES:
            for metric_name in ("pass@1", "pass@5"):
                metric = result.metric(difficulty, metric_name)
                if metric is None:
                    continue
                label = dataset_name if difficulty == "all" else f"{dataset_name} ({difficulty})"
                entries.append(EvalResult(
                    task_type="text-generation", task_name="Code generation", dataset_type=dataset_type,
                    dataset_name=label, dataset_config=None if difficulty == "all" else difficulty, dataset_split="test",
                    metric_type=metric_name, metric_name=f"{metric_name} (%)", metric_value=round(100 * metric["value"], 2),
                    verified=False))
    return entries


def render_model_card(model_dir: str, results: list[EvalResults] | None, repo_id: str | None = None,
                      samples_repo_id: str | None = None, links: dict | None = None) -> str:
    """README.md for a trained SSD model or adapter from its ssd_provenance.json and optional results.

    `samples_repo_id`: where local samples were published; `publish.push_model` also records it in the pushed
    ssd_provenance.json.
    """
    from huggingface_hub import ModelCardData

    provenance = read_provenance(model_dir)
    if provenance is None:
        raise SSDError(f"{model_dir} has no ssd_provenance.json; push a model saved by `ssd-hf train`.")
    if samples_repo_id:
        provenance.samples_dataset = samples_repo_id
    is_adapter = os.path.isfile(os.path.join(model_dir, "adapter_config.json"))
    base_model = provenance.base_model
    results = _as_results(results)
    tables = _results_tables(results, base_model)
    model_name = (repo_id or os.path.abspath(model_dir)).rstrip("/").split("/")[-1]
    samples_hub_id = hub_id(provenance.samples_dataset)
    metadata = ModelCardData(
        base_model=hub_id(base_model), datasets=[samples_hub_id] if samples_hub_id else None,
        library_name="peft" if is_adapter else "transformers", pipeline_tag="text-generation",
        tags=["ssd", "self-distillation", "code", "trl"] + (["lora"] if is_adapter else []),
        model_name=model_name, eval_results=_eval_results(results, base_model) or None,
    )
    decoding = next((t["decoding"] for t in tables if t["has_ssd"] and t["decoding"]), None)
    # `ssd-hf eval --solutions` scores given completions: its results record no decoding at all.
    decoding_recorded = bool(decoding) and any(v is not None for v in decoding.values())
    context = {
        "metadata": metadata.to_yaml(),
        "model_name": model_name,
        "is_adapter": is_adapter,
        "base_model": public_name(base_model),
        "base_model_hub_id": hub_id(base_model),
        "base_model_revision": provenance.base_model_revision,
        "samples_dataset": public_name(provenance.samples_dataset),
        "samples_hub_id": samples_hub_id,
        "num_train_records": provenance.num_train_records,
        "num_samples": provenance.num_samples,
        "filters": dataclasses.asdict(provenance.filters),
        "sampling": provenance.sampling,
        "prompt_pool": _public_pool(dataclasses.asdict(provenance.prompt_pool) if provenance.prompt_pool else None),
        "training": {k: v for k, v in provenance.training.items() if v is not None},
        "tables": tables,
        "decoding": decoding,
        "decoding_recorded": decoding_recorded,
        "has_plot": any(t["rows"] for t in tables),
        "plot_path": "assets/results.png",
        "paper_url": PAPER_URL,
        "repo_id": repo_id or "OWNER/MODEL",
        "links": links or {},  # traces_repo, samples_repo, space_repo, collection_url, endpoint (what was pushed)
        "report_summary": report_summary(model_dir),
        "ssd_round": provenance.round,
        "lineage": [public_name(m) for m in provenance.lineage],
    }
    return _template("model_card.md.j2").render(**context)


def report_summary(model_dir: str) -> str | None:
    """The summary `ssd-hf report` wrote into <model>/report/summary.md, if it did."""
    path = os.path.join(model_dir, "report", "summary.md")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip() or None


def results_plot_png(results: list[EvalResults]) -> bytes | None:
    """Bar chart of pass@1 by difficulty for each results file, or None when there is nothing to plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = []
    for result in _as_results(results):
        values = [(d, m) for d in DIFFICULTIES if (m := result.metric(d, "pass@1"))]
        if values:
            series.append((f"{result.benchmark}: {str(result.model or '?').split('/')[-1]}", values))
    if not series:
        return None
    figure, axis = plt.subplots(figsize=(6, 3.2), dpi=100)
    width = 0.8 / len(series)
    for index, (label, values) in enumerate(series):
        xs = [DIFFICULTIES.index(d) + index * width for d, _ in values]
        ys = [100 * m["value"] for _, m in values]
        errors = [[100 * (m["value"] - m.get("ci_low", m["value"])) for _, m in values],
                  [100 * (m.get("ci_high", m["value"]) - m["value"]) for _, m in values]]
        axis.bar(xs, ys, width=width, yerr=errors, label=label, capsize=2)
    axis.set_xticks([i + 0.4 - width / 2 for i in range(len(DIFFICULTIES))], DIFFICULTIES)
    axis.set_ylabel("pass@1 (%)")
    axis.legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    plt.close(figure)
    return buffer.getvalue()
