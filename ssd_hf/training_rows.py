"""What SSD trains on: the token sequence the model sampled, as TRL's pre-tokenized rows.

A sample that carries its token ids trains on exactly them: `input_ids` = prompt ids + completion ids,
`completion_mask` marks the completion, and an end-of-turn token is appended only when the sample stopped
on its own and the engine did not already return its stop token. Nothing is re-rendered, so a thinking
model's unfinished reasoning stays unfinished, a dated system header keeps its sampling-day date, and
whitespace is what the model produced. A sample that hit `max_new_tokens` is kept as sampled (the
paper keeps everything) or dropped (`truncated_samples: drop`).

Samples without token ids (pulled from the Hub, made by other tools) are rendered through the chat
template, once each: the prompt rendered for generation must be a prefix of the rendered conversation,
or the run stops with one line, since the model would otherwise learn from a context it never sees.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .errors import SSDError
from .prompts import apply_chat_template

logger = logging.getLogger(__name__)


@dataclass
class RowsReport:
    """How the training rows were built, for the log and the cards."""

    from_token_ids: int = 0
    from_chat_template: int = 0
    truncated: int = 0
    truncated_dropped: int = 0


def has_token_ids(row: dict) -> bool:
    return bool(row.get("prompt_token_ids")) and row.get("completion_token_ids") is not None


def stop_ids(tokenizer, model_eos: int | list[int] | None = None) -> set[int]:
    """The tokens that end a turn: the tokenizer's EOS (the chat template's end-of-turn) and the model's EOS ids."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    ids.update(model_eos if isinstance(model_eos, list) else [model_eos] if model_eos is not None else [])
    return ids


def check_token_ids(row: dict, vocabulary: int) -> None:
    """Token ids from another tokenizer would index past the embedding (an IndexError deep in training)."""
    largest = max([*row["prompt_token_ids"], *row["completion_token_ids"], 0])
    if largest >= vocabulary:
        raise SSDError(f"the samples hold token id {largest}, but this model's tokenizer has {vocabulary} tokens: they "
                       "were drawn with another tokenizer; train the model they were sampled from, or sample again.")


def sampled_row(row: dict, end_of_turn: int | None, stops: set[int]) -> dict:
    """The sampled sequence as one training row (the completion is what the loss sees)."""
    prompt, completion = list(row["prompt_token_ids"]), list(row["completion_token_ids"])
    stopped = row.get("finish_reason") == "stop"
    if stopped and end_of_turn is not None and not (completion and completion[-1] in stops):
        completion.append(end_of_turn)  # the engine stopped on a stop string or dropped the token: add the end
    return {"input_ids": prompt + completion, "completion_mask": [0] * len(prompt) + [1] * len(completion)}


def rendered_row(row: dict, tokenizer, use_chat_template: bool) -> dict:
    """A sample without token ids, rendered through the chat template (or joined as plain text without one)."""
    prompt_ids = apply_chat_template(tokenizer, row["prompt"], use_chat_template)
    stopped = row.get("finish_reason") in (None, "stop")
    if stopped and use_chat_template and getattr(tokenizer, "chat_template", None):
        conversation = [*row["prompt"], {"role": "assistant", "content": row["completion"]}]
        full = tokenizer.apply_chat_template(conversation, tokenize=True)
        full = list(full["input_ids"] if hasattr(full, "keys") else full)
        if full[: len(prompt_ids)] != prompt_ids:
            raise SSDError(
                "the chat template renders a prompt differently alone than inside its conversation, so training "
                "through it would not match what the model saw when sampling; resample with ssd-hf (its samples "
                "carry token ids) or fix the template."
            )
    else:  # no template, or a sample cut off by the budget: its text as is, an end only when it stopped
        full = prompt_ids + tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
        if stopped and tokenizer.eos_token_id is not None:
            full.append(tokenizer.eos_token_id)
    return {"input_ids": full, "completion_mask": [0] * len(prompt_ids) + [1] * (len(full) - len(prompt_ids))}


def build_training_rows(samples, tokenizer, use_chat_template: bool = True, truncated: str = "keep",
                        stops: set[int] | None = None):
    """(pre-tokenized `datasets.Dataset` of input_ids + completion_mask, RowsReport) from a samples dataset."""
    from datasets import Dataset

    report, rows = RowsReport(), []
    stops = stops if stops is not None else stop_ids(tokenizer)
    for row in samples:
        if row.get("finish_reason") == "length":
            report.truncated += 1
            if truncated == "drop":
                report.truncated_dropped += 1
                continue
        if has_token_ids(row):
            check_token_ids(row, len(tokenizer))
            rows.append(sampled_row(row, tokenizer.eos_token_id, stops))
            report.from_token_ids += 1
        else:
            rows.append(rendered_row(row, tokenizer, use_chat_template))
            report.from_chat_template += 1
    if report.from_chat_template:
        logger.info("%d of %d samples carry no token ids: rendered through the chat template", report.from_chat_template,
                    report.from_chat_template + report.from_token_ids)
    if report.truncated:
        verb = "dropped" if truncated == "drop" else "kept as sampled"
        logger.info("%d samples hit max_new_tokens: %s (truncated_samples=%s)", report.truncated, verb, truncated)
    if not rows:
        raise SSDError(f"all {report.truncated} samples hit max_new_tokens and truncated_samples=drop removed them; "
                       "raise max_new_tokens, or keep them with --truncated_samples keep.")
    return Dataset.from_list(rows), report
