"""Artifacts of a tiny SSD run for the Hub tests: a samples dir, an adapter, a full model, results files.

Built with the real store, the real tiny model builder and peft; the provenance file is written by hand
with the schema `SSDTrainer.provenance()` records.
"""

from __future__ import annotations

import json
import os
import shutil

from ssd_hf.records import SamplesManifest
from ssd_hf.sampling.store import RECORD_FIELDS, SampleStore

BASE_MODEL = "tester/tiny-base"
SAMPLES_REPO = "tester/ssd-samples-tiny"
PROMPTS_REVISION = "5e0c1d2b3a4f59687766554433221100ffeeddcc"  # the commit of tester/prompts the run read
COMPLETIONS = [
    "```python\nn = int(input())\nprint(n * 2)\n```",
    "```python\nprint(1)\n```",  # a single-line stub
    "",  # empty
    "```python\nimport sys\nfor line in sys.stdin:\n    print(line.strip()[::-1])\n```",
    "def f(x):\n    return x + 1\n",
    "```python\na, b = map(int, input().split())\nprint(a + b)\nprint(a - b)\n```",
]


def make_samples_dir(root: str, model_id: str = BASE_MODEL) -> str:
    """`model_id` may be a local path, as when the base model was given as a folder."""
    manifest = {"model_id": model_id, "model_revision": "abc1234", "engines": ["transformers"],
                "sampling": {"temperature": 1.6, "top_k": 20, "top_p": 0.8, "max_new_tokens": 64, "seed": 7},
                "prompts": {"template": "lcb", "system_prompt": None, "use_chat_template": True},
                "num_samples_per_prompt": 2, "num_prompts": 3,
                "prompt_pool": {"name": "tester/prompts", "config": None, "split": "train", "revision": PROMPTS_REVISION,
                                "num_rows": 3, "num_prompts": 3}}
    store = SampleStore(root, "cfg123", manifest=SamplesManifest.from_dict(manifest))
    records = []
    for index, completion in enumerate(COMPLETIONS):
        row = {name: None for name in RECORD_FIELDS}
        row.update(prompt_id=f"p{index // 2}", sample_index=index % 2, source_id=f"q{index // 2}",
                   prompt=[{"role": "user", "content": f"question {index // 2}"}], completion=completion,
                   model_id=model_id, model_revision="abc1234", engine="transformers", temperature=1.6, top_k=20,
                   top_p=0.8, max_new_tokens=64, seed=7 + index, finish_reason="stop", prompt_tokens=4,
                   completion_tokens=3 + 5 * index, sampling_config_hash="cfg123")
        records.append(row)
    store.write_shard(records)
    store.finalize()
    return root


def provenance(adapter: bool) -> dict:
    return {
        "base_model": BASE_MODEL, "base_model_revision": "abc1234", "samples_dataset": SAMPLES_REPO,
        "samples_fingerprint": "f00d", "num_samples": 6, "num_train_records": 4,
        "filters": {"drop_empty_and_stubs": True, "drop_shortest_fraction": 0.0, "removed": {"empty_or_stub": 2}},
        "sampling": {"temperature": 1.6, "top_k": 20, "top_p": 0.8, "max_new_tokens": 64, "seed": 7,
                     "num_samples_per_prompt": 2, "engine": "transformers"},
        "prompt_pool": {"name": "tester/prompts", "split": "train", "revision": PROMPTS_REVISION, "num_rows": 3},
        "training": {"learning_rate": 0.0005, "num_train_epochs": 1, "max_steps": 2, "global_batch_size": 2,
                     "max_length": 128, "peft": adapter, "lora_r": 4 if adapter else None,
                     "lora_alpha": 8 if adapter else None},
        "adapter": adapter,
    }


def make_full_model_dir(tiny_model: str, root: str) -> str:
    shutil.copytree(tiny_model, root)
    with open(os.path.join(root, "ssd_provenance.json"), "w") as handle:
        json.dump(provenance(False), handle)
    # Trainer leftovers that must never be pushed.
    os.makedirs(os.path.join(root, "checkpoint-1"))
    with open(os.path.join(root, "checkpoint-1", "optimizer.pt"), "wb") as handle:
        handle.write(b"state")
    return root


def make_adapter_dir(tiny_model: str, root: str) -> str:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(root)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(root)
    with open(os.path.join(root, "ssd_provenance.json"), "w") as handle:
        json.dump(provenance(True), handle)
    return root


def results(model: str, scale: float) -> dict:
    def metric(value):
        return {"value": value, "ci_low": max(0.0, value - 0.1), "ci_high": min(1.0, value + 0.1)}

    aggregates = {name: {"num_problems": count, "pass@1": metric(round(p1 * scale, 4)), "pass@5": metric(round(min(1.0, 1.5 * p1 * scale), 4))}
                  for name, count, p1 in (("all", 6, 0.4), ("easy", 2, 0.6), ("medium", 2, 0.4), ("hard", 2, 0.2))}
    return {"schema_version": 1, "benchmark": "lcb-v6",
            "config": {"model": model, "model_revision": None,
                       "decoding": {"temperature": 1.1, "top_k": 20, "top_p": 0.8, "max_new_tokens": 64},
                       "n": 5, "seed": 0, "problem_selection": {"description": "tiny", "count": 6, "question_ids": []}},
            "aggregates": aggregates, "problems": [], "samples": []}
