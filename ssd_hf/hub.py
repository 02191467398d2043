"""Every conversation with the Hugging Face Hub goes through this module.

Hub ids and local paths are interchangeable wherever a user names a model or dataset; `id@revision`
pins a revision.
"""

from __future__ import annotations

import json
import logging
import os

from .errors import SSDError

logger = logging.getLogger(__name__)

LOCAL_DATA_SUFFIXES = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def split_revision(ref: str) -> tuple[str, str | None]:
    """'org/name@rev' -> ('org/name', 'rev'); a local path or plain id gets revision None."""
    if os.path.exists(ref) or "@" not in ref:
        return ref, None
    name, revision = ref.rsplit("@", 1)
    return name, revision or None


def is_local_name(name: str) -> bool:
    """Names that can only mean a local path: a data-file suffix, ., / or ~ in front, or more path than org/name."""
    return (name.startswith((".", "/", "~")) or os.path.splitext(name)[1].lower() in LOCAL_DATA_SUFFIXES
            or (os.sep in name and name.count("/") != 1) or bool(os.altsep and os.altsep in name))


def load_dataset_any(ref: str, config: str | None = None, split: str = "train", revision: str | None = None):
    """A `datasets.Dataset` from a local file (JSONL/JSON/Parquet/CSV), a local folder, or a Hub id[@rev]."""
    import datasets

    name, pinned = split_revision(ref)
    revision = revision or pinned
    if os.path.isfile(name):
        return _load_local_file(name)
    if os.path.isdir(name):
        if not os.listdir(name):
            raise SSDError(f"{name} is an empty folder; give a folder with JSONL/Parquet/CSV files, a data file, or a Hub dataset id.")
        try:
            if os.path.exists(os.path.join(name, "dataset_info.json")) or os.path.exists(os.path.join(name, "state.json")):
                loaded = datasets.load_from_disk(name)
                return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
            return datasets.load_dataset(name, config, split=split)
        except Exception as error:  # noqa: BLE001 - any failure here is a folder the user must fix
            raise SSDError(f"cannot load a dataset from folder {name}: {_first_line(error)}; give a folder with "
                           "JSONL/Parquet/CSV files or one written by `Dataset.save_to_disk`.") from None
    if is_local_name(name):
        raise SSDError(f"{name} does not exist; check the path, or give a Hub dataset id like org/name.")
    try:
        return datasets.load_dataset(name, config, split=split, revision=revision)
    except Exception as error:  # noqa: BLE001
        raise SSDError(f"cannot load dataset {name!r} from the Hub: {_first_line(error)}") from None


def _load_local_file(name: str):
    import datasets

    suffix = os.path.splitext(name)[1].lower()
    if suffix not in LOCAL_DATA_SUFFIXES:
        raise SSDError(f"cannot read {name}: use a .jsonl, .json, .parquet or .csv file, or a dataset folder.")
    if os.path.getsize(name) == 0:
        raise SSDError(f"{name} is empty; give a file with at least one prompt.")
    if LOCAL_DATA_SUFFIXES[suffix] == "json":
        _check_json_records(name)
    try:
        return datasets.load_dataset(LOCAL_DATA_SUFFIXES[suffix], data_files=name, split="train")
    except Exception as error:  # noqa: BLE001 - any parse failure is a bad file for the user
        if "corresponds to no data" in str(error):
            raise SSDError(f"{name} holds no records; give a file with at least one prompt.") from None
        raise SSDError(f"cannot parse {name} as {LOCAL_DATA_SUFFIXES[suffix]}: {_first_line(error)}") from None


def _check_json_records(path: str) -> None:
    """datasets' JSON errors name neither the line nor the fix, so find blank files and bad lines first."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise SSDError(f"{path} is not UTF-8 text; give a JSONL file with one JSON object per line.") from None
    if not text.strip():
        raise SSDError(f"{path} holds only blank lines; give a file with at least one prompt.")
    if path.lower().endswith(".json"):
        try:
            json.loads(text)
            return
        except json.JSONDecodeError:
            pass  # not one JSON document; maybe JSON lines
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise SSDError(f"{path} line {number} is not JSON ({error.msg}); give one JSON object per line, "
                           'like {"question": "..."}.') from None
        if not isinstance(record, dict):
            raise SSDError(f"{path} line {number} is not a JSON object; give one object per line, like "
                           '{"question": "..."}.')


def _first_line(error: BaseException) -> str:
    return str(error).splitlines()[0] if str(error).strip() else type(error).__name__


def dataset_revision(ref: str) -> str | None:
    """What a prompt pool's revision is recorded as: 'local' for files and folders, else the Hub commit it resolves to.

    Falls back to the pinned `@revision` (or None) when the Hub cannot be asked and nothing is cached.
    """
    from huggingface_hub import HfApi, snapshot_download

    name, pinned = split_revision(ref)
    if os.path.exists(name) or is_local_name(name):
        return "local"
    try:
        return HfApi().dataset_info(name, revision=pinned).sha
    except Exception:  # noqa: BLE001 - offline or no access: try the local cache next
        pass
    try:
        cached = snapshot_download(name, repo_type="dataset", revision=pinned, local_files_only=True)
        return os.path.basename(os.path.normpath(cached))
    except Exception:  # noqa: BLE001 - nothing cached either
        logger.warning("Could not resolve the revision of dataset %s; the cards will show %s.", name, pinned or "not recorded")
        return pinned


# ----------------------------------------------------------------------------------- pushing
PROVENANCE_FILE = "ssd_provenance.json"
SAMPLES_MANIFEST = "ssd_manifest.json"  # the store's manifest as pushed: no local paths, no store internals
RESULTS_DIR = "results"
HISTOGRAM_PATH = "assets/completion_lengths.png"
RESULTS_PLOT_PATH = "assets/results.png"
# Files a trainer leaves in its output dir that are not part of the published model (or may hold secrets).
MODEL_EXCLUDE_PREFIXES = ("checkpoint-", ".")
MODEL_EXCLUDE_DIRS = {"runs", "wandb", "__pycache__"}
MODEL_EXCLUDE_NAMES = {"training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json"}
RETRY_DELAYS = (1.0, 2.0, 4.0)
LOGIN_HINT = "log in with `hf auth login` or set HF_TOKEN to a token with write access"


def _is_transient(error: BaseException) -> bool:
    """5xx, 429 and connection-level failures are worth retrying; anything else is not."""
    import importlib

    from huggingface_hub.errors import HfHubHTTPError

    if isinstance(error, HfHubHTTPError):
        status = getattr(error.response, "status_code", None)
        return status is not None and (status >= 500 or status == 429)
    transport = [ConnectionError, TimeoutError]
    for client in ("httpx2", "httpx"):  # huggingface_hub 2.x talks through httpx2; httpx where installed
        try:
            transport.append(importlib.import_module(client).TransportError)
        except ImportError:
            pass
    return isinstance(error, tuple(transport))


def _with_retries(action: str, call):
    """Run `call()`; retry transient Hub errors with exponential backoff, turn the rest into SSDError."""
    import time

    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError

    for attempt, delay in enumerate((*RETRY_DELAYS, None)):
        try:
            return call()
        except LocalTokenNotFoundError:
            raise SSDError(f"{action} needs a Hugging Face token: {LOGIN_HINT}.") from None
        except Exception as error:  # noqa: BLE001 - classified below
            status = getattr(getattr(error, "response", None), "status_code", None)
            if isinstance(error, HfHubHTTPError) and status in (401, 403):
                raise SSDError(f"the Hub refused {action} (HTTP {status}); {LOGIN_HINT}.") from None
            if delay is None or not _is_transient(error):
                message = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise SSDError(f"{action} failed: {_scrub(message)}") from None
            logger.warning("%s: transient error (%s); retry %d in %.0fs", action, type(error).__name__, attempt + 1, delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


def download_dataset_file(repo_id: str, filename: str, revision: str | None = None) -> str:
    """One file of a Hub dataset repo, through the local cache (works offline once cached); returns its path."""
    from huggingface_hub import hf_hub_download

    return _with_retries(f"downloading {filename} from {repo_id}",
                         lambda: hf_hub_download(repo_id, filename, repo_type="dataset", revision=revision))


def _scrub(text: str) -> str:
    """Remove anything that looks like a Hugging Face token from a message."""
    import re

    return re.sub(r"hf_[A-Za-z0-9]{8,}", "hf_***", text)


def _api(token: str | None):
    from huggingface_hub import HfApi

    return HfApi(token=token)


def _check_token(api, action: str) -> str:
    """Fail early with one line when no valid token is configured; return the user name."""
    info = _with_retries(action, api.whoami)
    return info.get("name", "")


def _owned_repo_id(repo_id: str, token: str | None, action: str) -> str:
    """Check the token; a bare repo name goes under the token's user (as Trainer's hub_model_id does)."""
    user = _check_token(_api(token), action)
    return repo_id if "/" in repo_id else f"{user}/{repo_id}"


def _without_local_paths(value):
    """Recorded facts as they may be published: local paths cut to their last part; Hub ids, URLs, text kept."""
    if isinstance(value, dict):
        return {key: _without_local_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_without_local_paths(item) for item in value]
    if _is_local_path(value):
        return os.path.basename(value.rstrip("/" + os.sep)) or value
    return value


def _is_local_path(value) -> bool:
    if not isinstance(value, str) or "\n" in value or "://" in value:
        return False
    return os.path.isabs(value) or value.startswith("~") or (os.sep in value and os.path.exists(value))


def _operations(files: dict[str, bytes | str], token: str | None):
    """CommitOperationAdd for each path -> bytes or local file; refuse any file that holds the token."""
    from huggingface_hub import CommitOperationAdd
    from huggingface_hub.utils import get_token

    secret = token or get_token()
    operations = []
    for path_in_repo, source in sorted(files.items()):
        if secret:
            data = source if isinstance(source, bytes) else open(source, "rb").read()
            if secret.encode() in data:
                raise SSDError(f"{path_in_repo} contains your Hugging Face token; remove it from the file before pushing.")
        operations.append(CommitOperationAdd(path_in_repo=path_in_repo, path_or_fileobj=source))
    return operations


def _commit(repo_id: str, repo_type: str, files: dict[str, bytes | str], message: str, private: bool,
            token: str | None, revision: str | None = None) -> str:
    """Create the repo if needed and commit `files` in one commit; unchanged content makes no commit."""
    api = _api(token)
    kind = "dataset " if repo_type == "dataset" else ""
    action = f"pushing to {kind}repo {repo_id}"
    operations = _operations(files, token)
    _with_retries(action, lambda: api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True))
    if revision and revision != "main":
        _with_retries(action, lambda: api.create_branch(repo_id, repo_type=repo_type, branch=revision, exist_ok=True))
    info = _with_retries(action, lambda: api.create_commit(
        repo_id, operations, commit_message=message, repo_type=repo_type, revision=revision))
    logger.info("Pushed %s%s: %s", kind, repo_id, info.commit_url)
    return info.commit_url


def _samples_files(samples_dir: str) -> dict[str, bytes | str]:
    """data/*.parquet and the manifest as published: the store's shards (named after this machine) stay home."""
    from .sampling.store import read_manifest

    data_dir = os.path.join(samples_dir, "data")
    if not os.path.isdir(data_dir) or not any(n.endswith(".parquet") for n in os.listdir(data_dir)):
        raise SSDError(f"{samples_dir} has no finished samples (data/*.parquet); run `ssd-hf sample` first.")
    files: dict[str, bytes | str] = {f"data/{n}": _public_parquet(os.path.join(data_dir, n))
                                     for n in sorted(os.listdir(data_dir)) if n.endswith(".parquet")}
    manifest = read_manifest(samples_dir)
    if manifest is not None:
        files[SAMPLES_MANIFEST] = json.dumps(_without_local_paths(manifest), indent=2, sort_keys=True).encode()
    return files


def _public_parquet(path: str) -> bytes | str:
    """The file as is, or its bytes with a local `model_id` path cut to the folder name (a model given as a path)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    if "model_id" not in table.column_names:
        return path
    model_ids = table.column("model_id").to_pylist()
    if not any(_is_local_path(m) for m in model_ids):
        return path
    column = pa.array([_without_local_paths(m) for m in model_ids], type=table.schema.field("model_id").type)
    table = table.set_column(table.column_names.index("model_id"), "model_id", column)
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    return buffer.getvalue().to_pybytes()


def push_samples(samples_dir: str, repo_id: str, private: bool = False, token: str | None = None,
                 revision: str | None = None) -> str:
    """Push a finished samples dir as a dataset repo with its card and length histogram; return the commit URL."""
    from . import cards

    repo_id = _owned_repo_id(repo_id, token, f"pushing to dataset repo {repo_id}")
    files = _samples_files(samples_dir)
    files["README.md"] = cards.render_dataset_card(samples_dir, repo_id).encode()
    files[HISTOGRAM_PATH] = cards.length_histogram_png(samples_dir)
    return _commit(repo_id, "dataset", files, "Upload SSD samples dataset", private, token, revision)


def _model_files(model_dir: str) -> dict[str, str]:
    if not os.path.isdir(model_dir):
        raise SSDError(f"{model_dir} is not a model directory; give the --output_dir of `ssd-hf train`.")
    names = set(os.listdir(model_dir))
    if not ({"adapter_config.json", "config.json"} & names):
        raise SSDError(f"{model_dir} holds neither adapter_config.json nor config.json; give a saved model or adapter dir.")
    files = {}
    for root, dirs, filenames in os.walk(model_dir):
        rel_root = os.path.relpath(root, model_dir)
        # Samples dirs (pushed separately as datasets) and trainer leftovers stay out of the model repo.
        dirs[:] = [d for d in dirs if not d.startswith(MODEL_EXCLUDE_PREFIXES) and d not in MODEL_EXCLUDE_DIRS
                   and not os.path.isdir(os.path.join(root, d, ".store"))]
        for name in filenames:
            rel = name if rel_root == "." else f"{rel_root}/{name}".replace(os.sep, "/")
            if name in MODEL_EXCLUDE_NAMES or name.startswith(".") or name == "README.md":
                continue
            files[rel] = os.path.join(root, name)
    return files


def _load_results(results) -> list[dict]:
    """Results given as dicts or paths to results JSON files."""
    loaded = []
    for item in results or []:
        if isinstance(item, dict):
            loaded.append(item)
            continue
        try:
            with open(item, encoding="utf-8") as handle:
                loaded.append(json.load(handle))
        except (OSError, json.JSONDecodeError) as error:
            raise SSDError(f"cannot read results file {item}: {error}; give a JSON file written by `ssd-hf eval`.") from None
    return loaded


def results_name(result: dict) -> str:
    """Stable file name for a results JSON inside the model repo."""
    from .config import stable_hash

    config = result.get("config", {})
    model = str(config.get("model", "model")).rstrip("/").split("/")[-1] or "model"
    return f"{RESULTS_DIR}/{result.get('benchmark', 'custom')}-{model}-{stable_hash(config)[:8]}.json"


def push_model(model_dir: str, repo_id: str, private: bool = False, token: str | None = None, results=None,
               samples_repo_id: str | None = None) -> str:
    """Push a trained adapter or full model with its model card; return the commit URL.

    `samples_repo_id` names the Hub dataset the local samples were pushed to, for the card's `datasets`.
    """
    from . import cards

    repo_id = _owned_repo_id(repo_id, token, f"pushing to repo {repo_id}")
    files: dict[str, bytes | str] = dict(_model_files(model_dir))
    if os.path.isfile(os.path.join(model_dir, PROVENANCE_FILE)):
        with open(os.path.join(model_dir, PROVENANCE_FILE), encoding="utf-8") as handle:
            recorded = _without_local_paths(json.load(handle))
        if samples_repo_id:
            recorded["samples_dataset"] = samples_repo_id  # later card rewrites (push results) read it from the repo
        files[PROVENANCE_FILE] = json.dumps(recorded, indent=2).encode()
    loaded = sorted(_load_results(results), key=results_name)
    for result in loaded:
        files[results_name(result)] = json.dumps(result, indent=2, sort_keys=True).encode()
    files["README.md"] = cards.render_model_card(model_dir, loaded or None, repo_id, samples_repo_id).encode()
    plot = cards.results_plot_png(loaded) if loaded else None
    if plot:
        files[RESULTS_PLOT_PATH] = plot
    return _commit(repo_id, "model", files, "Upload SSD model", private, token)


def push_run_samples(config, token: str | None) -> str | None:
    """push_to_hub=True, once the samples exist: push them as `<model repo>-samples`; return the samples repo id.

    Samples named by a Hub `samples_dataset` are already published and are only referenced.
    """
    local = config.samples_dataset or config.resolved_samples_dir()
    if config.samples_dataset and not os.path.exists(split_revision(local)[0]):
        return config.samples_dataset
    if not os.path.isdir(local):
        logger.warning("No samples directory at %s to push; the model card will not name a samples dataset.", local)
        return None
    repo_id = _owned_repo_id(f"{run_repo_id(config)}-samples", token, "pushing the samples")
    push_samples(local, repo_id, private=bool(config.hub_private_repo), token=token)
    return repo_id


def push_run_model(config, token: str | None, samples_repo_id: str | None = None) -> str:
    """push_to_hub=True, once the model is saved in `output_dir`: push it with its card; return the commit URL."""
    return push_model(config.output_dir, run_repo_id(config), private=bool(config.hub_private_repo), token=token,
                      samples_repo_id=samples_repo_id)


def run_repo_id(config) -> str:
    """The model repo of a push_to_hub=True run: hub_model_id, else the output_dir's folder name (TRL's rule)."""
    return config.hub_model_id or os.path.basename(os.path.abspath(config.output_dir))


def push_results(results_json_path: str, repo_id: str, token: str | None = None) -> str:
    """Add an evaluation results JSON to a pushed model repo and rewrite its card and model-index."""
    import tempfile

    from huggingface_hub import snapshot_download

    from . import cards

    new = _load_results([results_json_path])[0]
    if "aggregates" not in new or "benchmark" not in new:
        raise SSDError(f"{results_json_path} is not an evaluation results file (no benchmark/aggregates); use `ssd-hf eval` output.")
    action = f"pushing results to {repo_id}"
    repo_id = _owned_repo_id(repo_id, token, action)
    with tempfile.TemporaryDirectory() as scratch:
        local = _with_retries(action, lambda: snapshot_download(
            repo_id, token=token, local_dir=scratch,
            allow_patterns=[PROVENANCE_FILE, "config.json", "adapter_config.json", f"{RESULTS_DIR}/*.json"]))
        existing = []
        results_dir = os.path.join(local, RESULTS_DIR)
        if os.path.isdir(results_dir):
            existing = _load_results([os.path.join(results_dir, n) for n in sorted(os.listdir(results_dir))])
        by_name = {results_name(r): r for r in existing}
        by_name[results_name(new)] = new
        ordered = [by_name[k] for k in sorted(by_name)]
        files: dict[str, bytes | str] = {results_name(new): json.dumps(new, indent=2, sort_keys=True).encode()}
        files["README.md"] = cards.render_model_card(local, ordered, repo_id).encode()
        plot = cards.results_plot_png(ordered)
        if plot:
            files[RESULTS_PLOT_PATH] = plot
    return _commit(repo_id, "model", files, f"Add {new.get('benchmark')} results", False, token)


# ----------------------------------------------------------------------------------- pulling
def load_samples_dataset(ref: str, expected_base_model: str | None = None):
    """Samples from a local dir/file or a Hub dataset id[@revision]; warn if drawn from another base model."""
    from .sampling.store import MANIFEST, load_samples, read_manifest

    name, revision = split_revision(ref)
    manifest = None
    if os.path.exists(name):
        dataset = load_samples(name)
        manifest = read_manifest(name) if os.path.isdir(name) else None
    else:
        if is_local_name(name) or name.count("/") != 1:
            raise SSDError(f"{name} does not exist; give a samples directory or a Hub dataset id like org/name[@revision].")
        from huggingface_hub import snapshot_download

        # Datasets pushed before ssd_manifest.json carried the store's manifest at .store/manifest.json.
        local = _with_retries(f"downloading samples {name}", lambda: snapshot_download(
            name, repo_type="dataset", revision=revision,
            allow_patterns=["data/*.parquet", SAMPLES_MANIFEST, f".store/{MANIFEST}"]))
        data_dir = os.path.join(local, "data")
        if not os.path.isdir(data_dir) or not any(n.endswith(".parquet") for n in os.listdir(data_dir)):
            raise SSDError(f"Hub dataset {name} has no data/*.parquet; is it an SSD samples dataset pushed by `ssd-hf push samples`?")
        dataset = load_samples(local)
        if os.path.isfile(os.path.join(local, SAMPLES_MANIFEST)):
            with open(os.path.join(local, SAMPLES_MANIFEST), encoding="utf-8") as handle:
                manifest = json.load(handle)
        else:
            manifest = read_manifest(local)
    recorded = (manifest or {}).get("model_id")
    if recorded is None and len(dataset) and "model_id" in dataset.column_names:
        recorded = dataset[0]["model_id"]
    if expected_base_model and recorded and _model_key(recorded) != _model_key(expected_base_model):
        logger.warning("Samples in %s were drawn from %s, but the model being trained is %s; SSD trains a model on "
                       "its own samples.", ref, recorded, expected_base_model)
    return dataset


def _model_key(model: str) -> str:
    """Compare models by Hub id, or by folder name for local paths."""
    name = split_revision(model)[0].rstrip("/")
    return name if name.count("/") == 1 and not os.path.exists(name) else os.path.basename(name)


def push_space(folder: str, repo_id: str, private: bool = False, token: str | None = None,
               commit_message: str = "Upload SSD comparison Space") -> str:
    """Create (or reuse) a Gradio Space and commit every file of `folder` to it; return the Space's URL.

    Same guarantees as the other pushes: retries on transient errors, one line for a bad token, no file
    holding the token is sent, and unchanged content makes no commit.
    """
    files = {}
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        for name in sorted(names):
            path = os.path.join(root, name)
            files[os.path.relpath(path, folder).replace(os.sep, "/")] = path
    api = _api(token)
    action = f"pushing Space {repo_id}"
    operations = _operations(files, token)
    _with_retries(action, lambda: api.create_repo(repo_id, repo_type="space", space_sdk="gradio", private=private,
                                                  exist_ok=True))
    info = _with_retries(action, lambda: api.create_commit(repo_id, operations, commit_message=commit_message,
                                                           repo_type="space"))
    logger.info("Pushed Space %s: %s", repo_id, info.commit_url)
    return f"{api.endpoint}/spaces/{repo_id}"


def pull_model_results(ref: str, token: str | None = None) -> str | None:
    """Local folder with a Hub model repo's card, provenance and results/*.json (for the Space's Results tab).

    None when the repo cannot be reached (offline, private, missing): results are optional there.
    """
    from huggingface_hub import snapshot_download

    name, revision = split_revision(ref)
    try:
        return _with_retries(f"downloading results of {name}", lambda: snapshot_download(
            name, revision=revision, token=token,
            allow_patterns=["README.md", PROVENANCE_FILE, f"{RESULTS_DIR}/*.json"]))
    except SSDError as error:
        logger.warning("%s", error)
        return None
