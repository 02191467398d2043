"""The seeded draw over the top-k/top-p survivors only (issue 24) gives the samples the full-vocabulary draw gave.

Three checks: the tiny Qwen3's samples at five decoders (top-k 0, top-p 1 included) equal those the previous
release wrote (tests/data/seeded_samples.json, made by the full-vocabulary draw before the change), on both native
paths; at Qwen3's 151,936-token vocabulary the fused warp-and-draw picks the token that transformers' warpers
followed by the previous full-vocabulary draw (kept here as the reference) pick, with and without reading counts
back (the accelerator path reads none), with logits rounded to bf16 so that tokens tie; and an evaluation sweep
over five temperatures builds one continuous-batching manager.
"""

from __future__ import annotations

import json
import os

import pytest
import torch
from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from ssd_hf.prompts import PromptItem
from ssd_hf.records import SamplingParams
from ssd_hf.sampling.engine import SampleRequest
from ssd_hf.sampling.engines.seeded_sampler import MASK32, gumbel_noise, seeded_draw, warp_and_draw

HERE = os.path.dirname(os.path.abspath(__file__))
WORDS = "read the integers from stdin and print the sum of the largest values".split()


def reference_draw(scores: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """The previous release's draw: Gumbel noise for every token of the vocabulary, argmax (first on ties)."""
    keys = (keys.to(torch.int64) & MASK32)[:, None]
    ids = torch.arange(scores.shape[-1], dtype=torch.int64).expand_as(scores)
    return torch.argmax(scores.float() + gumbel_noise(keys, ids), dim=-1)


def reference_warp(scores: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    """transformers' warpers, built as `generate` builds them from our GenerationConfig (none at 1.0 / 0 / 1.0)."""
    if temperature != 1.0:
        scores = TemperatureLogitsWarper(temperature)(None, scores)
    if top_k > 0:
        scores = TopKLogitsWarper(top_k)(None, scores)
    if top_p < 1.0:
        scores = TopPLogitsWarper(top_p)(None, scores)
    return scores


def test_tiny_model_samples_equal_the_previous_release(tiny_qwen3):
    import hashlib

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ssd_hf.sampling.engines.native import TransformersEngine

    recorded = json.load(open(os.path.join(HERE, "data", "seeded_samples.json")))["cases_by_tokenizer"]
    with open(os.path.join(tiny_qwen3, "tokenizer.json"), "rb") as handle:
        tokenizer_hash = hashlib.sha256(handle.read()).hexdigest()[:16]
    assert tokenizer_hash in recorded, f"no recorded samples for tiny tokenizer {tokenizer_hash} (this Python's stdlib)"
    expected = {"cases": recorded[tokenizer_hash]}
    engine = TransformersEngine(tiny_qwen3, model=AutoModelForCausalLM.from_pretrained(tiny_qwen3),
                                tokenizer=AutoTokenizer.from_pretrained(tiny_qwen3), batch_size=4)
    requests = [SampleRequest(prompt=PromptItem(prompt_id=f"p{i}", source_id=str(i),
                                                messages=[{"role": "user", "content": " ".join(WORDS[: 3 + 2 * i])}]),
                              sample_index=0, seed=1000 * i + 7) for i in range(6)]
    for case in expected["cases"]:
        params = SamplingParams(temperature=case["temperature"], top_k=case["top_k"], top_p=case["top_p"],
                                max_new_tokens=12, seed=0)
        for mode, continuous in (("continuous", True), ("padded", False)):
            engine.continuous_batching = continuous
            got = {s.request.key: s.completion_token_ids for s in engine.generate(requests, params)}
            assert [got[r.key] for r in requests] == case[mode], (mode, case)
    engine.close()


@pytest.mark.parametrize("temperature,top_k,top_p", [(1.0, 20, 0.8), (0.6, 0, 0.95), (1.6, 0, 1.0), (0.7, 5, 1.0),
                                                     (1.3, 50, 0.5)])
@pytest.mark.parametrize("bf16", [False, True])
def test_candidate_draw_equals_full_vocabulary_draw_at_qwen3_vocabulary(temperature, top_k, top_p, bf16):
    generator = torch.Generator().manual_seed(int(temperature * 100) + top_k)
    logits = torch.randn(3, 151_936, generator=generator) * 4
    if bf16:  # the logits of a bf16 model: many exact ties, some of them at the k-th score
        logits = logits.to(torch.bfloat16).float()
    keys = torch.randint(-(2**31), 2**31, (3,), generator=generator, dtype=torch.int64)
    want = reference_draw(reference_warp(logits, temperature, top_k, top_p), keys)
    decoding = torch.tensor([temperature, 1.0 - top_p], dtype=torch.float32)
    for read_back in (True, False):  # False: the fixed-shape path an accelerator takes
        fused = warp_and_draw(logits, keys.to(torch.int32), decoding, top_k, top_p < 1.0, read_back=read_back)
        assert torch.equal(fused.argmax(dim=-1), want), read_back
        assert torch.isfinite(fused).sum(dim=-1).eq(1).all()
        warped = reference_warp(logits, temperature, top_k, top_p)
        width = None if top_k == 0 else top_k + 64
        assert torch.equal(seeded_draw(warped, keys, width, read_back=read_back).argmax(dim=-1), want)


def test_ties_beyond_the_margin_are_exact_where_counts_are_read_back():
    logits = torch.zeros(2, 4096)  # every token ties: all survive top-k 20, far beyond the 84 candidates
    keys = torch.tensor([5, -77], dtype=torch.int64)
    want = reference_draw(reference_warp(logits, 1.0, 20, 1.0), keys)
    decoding = torch.tensor([1.0, 0.0])
    assert torch.equal(warp_and_draw(logits, keys, decoding, 20, False, read_back=True).argmax(-1), want)


def test_evaluation_sweep_over_five_temperatures_builds_one_manager(tiny_qwen3, tmp_path, capfd):
    from ssd_hf.cli import main

    assert main(["eval", "--model", tiny_qwen3, "--output", str(tmp_path / "eval"), "--benchmark", "custom",
                 "--problems", "fixtures", "--limit", "1", "--n", "1", "--sweep_temperature", "0.6,0.8,1.0,1.2,1.4",
                 "--max_new_tokens", "8", "--engine", "transformers", "--workers", "1"]) == 0
    err = capfd.readouterr().err
    assert err.count("T_eval=") == 5 and err.count("continuous batching: built manager") == 1, err[-3000:]
