"""SSD trains on exactly what the model sampled: token-exact rows under chat templates that behave like real
ones (a thinking template that opens the reasoning in the generation prompt and re-splits an assistant message
at its end marker; a system header stamped with the current date), truncated samples kept or dropped, and
published samples in the common foreign formats."""

from __future__ import annotations

import json
import os

import pytest
from datasets import Dataset

from ssd_hf import SSDError
from ssd_hf.tiny import build_tiny_tokenizer
from ssd_hf.training_rows import build_training_rows, rendered_row

# Behaves like Qwen3-Thinking's template (our own writing): the generation prompt opens "<think>\n"; an
# assistant message is split at "</think>" and re-rendered around it, the reasoning stripped of newlines.
THINKING_TEMPLATE = (
    "{%- for message in messages -%}"
    "{%- if message['role'] == 'assistant' -%}"
    "{%- set content = message['content'] -%}{%- set reasoning = '' -%}"
    "{%- if '</think>' in content -%}"
    "{%- set reasoning = content.split('</think>')[0].split('<think>')[-1].strip('\\n') -%}"
    "{%- set content = content.split('</think>')[-1].lstrip('\\n') -%}"
    "{%- endif -%}"
    "{{ '<|im_start|>assistant\\n<think>\\n' + reasoning + '\\n</think>\\n\\n' + content + '<|im_end|>\\n' }}"
    "{%- else -%}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{%- endif -%}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n<think>\\n' }}{%- endif -%}"
)
# Behaves like Llama 3.1's: the system header carries the day the prompt is rendered.
DATED_TEMPLATE = (
    "{%- if date_string is not defined -%}{%- set date_string = strftime_now('%d %b %Y') -%}{%- endif -%}"
    "{{ '<|im_start|>system\\nToday Date: ' + date_string + '<|im_end|>\\n' }}"
    "{%- for message in messages -%}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}{%- endif -%}"
)
PROMPT = [{"role": "user", "content": "Add two numbers read from stdin."}]
CASES = {  # completion text as sampled after the generation prompt, finish reason
    "finished": ("I read a and b, then print the sum.\n</think>\n\n```python\nprint(sum(map(int, input().split())))\n```", "stop"),
    "cut_in_reasoning": ("I read a and b, then I should think about", "length"),
    "cut_in_answer": ("Easy.\n</think>\n\n```python\na, b = map(int, in", "length"),
}


def tokenizer_with(template: str):
    tokenizer = build_tiny_tokenizer()
    tokenizer.chat_template = template
    return tokenizer


def sampled(tokenizer, text: str, finish: str, **template_kwargs) -> dict:
    """A samples record as an engine writes it: prompt ids, completion ids (with the stop token when it stopped)."""
    prompt_ids = list(tokenizer.apply_chat_template(PROMPT, add_generation_prompt=True, tokenize=True, **template_kwargs)
                      ["input_ids"])
    completion_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    if finish == "stop":
        completion_ids.append(tokenizer.eos_token_id)
    return {"prompt": PROMPT, "completion": text, "finish_reason": finish, "prompt_token_ids": prompt_ids,
            "completion_token_ids": completion_ids, "token_ids": "engine"}


@pytest.mark.parametrize("case", sorted(CASES))
def test_thinking_template_trains_on_the_sampled_ids(case):
    tokenizer = tokenizer_with(THINKING_TEMPLATE)
    record = sampled(tokenizer, *CASES[case])
    rows, report = build_training_rows(Dataset.from_list([record]), tokenizer)
    row = rows[0]
    assert row["input_ids"] == record["prompt_token_ids"] + record["completion_token_ids"]
    assert row["completion_mask"] == [0] * len(record["prompt_token_ids"]) + [1] * len(record["completion_token_ids"])
    assert report.from_token_ids == 1 and report.truncated == (CASES[case][1] == "length")
    if case == "cut_in_reasoning":
        # What re-rendering through the template trains on instead: the reasoning closed at once and the
        # unfinished reasoning taught as the answer.
        rerendered = rendered_row({**record, "finish_reason": "stop"}, tokenizer, True)
        target = tokenizer.decode(rerendered["input_ids"][len(record["prompt_token_ids"]):])
        assert target.startswith("\n</think>\n\nI read a and b") and target != record["completion"]


def test_dated_system_header_keeps_the_sampling_day():
    tokenizer = tokenizer_with(DATED_TEMPLATE)
    record = sampled(tokenizer, *CASES["finished"], date_string="28 Nov 2026")  # sampled yesterday
    rows, _ = build_training_rows(Dataset.from_list([record]), tokenizer)
    assert rows[0]["input_ids"][: len(record["prompt_token_ids"])] == record["prompt_token_ids"]
    assert "Today Date: 28 Nov 2026" in tokenizer.decode(rows[0]["input_ids"])


def test_truncated_samples_kept_or_dropped_and_no_end_added_to_them():
    tokenizer = tokenizer_with(THINKING_TEMPLATE)
    records = [sampled(tokenizer, *CASES[case]) for case in sorted(CASES)]
    kept, report = build_training_rows(Dataset.from_list(records), tokenizer, truncated="keep")
    assert len(kept) == 3 and report.truncated == 2 and report.truncated_dropped == 0
    assert all(row["input_ids"][-1] != tokenizer.eos_token_id for row, r in zip(kept, records) if r["finish_reason"] == "length")
    dropped, report = build_training_rows(Dataset.from_list(records), tokenizer, truncated="drop")
    assert len(dropped) == 1 and report.truncated_dropped == 2
    with pytest.raises(SSDError, match="truncated_samples=drop"):
        build_training_rows(Dataset.from_list(records[:0] + [records[0]]), tokenizer, truncated="drop")


def test_samples_without_ids_go_through_the_template_and_a_broken_template_is_refused():
    tokenizer = tokenizer_with(DATED_TEMPLATE)
    plain = {"prompt": PROMPT, "completion": "print(1)\nprint(2)", "finish_reason": "stop"}
    rows, report = build_training_rows(Dataset.from_list([plain]), tokenizer)
    assert report.from_chat_template == 1 and tokenizer.decode(rows[0]["input_ids"]).endswith("print(2)<|im_end|>\n")
    # A template that renders a prompt alone differently than inside its conversation cannot be trained through.
    broken = tokenizer_with(THINKING_TEMPLATE.replace("'<|im_start|>assistant\\n<think>\\n' }}{%- endif", "'<|im_start|>assistant\\n<answer>\\n' }}{%- endif"))
    with pytest.raises(SSDError, match="renders a prompt differently"):
        build_training_rows(Dataset.from_list([plain]), broken)


@pytest.fixture(scope="module")
def thinking_model(tiny_qwen3, tmp_path_factory):
    """The tiny Qwen3 with the thinking-style template."""
    import shutil

    from transformers import AutoTokenizer

    folder = str(tmp_path_factory.mktemp("thinking") / "tiny-qwen3-thinking")
    shutil.copytree(tiny_qwen3, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.chat_template = THINKING_TEMPLATE
    tokenizer.save_pretrained(folder)
    return folder


def test_run_on_a_thinking_model_trains_on_every_sample_as_sampled(thinking_model, tmp_path):
    """`ssd-hf run` with a budget so small most samples truncate: every training row is prompt + completion
    as sampled, and both cards state how many samples were truncated and what was done with them."""
    from ssd_hf import SSDConfig, SSDTrainer
    from ssd_hf.cli import main
    from ssd_hf.commands.card import render
    from ssd_hf.data import load_samples

    out = str(tmp_path / "run")
    prompts = os.path.join(os.path.dirname(__file__), "..", "ssd_hf", "data", "demo_prompts.jsonl")
    assert main(["run", "--model_name_or_path", thinking_model, "--dataset_name", prompts, "--output_dir", out,
                 "--max_prompts", "12", "--max_new_tokens", "6", "--max_steps", "1", "--per_device_train_batch_size", "4",
                 "--report_to", "none", "--save_strategy", "no", "--gradient_checkpointing", "false",
                 "--drop_empty_and_stubs", "false", "--engine", "transformers"]) == 0
    samples = load_samples(os.path.join(out, "samples"))
    truncated = sum(r == "length" for r in samples["finish_reason"])
    assert truncated > len(samples) // 2
    trainer = SSDTrainer(model=thinking_model, args=SSDConfig(
        output_dir=str(tmp_path / "check"), samples_dataset=os.path.join(out, "samples"), report_to="none",
        drop_empty_and_stubs=False, max_length=4096))
    tokenizer = trainer.processing_class
    for record, row in zip(samples, trainer.train_dataset):
        expected = record["prompt_token_ids"] + record["completion_token_ids"]
        assert row["input_ids"] == expected
        assert tokenizer.decode(row["input_ids"]) == tokenizer.decode(record["prompt_token_ids"]) + \
            tokenizer.decode(record["completion_token_ids"])
    model_card, dataset_card = render(out), render(os.path.join(out, "samples"))
    assert f"{truncated} samples hit the max-new-tokens budget and were kept as sampled" in model_card
    assert f"{truncated} of {len(samples)} samples hit the" in dataset_card and "recorded by that run" in dataset_card
    assert "| samples that hit max new tokens (`truncated_samples`) | keep | 0 |" in dataset_card


def foreign_files(folder) -> dict:
    """One published-samples file in each common format."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    pairs = [(f"Print {i} twice.", f"print({i})\nprint({i})") for i in range(6)]
    files = {"trl-messages": folder / "messages.jsonl", "trl-prompt-completion": folder / "prompt_completion.jsonl",
             "ml-ssd-parquet": folder / "ml-ssd" / "train.parquet"}
    files["trl-messages"].write_text("".join(json.dumps({"messages": [{"role": "user", "content": q},
                                                                       {"role": "assistant", "content": a}]}) + "\n"
                                             for q, a in pairs))
    files["trl-prompt-completion"].write_text("".join(json.dumps({"prompt": [{"role": "user", "content": q}],
                                                                  "completion": [{"role": "assistant", "content": a}]}) + "\n"
                                                      for q, a in pairs))
    files["ml-ssd-parquet"].parent.mkdir()
    pq.write_table(pa.table({"question": [q for q, _ in pairs], "prompt": [q for q, _ in pairs],
                             "output": [a for _, a in pairs]}), str(files["ml-ssd-parquet"]))
    return files


@pytest.mark.parametrize("kind", ["trl-messages", "trl-prompt-completion", "ml-ssd-parquet"])
def test_train_on_published_samples_in_foreign_formats(kind, tiny_qwen3, tmp_path):
    from ssd_hf.cli import main

    path = foreign_files(tmp_path)[kind]
    out = str(tmp_path / "model")
    assert main(["train", "--model_name_or_path", tiny_qwen3, "--samples_dataset", str(path), "--output_dir", out,
                 "--max_steps", "1", "--per_device_train_batch_size", "2", "--report_to", "none",
                 "--save_strategy", "no", "--gradient_checkpointing", "false"]) == 0
    with open(os.path.join(out, "ssd_provenance.json")) as handle:
        provenance = json.load(handle)
    assert provenance["num_train_records"] == 6 and provenance["filters"]["from_chat_template"] == 6
