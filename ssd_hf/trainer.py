"""SSDTrainer: TRL's SFTTrainer that first draws its own training data from the frozen base model.

Give it prompts and `train()` samples one (or N) completions per prompt from the model as loaded,
before any update, then fine-tunes on them with plain completion-only cross-entropy. Give it samples
(ours, TRL's `messages` or prompt-completion rows, ml-ssd's output, or `args.samples_dataset`) and it
trains on those directly. Which of the two it got is decided once, in `_resolve_samples`. Training rows
are the sampled token ids themselves (`training_rows.py`), never a re-rendering of the text.

Everything else (optimiser, LoRA through `peft_config`, checkpoints, accelerate/DeepSpeed/FSDP) is
SFTTrainer's. The trainer writes `ssd_provenance.json` next to every saved model so cards can be
generated from recorded facts.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import os
import time

from datasets import Dataset
from trl import SFTTrainer

from .config import SSDConfig
from .errors import SSDError
from .filters import apply_filters
from .prompts import prepare_prompts
from .provenance import prompt_pool_of, provenance_of, record_training_filters
from .records import read_samples_manifest, write_provenance
from .training_rows import build_training_rows, stop_ids

logger = logging.getLogger(__name__)


def _load_tokenizer(model):
    """The tokenizer the rows are built with (SFTTrainer would load the same one itself)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(_model_id(model))


def _probe_weights(model) -> list | None:
    """Copies of the smallest trainable tensors: enough to tell whether training changed anything."""
    params = [p for p in model.parameters() if p.requires_grad and p.numel() > 0]
    if not params:
        return None
    return [p.detach().clone() for p in sorted(params, key=lambda p: p.numel())[:4]]


def _model_eos(model):
    """The EOS ids of the model's generation config (they end a turn too), or None when it has none."""
    if not isinstance(model, str):
        return getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    from transformers import GenerationConfig

    try:
        return GenerationConfig.from_pretrained(model).eos_token_id
    except OSError:
        return None


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
        self._samples_manifest, self._rows_report, self.weights_unchanged = None, None, False
        kwargs["processing_class"] = self._tokenizer = kwargs.get("processing_class") or _load_tokenizer(model)
        self._stops = stop_ids(self._tokenizer, _model_eos(model))
        samples = self._resolve_samples(args, train_dataset)
        if samples is None:
            # Sampling is deferred to train(): SFTTrainer still needs a dataset of the final shape now,
            # so it gets a one-row placeholder of it, replaced by the real rows before the first step.
            self._pending_prompts = prepare_prompts(
                train_dataset, args.prompt_options(), args.deduplicate_prompts, args.paper_prompt_selection,
                args.max_prompts,
            )
            self._prompt_pool = prompt_pool_of(train_dataset, len(self._pending_prompts))
            train_dataset = Dataset.from_list([{"input_ids": [0, 0], "completion_mask": [0, 1]}])
        else:
            train_dataset = self._training_set(samples, args)
        # SSD pushes through publish.py only (cards, token scan, no trainer internals), so the Trainer sees neither
        # push_to_hub (its upload of all of output_dir) nor hub_token (it pickles its args into training_args.bin).
        self._push_to_hub, self.hub_token, self.samples_repo_id = args.push_to_hub, args.hub_token, None
        args = copy.copy(args)
        args.push_to_hub, args.hub_token = False, None
        if args.completion_only_loss is None:
            args.completion_only_loss = True  # the paper: cross-entropy on the completion only
        super().__init__(model=model, args=args, train_dataset=train_dataset, **kwargs)

    # ----------------------------------------------------------------------------- data
    def _resolve_samples(self, args: SSDConfig, train_dataset) -> Dataset | None:
        """The one place that decides: existing samples to train on, or None when the dataset holds prompts."""
        if args.samples_dataset:
            from .data import load_samples_dataset, samples_location

            location = samples_location(args.samples_dataset)  # a Hub dataset is downloaded once, here
            self._samples_manifest = read_samples_manifest(location) if os.path.isdir(location) else None
            return load_samples_dataset(location, self._base_model_id)
        if train_dataset is None:
            raise SSDError("SSDTrainer needs prompts or samples: pass train_dataset=... or set samples_dataset.")
        from .data import normalize_samples, samples_format, warn_if_other_model

        if samples_format(train_dataset.column_names, train_dataset[0] if len(train_dataset) else {}) is None:
            return None
        warn_if_other_model("the given samples", train_dataset, None, self._base_model_id)
        return normalize_samples(train_dataset)

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
        rows, self._rows_report = build_training_rows(kept, self._tokenizer, args.use_chat_template,
                                                      args.truncated_samples, self._stops)
        return rows

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
        if getattr(self.args, "num_rounds", 1) > 1:  # one trainer is one round: rounds need a model folder each
            raise SSDError(f"SSDTrainer runs one round (num_rounds={self.args.num_rounds}); run rounds with "
                           "`ssd-hf run --num_rounds N` or ssd_hf.rounds.run_rounds, which starts one trainer per round.")
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
        if self.is_world_process_zero() and self._samples is not None:
            record_training_filters(self)
        before = _probe_weights(self.model)
        if self._push_to_hub and self.is_world_process_zero():
            from .publish import push_run_samples

            self.samples_repo_id = push_run_samples(self.args, self.hub_token)  # published before training
        checkpoint = kwargs.get("resume_from_checkpoint", args[0] if args else None)
        output = self._finished_already(checkpoint) or super().train(*args, **kwargs)
        after = _probe_weights(self.model)
        self.weights_unchanged = before is not None and after is not None and all(a.equal(b) for a, b in zip(before, after))
        if self.weights_unchanged:
            logger.warning("Training left the weights as they were (learning rate 0 on every step, or no step): "
                           "the saved model equals the base model. Check max_steps, warmup_steps and learning_rate.")
        return output

    def _finished_already(self, checkpoint):
        """Resumed from the checkpoint of the last step: its weights and state, no further step (checkpoints.py)."""
        from transformers.trainer_utils import TrainOutput

        from .checkpoints import finished_state

        state = finished_state(checkpoint, self.args.max_steps)
        if state is None:
            return None
        logger.info("Training had already reached step %d (%s); taking its weights, no further step",
                    state.global_step, os.path.basename(checkpoint))
        self._load_from_checkpoint(checkpoint)
        self.state = state
        loss = next((h["loss"] for h in reversed(state.log_history) if "loss" in h), float("nan"))
        return TrainOutput(state.global_step, loss, {})

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
        """Save as SFTTrainer does, then the SSD record and card beside the weights (checkpoints included)."""
        super().save_model(output_dir, _internal_call)
        self._write_ssd_card(output_dir or self.args.output_dir)

    def _save(self, output_dir: str | None = None, state_dict=None) -> None:
        """Each node's first rank writes its own copy under `save_on_each_node` (node-local output folders):
        transformers 5 writes a model's weights on global rank 0 only once torch.distributed is up."""
        model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        own_copy = self.args.save_on_each_node and self.args.should_save and not self.is_world_process_zero()
        if not own_copy or not hasattr(model, "should_save_on_this_rank"):
            return super()._save(output_dir, state_dict)
        model.should_save_on_this_rank = lambda is_main_process: is_main_process
        try:
            return super()._save(output_dir, state_dict)
        finally:
            del model.should_save_on_this_rank

    def _save_checkpoint(self, model, trial):
        """Trainer's checkpoint save; on a full disk the half-written folder goes and one line says which disk."""
        from .checkpoints import disk_full_error, is_disk_full, newest_whole, remove_checkpoint

        run_dir = self._get_output_dir(trial=trial)
        folder = os.path.join(run_dir, f"checkpoint-{self.state.global_step}")
        try:
            super()._save_checkpoint(model, trial)
        except Exception as error:
            if not is_disk_full(error, folder):
                raise
            if self.args.should_save:
                remove_checkpoint(folder)
            raise disk_full_error(os.path.basename(folder), run_dir, newest_whole(run_dir)[0]) from None

    def save_final(self, output_dir: str) -> None:
        """The trained model, its card and tokenizer into output_dir; on a full disk the files this save wrote go
        (a rerun resumes from the last checkpoint and saves again) and one line says which disk."""
        from .checkpoints import disk_full_error, is_disk_full, newest_whole, remove_written_since

        started = time.time()
        try:
            self.save_model(output_dir)
            if self.args.should_save:  # the main process, or each node's first under save_on_each_node
                self.processing_class.save_pretrained(output_dir)
        except Exception as error:
            if not is_disk_full(error, output_dir):
                raise
            if self.args.should_save:
                remove_written_since(output_dir, started)
            raise disk_full_error("the trained model", output_dir, newest_whole(output_dir)[0]) from None

    def _issue_warnings_after_load(self, load_result) -> None:
        """A checkpoint of a model with tied embeddings has no lm_head.weight (it is the embedding): not a missing key."""
        tied = getattr(self.accelerator.unwrap_model(self.model), "_tied_weights_keys", None) or {}
        missing = [key for key in load_result.missing_keys if key.split("base_model.model.")[-1] not in tied]
        if len(missing) < len(load_result.missing_keys):
            load_result = type(load_result)(missing, load_result.unexpected_keys)
            self.accelerator.unwrap_model(self.model).tie_weights()
        super()._issue_warnings_after_load(load_result)

    def create_model_card(self, model_name: str | None = None, dataset_name: str | None = None, tags=None):
        """The SSD card, written from the recorded provenance, instead of TRL's generic one."""
        self._write_ssd_card(self.args.output_dir)

    def _write_ssd_card(self, folder: str) -> None:
        if not self.args.should_save or self._samples is None:
            return
        from .cards import render_model_card
        from .records import atomic_write

        write_provenance(folder, self.provenance())
        atomic_write(os.path.join(folder, "README.md"), render_model_card(folder, None))
