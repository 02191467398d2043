"""Samples between nodes that do not share the samples folder (each node's store on its own disk).

Each node keeps the shards it drew, so a rerun resumes there. At the start the nodes agree on what is done
(the union of their stores); at the end the samples the main process lacks travel to it over the launch's
process group in bounded chunks and land in its store, it writes the merged dataset, and the merged samples
travel back so every node's store holds the same dataset (every rank trains on the same rows, from its disk).
"""

from __future__ import annotations

import logging

from .. import nodes
from .store import SampleStore

logger = logging.getLogger(__name__)


def _keyed(records) -> set[tuple[str, int]]:
    return {(r["prompt_id"], int(r["sample_index"])) for r in records}


def agreed_done(store: SampleStore, wanted_keys: set, storage: nodes.Storage, rank: int) -> tuple[set, set]:
    """(what some node's store holds, what the main process's store holds), the same on every rank."""
    mine = store.done_keys() & wanted_keys if rank in storage.owners else set()
    union, on_main = set(), set()
    for part in nodes.gather_to_main({"prompt_id": k[0], "sample_index": k[1], "rank": rank} for k in sorted(mine)):
        union |= _keyed(part)
        on_main |= _keyed(r for r in part if r["rank"] == 0)
    keys = [{"prompt_id": k[0], "sample_index": k[1], "main": k in on_main} for k in sorted(union)]
    union, on_main = set(), set()
    for part in nodes.broadcast_from_main(keys):
        union |= _keyed(part)
        on_main |= _keyed(r for r in part if r["main"])
    return union, on_main


def collect_on_main(store: SampleStore, wanted_keys: set, on_main: set, storage: nodes.Storage, rank: int) -> None:
    """Samples (and skipped requests) of the other nodes' stores that the main process lacks, into its store."""
    outgoing, lacking = [], wanted_keys - on_main
    if rank in storage.senders():
        outgoing = [{"kind": "sample", **r} for r in _unique(store.iter_records(), lacking)]
        outgoing += [{"kind": "skipped", "prompt_id": k[0], "sample_index": k[1], "reason": why}
                     for k, why in store.skipped().items() if k in lacking]
    received = 0
    for part in nodes.gather_to_main(outgoing):
        samples = [_record(r) for r in part if r["kind"] == "sample"]
        store.write_shard(samples)
        store.write_skipped([_record(r) for r in part if r["kind"] == "skipped"])
        received += len(samples)
    if rank == 0 and received:
        logger.info("Received %d samples from the other nodes (their samples folders are their own)", received)


def spread_merged(store: SampleStore, wanted_keys: set, storage: nodes.Storage, rank: int, engines: list[str]):
    """The main process's merged samples to every node that does not see its folder; those nodes merge too."""
    merged = None
    if rank == 0:
        merged = [{"kind": "sample", **r} for r in _unique(store.iter_records(), wanted_keys)]
        merged += [{"kind": "skipped", "prompt_id": k[0], "sample_index": k[1], "reason": why}
                   for k, why in store.skipped().items() if k in wanted_keys]
    receives = rank in storage.senders()
    have = store.done_keys() if receives else set()
    for part in nodes.broadcast_from_main(merged):
        if receives:
            store.write_shard([_record(r) for r in part if r["kind"] == "sample" and _key(r) not in have])
            store.write_skipped([_record(r) for r in part if r["kind"] == "skipped" and _key(r) not in have])
    if receives:
        store.update_manifest(engines=engines)
        store.finalize(wanted_keys)


def _key(record: dict) -> tuple[str, int]:
    return record["prompt_id"], int(record["sample_index"])


def _record(item: dict) -> dict:
    return {k: v for k, v in item.items() if k != "kind"}


def _unique(records, keys: set):
    seen = set()
    for record in records:
        key = _key(record)
        if key in keys and key not in seen:
            seen.add(key)
            yield record
