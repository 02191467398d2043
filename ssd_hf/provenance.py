"""What a trained model records about itself (`ssd_provenance.json`), and where a prompt pool came from.

Kept out of trainer.py so the trainer stays a short SFTTrainer subclass: this module reads the trainer's
arguments, samples and filters and returns the declared `Provenance` record that cards are written from.
"""

from __future__ import annotations

import os
import re

from .records import FilterReport, PromptPool, Provenance, read_samples_manifest

PACKAGED_BUILDERS = {"json", "parquet", "csv", "text", "arrow", "pandas", "generator"}


def prompt_pool_of(dataset, num_prompts: int) -> PromptPool:
    """What `datasets` knows of where a prompt pool came from (the Python API gets a Dataset, not its name).

    A Hub dataset's name and config are in its info, and the commit it was read at is a folder of its
    cache path; rows built in Python or read from local files have neither (their fingerprint still
    identifies them).
    """
    info = getattr(dataset, "info", None)
    name = getattr(info, "dataset_name", None)
    paths = [f.get("filename", "") for f in getattr(dataset, "cache_files", None) or []]
    commit = next((m.group(0) for p in paths if (m := re.search(r"(?<![0-9a-f])[0-9a-f]{40}(?![0-9a-f])", p))), None)
    split = getattr(dataset, "split", None)
    return PromptPool(name=None if name in PACKAGED_BUILDERS else name, config=getattr(info, "config_name", None),
                      split=str(split) if split else None, revision=commit,
                      num_rows=len(dataset) if hasattr(dataset, "__len__") else None, num_prompts=num_prompts,
                      fingerprint=getattr(dataset, "_fingerprint", None))


def _training_facts(args, model, world: int) -> dict:
    peft_config = getattr(model, "peft_config", None)
    lora = next(iter(peft_config.values())) if isinstance(peft_config, dict) and peft_config else None
    return {
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
        # fused 3-D weights (a MoE layer's experts) are adapted as parameters, not modules: record them too
        "lora_target_parameters": sorted(lora.target_parameters) if lora is not None and lora.target_parameters else None,
    }


def provenance_of(trainer) -> Provenance:
    """The trainer's record: base model, samples and their fingerprint, filters, sampling and training settings."""
    args, samples = trainer.args, trainer._samples
    first = samples[0] if samples is not None and len(samples) else {}
    samples_ref = args.samples_dataset or args.resolved_samples_dir()
    manifest = trainer._samples_manifest or (read_samples_manifest(samples_ref) if os.path.isdir(samples_ref) else None)
    stats, rows = trainer._filter_stats or {}, trainer._rows_report
    removed = dict(stats.get("removed", {}))
    if rows is not None and rows.truncated_dropped:
        removed["truncated"] = rows.truncated_dropped
    trained = None if rows is None else rows.from_token_ids + rows.from_chat_template
    training = _training_facts(args, trainer.model, args.world_size)
    return Provenance(
        base_model=first.get("model_id") or trainer._base_model_id,
        base_model_revision=first.get("model_revision"),
        samples_dataset=samples_ref,
        samples_fingerprint=getattr(samples, "_fingerprint", None),
        num_samples=len(samples) if samples is not None else None,
        num_train_records=trained,
        filters=FilterReport(drop_empty_and_stubs=args.drop_empty_and_stubs,
                             drop_shortest_fraction=args.drop_shortest_fraction, truncated_samples=args.truncated_samples,
                             truncated=rows.truncated if rows else None, before=stats.get("before"), after=trained,
                             removed=removed, from_token_ids=rows.from_token_ids if rows else None,
                             from_chat_template=rows.from_chat_template if rows else None),
        sampling={
            "temperature": first.get("temperature", args.temperature),
            "top_k": first.get("top_k", args.top_k),
            "top_p": first.get("top_p", args.top_p),
            "max_new_tokens": first.get("max_new_tokens", args.max_new_tokens),
            "seed": args.effective_sampling_seed,
            "num_samples_per_prompt": manifest.num_samples_per_prompt if manifest else args.num_samples_per_prompt,
            "engine": first.get("engine", args.engine),
            "sampling_config_hash": first.get("sampling_config_hash"),
        },
        prompt_pool=manifest.prompt_pool if manifest else trainer._prompt_pool,
        prompts=manifest.prompts if manifest else args.prompt_options().to_dict(),
        training=training,
        adapter=training["peft"],
    )


def record_training_filters(trainer) -> None:
    """Write what training kept and dropped into the samples' own manifest, so the dataset card states the
    filters this run applied (the model card reads the same record from the provenance)."""
    import dataclasses

    from .records import STORE_MANIFEST, write_samples_manifest

    samples_ref = trainer.args.samples_dataset or trainer.args.resolved_samples_dir()
    if not os.path.isfile(os.path.join(samples_ref, STORE_MANIFEST)):
        return  # a Hub copy or another tool's file: nothing of ours to update
    manifest = read_samples_manifest(samples_ref)
    write_samples_manifest(samples_ref, dataclasses.replace(manifest, training_filters=provenance_of(trainer).filters))
