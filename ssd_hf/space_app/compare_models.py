"""One model pane's engine: load once, stream a completion, score a completion token by token.

A model that fails to load is remembered with a readable one-line reason, so its pane says what is
wrong and how to fix it while the other panes keep working. Generation streams through transformers'
TextIteratorStreamer; sampling follows the paper's decoder order (temperature -> top-k -> top-p),
which is the order transformers applies its logits processors in.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import first_line
from .demo_config import ModelSpec

logger = logging.getLogger(__name__)


class ModelLoadError(Exception):
    """The model of one pane could not be loaded; the message is shown in that pane as it is."""


@dataclass
class TokenStat:
    text: str
    entropy: float  # nats, of the model's next-token distribution at T = 1
    top1: float
    label: str  # "lock", "fork" or "other"


def validate_decoding(temperature: float, top_k: float, top_p: float) -> str | None:
    """A one-sentence problem with the decoding settings, or None when they are usable."""
    if temperature is None or temperature < 0:
        return "Temperature must be 0 (greedy) or more; set it to e.g. 0.7."
    if top_k is None or top_k < 0 or int(top_k) != top_k:
        return "top-k must be a whole number, 0 to switch it off; set it to e.g. 20."
    if top_p is None or not 0 < top_p <= 1:
        return "top-p must be in (0, 1], 1 to switch it off; set it to e.g. 0.8."
    return None


def _load_reason(path: str, error: Exception) -> str:
    first = (str(error).strip().splitlines() or [type(error).__name__])[0]
    if path.startswith((".", "/", "~")) and not os.path.exists(os.path.expanduser(path)):
        return f"the folder {path} does not exist; check the path in config.yaml or SSD_SPACE_MODELS."
    if os.path.isdir(path) and not any(
        os.path.isfile(os.path.join(path, f)) for f in ("config.json", "adapter_config.json")
    ):
        return f"{path} holds no config.json or adapter_config.json, so it is not a saved model; point at a model folder."
    return f"{path}: {first[:300]}"


class ModelSlot:
    """Loads its model on first use (thread-safe) and keeps either the model or the reason it failed."""

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self._lock = threading.Lock()
        self._loaded = None
        self._error: str | None = None

    def load(self):
        with self._lock:
            if self._loaded is None and self._error is None:
                try:
                    self._loaded = self._load()
                except Exception as error:  # noqa: BLE001 - any failure becomes the pane's message
                    self._error = f"Could not load {self.spec.name}: {_load_reason(self.spec.path, error)}"
                    logger.warning(self._error)
        if self._error:
            raise ModelLoadError(self._error)
        return self._loaded

    @property
    def is_toy(self) -> bool:
        """Whether the model speaks the paper's toy world; its answers are then judged by the toy's PASS rule."""
        from ..analysis.toy_learned import is_toy_tokenizer

        return is_toy_tokenizer(self.load()[1])

    def _load(self):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from ..refs import split_revision

        path, revision = split_revision(self.spec.path)
        if not path:
            raise ValueError("no path given")
        device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = torch.bfloat16 if device == "cuda" else torch.float32
        if os.path.isfile(os.path.join(path, "adapter_config.json")):
            from peft import AutoPeftModelForCausalLM

            model = AutoPeftModelForCausalLM.from_pretrained(path, dtype=dtype)
        else:
            model = AutoModelForCausalLM.from_pretrained(path, revision=revision, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(path, revision=revision)
        model.to(device).eval()
        logger.info("loaded %s from %s on %s", self.spec.name, path, device)
        return model, tokenizer

    def prompt_ids(self, tokenizer, messages: list[dict]) -> list[int]:
        from ..prompts import apply_chat_template

        return apply_chat_template(tokenizer, messages, use_chat_template=True)

    def stream(self, messages: list[dict], temperature: float, top_k: int, top_p: float,
               max_new_tokens: int) -> Iterator[str]:
        """Yield the completion so far, every time the streamer hands over new text."""
        import torch
        from transformers import TextIteratorStreamer

        model, tokenizer = self.load()
        ids = torch.tensor([self.prompt_ids(tokenizer, messages)], device=model.device)
        streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=300)
        sampling = {"do_sample": True, "temperature": float(temperature), "top_k": int(top_k) or None,
                    "top_p": float(top_p)} if temperature > 0 else {"do_sample": False}
        failure: list[BaseException] = []

        def generate():
            try:
                with torch.no_grad():
                    model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=int(max_new_tokens),
                                   streamer=streamer, pad_token_id=tokenizer.pad_token_id, **sampling)
            except BaseException as error:  # noqa: BLE001 - reported to the pane below
                failure.append(error)
                streamer.end()

        worker = threading.Thread(target=generate, daemon=True)
        worker.start()
        text = ""
        for piece in streamer:
            text += piece
            yield text
        worker.join()
        if failure:
            raise RuntimeError(f"generation failed: {first_line(failure[0])}")

    def token_stats(self, messages: list[dict], completion: str) -> list[TokenStat]:
        """Per completion token: entropy, top-1 mass and lock/fork label of this model's next-token distribution.

        Uses the mechanism analysis (`ssd_hf.analysis.tokens`), so the Space and `ssd-hf analyze` label
        positions by the same rule.
        """

        model, tokenizer = self.load()
        completion_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
        if not completion_ids:
            return []
        from ..analysis import tokens as analysis  # the same rule as `ssd-hf analyze`

        row = {"prompt": messages, "completion": completion}
        log_probs = analysis.completion_logits(model, tokenizer, [row], max_samples=1).cpu()
        labels = analysis.label_positions(log_probs)
        probs = log_probs.exp()
        entropy = (-(probs * log_probs.clamp_min(-1e4)).sum(-1)).tolist()
        top1 = probs.max(-1).values.tolist()
        stats, shown = [], ""
        for position in range(len(completion_ids)):
            # Decode prefixes so a character split over byte-level tokens shows whole, on the token completing it.
            text = tokenizer.decode(completion_ids[: position + 1])
            piece, shown = (text[len(shown):], text) if text.startswith(shown) and not text.endswith("\ufffd") else ("", shown)
            stats.append(TokenStat(piece, entropy[position], top1[position], labels[position]))
        return stats


def max_entropy(stats: list[TokenStat]) -> float:
    return max((s.entropy for s in stats), default=0.0) or math.log(2)
