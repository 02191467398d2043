"""Resumable sample store: finished samples go to disk in small shards as they arrive.

Layout of a samples directory::

    samples/
      .store/manifest.json            the SamplesManifest: sampling config, its hash, model, prompt pool facts
      .store/shards/<hash>/*.jsonl    finished records, each file written whole then renamed into place
      .store/skipped/<hash>/*.jsonl   requests an engine could not serve (a prompt longer than the model's context)
      data/train-00000-of-00001.parquet   the merged dataset (written by `finalize`)

A shard appears atomically (write to a temporary name, fsync, rename), so `kill -9` at any moment
loses at most the records still in memory. Records are keyed by (prompt_id, sample_index) under one
sampling-config hash; a store refuses to mix two configs, and `finalize` keeps each key exactly once.
The `.store` folder is hidden so `datasets.load_dataset(samples_dir)` reads only `data/`; temporary
files are written under `.store/tmp` and renamed into place, and a new store clears stale ones.
A write that fails (a full disk, a read-only folder) is one `SSDError` line; what was written stays.
"""

from __future__ import annotations

import dataclasses
import errno
import glob
import json
import logging
import os
import shutil
import socket
import time
import uuid
from collections import Counter

from ..errors import SSDError
from ..records import (
    SAMPLES_DATA_FILE,
    STORE_MANIFEST,
    SamplesManifest,
    atomic_write,
    read_samples_manifest,
    write_samples_manifest,
)

logger = logging.getLogger(__name__)

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
    "prompt_token_ids": "ids",
    "completion_token_ids": "ids",
    "token_ids": "string",  # "engine": the ids as generated; "retokenized": a text-only server's output, tokenized here
    "sampling_config_hash": "string",
}
# Fields a store written by an earlier version may lack; they load as null.
OPTIONAL_FIELDS = ("prompt_token_ids", "completion_token_ids", "token_ids")


def record_features():
    """`datasets.Features` of the samples dataset."""
    from datasets import Features, List, Value

    features = {}
    for name, kind in RECORD_FIELDS.items():
        if kind == "messages":
            features[name] = List({"role": Value("string"), "content": Value("string")})
        elif kind == "ids":
            features[name] = List(Value("int64"))
        else:
            features[name] = Value(kind)
    return Features(features)


def write_error(error: OSError, where: str) -> SSDError:
    """One line for a failed write, naming the cure (a full disk is the usual one)."""
    reason = "the disk is full" if error.errno in (errno.ENOSPC, errno.EDQUOT) else (error.strerror or str(error))
    return SSDError(f"cannot write samples to {where}: {reason}; free space or choose another --samples_dir, "
                    "then rerun the same command: samples already written are kept.")


class SampleStore:
    """Shards of finished samples for one sampling config in one directory."""

    def __init__(self, root: str, config_hash: str, manifest: SamplesManifest | None = None):
        self.root = root
        self.config_hash = config_hash
        self.store_dir = os.path.join(root, ".store")
        self.shard_dir = os.path.join(self.store_dir, "shards", config_hash)
        self.skipped_dir = os.path.join(self.store_dir, "skipped", config_hash)
        self.tmp_dir = os.path.join(self.store_dir, "tmp")
        try:
            os.makedirs(self.shard_dir, exist_ok=True)
            os.makedirs(self.tmp_dir, exist_ok=True)
        except OSError as error:
            raise SSDError(f"cannot create the sample store at {root}: {error.strerror}; choose a writable --samples_dir.") from None
        existing = read_samples_manifest(root) if os.path.isfile(os.path.join(root, STORE_MANIFEST)) else None
        if existing is not None and existing.sampling_config_hash != config_hash:
            raise SSDError(
                f"{root} holds samples drawn with another sampling config (hash {existing.sampling_config_hash}, "
                f"now {config_hash}); use a new --samples_dir or delete the old one."
            )
        if existing is None and manifest is not None:
            self._write_manifest(dataclasses.replace(manifest, sampling_config_hash=config_hash))

    @property
    def manifest(self) -> SamplesManifest:
        return read_samples_manifest(self.root)

    def _write_manifest(self, manifest: SamplesManifest) -> None:
        try:
            write_samples_manifest(self.root, manifest)
        except OSError as error:
            raise write_error(error, self.root) from None

    def update_manifest(self, **fields) -> None:
        self._write_manifest(dataclasses.replace(self.manifest, **fields))

    def clear_stale_temporaries(self) -> None:
        """Files a killed run left half-written (the final merge writes under .store/tmp, then renames)."""
        shutil.rmtree(self.tmp_dir, ignore_errors=True)
        os.makedirs(self.tmp_dir, exist_ok=True)
        for leftover in glob.glob(os.path.join(self.root, "data", "*.tmp-*")):  # older versions wrote them here
            os.remove(leftover)

    def _files(self, folder: str) -> list[str]:
        return sorted(glob.glob(os.path.join(folder, "*.jsonl")))

    def _read(self, folder: str):
        for path in self._files(folder):
            with open(path, encoding="utf-8") as handle:
                for line in handle:
                    if line.strip():
                        yield json.loads(line)

    def iter_records(self):
        yield from self._read(self.shard_dir)

    def skipped(self) -> dict[tuple[str, int], str]:
        """(prompt_id, sample_index) -> reason, for requests an engine could not serve."""
        return {(r["prompt_id"], int(r["sample_index"])): r["reason"] for r in self._read(self.skipped_dir)}

    def done_keys(self) -> set[tuple[str, int]]:
        """(prompt_id, sample_index) of every sample already on disk, and of every skipped request."""
        return {(r["prompt_id"], int(r["sample_index"])) for r in self.iter_records()} | set(self.skipped())

    def _write_lines(self, folder: str, records: list[dict]) -> str:
        name = f"{time.time_ns()}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}.jsonl"
        path = os.path.join(folder, name)
        try:
            os.makedirs(folder, exist_ok=True)
            atomic_write(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        except OSError as error:
            raise write_error(error, self.root) from None
        return path

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
        return self._write_lines(self.shard_dir, records)

    def write_skipped(self, skipped: list[dict]) -> str | None:
        """Record requests that will never produce a sample ({"prompt_id", "sample_index", "reason"})."""
        return self._write_lines(self.skipped_dir, skipped) if skipped else None

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
        rows = [{name: unique[key].get(name) for name in RECORD_FIELDS} for key in sorted(unique)]
        dataset = Dataset.from_list(rows, features=record_features())
        path = os.path.join(self.root, SAMPLES_DATA_FILE)
        tmp = os.path.join(self.tmp_dir, f"merge-{uuid.uuid4().hex}.parquet")
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
            dataset.to_parquet(tmp)
            os.replace(tmp, path)
        except OSError as error:
            raise write_error(error, self.root) from None
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        skipped = {key: reason for key, reason in self.skipped().items() if keys is None or key in keys}
        kinds = Counter(reason.split(":", 1)[0] for reason in skipped.values())  # e.g. "prompt_too_long"
        self.update_manifest(num_records=len(rows), finalized=True, skipped=dict(kinds))
        logger.info("Samples dataset: %d records -> %s", len(rows), path)
        return dataset
