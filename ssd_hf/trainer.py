"""SSDTrainer: TRL's SFTTrainer that first draws its own training data from the frozen base model.

Give it prompts and `train()` samples one (or N) completions per prompt from the model as loaded,
before any update, then fine-tunes on them with plain completion-only cross-entropy. Give it samples
(a dataset with a `completion` column, or `args.samples_dataset`) and it trains on those directly.
Which of the two it got is decided once, in `_resolve_samples`.

Everything else (optimiser, LoRA through `peft_config`, checkpoints, accelerate/DeepSpeed/FSDP) is
SFTTrainer's. The trainer writes `ssd_provenance.json` next to every saved model so cards can be
generated from recorded facts.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os

from datasets import Dataset
from trl import SFTTrainer

from .config import SSDConfig
from .errors import SSDError
from .filters import apply_filters
from .prompts import prepare_prompts
from .provenance import prompt_pool_of, provenance_of
from .records import read_samples_manifest, write_provenance

logger = logging.getLogger(__name__)


def to_training_rows(samples: Dataset, use_chat_template: bool = True) -> Dataset:
    """Samples -> TRL prompt-completion rows (conversational when the samples were drawn with a chat template)."""

    def convert(row):
        if use_chat_template:
            return {"prompt": row["prompt"], "completion": [{"role": "assistant", "content": row["completion"]}]}
        return {"prompt": "\n\n".join(m["content"] for m in row["prompt"]), "completion": row["completion"]}

    if use_chat_template:
        return Dataset.from_list([convert(row) for row in samples])
    return samples.map(convert, remove_columns=samples.column_names)


def _model_id(model) -> str:
    if isinstance(model, str):
        return model
    return getattr(getattr(model, "config", None), "_name_or_path", None) or type(model).__name__


class SSDTrainer(SFTTrainer):
    """Simple Self-Distillation on top of `trl.SFTTrainer`.

    Args:
        model: Hub id, local path or loaded model. It is the frozen base the samples come from.
        args: `SSDConfig`.
        train_dataset: prompts (`prompt` or `question` column) to sample from, or samples (with a
            `completion` column) to train on. May be omitted when `args.samples_dataset` is set.
        peft_config: a `peft.LoraConfig` for LoRA; full fine-tuning when None.
    """

    def __init__(self, model, args: SSDConfig | None = None, train_dataset: Dataset | None = None, **kwargs):
        args = args or SSDConfig(output_dir=f"{_model_id(model).rstrip('/').split('/')[-1]}-SSD")
        if not isinstance(args, SSDConfig):
            raise SSDError("SSDTrainer needs an SSDConfig as `args` (it carries the sampling settings).")
        self._base_model_id = _model_id(model)
        self._pending_prompts, self._prompt_pool, self._filter_stats, self._samples = None, None, None, None
        self._samples_manifest = None
        samples = self._resolve_samples(args, train_dataset)
        if samples is None:
            # Sampling is deferred to train(): SFTTrainer still needs a dataset of the final shape now,
            # so it gets a one-row template of it, replaced by the real samples before the first step.
            self._pending_prompts = prepare_prompts(
                train_dataset, args.prompt_options(), args.deduplicate_prompts, args.paper_prompt_selection,
                args.max_prompts,
            )
            self._prompt_pool = prompt_pool_of(train_dataset, len(self._pending_prompts))
            template = Dataset.from_list(
                [{"prompt": self._pending_prompts[0].messages, "completion": "", "model_id": self._base_model_id}]
            )
            train_dataset = to_training_rows(template, args.use_chat_template)
        else:
            train_dataset = self._training_set(samples, args)
        # SSD pushes through publish.py only (cards, token scan, no trainer internals), so the Trainer sees neither
        # push_to_hub (its upload of all of output_dir) nor hub_token (it pickles its args into training_args.bin).
        self._push_to_hub, self.hub_token, self.samples_repo_id = args.push_to_hub, args.hub_token, None
        args = copy.copy(args)
        args.push_to_hub, args.hub_token = False, None
        super().__init__(model=model, args=args, train_dataset=train_dataset, **kwargs)

    # ----------------------------------------------------------------------------- data
    def _resolve_samples(self, args: SSDConfig, train_dataset) -> Dataset | None:
        """The one place that decides: existing samples to train on, or None when the dataset holds prompts."""
        if args.samples_dataset:
            from .data import load_samples_dataset, samples_location

            samples = load_samples_dataset(args.samples_dataset, self._base_model_id)
            location = samples_location(args.samples_dataset)
            self._samples_manifest = read_samples_manifest(location) if os.path.isdir(location) else None
            return samples
        if train_dataset is None:
            raise SSDError("SSDTrainer needs prompts or samples: pass train_dataset=... or set samples_dataset.")
        if "completion" in train_dataset.column_names:
            recorded = train_dataset[0].get("model_id") if len(train_dataset) else None
            if recorded and recorded != self._base_model_id:
                logger.warning("Samples were drawn from %s but the model being trained is %s", recorded, self._base_model_id)
            return train_dataset
        return None

    def _training_set(self, samples: Dataset, args: SSDConfig) -> Dataset:
        if "prompt" not in samples.column_names or "completion" not in samples.column_names:
            raise SSDError(f"samples need 'prompt' and 'completion' columns (found: {', '.join(samples.column_names)}).")
        kept, self._filter_stats = apply_filters(samples, args.drop_empty_and_stubs, args.drop_shortest_fraction)
        logger.info("Training set: %d of %d samples kept (%s)", len(kept), len(samples), self._filter_stats["removed"])
        if len(kept) == 0:
            raise SSDError(
                f"all {len(samples)} samples were filtered out as empty or one-line stubs; check max_new_tokens "
                "and the prompts, or set drop_empty_and_stubs=False."
            )
        self._samples = samples
        return to_training_rows(kept, args.use_chat_template)

    # ----------------------------------------------------------------------------- sampling
    def sample(self) -> Dataset:
        """Draw the samples from the frozen base (the model as loaded, adapters disabled), resumably."""
        from .sampling.stage import draw_samples

        args = self.args
        base = self.accelerator.unwrap_model(self.model)
        revision = (args.model_init_kwargs or {}).get("revision") if isinstance(args.model_init_kwargs, dict) else None
        disable_adapter = getattr(base, "disable_adapter", None)
        with disable_adapter() if callable(disable_adapter) else contextlib.nullcontext():
            return draw_samples(self._pending_prompts, args, self._base_model_id, self._prompt_pool,
                                model=getattr(base, "get_base_model", lambda: base)(), tokenizer=self.processing_class,
                                revision=revision)

    def train(self, *args, **kwargs):
        if self._pending_prompts is not None:
            samples = self.sample()
            training_rows = self._training_set(samples, self.args)
            self.train_dataset = self._prepare_dataset(
                training_rows, self.processing_class, self.args, self.args.packing, None, "train"
            )
            self._pending_prompts = None
        if hasattr(self.train_dataset, "__len__") and len(self.train_dataset) == 0:
            raise SSDError(
                f"no training example has a completion token left after truncation to max_length={self.args.max_length}; "
                "raise --max_length."
            )
        if self._push_to_hub and self.is_world_process_zero():
            from .publish import push_run_samples

            self.samples_repo_id = push_run_samples(self.args, self.hub_token)  # published before training
        return super().train(*args, **kwargs)

    def push_to_hub(self, commit_message: str | None = None, blocking: bool = True, token: str | None = None,
                    revision: str | None = None, private: bool | None = None, **kwargs):
        """Save, then push the model or adapter with its SSD card through publish.py (not Trainer's upload of output_dir)."""
        from .publish import push_run_model

        self.save_model(_internal_call=True)
        if not self.is_world_process_zero():
            return None
        return push_run_model(self.args, token or self.hub_token, self.samples_repo_id)

    # ----------------------------------------------------------------------------- provenance
    @property
    def is_adapter(self) -> bool:
        return bool(getattr(self.model, "peft_config", None))

    def provenance(self):
        """What this model was trained on and how: the facts model cards are written from."""
        return provenance_of(self)

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        super().save_model(output_dir, _internal_call)
        output_dir = output_dir or self.args.output_dir
        if self.args.should_save and self._samples is not None:
            write_provenance(output_dir, self.provenance())
