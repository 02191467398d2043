"""Loading what users point us at: prompt pools and samples, from local files, folders or the Hub.

Local files (JSONL/JSON/Parquet/CSV) and folders load through `datasets`, with the bad-file cases a
user hits (empty, not UTF-8, a line that is not a JSON object) turned into one line that names the
fix. Hub ids go through `hub.py` (downloads) and `datasets.load_dataset`.
"""

from __future__ import annotations

import json
import logging
import os

from .errors import SSDError, first_line
from .records import SAMPLES_DATA_FILE, SamplesManifest, read_samples_manifest
from .refs import is_local, model_key, split_revision

logger = logging.getLogger(__name__)

LOCAL_DATA_FORMATS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def load_dataset_any(ref: str, config: str | None = None, split: str = "train", revision: str | None = None):
    """A `datasets.Dataset` from a local file (JSONL/JSON/Parquet/CSV), a local folder, or a Hub id[@rev]."""
    import datasets

    name, pinned = split_revision(ref)
    if os.path.isfile(name):
        return _load_local_file(name)
    if os.path.isdir(name):
        return _load_local_folder(name, config, split)
    if is_local(name):
        raise SSDError(f"{name} does not exist; check the path, or give a Hub dataset id like org/name.")
    try:
        return datasets.load_dataset(name, config, split=split, revision=revision or pinned)
    except Exception as error:  # noqa: BLE001 - any failure here is a name or access the user must fix
        raise SSDError(f"cannot load dataset {name!r} from the Hub: {first_line(error)}") from None


def _load_local_folder(name: str, config: str | None, split: str):
    import datasets

    if not os.listdir(name):
        raise SSDError(f"{name} is an empty folder; give a folder with JSONL/Parquet/CSV files, a data file, or a Hub dataset id.")
    _check_one_format(name)
    try:
        if os.path.exists(os.path.join(name, "dataset_info.json")) or os.path.exists(os.path.join(name, "state.json")):
            loaded = datasets.load_from_disk(name)
            return loaded[split] if isinstance(loaded, datasets.DatasetDict) else loaded
        return datasets.load_dataset(name, config, split=split)
    except Exception as error:  # noqa: BLE001 - any failure here is a folder the user must fix
        raise SSDError(f"cannot load a dataset from folder {name}: {first_line(error)}; give a folder with "
                       "JSONL/Parquet/CSV files or one written by `Dataset.save_to_disk`.") from None


def _check_one_format(folder: str) -> None:
    """`datasets` reads only one format of a folder that mixes them (the Parquet, silently): refuse instead."""
    found = set()
    for _root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found |= {ext[1:] for ext in (os.path.splitext(f)[1].lower() for f in files) if ext in (".jsonl", ".parquet", ".csv")}
    if len(found) > 1:
        raise SSDError(f"{folder} mixes {' and '.join(sorted(found))} files, and only one format would be read; "
                       "keep one format in the folder, or pass one file.")


def _check_parquet(name: str) -> None:
    """An empty or cut-off Parquet file, told as such (datasets says 'an error occurred while generating')."""
    import pyarrow.parquet as pq

    try:
        rows = pq.ParquetFile(name).metadata.num_rows
    except Exception as error:  # noqa: BLE001 - any failure to read the footer is a damaged file
        raise SSDError(f"{name} is not a readable Parquet file ({first_line(error)}), perhaps cut off by an interrupted "
                       "copy; write or download it again.") from None
    if rows == 0:
        raise SSDError(f"{name} holds no records; give a file with at least one record.")


def _load_local_file(name: str):
    import datasets

    suffix = os.path.splitext(name)[1].lower()
    if suffix not in LOCAL_DATA_FORMATS:
        raise SSDError(f"cannot read {name}: use a .jsonl, .json, .parquet or .csv file, or a dataset folder.")
    if os.path.getsize(name) == 0:
        raise SSDError(f"{name} is empty; give a file with at least one record.")
    if LOCAL_DATA_FORMATS[suffix] == "json":
        _check_json_records(name)
    if suffix == ".parquet":
        _check_parquet(name)
    try:
        return datasets.load_dataset(LOCAL_DATA_FORMATS[suffix], data_files=name, split="train")
    except Exception as error:  # noqa: BLE001 - any parse failure is a bad file for the user
        if "corresponds to no data" in str(error):
            raise SSDError(f"{name} holds no records; give a file with at least one record.") from None
        raise SSDError(f"cannot parse {name} as {LOCAL_DATA_FORMATS[suffix]}: {first_line(error)}") from None


def _check_json_records(path: str) -> None:
    """datasets' JSON errors name neither the line nor the fix, so find blank files and bad lines first."""
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except UnicodeDecodeError:
        raise SSDError(f"{path} is not UTF-8 text; give a JSONL file with one JSON object per line.") from None
    if not text.strip():
        raise SSDError(f"{path} holds only blank lines; give a file with at least one record.")
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


# ----------------------------------------------------------------------------------- samples
def load_samples(path: str):
    """A finished samples directory (or a Parquet/JSONL file) as a `datasets.Dataset`."""
    from datasets import load_dataset

    if os.path.isdir(path):
        _check_finished(path)
        data = os.path.join(path, SAMPLES_DATA_FILE)
        if os.path.exists(data):
            _check_parquet(data)
            return load_dataset("parquet", data_files=data, split="train")
        parquet = sorted(f for f in os.listdir(os.path.join(path, "data")) if f.endswith(".parquet")) \
            if os.path.isdir(os.path.join(path, "data")) else []
        if parquet:  # a pulled Hub copy with other shard names
            return load_dataset("parquet", data_files=[os.path.join(path, "data", f) for f in parquet], split="train")
        top = sorted(f for f in os.listdir(path) if f.endswith((".parquet", ".jsonl")))
        if top:  # another tool's output folder (ml-ssd writes train.parquet and train.jsonl): one file is the data
            chosen = next((f for f in top if f.endswith(".jsonl")), top[0])
            return _load_local_file(os.path.join(path, chosen))
        raise SSDError(f"{path} has no finished samples dataset (missing {SAMPLES_DATA_FILE}); run `ssd-hf sample` first.")
    if not os.path.exists(path):
        raise SSDError(f"{path} does not exist; run `ssd-hf sample` first (with the same --output_dir or "
                       "--samples_dir), or pass --samples_dataset.")
    if path.endswith((".parquet", ".jsonl", ".json")):
        return _load_local_file(path)
    raise SSDError(f"cannot read samples from {path}; give a samples directory, .parquet or .jsonl file.")


def _check_finished(path: str) -> None:
    """A local store whose sampling run stopped before its merge holds older or no records: refuse, don't use them."""
    manifest = read_samples_manifest(path) if os.path.isdir(os.path.join(path, ".store")) else None
    if manifest is not None and not manifest.finalized:
        raise SSDError(f"{path} is not finished: the sampling run that was adding to it stopped before its merge; rerun "
                       "that `ssd-hf sample` command to finish it (samples already drawn are kept).")


# ----------------------------------------------------------------------------------- samples from other tools
def _turns(value) -> list[dict] | None:
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m and "content" in m for m in value):
        return [{"role": m["role"], "content": m["content"]} for m in value]
    return None


def _as_messages(prompt) -> list[dict]:
    return _turns(prompt) or [{"role": "user", "content": str(prompt)}]


def _completion_text(value) -> str:
    turns = _turns(value)
    return turns[-1]["content"] if turns else str(value)


def samples_format(columns: list[str], first: dict) -> str | None:
    """Which samples shape a dataset has: ssd-hf's own, TRL's conversational or prompt-completion, ml-ssd's
    parquet (prompt + output); None for a prompt pool (nothing sampled yet)."""
    if "completion" in columns and "prompt" in columns:
        return "ssd-hf" if "sample_index" in columns else "prompt-completion"
    if "messages" in columns and (_turns(first.get("messages")) or [{}])[-1].get("role") == "assistant":
        return "messages"
    if "prompt" in columns and "output" in columns:
        return "ml-ssd"
    return None


def normalize_samples(dataset):
    """Samples in any common published shape as our rows (prompt messages + completion text, no token ids)."""
    from datasets import Dataset

    kind = samples_format(dataset.column_names, dataset[0] if len(dataset) else {})
    if kind in (None, "ssd-hf"):
        return dataset
    rows = []
    for row in dataset:
        if kind == "messages":
            turns = _turns(row["messages"])
            prompt, completion = turns[:-1], turns[-1]["content"]
        else:
            prompt = _as_messages(row["prompt"])
            completion = _completion_text(row["completion" if kind == "prompt-completion" else "output"])
        rows.append({"prompt": prompt, "completion": completion, "finish_reason": "stop"})
    logger.info("Samples in %s format: %d rows read as prompt + completion (no token ids)", kind, len(rows))
    return Dataset.from_list(rows)


def samples_location(ref: str) -> str:
    """A local samples dir/file for a reference: the path itself, or the Hub dataset's copy in the local cache."""
    name, revision = split_revision(ref)
    if os.path.exists(name):
        return name
    if is_local(name) or name.count("/") != 1 or os.path.isdir(name.split("/")[0]):  # in/nosuch: a path, in/ exists
        raise SSDError(f"{name} does not exist; give a samples directory or a Hub dataset id like org/name[@revision].")
    from . import hub

    return hub.download_samples(name, revision)


def load_samples_dataset(ref: str, expected_base_model: str | None = None):
    """Samples from a local dir/file or a Hub dataset id[@revision].

    Warns when they were drawn from another model than the one being trained: SSD trains a model on its
    own samples.
    """
    local = samples_location(ref)
    dataset = normalize_samples(load_samples(local))
    manifest = read_samples_manifest(local) if os.path.isdir(local) else None
    warn_if_other_model(ref, dataset, manifest, expected_base_model)
    return dataset


def warn_if_other_model(ref: str, dataset, manifest: SamplesManifest | None, expected: str | None) -> None:
    """SSD trains a model on its own samples: say so when the samples were drawn from another model."""
    recorded = manifest.model_id if manifest else None
    if recorded is None and len(dataset) and "model_id" in dataset.column_names:
        recorded = dataset[0]["model_id"]
    if expected and recorded and model_key(recorded) != model_key(expected):
        logger.warning("Samples in %s were drawn from %s, but the model being trained is %s; SSD trains a model on "
                       "its own samples.", ref, recorded, expected)
