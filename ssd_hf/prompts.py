"""Prompt pools: load, normalise, de-duplicate, and render LiveCodeBench-style user text.

A pool row becomes a `PromptItem`: a stable id (hash of the rendered messages), the id of the source
problem, and the chat messages sent to the model. Three row shapes are understood:
- rStar-Coder / LiveCodeBench rows: `question` (or `question_content`) plus optional `starter_code`;
- plain `prompt` rows holding a string;
- plain `prompt` rows holding chat messages (`[{"role": ..., "content": ...}]`), used as they are.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from .errors import SSDError
from .records import PromptOptions, stable_hash

logger = logging.getLogger(__name__)

QUESTION_COLUMNS = ("question", "question_content", "problem")

STDIN_INSTRUCTION = (
    "Read the inputs from stdin, solve the problem and write the answer to stdout "
    "(do not test directly on the sample inputs). Give your program in a single ```python code block."
)
STARTER_INSTRUCTION = (
    "Complete the following starter code to solve the problem, and give the whole solution in a single "
    "```python code block."
)
# The public SSD pipeline's prompt form (apple/ml-ssd), in our own words: one user turn, no system prompt, an
# introduction, "Question:" and the statement, then the stdin instruction with an empty code block, or the starter
# code in a code block.
MLSSD_INTRO = ("You are given a programming problem. Write a correct Python program that meets the specification "
               "and passes all tests, and return nothing but the program.")
MLSSD_STDIN = ("Read the input from stdin, solve the problem and print the answer to stdout (do not just test on "
               "the sample inputs). Put your code between the delimiters below; when run, the program must read "
               "the input, run the algorithm and write the result to STDOUT.\n```python\n  # YOUR CODE HERE\n```")
MLSSD_STARTER = "Use the starter code below for your solution and put your code between the delimiters.\n```python\n"


@dataclass(frozen=True)
class PromptItem:
    """One prompt as the sampler sees it."""

    prompt_id: str
    source_id: str
    messages: list[dict]


def normalise_statement(text: str) -> str:
    """Collapse all whitespace runs to one space: the paper de-duplicates on this form."""
    return re.sub(r"\s+", " ", text).strip()


def mlssd_user_text(question: str, starter_code: str | None, open_starter: bool = False) -> str:
    """The public pipeline's user turn: stdin form, or the starter code in a block (left open in its evaluation
    prompts, closed in its data generation)."""
    head = f"{MLSSD_INTRO}\n\nQuestion: {question}\n\n"
    if starter_code and starter_code.strip():
        return head + MLSSD_STARTER + starter_code + ("\n" if open_starter else "\n```")
    return head + MLSSD_STDIN


def render_user_text(question: str, starter_code: str | None, template: str = "lcb") -> str:
    """The user turn for a coding problem: stdin form, or starter-code form when starter code exists."""
    if template == "ml-ssd":
        return mlssd_user_text(question, starter_code)
    question = question.strip()
    if template == "plain":
        return question if not starter_code else f"{question}\n\n```python\n{starter_code.rstrip()}\n```"
    if starter_code and starter_code.strip():
        return f"### Question:\n{question}\n\n### Format:\n{STARTER_INSTRUCTION}\n```python\n{starter_code.rstrip()}\n```\n\n### Answer:\n"
    return f"### Question:\n{question}\n\n### Format:\n{STDIN_INSTRUCTION}\n\n### Answer:\n"


def build_messages(user_text: str, options: PromptOptions) -> list[dict]:
    messages = []
    if options.system_prompt and options.template != "ml-ssd":  # the public pipeline sends the user turn only
        messages.append({"role": "system", "content": options.system_prompt})
    messages.append({"role": "user", "content": user_text})
    return messages


def _is_messages(value) -> bool:
    return isinstance(value, list) and all(isinstance(m, dict) and "role" in m and "content" in m for m in value)


def _row_messages(row: dict, options: PromptOptions) -> tuple[list[dict], str]:
    """Messages for one row, and the statement used for de-duplication."""
    if "prompt" in row and row["prompt"] is not None:
        prompt = row["prompt"]
        if _is_messages(prompt):
            statement = " ".join(str(m["content"]) for m in prompt if m["role"] != "system")
            return [dict(role=m["role"], content=m["content"]) for m in prompt], statement
        if isinstance(prompt, str):
            return build_messages(prompt, options), prompt
        raise SSDError(f"the 'prompt' column must hold strings or chat messages, found {type(prompt).__name__}.")
    for column in QUESTION_COLUMNS:
        if row.get(column):
            question = str(row[column])
            user_text = render_user_text(question, row.get("starter_code"), options.template)
            return build_messages(user_text, options), question
    raise SSDError("a prompt row has neither a 'prompt' nor a 'question' value; remove empty rows from the pool.")


def check_prompt_columns(column_names: list[str], source: str) -> None:
    if "prompt" not in column_names and not any(c in column_names for c in QUESTION_COLUMNS):
        raise SSDError(
            f"{source} has no 'prompt' or 'question' column (columns: {', '.join(column_names) or 'none'}); "
            "rename the column holding the problem statement to 'prompt'."
        )


def select_paper_pool(rows: list[dict]) -> list[dict]:
    """rStar-Coder seed_sft as the paper used it: rows whose `is_passed` is true, one per `question_id`."""
    if rows and ("question_id" not in rows[0] or "is_passed" not in rows[0]):
        raise SSDError("paper_prompt_selection needs 'question_id' and 'is_passed' columns (rStar-Coder seed_sft).")
    seen, kept = set(), []
    for row in rows:
        if row.get("is_passed") in (True, "True", "true", 1) and row["question_id"] not in seen:
            seen.add(row["question_id"])
            kept.append(row)
    return kept


def prepare_prompts(
    dataset,
    options: PromptOptions,
    deduplicate: bool = True,
    paper_selection: bool = False,
    max_prompts: int | None = None,
    source: str = "the prompt dataset",
) -> list[PromptItem]:
    """Turn a prompt pool (a `datasets.Dataset` or list of dicts) into de-duplicated `PromptItem`s."""
    rows = dataset.to_list() if hasattr(dataset, "to_list") else list(dataset)
    column_names = list(rows[0].keys()) if rows else list(getattr(dataset, "column_names", []) or [])
    if not rows:
        raise SSDError(f"{source} is empty; give a pool with at least one prompt.")
    check_prompt_columns(column_names, source)
    if paper_selection:
        before = len(rows)
        rows = select_paper_pool(rows)
        logger.info("Paper selection (is_passed, one per question_id): %d -> %d rows", before, len(rows))
    items, seen = [], set()
    duplicates = 0
    repeats: dict[str, int] = {}  # kept duplicates (deduplicate=False) get their own ids: their own samples
    for index, row in enumerate(rows):
        messages, statement = _row_messages(row, options)
        key = normalise_statement(statement)
        if deduplicate and key in seen:
            duplicates += 1
            continue
        seen.add(key)
        prompt_id = stable_hash(messages)
        repeats[prompt_id] = repeats.get(prompt_id, 0) + 1
        if repeats[prompt_id] > 1:
            prompt_id = stable_hash([messages, repeats[prompt_id]])
        source_id = str(row.get("question_id") or row.get("task_id") or row.get("id") or index)
        items.append(PromptItem(prompt_id=prompt_id, source_id=source_id, messages=messages))
    logger.info("Prompt pool: %d rows, %d duplicates removed, %d prompts kept", len(rows), duplicates, len(items))
    if max_prompts is not None:
        items = items[:max_prompts]
    return items


def apply_chat_template(tokenizer, messages: list[dict], use_chat_template: bool = True) -> list[int]:
    """Token ids of the prompt as the model should see it before generating its answer."""
    if use_chat_template and getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)
    # No chat template (public data script style): system text and user text, plain.
    text = "\n\n".join(m["content"] for m in messages)
    return tokenizer(text, add_special_tokens=True)["input_ids"]
