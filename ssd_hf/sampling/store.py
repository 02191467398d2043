"""Resumable sample store: finished samples go to disk in small shards as they arrive.

Layout of a samples directory::

    samples/
      .store/manifest.json            sampling config, its hash, model, prompt pool facts
      .store/shards/<hash>/*.jsonl    finished records, each file written whole then renamed into place
      .store/sync/                    per-run markers that processes of one launch wait on (see `wait_for`)
      data/train-00000-of-00001.parquet   the merged dataset (written by `finalize`)

A shard appears atomically (write to a temporary name, fsync, rename), so `kill -9` at any moment
loses at most the records still in memory. Records are keyed by (prompt_id, sample_index) under one
sampling-config hash; a store refuses to mix two configs, and `finalize` keeps each key exactly once.
The `.store` folder is hidden so `datasets.load_dataset(samples_dir)` reads only `data/`.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import socket
import time
import uuid

from ..errors import SSDError

logger = logging.getLogger(__name__)

MANIFEST = "manifest.json"
DATA_FILE = os.path.join("data", "train-00000-of-00001.parquet")

# The one record schema, shared by every engine. Order here is column order in the dataset.
RECORD_FIELDS = {
    "prompt_id": "string",
    "sample_index": "int64",
    "source_id": "string",
    "prompt": "messages",
    "completion": "string",
    "model_id": "string",
    "model_revision": "string",
    "engine": "string",
    "temperature": "float64",
    "top_k": "int64",
    "top_p": "float64",
    "max_new_tokens": "int64",
    "seed": "int64",
    "finish_reason": "string",
    "prompt_tokens": "int64",
    "completion_tokens": "int64",
    "sampling_config_hash": "string",
}


def record_features():
    """`datasets.Features` of the samples dataset."""
    from datasets import Features, List, Value

    features = {}
    for name, kind in RECORD_FIELDS.items():
        if kind == "messages":
            features[name] = List({"role": Value("string"), "content": Value("string")})
        else:
            features[name] = Value(kind)
    return Features(features)


def _atomic_write(path: str, text: str) -> None:
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


class SampleStore:
    """Shards of finished samples for one sampling config in one directory."""

    def __init__(self, root: str, config_hash: str, manifest: dict | None = None):
        self.root = root
        self.config_hash = config_hash
        self.store_dir = os.path.join(root, ".store")
        self.shard_dir = os.path.join(self.store_dir, "shards", config_hash)
        manifest_path = os.path.join(self.store_dir, MANIFEST)
        try:
            os.makedirs(self.shard_dir, exist_ok=True)
        except OSError as error:
            raise SSDError(f"cannot create the sample store at {root}: {error.strerror}; choose a writable --samples_dir.") from None
        if os.path.exists(manifest_path):
            with open(manifest_path, encoding="utf-8") as handle:
                existing = json.load(handle)
            if existing.get("sampling_config_hash") != config_hash:
                raise SSDError(
                    f"{root} holds samples drawn with another sampling config (hash {existing.get('sampling_config_hash')}, "
                    f"now {config_hash}); use a new --samples_dir or delete the old one."
                )
        elif manifest is not None:
            _atomic_write(manifest_path, json.dumps({**manifest, "sampling_config_hash": config_hash}, indent=2))

    @property
    def manifest(self) -> dict:
        with open(os.path.join(self.store_dir, MANIFEST), encoding="utf-8") as handle:
            return json.load(handle)

    def update_manifest(self, **fields) -> None:
        _atomic_write(os.path.join(self.store_dir, MANIFEST), json.dumps({**self.manifest, **fields}, indent=2))

    def _shard_files(self) -> list[str]:
        return sorted(glob.glob(os.path.join(self.shard_dir, "*.jsonl")))

    def iter_records(self):
        for path in self._shard_files():
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        yield json.loads(line)

    def done_keys(self) -> set[tuple[str, int]]:
        """(prompt_id, sample_index) of every sample already on disk."""
        return {(r["prompt_id"], int(r["sample_index"])) for r in self.iter_records()}

    def write_shard(self, records: list[dict]) -> str | None:
        """Write finished records as one new shard file; returns its path."""
        if not records:
            return None
        for record in records:
            missing = set(RECORD_FIELDS) - set(record)
            if missing:
                raise ValueError(f"sample record lacks fields {sorted(missing)}")
            if record["sampling_config_hash"] != self.config_hash:
                raise ValueError("record drawn under another sampling config")
        name = f"{time.time_ns()}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        path = os.path.join(self.shard_dir, name)
        _atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        return path

    # ----- waiting between processes, without collectives -----
    # Under `accelerate launch`, processes wait for each other while one samples for hours (the endpoint
    # engine samples on the main process only). A collective barrier would trip the process group's
    # timeout (gloo 30 min, NCCL 10 min by default); a marker file in the shared store never times out.
    # If a process dies instead, the launcher stops the others.

    @property
    def sync_dir(self) -> str:
        return os.path.join(self.store_dir, "sync")

    def clear_marks(self) -> None:
        """Forget the markers of earlier runs (main process, before the others look)."""
        for path in glob.glob(os.path.join(self.sync_dir, "*")):
            os.remove(path)

    def mark(self, name: str) -> None:
        os.makedirs(self.sync_dir, exist_ok=True)
        _atomic_write(os.path.join(self.sync_dir, name), str(time.time()))

    def wait_for(self, names: list[str], poll_s: float = 0.5) -> None:
        """Block until every named marker exists."""
        start, logged = time.monotonic(), 0.0
        while not all(os.path.exists(os.path.join(self.sync_dir, name)) for name in names):
            waited = time.monotonic() - start
            if waited - logged >= 600:
                logger.info("Still waiting for %s after %.0f min", ", ".join(names), waited / 60)
                logged = waited
            time.sleep(poll_s)

    def finalize(self, keys: set[tuple[str, int]] | None = None):
        """Merge shards into `data/*.parquet`, each (prompt_id, sample_index) once; return the Dataset.

        `keys` limits the dataset to the samples this run asked for: a store reused with a smaller or another
        prompt pool keeps its other samples in the shards (a later run may want them) but not in the dataset.
        """
        from datasets import Dataset

        unique = {}
        for record in self.iter_records():
            key = (record["prompt_id"], int(record["sample_index"]))
            if keys is None or key in keys:
                unique.setdefault(key, record)
        ordered = [unique[key] for key in sorted(unique)]
        rows = [{name: record[name] for name in RECORD_FIELDS} for record in ordered]
        dataset = Dataset.from_list(rows, features=record_features())
        path = os.path.join(self.root, DATA_FILE)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        dataset.to_parquet(tmp)
        os.replace(tmp, path)
        self.update_manifest(num_records=len(rows), finalized=True)
        logger.info("Samples dataset: %d records -> %s", len(rows), path)
        return dataset


def load_samples(path: str):
    """Load a finished samples directory (or a Parquet/JSONL file) as a `datasets.Dataset`."""
    from datasets import load_dataset

    if os.path.isdir(path):
        data = os.path.join(path, DATA_FILE)
        if not os.path.exists(data):
            raise SSDError(f"{path} has no finished samples dataset (missing {DATA_FILE}); run `ssd-hf sample` first.")
        return load_dataset("parquet", data_files=data, split="train")
    if path.endswith(".parquet"):
        return load_dataset("parquet", data_files=path, split="train")
    if path.endswith((".jsonl", ".json")):
        return load_dataset("json", data_files=path, split="train")
    raise SSDError(f"cannot read samples from {path}; give a samples directory, .parquet or .jsonl file.")


def read_manifest(path: str) -> dict | None:
    manifest = os.path.join(path, ".store", MANIFEST)
    if os.path.isfile(manifest):
        with open(manifest, encoding="utf-8") as handle:
            return json.load(handle)
    return None
