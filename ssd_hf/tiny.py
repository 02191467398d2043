"""Tiny models of the real architectures, built locally: for the offline demo, the tests and smoke runs.

Nothing is downloaded: a byte-level BPE tokenizer is trained on the fly (on Python source text that
ships with the interpreter) and given a ChatML chat template, and Qwen3 / Llama / Qwen3-MoE models
are built from small configs with random weights.
"""

from __future__ import annotations

import inspect
import os

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
ARCHITECTURES = ("qwen3", "llama", "qwen3_moe")


def _training_corpus() -> list[str]:
    """Python source and prose available on every machine with Python: deterministic for a Python version."""
    import argparse
    import collections
    import json
    import textwrap

    texts = [inspect.getsource(module) for module in (argparse, collections, json, textwrap)]
    texts.append("Read the inputs from stdin, solve the problem and write the answer to stdout. ```python\n```")
    return texts


def build_tiny_tokenizer(vocab_size: int = 512):
    """A byte-level BPE tokenizer with ChatML special tokens, as a `PreTrainedTokenizerFast`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(_training_corpus(), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, eos_token="<|im_end|>", pad_token="<|endoftext|>", unk_token=None
    )
    fast.chat_template = CHATML_TEMPLATE
    return fast


def tiny_config(architecture: str, vocab_size: int, eos_token_id: int, pad_token_id: int):
    """A 2-layer config of a real architecture; small enough to train on two CPU cores in seconds."""
    common = dict(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        bos_token_id=None,
    )
    if architecture == "qwen3":
        from transformers import Qwen3Config

        return Qwen3Config(head_dim=16, **common)
    if architecture == "llama":
        from transformers import LlamaConfig

        return LlamaConfig(head_dim=16, **common)
    if architecture == "qwen3_moe":
        from transformers import Qwen3MoeConfig

        return Qwen3MoeConfig(
            head_dim=16, num_experts=4, num_experts_per_tok=2, moe_intermediate_size=64,
            decoder_sparse_step=1, mlp_only_layers=[], output_router_logits=False, **common,
        )
    raise ValueError(f"unknown tiny architecture {architecture!r}; choose one of {', '.join(ARCHITECTURES)}")


def build_tiny_model(output_dir: str, architecture: str = "qwen3", seed: int = 0) -> str:
    """Save a tiny random model + tokenizer to `output_dir` (skipped if already there); return the path."""
    if os.path.exists(os.path.join(output_dir, "config.json")):
        return output_dir
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    tokenizer = build_tiny_tokenizer()
    eos, pad = tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.pad_token_id
    config = tiny_config(architecture, len(tokenizer), eos, pad)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config)
    model.generation_config = GenerationConfig(eos_token_id=eos, pad_token_id=pad, do_sample=True)
    tmp = f"{output_dir}.tmp-{os.getpid()}"
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    os.makedirs(os.path.dirname(os.path.abspath(output_dir)), exist_ok=True)
    os.replace(tmp, output_dir)
    return output_dir
