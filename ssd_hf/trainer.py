"""SSDTrainer: TRL's SFTTrainer that first draws its own training data from the frozen base model.

Give it prompts and `train()` samples one (or N) completions per prompt from the model as loaded,
before any update, then fine-tunes on them with plain completion-only cross-entropy. Give it samples
(a dataset with a `completion` column, or `args.samples_dataset`) and it trains on those directly.

Everything else (optimiser, LoRA through `peft_config`, checkpoints, accelerate/DeepSpeed/FSDP) is
SFTTrainer's. The trainer writes `ssd_provenance.json` next to every saved model so cards can be
generated from recorded facts.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os

from datasets import Dataset
from trl import SFTTrainer

from .config import SSDConfig
from .errors import SSDError
from .filters import apply_filters
from .prompts import prepare_prompts

logger = logging.getLogger(__name__)

PROVENANCE_FILE = "ssd_provenance.json"


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
        self._pending_prompts = None
        self._filter_stats = None
        samples = self._resolve_samples(args, train_dataset)
        if samples is None:
            # Sampling is deferred to train(): SFTTrainer still needs a dataset of the final shape now,
            # so it gets a one-row template of it, replaced by the real samples before the first step.
            self._pending_prompts = prepare_prompts(
                train_dataset, args.prompt_options(), args.deduplicate_prompts,
                args.paper_prompt_selection, args.max_prompts,
            )
            template = Dataset.from_list(
                [{"prompt": self._pending_prompts[0].messages, "completion": "", "model_id": self._base_model_id}]
            )
            train_dataset = to_training_rows(template, args.use_chat_template)
        else:
            train_dataset = self._training_set(samples, args)
        # SSD pushes through hub.py only (cards, token scan, no trainer internals), so the Trainer sees neither
        # push_to_hub (its upload of all of output_dir) nor hub_token (it pickles its args into training_args.bin).
        self._push_to_hub, self._hub_token, self.samples_repo_id = args.push_to_hub, args.hub_token, None
        args = copy.copy(args)
        args.push_to_hub, args.hub_token = False, None
        super().__init__(model=model, args=args, train_dataset=train_dataset, **kwargs)

    # ----------------------------------------------------------------------------- data
    def _resolve_samples(self, args: SSDConfig, train_dataset) -> Dataset | None:
        """Existing samples to train on, or None when the given dataset holds prompts to sample from."""
        if args.samples_dataset:
            from . import hub

            return hub.load_samples_dataset(args.samples_dataset, expected_base_model=self._base_model_id)
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
        from .sampling import load_engine, run_sampling

        args = self.args
        base = self.accelerator.unwrap_model(self.model)
        engine = load_engine(
            args.engine, model_name_or_path=self._base_model_id, config=args, tokenizer=self.processing_class,
            model=getattr(base, "get_base_model", lambda: base)() if args.engine == "transformers" else None,
            revision=(args.model_init_kwargs or {}).get("revision") if isinstance(args.model_init_kwargs, dict) else None,
        )
        disable_adapter = getattr(base, "disable_adapter", None)
        with disable_adapter() if callable(disable_adapter) else contextlib.nullcontext():
            return run_sampling(
                self._pending_prompts, engine, args.sampling_params(), args.prompt_options(),
                args.resolved_samples_dir(), args.num_samples_per_prompt, args.sampling_batch_size,
            )

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
            from . import hub

            self.samples_repo_id = hub.push_run_samples(self.args, self._hub_token)  # published before training
        return super().train(*args, **kwargs)

    def push_to_hub(self, commit_message: str | None = None, blocking: bool = True, token: str | None = None,
                    revision: str | None = None, private: bool | None = None, **kwargs):
        """Save, then push the model or adapter with its SSD card through hub.py (not Trainer's upload of output_dir)."""
        from . import hub

        self.save_model(_internal_call=True)
        if not self.is_world_process_zero():
            return None
        return hub.push_run_model(self.args, token or self._hub_token, self.samples_repo_id)

    # ----------------------------------------------------------------------------- provenance
    def provenance(self) -> dict:
        """What this model was trained on and how: the facts model cards are written from."""
        args, samples = self.args, getattr(self, "_samples", None)
        first = samples[0] if samples is not None and len(samples) else {}
        from .sampling.store import read_manifest

        samples_ref = args.samples_dataset or args.resolved_samples_dir()
        manifest = read_manifest(samples_ref) if os.path.isdir(samples_ref) else None
        peft_config = getattr(self.model, "peft_config", None)
        lora = next(iter(peft_config.values())) if isinstance(peft_config, dict) and peft_config else None
        world = self.args.world_size
        return {
            "base_model": first.get("model_id") or self._base_model_id,
            "base_model_revision": first.get("model_revision"),
            "samples_dataset": samples_ref,
            "samples_fingerprint": getattr(samples, "_fingerprint", None),
            "num_samples": len(samples) if samples is not None else None,
            "num_train_records": (self._filter_stats or {}).get("after"),
            "filters": {
                "drop_empty_and_stubs": args.drop_empty_and_stubs,
                "drop_shortest_fraction": args.drop_shortest_fraction,
                "removed": (self._filter_stats or {}).get("removed", {}),
            },
            "sampling": {
                "temperature": first.get("temperature", args.temperature),
                "top_k": first.get("top_k", args.top_k),
                "top_p": first.get("top_p", args.top_p),
                "max_new_tokens": first.get("max_new_tokens", args.max_new_tokens),
                "seed": args.effective_sampling_seed,
                "num_samples_per_prompt": (manifest or {}).get("num_samples_per_prompt", args.num_samples_per_prompt),
                "engine": first.get("engine", args.engine),
                "sampling_config_hash": first.get("sampling_config_hash"),
            },
            "prompt_pool": (manifest or {}).get("prompt_pool", {}),
            "prompts": (manifest or {}).get("prompts", args.prompt_options().to_dict()),
            "training": {
                "learning_rate": args.learning_rate,
                "lr_scheduler_type": getattr(args.lr_scheduler_type, "value", str(args.lr_scheduler_type)),
                "lr_scheduler_kwargs": args.lr_scheduler_kwargs,
                "warmup_steps": args.warmup_steps,
                "weight_decay": args.weight_decay,
                "adam_beta1": args.adam_beta1,
                "adam_beta2": args.adam_beta2,
                "num_train_epochs": args.num_train_epochs,
                "max_steps": args.max_steps,
                "global_batch_size": args.per_device_train_batch_size * args.gradient_accumulation_steps * world,
                "max_length": args.max_length,
                "packing": args.packing,
                "completion_only_loss": True if args.completion_only_loss is None else args.completion_only_loss,
                "peft": lora is not None,
                "lora_r": getattr(lora, "r", None),
                "lora_alpha": getattr(lora, "lora_alpha", None),
                "lora_target_modules": sorted(lora.target_modules) if lora is not None and lora.target_modules else None,
            },
            "adapter": lora is not None,
        }

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False):
        super().save_model(output_dir, _internal_call)
        output_dir = output_dir or self.args.output_dir
        if self.args.should_save and getattr(self, "_samples", None) is not None:
            os.makedirs(output_dir, exist_ok=True)
            with open(os.path.join(output_dir, PROVENANCE_FILE), "w", encoding="utf-8") as handle:
                json.dump(self.provenance(), handle, indent=2, default=str)
