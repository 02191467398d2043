"""Next-token statistics of a base and an SSD model on the same generated code (the paper's Figure panels).

Both models are teacher-forced on the same completions; at every completion position we keep each
model's next-token distribution and measure:
1. cumulative probability mass vs token rank (SSD should rise faster: support compression);
2. how many tokens survive eval truncation (temperature -> top-k -> top-p) as T_eval rises;
3. the entropy of the truncated distribution vs T_eval;
4. the same entropy, stratified by how much mass the top 20 tokens hold.

Lock/fork labelling, per position, from a model's untempered distribution:
- lock: the top token holds at least `LOCK_TOP1` (0.9) of the mass;
- fork: the top token holds less than `FORK_TOP1` (0.6) and at least two tokens hold `FORK_MIN_P` (0.1) each;
- other: everything else.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np
import torch
from transformers.generation.logits_process import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from ..prompts import apply_chat_template

logger = logging.getLogger(__name__)

LOCK_TOP1, FORK_TOP1, FORK_MIN_P = 0.9, 0.6, 0.1
MAX_RANK = 50
TOP20_BUCKETS = ((0.0, 0.9), (0.9, 0.99), (0.99, 1.0001))


def completion_logits(model, tokenizer, samples, max_samples: int, use_chat_template: bool = True) -> torch.Tensor:
    """[positions, vocab] log-probs of the model's next-token predictions over every completion token."""
    rows = []
    model.eval()
    for row in list(samples)[:max_samples]:
        prompt_ids = apply_chat_template(tokenizer, row["prompt"], use_chat_template)
        completion_ids = tokenizer(row["completion"], add_special_tokens=False)["input_ids"]
        if not completion_ids:
            continue
        ids = torch.tensor([prompt_ids + completion_ids])
        with torch.no_grad():
            logits = model(input_ids=ids).logits[0].float()
        # The prediction for completion token i sits at position len(prompt) + i - 1.
        start = len(prompt_ids) - 1
        rows.append(torch.log_softmax(logits[start : start + len(completion_ids)], dim=-1))
    if not rows:
        raise ValueError("no completion tokens to analyse")
    return torch.cat(rows)


def truncated_probs(log_probs: torch.Tensor, temperature: float, top_k: int, top_p: float) -> torch.Tensor:
    scores = log_probs.clone()
    ids = torch.zeros((scores.shape[0], 1), dtype=torch.long)
    for warper in (TemperatureLogitsWarper(temperature), TopKLogitsWarper(top_k) if top_k else None,
                   TopPLogitsWarper(top_p) if top_p < 1 else None):
        if warper is not None:
            scores = warper(ids, scores)
    return torch.softmax(scores, dim=-1)


def entropy(probs: torch.Tensor) -> torch.Tensor:
    return -(probs * torch.log(probs.clamp_min(1e-30))).sum(-1)


def label_positions(log_probs: torch.Tensor) -> list[str]:
    probs = log_probs.exp()
    top = probs.topk(2, dim=-1).values
    heavy = (probs >= FORK_MIN_P).sum(-1)
    labels = []
    for top1, count in zip(top[:, 0].tolist(), heavy.tolist(), strict=True):
        labels.append("lock" if top1 >= LOCK_TOP1 else "fork" if top1 < FORK_TOP1 and count >= 2 else "other")
    return labels


def model_statistics(log_probs: torch.Tensor, temperatures, top_k: int, top_p: float) -> dict:
    probs = log_probs.exp()
    sorted_probs = probs.sort(dim=-1, descending=True).values
    cumulative = sorted_probs[:, :MAX_RANK].cumsum(-1).mean(0)
    top20 = sorted_probs[:, :20].sum(-1)
    survivors, entropies, stratified = [], [], {f"{lo:g}-{min(hi, 1):g}": [] for lo, hi in TOP20_BUCKETS}
    for t in temperatures:
        truncated = truncated_probs(log_probs, float(t), top_k, top_p)
        survivors.append(float((truncated > 0).sum(-1).float().mean()))
        h = entropy(truncated)
        entropies.append(float(h.mean()))
        for (lo, hi), key in zip(TOP20_BUCKETS, stratified, strict=True):
            mask = (top20 >= lo) & (top20 < hi)
            stratified[key].append(float(h[mask].mean()) if mask.any() else None)
    labels = label_positions(log_probs)
    return {
        "cumulative_mass_by_rank": [float(x) for x in cumulative],
        "survivors_vs_temperature": survivors,
        "entropy_vs_temperature": entropies,
        "entropy_by_top20_mass": stratified,
        "top20_bucket_counts": {key: int(((top20 >= lo) & (top20 < hi)).sum()) for (lo, hi), key in zip(TOP20_BUCKETS, stratified, strict=True)},
        "labels": {name: labels.count(name) for name in ("lock", "fork", "other")},
        "position_labels": labels,
    }


def analyze(base: str, ssd: str, samples, output_dir: str, max_samples: int = 32, top_k: int = 20,
            top_p: float = 0.8, temperatures=None) -> dict:
    """Run both models over the same completions; write `token_stats.json` and four PNG panels."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from .plots import token_panels

    temperatures = list(temperatures if temperatures is not None else np.round(np.arange(0.5, 2.01, 0.1), 2))
    tokenizer = AutoTokenizer.from_pretrained(base)
    stats = {"temperatures": temperatures, "top_k": top_k, "top_p": top_p,
             "definitions": {"lock": f"top-1 mass >= {LOCK_TOP1}",
                             "fork": f"top-1 mass < {FORK_TOP1} and >= 2 tokens with p >= {FORK_MIN_P}",
                             "other": "neither"}}
    for name, path in (("base", base), ("ssd", ssd)):
        model = AutoModelForCausalLM.from_pretrained(path)
        log_probs = completion_logits(model, tokenizer, samples, max_samples)
        stats[name] = model_statistics(log_probs, temperatures, top_k, top_p)
        stats[name]["positions"] = int(log_probs.shape[0])
        logger.info("%s: %d positions, labels %s", name, log_probs.shape[0], stats[name]["labels"])
    base_labels, ssd_labels = stats["base"].pop("position_labels"), stats["ssd"].pop("position_labels")
    stats["transitions"] = {f"{a}->{b}": sum(1 for x, y in zip(base_labels, ssd_labels, strict=True) if (x, y) == (a, b))
                            for a in ("lock", "fork", "other") for b in ("lock", "fork", "other")}
    os.makedirs(output_dir, exist_ok=True)
    with open(os.path.join(output_dir, "token_stats.json"), "w", encoding="utf-8") as handle:
        json.dump(stats, handle, indent=2)
    stats["plots"] = token_panels(stats, output_dir)
    return stats
