"""The sampling stage as `ssd-hf sample|run`, the recipes and `SSDTrainer.train()` all run it.

Pick the engine (`auto` resolves here, logged), draw every missing sample into the store, release the
engine, and return the samples dataset. A store that already holds every sample of this config is
read back without loading any engine: a rerun after a crash in training goes straight to training.
"""

from __future__ import annotations

import logging
import os

from .. import nodes
from ..prompts import PromptItem
from ..records import PromptPool, SamplesManifest, read_samples_manifest
from ..refs import split_revision
from .engines import load_engine
from .runner import build_requests, run_sampling

logger = logging.getLogger(__name__)


def draw_samples(prompts: list[PromptItem], config, model_name_or_path: str, pool: PromptPool | None = None,
                 model=None, tokenizer=None, revision: str | None = None, purpose: str = "training"):
    """Every sample of `prompts` under `config`'s decoding, in `config.resolved_samples_dir()`; returns the Dataset.

    `model`/`tokenizer`: an already loaded model for the transformers engine (the trainer's, adapters off).
    """
    samples_dir = config.resolved_samples_dir()
    params, options = config.sampling_params(), config.prompt_options()
    cached = complete_store(samples_dir, prompts, config, model_name_or_path, purpose)
    if nodes.everywhere(cached is not None):  # every node's store (one, when shared) holds them all
        return cached
    name = config.resolved_engine()
    if config.engine == "auto":
        logger.info("Engine: %s (engine auto: vLLM when it is installed and a GPU is present)", name)
    engine = load_engine(name, model_name_or_path, config=config, revision=revision,
                         **({"model": model, "tokenizer": tokenizer} if name == "transformers" and model is not None else {}))
    try:
        return run_sampling(prompts, engine, params, options, samples_dir, config.num_samples_per_prompt,
                            config.sampling_batch_size, prompt_pool=pool, purpose=purpose)
    finally:
        engine.close()


def complete_store(samples_dir: str, prompts: list[PromptItem], config, model_name_or_path: str, purpose: str):
    """The finished samples dataset when the store already holds all of them under this config, else None."""
    from ..data import load_samples

    manifest = read_samples_manifest(samples_dir)
    if manifest is None or not manifest.finalized or not _same_config(manifest, config, model_name_or_path, purpose):
        return None
    wanted = {(r.prompt.prompt_id, r.sample_index)
              for r in build_requests(prompts, config.num_samples_per_prompt, config.effective_sampling_seed)}
    try:
        dataset = load_samples(samples_dir)
    except Exception:  # noqa: BLE001 - an unreadable dataset is simply sampled (merged) again
        return None
    have = set(zip(dataset["prompt_id"], dataset["sample_index"]))
    if have != wanted:
        return None
    logger.info("All %d samples are already in %s; not sampling again", len(have), samples_dir)
    return dataset


def _same_config(manifest: SamplesManifest, config, model_name_or_path: str, purpose: str) -> bool:
    return manifest.purpose == purpose and not config_differences(manifest, config, model_name_or_path)


def config_differences(manifest: SamplesManifest, config, model_name_or_path: str) -> list[tuple[str, object, object]]:
    """(field, as recorded, as configured) for every setting in which stored samples differ from what this config
    would draw: the model (as the store keys it, by the name given), the decoding and the prompt rendering."""
    recorded, model = (os.path.normpath(split_revision(m)[0]) for m in (manifest.model_id, model_name_or_path))
    found = [("model", manifest.model_id, model_name_or_path)] if recorded != model else []
    now = {**config.sampling_params().to_dict(), **config.prompt_options().to_dict()}
    then = {**manifest.sampling, **manifest.prompts}
    return found + [(name, then[name], now[name]) for name in now if name in then and then[name] != now[name]]
