"""The sample store: atomic shards, exactly-once merge, one schema, no silent mixing of configs."""

import json
import os

import pytest
from datasets import load_dataset

from ssd_hf import SSDError
from ssd_hf.data import load_samples
from ssd_hf.records import SamplesManifest
from ssd_hf.sampling.store import RECORD_FIELDS, SampleStore

MANIFEST = SamplesManifest(model_id="m", model_revision="local", sampling={}, prompts={}, num_samples_per_prompt=1,
                           num_prompts=1)


def record(prompt_id, index, config_hash="h1", completion="print(1)\nprint(2)"):
    row = {name: None for name in RECORD_FIELDS}
    row.update(
        prompt_id=prompt_id, sample_index=index, source_id=prompt_id,
        prompt=[{"role": "user", "content": f"q {prompt_id}"}], completion=completion,
        model_id="m", model_revision="local", engine="transformers", temperature=1.6, top_k=20, top_p=0.8,
        max_new_tokens=16, seed=7, finish_reason="stop", prompt_tokens=3, completion_tokens=5,
        sampling_config_hash=config_hash,
    )
    return row


def test_finalize_keeps_each_key_once_and_load_dataset_reads_it(tmp_path):
    store = SampleStore(str(tmp_path), "h1", manifest=MANIFEST)
    store.write_shard([record("a", 0), record("a", 1)])
    store.write_shard([record("a", 1, completion="duplicate from a retried batch"), record("b", 0)])
    assert store.done_keys() == {("a", 0), ("a", 1), ("b", 0)}
    dataset = store.finalize()
    assert len(dataset) == 3 and list(dataset.column_names) == list(RECORD_FIELDS)
    again = load_dataset(str(tmp_path), split="train")  # the plain datasets loader sees only data/
    assert sorted(zip(again["prompt_id"], again["sample_index"])) == [("a", 0), ("a", 1), ("b", 0)]
    assert again.features["prompt"].feature["role"].dtype == "string"
    assert len(load_samples(str(tmp_path))) == 3
    assert json.loads((tmp_path / ".store" / "manifest.json").read_text())["num_records"] == 3


def test_refuses_to_mix_sampling_configs(tmp_path):
    SampleStore(str(tmp_path), "h1", manifest=MANIFEST)
    with pytest.raises(SSDError, match="another sampling config"):
        SampleStore(str(tmp_path), "h2", manifest=MANIFEST)


def test_rejects_incomplete_records(tmp_path):
    store = SampleStore(str(tmp_path), "h1", manifest=MANIFEST)
    bad = record("a", 0)
    del bad["finish_reason"]
    with pytest.raises(ValueError, match="finish_reason"):
        store.write_shard([bad])
    assert not os.listdir(store.shard_dir)


def test_unwritable_samples_dir_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SSDError, match="cannot create the sample store"):
        SampleStore(str(blocker / "samples"), "h1", manifest=MANIFEST)


def test_finalize_keeps_only_the_requested_samples(tmp_path):
    """A store reused with a smaller prompt pool keeps the other samples cached, out of the dataset."""
    store = SampleStore(str(tmp_path), "h1", manifest=MANIFEST)
    store.write_shard([record("a", 0), record("b", 0), record("c", 0)])
    dataset = store.finalize({("a", 0), ("c", 0)})
    assert sorted(dataset["prompt_id"]) == ["a", "c"]
    assert store.done_keys() == {("a", 0), ("b", 0), ("c", 0)}  # "b" stays on disk for a later run
    assert len(store.finalize()) == 3


def test_rerun_with_fewer_prompts_returns_exactly_those(tiny_qwen3, tmp_path):
    """run_sampling returns what this run asked for, even from a store that holds more."""
    from ssd_hf.prompts import prepare_prompts
    from ssd_hf.records import PromptOptions, SamplingParams
    from ssd_hf.sampling.engines.native import TransformersEngine
    from ssd_hf.sampling.runner import run_sampling

    options = PromptOptions()
    prompts = prepare_prompts([{"prompt": f"Print {i}."} for i in range(3)], options)
    engine = TransformersEngine(tiny_qwen3)
    params = SamplingParams(temperature=1.0, top_k=20, top_p=0.8, max_new_tokens=4, seed=0)
    first = run_sampling(prompts, engine, params, options, str(tmp_path), num_samples_per_prompt=1)
    again = run_sampling(prompts[:2], engine, params, options, str(tmp_path), num_samples_per_prompt=1)
    assert len(first) == 3 and sorted(again["prompt_id"]) == sorted(p.prompt_id for p in prompts[:2])
    assert again["completion"] == [r["completion"] for r in first if r["prompt_id"] in set(again["prompt_id"])]
