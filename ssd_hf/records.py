"""The records ssd-hf writes and reads, as declared types, with their file names and one reader/writer each.

- `SamplingParams`, `PromptOptions`: the decoding and prompt rendering that define a sample.
- `PromptPool`: where the prompts came from (name, config, split, revision, counts).
- `SamplesManifest`: a samples directory's facts (`.store/manifest.json`; `ssd_manifest.json` when pushed).
- `Provenance`: what a trained model was trained on and how (`ssd_provenance.json` beside the weights).
- `EvalResults`: one evaluation run (`results.json`), read by cards, the analysis tools and the Space.

Cards, the Space and the analysis tools read these types, never the raw JSON, so a field is spelled in
one place. Readers ignore fields they do not know, so files written by newer versions still load.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import uuid
from dataclasses import dataclass, field

PROVENANCE_FILE = "ssd_provenance.json"
STORE_MANIFEST = os.path.join(".store", "manifest.json")
PUBLISHED_MANIFEST = "ssd_manifest.json"  # the store's manifest as pushed: no local paths, no store internals
RESULTS_FILE = "results.json"
EVAL_DIR = "eval"  # a model folder's evaluation: <model>/eval/results.json (demo, `ssd-hf run`, `ssd-hf eval --model DIR`)
SAMPLES_DATA_FILE = os.path.join("data", "train-00000-of-00001.parquet")

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert Python programmer. Solve the user's programming problem and give the complete "
    "solution as Python code in a single markdown code block (```python ... ```)."
)


def stable_hash(obj, length: int = 16) -> str:
    """Hash of a JSON-serialisable object that is the same on every machine and Python run."""
    payload = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:length]


def atomic_write(path: str, text: str | bytes) -> None:
    """Write a whole file or nothing: a temporary name in the same folder, fsync, then rename into place."""
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    data = text.encode("utf-8") if isinstance(text, str) else text
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _known(cls, data: dict) -> dict:
    """The keys of `data` that are fields of dataclass `cls` (newer files may carry more)."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {key: value for key, value in (data or {}).items() if key in names}


def to_json(record) -> str:
    return json.dumps(dataclasses.asdict(record), indent=2, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class SamplingParams:
    """The decoding settings that define a sample; their hash keys the sample store."""

    temperature: float
    top_k: int
    top_p: float
    max_new_tokens: int
    seed: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PromptOptions:
    """How a problem statement becomes the messages sent to the model."""

    template: str = "lcb"
    system_prompt: str | None = DEFAULT_SYSTEM_PROMPT
    use_chat_template: bool = True

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class PromptPool:
    """Where a run's prompts came from; `revision` is the Hub commit, or "local" for files and folders."""

    name: str | None = None
    config: str | None = None
    split: str | None = None
    revision: str | None = None
    num_rows: int | None = None
    num_prompts: int | None = None
    fingerprint: str | None = None  # `datasets`' fingerprint of the rows read

    @classmethod
    def from_dict(cls, data: dict | None) -> PromptPool | None:
        return cls(**_known(cls, data)) if data else None


@dataclass
class FilterReport:
    """The training-set filters as applied: settings, and how many samples each removed."""

    drop_empty_and_stubs: bool = True
    drop_shortest_fraction: float = 0.0
    truncated_samples: str = "keep"  # what happened to samples that hit max_new_tokens: kept as sampled, or dropped
    truncated: int | None = None  # how many samples hit max_new_tokens
    before: int | None = None
    after: int | None = None
    removed: dict = field(default_factory=dict)
    from_token_ids: int | None = None  # training rows built from the sampled token ids
    from_chat_template: int | None = None  # rows of samples without ids, rendered through the chat template

    @classmethod
    def from_dict(cls, data: dict | None) -> FilterReport:
        return cls(**_known(cls, data or {}))


@dataclass
class SamplesManifest:
    """The facts of one samples directory: model, decoding, prompts, counts. Written by the sample store."""

    model_id: str
    model_revision: str
    sampling: dict  # SamplingParams.to_dict()
    prompts: dict  # PromptOptions.to_dict()
    num_samples_per_prompt: int
    num_prompts: int
    sampling_config_hash: str = ""
    prompt_pool: PromptPool | None = None
    purpose: str = "training"  # or "evaluation" (generations cached by `ssd-hf eval`)
    engines: list[str] = field(default_factory=list)
    num_records: int | None = None
    finalized: bool = False
    skipped: dict = field(default_factory=dict)  # reason -> requests an engine could not serve (none drawn)
    training_filters: FilterReport | None = None  # what the last training on these samples kept and dropped

    @classmethod
    def from_dict(cls, data: dict) -> SamplesManifest:
        known = _known(cls, data)
        known["prompt_pool"] = PromptPool.from_dict(data.get("prompt_pool"))
        known["training_filters"] = FilterReport.from_dict(data["training_filters"]) if data.get("training_filters") else None
        return cls(**known)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def read_samples_manifest(samples_dir: str) -> SamplesManifest | None:
    """The manifest of a local samples dir (the store's, or `ssd_manifest.json` in a pulled Hub copy)."""
    for name in (STORE_MANIFEST, PUBLISHED_MANIFEST):
        path = os.path.join(samples_dir, name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                return SamplesManifest.from_dict(json.load(handle))
    return None


def write_samples_manifest(samples_dir: str, manifest: SamplesManifest) -> None:
    atomic_write(os.path.join(samples_dir, STORE_MANIFEST), to_json(manifest))


@dataclass
class Provenance:
    """What a trained model or adapter was trained on and how; every card is written from it."""

    base_model: str | None = None
    base_model_revision: str | None = None
    samples_dataset: str | None = None
    samples_fingerprint: str | None = None
    num_samples: int | None = None
    num_train_records: int | None = None
    filters: FilterReport = field(default_factory=FilterReport)
    sampling: dict = field(default_factory=dict)  # SamplingParams fields + num_samples_per_prompt, engine, hash
    prompt_pool: PromptPool | None = None
    prompts: dict = field(default_factory=dict)  # PromptOptions.to_dict()
    training: dict = field(default_factory=dict)  # the optimiser, schedule, batch and LoRA settings used
    adapter: bool = False
    round: int | None = None  # SSD round: 1 trained on the base's samples, r+1 on round r's model's samples
    lineage: list = field(default_factory=list)  # the models this one descends from, base first (rounds only)
    costs: list = field(default_factory=list)  # costs.StageCost records of the stages that made it

    @classmethod
    def from_dict(cls, data: dict) -> Provenance:
        known = _known(cls, data)
        known["filters"] = FilterReport.from_dict(data.get("filters"))
        known["prompt_pool"] = PromptPool.from_dict(data.get("prompt_pool"))
        return cls(**known)

    @property
    def train_temperature(self) -> float | None:
        return self.sampling.get("temperature")


def read_provenance(model_dir: str) -> Provenance | None:
    path = os.path.join(model_dir, PROVENANCE_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return Provenance.from_dict(json.load(handle))


def write_provenance(model_dir: str, provenance: Provenance) -> str:
    os.makedirs(model_dir, exist_ok=True)
    path = os.path.join(model_dir, PROVENANCE_FILE)
    atomic_write(path, to_json(provenance))
    return path


@dataclass
class EvalResults:
    """One `ssd-hf eval` run. The full schema is documented in `ssd_hf/eval/results.py`, which writes it."""

    benchmark: str = "custom"
    config: dict = field(default_factory=dict)  # model, model_revision, decoding, n, seed, grader, ...
    aggregates: dict = field(default_factory=dict)  # difficulty -> {"num_problems", "pass@k": {"value", ...}}
    problems: list = field(default_factory=list)
    samples: list = field(default_factory=list)
    sweep: list | None = None
    best: dict | None = None
    baseline: dict | None = None
    grader: dict | None = None  # {"name": "lcb" | "ml-ssd", "version", "reference"}: whose rules judged
    schema_version: int = 1
    extra: dict = field(default_factory=dict)  # top-level fields this version does not know, kept as they are

    @classmethod
    def from_dict(cls, data: dict) -> EvalResults:
        known = _known(cls, data)
        known.pop("extra", None)
        return cls(**known, extra={k: v for k, v in data.items() if k not in known})

    def to_dict(self) -> dict:
        data = {k: v for k, v in dataclasses.asdict(self).items() if v is not None and k != "extra"}
        return {**data, **self.extra}

    @property
    def model(self) -> str | None:
        return self.config.get("model")

    @property
    def decoding(self) -> dict:
        return self.config.get("decoding") or {}

    def metric(self, difficulty: str = "all", name: str = "pass@1") -> dict | None:
        """{"value", "ci_low", "ci_high"} of one metric, or None when not measured."""
        value = (self.aggregates.get(difficulty) or {}).get(name)
        return value if isinstance(value, dict) and "value" in value else None


def model_eval_dir(model_dir: str) -> str:
    """Where a model folder's evaluation goes: the one place the demo, `run` and `eval` write and card, push and
    the Space read."""
    return os.path.join(model_dir, EVAL_DIR)


def model_results_path(model_dir: str) -> str | None:
    """`<model>/eval/results.json` when it exists, else None."""
    path = os.path.join(model_eval_dir(model_dir), RESULTS_FILE)
    return path if os.path.isfile(path) else None


def read_results(path: str) -> EvalResults:
    """Raises OSError / ValueError for a missing or unreadable file; callers word the user's message."""
    with open(path, encoding="utf-8") as handle:
        data = json.load(handle)
    if not isinstance(data, dict) or "aggregates" not in data:
        raise ValueError(f"{path} is not an evaluation results file (no aggregates)")
    return EvalResults.from_dict(data)
