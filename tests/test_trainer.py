"""SSDTrainer: completion-only cross-entropy on the samples lowers their loss, full and LoRA, on each architecture."""

import pytest
from datasets import Dataset
from peft import LoraConfig

from ssd_hf import SSDConfig, SSDError, SSDTrainer
from ssd_hf.training_rows import build_training_rows

COMPLETIONS = [
    "```python\nn = int(input())\nprint(n * 2)\n```",
    "```python\nimport sys\nvalues = sys.stdin.read().split()\nprint(sum(map(int, values)))\n```",
    "```python\ns = input()\nprint(s[::-1])\n```",
    "```python\nclass Solution:\n    def f(self, x):\n        return x + 1\n```",
]


def samples_dataset(model_id):
    rows = []
    for i in range(16):
        rows.append({
            "prompt": [{"role": "user", "content": f"Problem {i}: write a program."}],
            "completion": COMPLETIONS[i % len(COMPLETIONS)],
            "model_id": model_id,
        })
    return Dataset.from_list(rows)


def to_training_rows(samples, model):
    """The rows SSDTrainer trains on, for an eval set of the same samples."""
    from transformers import AutoTokenizer

    return build_training_rows(samples, AutoTokenizer.from_pretrained(model))[0]


def config(tmp_path, **overrides):
    values = dict(
        output_dir=str(tmp_path / "out"), max_steps=12, per_device_train_batch_size=8, learning_rate=3e-3,
        warmup_steps=0, report_to="none", save_strategy="no", gradient_checkpointing=False, max_length=512,
        logging_steps=1, per_device_eval_batch_size=16,
    )
    values.update(overrides)
    return SSDConfig(**values)


def _loss_drops(trainer):
    before = trainer.evaluate()["eval_loss"]
    trainer.train()
    after = trainer.evaluate()["eval_loss"]
    assert after < before - 0.3, (before, after)


@pytest.mark.parametrize("fixture", ["tiny_qwen3", "tiny_llama", "tiny_qwen3_moe"])
def test_full_fine_tuning_lowers_loss_on_samples(fixture, request, tmp_path):
    model = request.getfixturevalue(fixture)
    samples = samples_dataset(model)
    trainer = SSDTrainer(model=model, args=config(tmp_path), train_dataset=samples, eval_dataset=to_training_rows(samples, model))
    assert trainer.completion_only_loss  # prompt tokens never enter the loss
    _loss_drops(trainer)


def test_lora_lowers_loss_and_only_trains_adapters(tiny_qwen3, tmp_path):
    samples = samples_dataset(tiny_qwen3)
    lora = LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "o_proj"], task_type="CAUSAL_LM")
    trainer = SSDTrainer(
        model=tiny_qwen3, args=config(tmp_path, learning_rate=2e-2), train_dataset=samples,
        eval_dataset=to_training_rows(samples, tiny_qwen3), peft_config=lora,
    )
    trainable = [name for name, p in trainer.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    _loss_drops(trainer)


def test_labels_cover_only_completion_tokens(tiny_qwen3, tmp_path):
    trainer = SSDTrainer(model=tiny_qwen3, args=config(tmp_path), train_dataset=samples_dataset(tiny_qwen3))
    example = trainer.train_dataset[0]
    tokenizer = trainer.processing_class
    completion_ids = [label for label in example["labels"] if label != -100]
    text = tokenizer.decode(completion_ids)
    assert text.startswith("```python") and "Problem 0" not in text


def test_filters_drop_stubs_and_all_filtered_is_clear(tiny_qwen3, tmp_path):
    rows = samples_dataset(tiny_qwen3).to_list()
    rows[0]["completion"], rows[1]["completion"] = "", "```python\npass\n```"
    trainer = SSDTrainer(model=tiny_qwen3, args=config(tmp_path), train_dataset=Dataset.from_list(rows))
    assert trainer._filter_stats["removed"] == {"empty_or_stub": 2} and len(trainer.train_dataset) == 14
    stubs = Dataset.from_list([{**rows[1], "completion": "x = 1"} for _ in range(4)])
    with pytest.raises(SSDError, match="filtered out"):
        SSDTrainer(model=tiny_qwen3, args=config(tmp_path), train_dataset=stubs)


def test_samples_first_from_frozen_base_then_train(tiny_qwen3, tmp_path):
    prompts = Dataset.from_list([{"question": f"Print the number {i}."} for i in range(6)])
    args = config(tmp_path, max_steps=2, max_new_tokens=16, num_samples_per_prompt=2, drop_empty_and_stubs=False)
    trainer = SSDTrainer(model=tiny_qwen3, args=args, train_dataset=prompts)
    assert trainer._pending_prompts is not None  # nothing sampled at construction
    trainer.train()
    assert len(trainer._samples) == 12 and trainer.state.global_step == 2
    assert set(trainer._samples["engine"]) == {"transformers"}
