"""What an engine is: it turns `SampleRequest`s into `GeneratedSample`s, in any order, as they finish.

Engines (`sampling/engines/`) know how to generate; everything they share (which samples are missing,
seeds, sharding over processes, the store) lives in `runner.py`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

from ..prompts import PromptItem
from ..records import SamplingParams, stable_hash

TOKEN_IDS_FROM_ENGINE = "engine"  # the ids the model generated, as it generated them
TOKEN_IDS_RETOKENIZED = "retokenized"  # the server gave text only: ids are our tokenizer's reading of it


@dataclass(frozen=True)
class SampleRequest:
    """One sample to draw: which prompt, which index, and its own seed."""

    prompt: PromptItem
    sample_index: int
    seed: int
    max_new_tokens: int | None = None  # this request's own budget, when it differs from the run's (benchmarks)

    @property
    def key(self) -> str:
        return f"{self.prompt.prompt_id}:{self.sample_index}"


@dataclass
class GeneratedSample:
    """What an engine returns for one request.

    `completion_token_ids` are the generated ids including the stop token when the sample stopped on one;
    `completion` is their text without it. Together with `prompt_token_ids` they are the exact sequence the
    model produced, which is what SSD trains on.
    """

    request: SampleRequest
    completion: str
    finish_reason: str  # "stop" or "length"
    prompt_tokens: int
    completion_tokens: int
    prompt_token_ids: list[int] | None = None
    completion_token_ids: list[int] | None = None
    token_ids: str | None = TOKEN_IDS_FROM_ENGINE  # where the ids come from (see the constants above)
    model_id: str | None = None  # engines that learn the served model's id/revision report it here
    model_revision: str | None = None


class Engine(Protocol):
    name: str
    model_id: str
    model_revision: str
    # False for engines that must run on the main process only (servers are shared by all ranks).
    data_parallel: bool

    def generate(self, requests: list[SampleRequest], params: SamplingParams) -> Iterator[GeneratedSample]: ...

    def close(self) -> None: ...


def sample_seed(base_seed: int, prompt_id: str, sample_index: int) -> int:
    """A per-sample seed that does not depend on order, batch size or process count."""
    return int(stable_hash([base_seed, prompt_id, sample_index], length=8), 16) % (2**31 - 1)
