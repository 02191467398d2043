"""What ssd-hf publishes: samples datasets, models/adapters and evaluation results, each with its card.

`hub.py` moves the bytes; this module decides which files make up each artifact, with local paths
and store internals left out and the cards rendered from recorded facts (`cards.py`).
"""

from __future__ import annotations

import json
import logging
import os

from .errors import SSDError
from .records import (
    EVAL_DIR,
    PROVENANCE_FILE,
    PUBLISHED_MANIFEST,
    EvalResults,
    model_results_path,
    read_provenance,
    read_results,
    read_samples_manifest,
    stable_hash,
    to_json,
)
from .refs import is_machine_path, split_revision, strip_local_paths

logger = logging.getLogger(__name__)

RESULTS_DIR = "results"
HISTOGRAM_PATH = "assets/completion_lengths.png"
RESULTS_PLOT_PATH = "assets/results.png"
# What a trainer leaves in its output dir that is not part of the published model (or may hold secrets).
MODEL_IGNORE_PATTERNS = [
    "checkpoint-*", ".*", "*/.*", "runs/*", "wandb/*", "*__pycache__*", "README.md",
    "training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state*.pth", "trainer_state.json",
    f"{EVAL_DIR}/*",  # the evaluation folder (generations, verdicts): its results go up as results/*.json
    "controls/*", "round-*/*", "report/*", "ssd_costs.jsonl",  # a run's base controls, later rounds, report, cost log
]


# ----------------------------------------------------------------------------------- samples
def samples_files(samples_dir: str) -> dict[str, bytes | str]:
    """data/*.parquet and the manifest as published: the store's shards (named after this machine) stay home."""
    data_dir = os.path.join(samples_dir, "data")
    if not os.path.isdir(data_dir) or not any(n.endswith(".parquet") for n in os.listdir(data_dir)):
        raise SSDError(f"{samples_dir} has no finished samples (data/*.parquet); run `ssd-hf sample` first.")
    files: dict[str, bytes | str] = {f"data/{n}": _public_parquet(os.path.join(data_dir, n))
                                     for n in sorted(os.listdir(data_dir)) if n.endswith(".parquet")}
    manifest = read_samples_manifest(samples_dir)
    if manifest is not None:
        public = strip_local_paths(manifest.to_dict())
        files[PUBLISHED_MANIFEST] = json.dumps(public, indent=2, sort_keys=True).encode()
    return files


def _public_parquet(path: str) -> bytes | str:
    """The file as is, or its bytes with a local `model_id` path cut to the folder name (a model given as a path)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if "model_id" not in table.column_names:
        return path
    model_ids = table.column("model_id").to_pylist()
    if not any(is_machine_path(m) for m in model_ids):
        return path
    column = pa.array([strip_local_paths(m) for m in model_ids], type=table.schema.field("model_id").type)
    table = table.set_column(table.column_names.index("model_id"), "model_id", column)
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    return buffer.getvalue().to_pybytes()


def push_samples(samples_dir: str, repo_id: str, private: bool = False, token: str | None = None,
                 revision: str | None = None, links: dict | None = None) -> str:
    """Push a finished samples dir as a dataset repo with its card and length histogram; return the commit URL."""
    from . import cards, hub

    repo_id = hub.owned_repo_id(repo_id, token, f"pushing to dataset repo {repo_id}")
    files = samples_files(samples_dir)
    files["README.md"] = cards.render_dataset_card(samples_dir, repo_id, links).encode()
    files[HISTOGRAM_PATH] = cards.length_histogram_png(samples_dir)
    return hub.commit(repo_id, "dataset", files, "Upload SSD samples dataset", private, token, revision)


# ----------------------------------------------------------------------------------- models
def model_files(model_dir: str) -> dict[str, str]:
    """The files of a saved model or adapter that belong on the Hub: no checkpoints, samples or trainer state."""
    from .hub import folder_files

    if not os.path.isdir(model_dir):
        raise SSDError(f"{model_dir} is not a model directory; give the --output_dir of `ssd-hf train`.")
    names = set(os.listdir(model_dir))
    if not ({"adapter_config.json", "config.json"} & names):
        raise SSDError(f"{model_dir} holds neither adapter_config.json nor config.json; give a saved model or adapter dir.")
    # Samples dirs (pushed separately as datasets) stay out of the model repo.
    samples_dirs = [f"{name}/*" for name in sorted(names) if os.path.isdir(os.path.join(model_dir, name, ".store"))]
    return folder_files(model_dir, MODEL_IGNORE_PATTERNS + samples_dirs)


def load_results(results, stamp: bool = True) -> list[EvalResults]:
    """Results given as records, dicts or paths to results JSON files.

    A file without a recorded date gets its modification time (`stamp`), kept in what is published.
    """
    from .eval_results import evaluation_date

    loaded = []
    for item in results or []:
        if isinstance(item, EvalResults):
            loaded.append(item)
        elif isinstance(item, dict):
            loaded.append(EvalResults.from_dict(item))
        else:
            try:
                loaded.append(read_results(item))
                if stamp and evaluation_date(loaded[-1], item):
                    loaded[-1].extra.setdefault("date", evaluation_date(loaded[-1], item))
            except (OSError, ValueError) as error:
                raise SSDError(f"cannot read results file {item}: {error}; give a JSON file written by `ssd-hf eval`.") from None
    return loaded


def model_folder_results(model_dir: str) -> list[str]:
    """The results a model folder carries (`<model>/eval/results.json`), with its base model's when the base is a
    local folder evaluated the same way: what `ssd-hf card` and `push model` show without `--results`."""
    found = [model_results_path(model_dir)]
    provenance = read_provenance(model_dir)
    base = provenance.base_model if provenance else None
    if base and os.path.isdir(base) and os.path.abspath(base) != os.path.abspath(model_dir):
        found.append(model_results_path(base))
    return [path for path in found if path]


def results_name(result: EvalResults) -> str:
    """Stable file name for a results JSON inside the model repo."""
    model = str(result.model or "model").rstrip("/").split("/")[-1] or "model"
    return f"{RESULTS_DIR}/{result.benchmark}-{model}-{stable_hash(result.config)[:8]}.json"


def _results_json(result: EvalResults) -> bytes:
    """The results file as published: the model and other recorded paths cut to their folder name."""
    data = result.to_dict()
    data["config"] = strip_local_paths(data.get("config") or {})
    return json.dumps(data, indent=2, sort_keys=True).encode()


def push_model(model_dir: str, repo_id: str, private: bool = False, token: str | None = None, results=None,
               samples_repo_id: str | None = None, traces_repo: str | None = None, links: dict | None = None) -> str:
    """Push a trained adapter or full model with its model card; return the commit URL.

    `samples_repo_id` names the Hub dataset the local samples were pushed to, for the card's `datasets`;
    `results` None means the results the folder carries (`model_folder_results`). With results, their traces
    dataset is pushed first (`traces_repo`, default `<repo>-eval-traces`) and `.eval_results/` points at it.
    """
    from . import cards, hub

    repo_id = hub.owned_repo_id(repo_id, token, f"pushing to repo {repo_id}")
    files: dict[str, bytes | str] = dict(model_files(model_dir))
    provenance = read_provenance(model_dir)
    if provenance is not None:
        provenance = _public_provenance(provenance, samples_repo_id)
        files[PROVENANCE_FILE] = to_json(provenance).encode()
    loaded = sorted(load_results(model_folder_results(model_dir) if results is None else results), key=results_name)
    files.update({results_name(r): _results_json(r) for r in loaded})
    links = {**(links or {}), **_evaluation(repo_id, loaded, provenance, traces_repo, private, token, links or {}, files)}
    files["README.md"] = cards.render_model_card(model_dir, loaded or None, repo_id, samples_repo_id, links).encode()
    plot = cards.results_plot_png(loaded) if loaded else None
    if plot:
        files[RESULTS_PLOT_PATH] = plot
    return hub.commit(repo_id, "model", files, "Upload SSD model", private, token)


def _evaluation(repo_id: str, results: list[EvalResults], provenance, traces_repo: str | None, private: bool,
                token: str | None, links: dict, files: dict) -> dict:
    """Push the traces dataset of `results` and add `.eval_results/*.yaml` to `files`; returns the card's links."""
    from . import hub
    from .eval_results import eval_results_files
    from .traces import is_base, traces_files, traces_repo_for

    if not results:
        return {}
    base_model = provenance.base_model if provenance else None
    endpoint = hub.api(token).endpoint
    traces_repo = hub.owned_repo_id(traces_repo or traces_repo_for(repo_id), token, "pushing the evaluation traces")
    samples_repo = links.get("samples_repo") or (provenance.samples_dataset if provenance else None)
    traces = traces_files(results, base_model, repo_id, traces_repo,
                          {**links, "endpoint": endpoint, "samples_repo": hub_id_or_none(samples_repo)})
    if traces:
        hub.commit(traces_repo, "dataset", traces, "Upload SSD evaluation traces", private, token)
    own = [(results_name(r), r) for r in results if not is_base(r, base_model)]
    files.update(eval_results_files(own, traces_repo if traces else None, endpoint))
    return {"endpoint": endpoint, **({"traces_repo": traces_repo} if traces else {})}


def hub_id_or_none(ref: str | None) -> str | None:
    from .refs import hub_id

    return hub_id(ref) if ref else None


def _public_provenance(provenance, samples_repo_id: str | None):
    from .records import Provenance

    public = Provenance.from_dict(strip_local_paths(json.loads(to_json(provenance))))
    if samples_repo_id:
        public.samples_dataset = samples_repo_id  # later card rewrites (push results) read it from the repo
    return public


def push_results(results_json_path: str, repo_id: str, token: str | None = None, traces_repo: str | None = None) -> str:
    """Add an evaluation results JSON to a pushed model repo: rewrite its card, model-index and `.eval_results/`,
    and push the traces dataset of every results file the repo then holds."""
    import tempfile

    from . import cards, hub

    new = load_results([results_json_path])[0]
    action = f"pushing results to {repo_id}"
    repo_id = hub.owned_repo_id(repo_id, token, action)
    with tempfile.TemporaryDirectory() as scratch:
        local = hub.snapshot(repo_id, "model", [PROVENANCE_FILE, "config.json", "adapter_config.json",
                                                f"{RESULTS_DIR}/*.json"], token=token, local_dir=scratch)
        results_dir = os.path.join(local, RESULTS_DIR)
        existing = load_results([os.path.join(results_dir, n) for n in sorted(os.listdir(results_dir))], stamp=False) \
            if os.path.isdir(results_dir) else []
        by_name = {results_name(r): r for r in existing}
        by_name[results_name(new)] = new
        ordered = [by_name[k] for k in sorted(by_name)]
        files: dict[str, bytes | str] = {results_name(new): _results_json(new)}
        links = _evaluation(repo_id, ordered, read_provenance(local), traces_repo, False, token, {}, files)
        files["README.md"] = cards.render_model_card(local, ordered, repo_id, links=links).encode()
        plot = cards.results_plot_png(ordered)
        if plot:
            files[RESULTS_PLOT_PATH] = plot
    return hub.commit(repo_id, "model", files, f"Add {new.benchmark} results", False, token)


# ----------------------------------------------------------------------------------- a run with push_to_hub
def run_repo_id(config) -> str:
    """The model repo of a push_to_hub=True run: hub_model_id, else the output_dir's folder name (TRL's rule)."""
    return config.hub_model_id or os.path.basename(os.path.abspath(config.output_dir))


def push_run_samples(config, token: str | None) -> str | None:
    """push_to_hub=True, once the samples exist: push them as `<model repo>-samples`; return the samples repo id.

    Samples named by a Hub `samples_dataset` are already published and are only referenced.
    """
    from . import hub

    local = config.samples_dataset or config.resolved_samples_dir()
    if config.samples_dataset and not os.path.exists(split_revision(local)[0]):
        return config.samples_dataset
    if not os.path.isdir(local):
        logger.warning("No samples directory at %s to push; the model card will not name a samples dataset.", local)
        return None
    repo_id = hub.owned_repo_id(f"{run_repo_id(config)}-samples", token, "pushing the samples")
    push_samples(local, repo_id, private=bool(config.hub_private_repo), token=token)
    return repo_id


def push_run_model(config, token: str | None, samples_repo_id: str | None = None) -> str:
    """push_to_hub=True, once the model is saved in `output_dir`: push it with its card; return the commit URL."""
    # The run evaluates (and pushes results) after this: an eval/ left by an earlier run is not this model's.
    return push_model(config.output_dir, run_repo_id(config), private=bool(config.hub_private_repo), token=token,
                      results=[], samples_repo_id=samples_repo_id)


def push_space(folder: str, repo_id: str, private: bool = False, token: str | None = None,
               commit_message: str = "Upload SSD comparison Space") -> str:
    """Create (or reuse) a Gradio Space and commit every file of `folder` to it; return the Space's URL."""
    from . import hub

    files = hub.folder_files(folder, ["*__pycache__*", ".*", "*/.*"])
    hub.commit(repo_id, "space", files, commit_message, private, token, space_sdk="gradio")
    return f"{hub.api(token).endpoint}/spaces/{repo_id}"
