"""The decoder is temperature -> top-k -> top-p -> sample, exactly, in every code path."""

import math

import torch
from transformers import AutoModelForCausalLM

from ssd_hf.records import SamplingParams
from ssd_hf.sampling.engines.native import generation_config_for


def _distribution(processors, logits):
    scores = logits.clone()[None, :]
    for processor in processors:
        scores = processor(torch.zeros((1, 1), dtype=torch.long), scores)
    return torch.softmax(scores, dim=-1)[0]


def test_order_matters_and_ours_is_temperature_first(tiny_qwen3):
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen3)
    # Base probabilities 0.5/0.3/0.15/0.05. Top-p 0.8 at T=1 keeps two tokens; after T=2 it keeps three.
    probs = torch.tensor([0.5, 0.3, 0.15, 0.05] + [0.0] * 4)
    logits = torch.log(probs.clamp_min(1e-30))
    params = SamplingParams(temperature=2.0, top_k=3, top_p=0.8, max_new_tokens=4, seed=0)
    processors = model._get_logits_processor(generation_config_for(params, [2], 0))
    names = [type(p).__name__ for p in processors]
    assert names == ["TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper"]

    ours = _distribution(processors, logits)
    tempered = [math.sqrt(p) for p in (0.5, 0.3, 0.15)]
    expected = [t / sum(tempered) for t in tempered]
    assert torch.allclose(ours[:3], torch.tensor(expected), atol=1e-5)
    assert ours[3:].sum() == 0

    # Top-p before temperature would have kept only two tokens: a different decoder.
    top_p_first = _distribution(list(reversed(processors)), logits)
    assert (top_p_first > 0).sum() == 2


def test_no_penalties_or_min_p():
    config = generation_config_for(SamplingParams(1.6, 20, 0.8, 16, 0), [2], 0)
    assert config.do_sample and config.min_p is None
    assert config.repetition_penalty in (None, 1.0)
    assert getattr(config, "presence_penalty", None) in (None, 0.0)
