"""Run by every supported transformers version (tests/test_transformers_versions.py): draw seeded samples with
the native engine on both of its paths and take two SSDTrainer steps; prints one JSON line."""

import json
import sys
import tempfile

import transformers
from datasets import Dataset

from ssd_hf import SSDConfig, SSDTrainer
from ssd_hf.prompts import prepare_prompts
from ssd_hf.records import PromptOptions, SamplingParams
from ssd_hf.sampling.engines.native import TransformersEngine
from ssd_hf.sampling.engines.seeded_sampler import seeded_continuous_batching_supported
from ssd_hf.sampling.runner import build_requests

model = sys.argv[1]
prompts = prepare_prompts([{"prompt": f"Print the number {i}."} for i in range(6)], PromptOptions())
requests = build_requests(prompts, 2, 0)
params = SamplingParams(temperature=1.0, top_k=20, top_p=0.9, max_new_tokens=16, seed=0)
engine = TransformersEngine(model)
report = {"version": transformers.__version__, "continuous_batching": seeded_continuous_batching_supported()}
for path, continuous in (("continuous", True), ("padded", False)):
    engine.continuous_batching = continuous and report["continuous_batching"]
    report[path] = sorted([s.request.key, s.completion_token_ids] for s in engine.generate(requests, params))
rows = [{"prompt": [{"role": "user", "content": f"q{i}"}], "completion": "print(1)\nprint(2)"} for i in range(4)]
with tempfile.TemporaryDirectory() as out:
    args = SSDConfig(output_dir=out, max_steps=2, per_device_train_batch_size=2, report_to="none", save_strategy="no",
                     gradient_checkpointing=False, learning_rate=1e-3, warmup_steps=0)
    trainer = SSDTrainer(model=model, args=args, train_dataset=Dataset.from_list(rows))
    report["train_loss"] = trainer.train().training_loss
print("REPORT " + json.dumps(report))
