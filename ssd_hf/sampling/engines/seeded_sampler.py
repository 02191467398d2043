"""Seeded token draws for the native engine: a sample depends on its own seed, nothing else.

transformers draws every sequence's next token from one shared torch RNG (`torch.multinomial` over the
batch), so a sample's tokens depend on which other sequences share its batch and in what order: a
2-process run gives other completions than a 1-process run with the same seed, and the `seed` written
in each record would be a label, not a recipe. Here the draw is a function of (sample seed, position).

Gumbel-max: for the warped scores s (after temperature -> top-k -> top-p; filtered tokens at -inf) and
i.i.d. Gumbel noise g, argmax(s + g) is an exact draw from softmax(s). The noise of token v at sequence
position n of a sample is a hash of (seed, n, v), a counter-based generator like Philox, so it is the
same in any batch, process or device. Only surviving tokens can win, so the noise is computed for the
`top_k + TIE_MARGIN` best tokens of a row (fixed shapes: CUDA graphs capture it; no value read back to the
host off CPU), ties going to the lowest token id as an argmax over the whole vocabulary would: the same
draw as hashing every id (issue 24; tests/test_seeded_draw.py compares with the previous release). In
continuous batching the warpers run inside the same processor (`warp_and_draw`), over those candidates.
The draw returns a one-hot row (0 for the drawn token, -inf elsewhere): whatever transformers applies next
(argmax, or softmax + multinomial) can only pick that token.

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


TIE_MARGIN = 64  # candidates beyond top-k, for tokens tied with the k-th score (they survive top-k too)


def candidate_width(top_k: int, vocab: int) -> int:
    """How many of a row's best tokens the draw looks at: a fixed number (shapes a CUDA graph can hold).

    Only tokens that survived top-k can win, so top-k with margin for ties; without top-k, the whole vocabulary.
    """
    return vocab if top_k <= 0 else min(vocab, top_k + TIE_MARGIN)


def _candidates(scores: torch.Tensor, width: int, ordered: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The `width` best scores of each row and their token ids (best first when `ordered`)."""
    vocab = scores.shape[-1]
    if width >= vocab and not ordered:
        return scores, torch.arange(vocab, device=scores.device, dtype=torch.int64).expand_as(scores)
    return torch.topk(scores, min(width, vocab), dim=-1, sorted=ordered)


def gumbel_winner(values: torch.Tensor, token_ids: torch.Tensor, keys: torch.Tensor, vocab: int) -> torch.Tensor:
    """argmax over the candidates of value + noise, ties to the lowest token id (as an argmax over the vocabulary)."""
    noisy = values + gumbel_noise(keys, token_ids)
    best = noisy.amax(dim=-1, keepdim=True)
    drawn = torch.where(noisy == best, token_ids, vocab).amin(dim=-1, keepdim=True)
    return drawn.clamp(max=vocab - 1)  # a row of NaN (padding in a captured batch) still draws a valid id


def _one_hot(scores: torch.Tensor, drawn: torch.Tensor) -> torch.Tensor:
    return torch.full_like(scores, float("-inf")).scatter(-1, drawn, 0.0)


def _row_keys(keys: torch.Tensor, device) -> torch.Tensor:
    return (keys.to(device=device, dtype=torch.int64) & MASK32)[:, None]


def _reads_back(scores: torch.Tensor, read_back: bool | None) -> bool:
    """May the draw read a count back to the host? By default only on CPU, where it costs nothing; never on
    an accelerator, where it would stall the stream and break CUDA-graph capture."""
    return scores.device.type == "cpu" if read_back is None else read_back


def seeded_draw(scores: torch.Tensor, keys: torch.Tensor, width: int | None = None,
                read_back: bool | None = None) -> torch.Tensor:
    """One Gumbel-max draw per row of warped `scores` [B, V] (filtered tokens at -inf) with row keys `keys` [B].

    Hashes only the `width` best tokens of each row (`candidate_width`); where it may read a count back
    (`_reads_back`), exactly the surviving tokens, however many tie. Returns one-hot scores.
    """
    scores = scores.float()
    vocab = scores.shape[-1]
    width = vocab if width is None else min(width, vocab)
    if _reads_back(scores, read_back):
        width = max(1, int(torch.isfinite(scores).sum(dim=-1).max()))
    values, token_ids = _candidates(scores, width, ordered=False)
    return _one_hot(scores, gumbel_winner(values, token_ids, _row_keys(keys, scores.device), vocab))


def temper(scores: torch.Tensor, temperature: torch.Tensor) -> torch.Tensor:
    """scores / T, rounded as transformers' TemperatureLogitsWarper rounds `scores / float`: CUDA multiplies by
    the float32 reciprocal of a Python-number divisor, the CPU divides."""
    if scores.device.type == "cuda":
        return scores * torch.reciprocal(temperature)
    return scores / temperature


def top_p_mask(descending: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
    """TopPLogitsWarper on candidates sorted best first: drop the tokens whose ascending cumulative probability is
    <= `threshold` (1 - top_p, rounded to float32 as the warper's comparison rounds it); the best always stays."""
    ascending = descending.flip(-1)
    remove = ascending.softmax(dim=-1).cumsum(dim=-1) <= threshold
    remove[..., -1:] = False
    return ascending.masked_fill(remove, float("-inf")).flip(-1)


def warp_and_draw(logits: torch.Tensor, keys: torch.Tensor, decoding: torch.Tensor, top_k: int,
                  truncate_p: bool, read_back: bool | None = None) -> torch.Tensor:
    """temperature -> top-k -> top-p -> seeded draw over the candidates only: the draw of `seeded_draw` after
    transformers' warpers, without a pass over the vocabulary beyond one top-k and the one-hot row.

    `decoding` is a device tensor [temperature, 1 - top_p] (changed between calls without a new CUDA graph);
    `top_k` and whether top-p truncates at all fix the shapes: no host read-back unless `_reads_back`.
    """
    scores = temper(logits.float(), decoding[0])
    vocab = scores.shape[-1]
    width = candidate_width(top_k, vocab)
    truncate_k = 0 < top_k < vocab
    if truncate_k and _reads_back(scores, read_back):  # exact with any number of ties at the k-th score
        kth = torch.topk(scores, top_k, dim=-1).values[:, -1:]
        width = max(width, int((scores >= kth).sum(dim=-1).max()))
    values, token_ids = _candidates(scores, width, ordered=truncate_k or truncate_p)
    if truncate_k:
        values = values.masked_fill(values < values[:, top_k - 1 : top_k], float("-inf"))
    if truncate_p:
        values = top_p_mask(values, decoding[1])
    return _one_hot(scores, gumbel_winner(values, token_ids, _row_keys(keys, scores.device), vocab))


def _as_int32(key: int) -> int:
    return key - 2**32 if key >= 2**31 else key


class SeededSampler(ContinuousBatchingLogitsProcessor):
    """The whole decoder inside transformers' continuous batching: temperature -> top-k -> top-p -> seeded draw.

    Each request's seed travels as a per-request logits-processor argument (`add_request(..., seed=...)`), its
    position is the request's own counter. Temperature and top-p live in a device tensor that `set_decoding`
    rewrites between `generate()` calls, so one manager (its cache, its captured graphs) serves every
    temperature of a sweep; top-k and whether top-p truncates fix the shapes, so they belong to the manager.
    """

    supported_kwargs = {"seed": int}
    ignored_kwargs = ()

    def __init__(self, top_k: int, truncate_p: bool, device):
        self.top_k, self.truncate_p = top_k, truncate_p
        self.decoding = torch.ones(2, dtype=torch.float32, device=device)

    def set_decoding(self, temperature: float, top_p: float) -> None:
        """This call's temperature and top-p (1 - top_p is rounded to float32 after the subtraction, as the warper's is)."""
        self.decoding.copy_(torch.tensor([temperature, 1.0 - top_p], dtype=torch.float32))

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
        return warp_and_draw(scores, tensor_arg[: scores.shape[0]], self.decoding, self.top_k, self.truncate_p)


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


def install_seeded_sampler(manager, sampler: SeededSampler) -> None:
    """Make `sampler` the whole logits-processor chain of a not-yet-started `ContinuousBatchingManager`.

    The manager is built from a greedy GenerationConfig (no warpers of its own), so its argmax picks the one
    token the draw left; the sampler takes one per-request argument row (the manager sizes its argument
    tensor when it starts).
    """
    processors = manager.logit_processor
    processors.logits_processor.append(sampler)
    processors.tensors_required += 1
    processors.supported_keys["seed"] = int
    processors.do_processing = True


class SeededBatchSampler(LogitsProcessor):
    """The same draw for `model.generate` over a left-padded batch: row i is a sample with seed `seeds[i]`
    and a prompt of `prompt_lengths[i]` tokens, padded to `width`."""

    def __init__(self, seeds: list[int], prompt_lengths: list[int], width: int, top_k: int = 0):
        self.seeds, self.prompt_lengths, self.width, self.top_k = seeds, prompt_lengths, width, top_k

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        generated = input_ids.shape[1] - self.width
        keys = [draw_key(seed, n + generated) for seed, n in zip(self.seeds, self.prompt_lengths)]
        return seeded_draw(scores, torch.tensor(keys, dtype=torch.int64), candidate_width(self.top_k, scores.shape[-1]))
