"""Prompt pools: LCB-style rendering, de-duplication, column shapes, the paper's rStar selection."""

import pytest
from datasets import Dataset

from ssd_hf import SSDError
from ssd_hf.prompts import apply_chat_template, prepare_prompts, render_user_text
from ssd_hf.records import PromptOptions


def test_stdin_and_starter_code_forms():
    stdin = render_user_text("Sum two numbers.", None)
    assert "Sum two numbers." in stdin and "stdin" in stdin and "starter code" not in stdin
    starter = render_user_text("Two sum.", "class Solution:\n    def twoSum(self, nums, target):\n        ")
    assert "starter code" in starter and "def twoSum" in starter and "stdin" not in starter
    assert starter.index("Two sum.") < starter.index("def twoSum")


def test_deduplicates_on_whitespace_normalised_statement():
    rows = [{"question": "Add  two\nnumbers."}, {"question": "Add two numbers. "}, {"question": "Multiply."}]
    items = prepare_prompts(Dataset.from_list(rows), PromptOptions())
    assert len(items) == 2
    assert len(prepare_prompts(rows, PromptOptions(), deduplicate=False)) == 3


def test_prompt_column_string_and_messages():
    options = PromptOptions(system_prompt="SYS")
    [item] = prepare_prompts([{"prompt": "write fizzbuzz"}], options)
    assert item.messages == [{"role": "system", "content": "SYS"}, {"role": "user", "content": "write fizzbuzz"}]
    messages = [{"role": "user", "content": "hello"}]
    [item] = prepare_prompts([{"prompt": messages}], options)
    assert item.messages == messages  # chat messages are used as given
    # Same messages, same id: the id is what the sample store keys on.
    assert prepare_prompts([{"prompt": messages}], options)[0].prompt_id == item.prompt_id


def test_missing_prompt_column_is_one_clear_line():
    with pytest.raises(SSDError, match="no 'prompt' or 'question' column .*text"):
        prepare_prompts([{"text": "x"}], PromptOptions(), source="my.jsonl")


def test_empty_pool():
    with pytest.raises(SSDError, match="is empty"):
        prepare_prompts([], PromptOptions())


def test_paper_selection_keeps_passed_rows_one_per_question():
    rows = [
        {"question_id": "a", "question": "A", "is_passed": True},
        {"question_id": "a", "question": "A other wording", "is_passed": True},
        {"question_id": "b", "question": "B", "is_passed": False},
        {"question_id": "c", "question": "C", "is_passed": True},
    ]
    items = prepare_prompts(rows, PromptOptions(), paper_selection=True)
    assert [i.source_id for i in items] == ["a", "c"]


def test_chat_template_switch(tiny_qwen3):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen3)
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    with_template = tokenizer.decode(apply_chat_template(tokenizer, messages, True))
    assert with_template.startswith("<|im_start|>system\nS<|im_end|>") and with_template.endswith("<|im_start|>assistant\n")
    without = tokenizer.decode(apply_chat_template(tokenizer, messages, False))
    assert "<|im_start|>" not in without and "S\n\nU" in without


def test_kept_duplicates_get_their_own_ids():
    """deduplicate_prompts=False (the public script's pool): each repeat is sampled on its own."""
    rows = [{"prompt": "Print 1."}, {"prompt": "Print 1."}, {"prompt": "Print 2."}]
    items = prepare_prompts(rows, PromptOptions(), deduplicate=False)
    assert len(items) == 3 and len({item.prompt_id for item in items}) == 3
    assert items[0].prompt_id == prepare_prompts(rows, PromptOptions())[0].prompt_id  # first occurrence unchanged



def test_ml_ssd_template_is_one_user_turn_in_the_public_pipelines_form():
    from ssd_hf.prompts import MLSSD_INTRO

    options = PromptOptions(template="ml-ssd", system_prompt="a system prompt the public pipeline never sends")
    stdin, starter = prepare_prompts([{"question": "Sum two numbers."},
                                      {"question": "Two sum.", "starter_code": "class Solution:\n    def f(self):"}], options)
    for item in (stdin, starter):
        assert [m["role"] for m in item.messages] == ["user"] and item.messages[0]["content"].startswith(MLSSD_INTRO)
    assert "Question: Sum two numbers." in stdin.messages[0]["content"] and "stdin" in stdin.messages[0]["content"]
    assert starter.messages[0]["content"].endswith("```python\nclass Solution:\n    def f(self):\n```")
