"""Seeded token draws for the native engine: a sample depends on its own seed, nothing else.

transformers draws every sequence's next token from one shared torch RNG (`torch.multinomial` over the
batch), so a sample's tokens depend on which other sequences share its batch and in what order: a
2-process run gives other completions than a 1-process run with the same seed, and the `seed` written
in each record would be a label, not a recipe. Here the draw is a function of (sample seed, position).

Gumbel-max: for the warped scores s (after temperature -> top-k -> top-p; filtered tokens at -inf) and
i.i.d. Gumbel noise g, argmax(s + g) is an exact draw from softmax(s). The noise of token v at sequence
position n of a sample is a hash of (seed, n, v), a counter-based generator like Philox, so it is the
same in any batch, process or device. The draw runs as the last logits processor and returns a one-hot
row (0 for the drawn token, -inf elsewhere): the softmax + multinomial (or argmax) that transformers
applies next can only pick that token.

Noise has 24 bits of resolution (uniforms in float32): tokens whose warped probability is below ~1e-7
relative to the top token are drawn slightly less often than they should be; top-k/top-p have removed
such tokens long before. Samples agree across batch layouts up to floating-point differences in the
logits themselves (a near-tie between two tokens' s + g can flip when the batch shape changes).
"""

from __future__ import annotations

import functools
import inspect
import logging

import torch
from transformers import LogitsProcessor
from transformers.generation.continuous_batching.cb_logits_processors import ContinuousBatchingLogitsProcessor

logger = logging.getLogger(__name__)

MASK32 = 0xFFFFFFFF
GOLDEN32 = 0x9E3779B9


def _mul32(x, c: int):
    """(x * c) mod 2**32 for x in [0, 2**32), in pieces so int64 tensors never overflow."""
    return (x * (c & 0xFFFF) + (((x * (c >> 16)) & 0xFFFF) << 16)) & MASK32


def mix32(x):
    """MurmurHash3's 32-bit finaliser: a bijection that scrambles every input bit. Works on ints and int64 tensors."""
    x = x ^ (x >> 16)
    x = _mul32(x, 0x85EBCA6B)
    x = x ^ (x >> 13)
    x = _mul32(x, 0xC2B2AE35)
    return x ^ (x >> 16)


def draw_key(seed: int, position: int) -> int:
    """The 32-bit key of one draw: which sample (seed) and which token of it (position in the sequence)."""
    return mix32(mix32((seed ^ GOLDEN32) & MASK32) ^ (position & MASK32))


def gumbel_noise(keys: torch.Tensor, token_ids: torch.Tensor) -> torch.Tensor:
    """Gumbel(0, 1) noise for token ids [B, M] of rows with keys [B, 1]: a pure function of (key, token id)."""
    bits = mix32(keys ^ mix32(token_ids))
    uniform = ((bits >> 8).to(torch.float32) + 0.5) / 2**24  # in (0, 1), never 0 or 1
    return -torch.log(-torch.log(uniform))


def seeded_draw(scores: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """One Gumbel-max draw per row of `scores` [B, V] with row keys `keys` [B]; returns one-hot scores."""
    keys = (keys.to(device=scores.device, dtype=torch.int64) & MASK32)[:, None]
    scores = scores.float()
    vocab = scores.shape[-1]
    survivors = int(torch.isfinite(scores).sum(dim=-1).max()) if scores.device.type == "cpu" else vocab
    if survivors < vocab:
        # Only tokens that survived top-k/top-p can win: hash just those (the same draw, a fraction of the work).
        # CPU only: on accelerators the data-dependent size would stop CUDA-graph capture.
        candidates, token_ids = torch.topk(scores, max(survivors, 1), dim=-1)
    else:
        candidates = scores
        token_ids = torch.arange(vocab, device=scores.device, dtype=torch.int64).expand_as(scores)
    winner = torch.argmax(candidates + gumbel_noise(keys, token_ids), dim=-1, keepdim=True)
    drawn = token_ids.gather(-1, winner)
    return torch.full_like(scores, float("-inf")).scatter(-1, drawn, 0.0)


def _as_int32(key: int) -> int:
    return key - 2**32 if key >= 2**31 else key


class SeededSampler(ContinuousBatchingLogitsProcessor):
    """The draw inside transformers' continuous batching: each request's seed travels as a per-request
    logits-processor argument (`add_request(..., seed=...)`), its position is the request's own counter."""

    supported_kwargs = {"seed": int}
    ignored_kwargs = ()

    def fill_defaults(self, int32_tensor: torch.Tensor) -> None:
        int32_tensor.fill_(0)

    def prepare_tensor_args(self, requests_with_new_token) -> torch.Tensor:
        # `position_offset` has already been advanced past this step's query: it is the new token's position.
        keys = [
            _as_int32(draw_key(r.state.logit_processor_kwargs.get("seed", 0), r.state.position_offset))
            for r in requests_with_new_token
        ]
        return torch.tensor(keys, dtype=torch.int32)

    def __call__(self, scores: torch.Tensor, tensor_arg: torch.Tensor) -> torch.Tensor:
        return seeded_draw(scores, tensor_arg[: scores.shape[0]])


@functools.cache
def seeded_continuous_batching_supported() -> bool:
    """Does this transformers' continuous batching carry per-request logits-processor arguments (our seeds)?

    Where it does not, the native engine uses padded `generate` with the same seeded draw: the same samples,
    more slowly. Checked once, at run time, so every supported transformers version samples identically.
    """
    import transformers
    from transformers.generation.continuous_batching.cb_logits_processors import (
        ContinuousBatchingLogitsProcessorList,
    )

    from_manager = transformers.ContinuousBatchingManager.add_request
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(from_manager).parameters.values())
    supported = takes_kwargs and hasattr(ContinuousBatchingLogitsProcessorList, "check_kwargs")
    if not supported:
        logger.info("transformers %s passes no per-request arguments to continuous batching's logits processors; "
                    "sampling with padded generate and the same seeded draw (same samples, slower)",
                    transformers.__version__)
    return supported


def install_seeded_sampler(manager) -> None:
    """Append the seeded draw to a not-yet-started `ContinuousBatchingManager`'s logits processors.

    The manager builds its processor list from the GenerationConfig (temperature -> top-k -> top-p);
    the draw must come after them, and each request carries its seed, so it goes on the end of that list
    with one per-request argument row (the manager sizes its argument tensor when it starts).
    """
    processors = manager.logit_processor
    processors.logits_processor.append(SeededSampler())
    processors.tensors_required += 1
    processors.supported_keys["seed"] = int
    processors.do_processing = True


class SeededBatchSampler(LogitsProcessor):
    """The same draw for `model.generate` over a left-padded batch: row i is a sample with seed `seeds[i]`
    and a prompt of `prompt_lengths[i]` tokens, padded to `width`."""

    def __init__(self, seeds: list[int], prompt_lengths: list[int], width: int):
        self.seeds, self.prompt_lengths, self.width = seeds, prompt_lengths, width

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids.shape[1] - self.width
        keys = [draw_key(seed, n + generated) for seed, n in zip(self.seeds, self.prompt_lengths)]
        return seeded_draw(scores, torch.tensor(keys, dtype=torch.int64))
