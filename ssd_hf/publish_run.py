"""`ssd-hf push run OUTPUT_DIR --collection TITLE`: one experiment on the Hub, found together.

The samples dataset, the model with its results and `.eval_results/`, the evaluation traces and (when an
assembled Space folder is given) the Space are pushed in one go, their cards linking each other, and
gathered in a Hub Collection with a note per item. Every step is idempotent: unchanged files make no
commit (huggingface_hub drops them before committing) and an item already in the collection is left alone,
so a rerun updates what changed and duplicates nothing.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field

from .errors import SSDError
from .records import PROVENANCE_FILE, read_provenance
from .refs import hub_id, split_revision

logger = logging.getLogger(__name__)


@dataclass
class PushedRun:
    """What `push_run` published: repo ids by role, and the collection (slug and URL) when one was asked for."""

    model: str
    samples: str | None = None
    traces: str | None = None
    space: str | None = None
    collection_slug: str | None = None
    collection_url: str | None = None
    items: list[tuple[str, str, str]] = field(default_factory=list)  # (repo id, repo type, note)


def _samples_source(output_dir: str) -> tuple[str | None, str | None]:
    """(local samples dir to push, or a Hub samples dataset already published) for a run's output folder."""
    provenance = read_provenance(output_dir)
    recorded = provenance.samples_dataset if provenance else None
    for candidate in (os.path.join(output_dir, "samples"), split_revision(recorded)[0] if recorded else None):
        if candidate and os.path.isdir(os.path.join(candidate, "data")):
            return candidate, None
    return None, hub_id(recorded)


def push_run(output_dir: str, repo_id: str | None = None, collection: str | None = None, private: bool = False,
             token: str | None = None, results: list[str] | None = None, traces_repo: str | None = None,
             space_dir: str | None = None, space_repo: str | None = None) -> PushedRun:
    """Push a finished run folder (model, samples, eval/results.json, extra `results`) and gather it."""
    from . import hub
    from .publish import load_results, model_folder_results, push_model, push_samples, push_space
    from .traces import traces_repo_for

    if not os.path.isfile(os.path.join(output_dir, PROVENANCE_FILE)):
        raise SSDError(f"{output_dir} holds no trained model ({PROVENANCE_FILE}); give the --output_dir of `ssd-hf run`.")
    if bool(space_dir) != bool(space_repo):
        raise SSDError("--space_dir and --space_repo go together: assemble with `ssd-hf space push --output_dir DIR`, "
                       "then pass both.")
    model_repo = hub.owned_repo_id(repo_id or os.path.basename(os.path.abspath(output_dir)), token, "pushing the run")
    evaluated = load_results(model_folder_results(output_dir) + list(results or []))
    pushed = PushedRun(model=model_repo)
    if any(result.samples for result in evaluated):  # a traces dataset only where samples were judged
        pushed.traces = hub.owned_repo_id(traces_repo or traces_repo_for(model_repo), token, "pushing the run")
    if collection:
        found = hub.collection(collection, token, private, description=f"SSD run: {model_repo}")
        pushed.collection_slug, pushed.collection_url = found.slug, found.url
    local_samples, published_samples = _samples_source(output_dir)
    pushed.samples = f"{model_repo}-samples" if local_samples else published_samples
    pushed.space = hub.owned_repo_id(space_repo, token, "pushing the Space") if space_repo else None
    endpoint = hub.api(token).endpoint
    links = {"endpoint": endpoint, "model_repo": model_repo, "samples_repo": pushed.samples, "traces_repo": pushed.traces,
             "space_repo": pushed.space, "collection_url": pushed.collection_url}
    if local_samples:
        push_samples(local_samples, pushed.samples, private=private, token=token, links=links)
    push_model(output_dir, model_repo, private=private, token=token, results=evaluated, samples_repo_id=pushed.samples,
               traces_repo=pushed.traces, links=links)
    if space_dir:
        push_space(space_dir, pushed.space, private=private, token=token)
    pushed.items = _items(pushed)
    if pushed.collection_slug:
        hub.gather(pushed.collection_slug, pushed.items, token)
    return pushed


def _items(pushed: PushedRun) -> list[tuple[str, str, str]]:
    """The collection's items in reading order, each with the note that says what it is."""
    items = [(pushed.model, "model", "The SSD model: card with base vs SSD pass@k, scores in .eval_results/")]
    if pushed.samples:
        items.append((pushed.samples, "dataset", "The frozen base model's raw samples the model was trained on"))
    if pushed.traces:
        items.append((pushed.traces, "dataset", "Every judged evaluation sample, base and SSD side by side"))
    if pushed.space:
        items.append((pushed.space, "space", "Try base and SSD side by side"))
    return items
