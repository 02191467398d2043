"""What the Space shows: which models, with which recommended decoding, on which problems.

Kept apart from the UI so that the same resolution rules serve `app.py`, `ssd-hf space push` and the
tests. Every model is named by a Hub id or a local folder; `auto:base` / `auto:ssd` resolve to the
models `ssd-hf demo` wrote when they exist and otherwise to tiny random models built here, so the
Space always starts offline. A stand-in is labelled as one in the UI: it is never passed off as SSD.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field

import yaml

from . import APP_DIR, BUNDLED_CONFIG

logger = logging.getLogger(__name__)

FALLBACK_DECODING = {"temperature": 0.7, "top_k": 20, "top_p": 0.8}
# Where `ssd-hf demo` leaves its models, newest layout first; relative to SSD_DEMO_DIR.
DEMO_CANDIDATES = {
    "base": ("toy/base", "base", "tiny-qwen3-base"),
    "ssd": ("toy/ssd", "ssd", "model"),
}


@dataclass
class ModelSpec:
    """One pane of the comparison."""

    name: str
    path: str
    decoding: dict = field(default_factory=dict)
    results: list[str] = field(default_factory=list)
    note: str = ""  # shown under the pane title, e.g. "tiny random stand-in"


@dataclass
class Problem:
    """A coding problem in the picker; `row` keeps the LCB fields the sandbox needs (tests, metadata)."""

    question_id: str
    title: str
    question: str
    starter_code: str
    difficulty: str
    row: dict

    @property
    def has_tests(self) -> bool:
        return bool(self.row.get("public_test_cases") or self.row.get("private_test_cases"))


@dataclass
class SpaceConfig:
    models: list[ModelSpec]
    max_new_tokens: int = 160
    problems: str = "auto"
    source: str = BUNDLED_CONFIG


def _cache_dir() -> str:
    return os.environ.get("SSD_SPACE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "ssd_hf", "space")


def _is_model_dir(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "config.json")) or os.path.isfile(os.path.join(path, "adapter_config.json"))


def resolve_auto(kind: str) -> tuple[str, str]:
    """(path, note) for `auto:base` / `auto:ssd`: the demo's models if present, else a tiny local model."""
    demo_dir = os.environ.get("SSD_DEMO_DIR", "ssd-demo-out")
    for relative in DEMO_CANDIDATES[kind]:
        candidate = os.path.join(demo_dir, relative)
        if _is_model_dir(candidate):
            made = "SSD student of `ssd-hf demo`" if kind == "ssd" else "base model of `ssd-hf demo`"
            if relative.startswith("toy/"):
                return candidate, f"{made}: the paper's toy world (it answers the toy's one question, five toy words)"
            return candidate, f"{made}; a tiny model: its text is noise"
    from ..tiny import build_tiny_model

    seed = 0 if kind == "base" else 1
    path = build_tiny_model(os.path.join(_cache_dir(), f"tiny-qwen3-seed{seed}"), "qwen3", seed=seed)
    note = "tiny random model (offline stand-in)"
    if kind == "ssd":
        note = "tiny random stand-in, NOT SSD-trained: run `ssd-hf demo` or set SSD_SPACE_MODELS"
    return path, note


def _models_from_env(value: str) -> list[dict]:
    """'base=org/a,SSD=./b' -> [{'name': 'base', 'path': 'org/a'}, ...]."""
    models = []
    for part in filter(None, (p.strip() for p in value.split(","))):
        name, sep, path = part.partition("=")
        if not sep or not name.strip() or not path.strip():
            raise ValueError(f"SSD_SPACE_MODELS entry {part!r} is not NAME=PATH; write e.g. base=org/model,SSD=./ssd-out")
        models.append({"name": name.strip(), "path": path.strip()})
    return models


def load_config(path: str | None = None, default: str | None = None) -> SpaceConfig:
    """The Space config: `path`, else $SSD_SPACE_CONFIG, else `default` (the config.yaml beside the Space's
    app.py) when it exists, else the bundled one; $SSD_SPACE_MODELS replaces the models."""
    path = path or os.environ.get("SSD_SPACE_CONFIG") or (default if default and os.path.isfile(default) else BUNDLED_CONFIG)
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle) or {}
    entries = raw.get("models") or []
    if os.environ.get("SSD_SPACE_MODELS"):
        by_name = {entry.get("name"): entry for entry in entries}
        entries = [{**by_name.get(e["name"], {}), **e} for e in _models_from_env(os.environ["SSD_SPACE_MODELS"])]
    if len(entries) < 2:
        raise ValueError(f"{path} names {len(entries)} model(s); the Space compares two or more, list them under `models:`")
    base_dir = os.path.dirname(os.path.abspath(path))
    models = []
    for index, entry in enumerate(entries):
        results = entry.get("results") or []
        results = [results] if isinstance(results, str) else list(results)
        models.append(ModelSpec(
            name=str(entry.get("name") or f"model {index + 1}"),
            path=str(entry.get("path") or ""),
            decoding=dict(entry.get("decoding") or {}),
            results=[r if os.path.isabs(r) else os.path.join(base_dir, r) for r in results],
            note=str(entry.get("note") or ""),
        ))
    problems = raw.get("problems") or "auto"
    if problems != "auto" and not os.path.isabs(problems):
        problems = os.path.join(base_dir, problems)
    return SpaceConfig(models, int(raw.get("max_new_tokens") or 160), problems, path)


def resolve_model_path(spec: ModelSpec) -> ModelSpec:
    """Turn `auto:*` into a real path (building tiny models if needed); other paths are kept as given."""
    if spec.path.startswith("auto:"):
        kind = spec.path.split(":", 1)[1]
        if kind not in DEMO_CANDIDATES:
            raise ValueError(f"unknown model {spec.path!r}; use auto:base, auto:ssd, a Hub id or a folder")
        spec.path, auto_note = resolve_auto(kind)
        spec.note = spec.note or auto_note
    return spec


@dataclass
class Decoding:
    """A pane's recommended decoding, and where its temperature came from (said under the pane)."""

    temperature: float
    top_k: int
    top_p: float
    source: str

    def values(self) -> dict:
        return {"temperature": self.temperature, "top_k": self.top_k, "top_p": self.top_p}


def _generation_config(path: str) -> dict:
    """The sampling values of a local model's generation_config.json (its publisher's advice), if any."""
    file = os.path.join(path, "generation_config.json")
    if not os.path.isfile(file):
        return {}
    with open(file, encoding="utf-8") as handle:
        saved = json.load(handle)
    return {k: saved[k] for k in FALLBACK_DECODING if saved.get(k) is not None}


def _recorded(results: dict | None) -> dict:
    """The decoding an evaluation ran at (a sweep's best T wins); empty when it scored given completions."""
    if not results:
        return {}
    evaluated = (results.get("config") or {}).get("decoding") or {}
    recorded = {k: evaluated[k] for k in FALLBACK_DECODING if evaluated.get(k) is not None}
    if (results.get("best") or {}).get("temperature") is not None:
        recorded["temperature"] = results["best"]["temperature"]
    return recorded


def recommended_decoding(spec: ModelSpec, results: dict | None = None, where: str = "its results") -> Decoding:
    """Config decoding, else the decoding its evaluation recorded (a sweep's best T, else the evaluated one),
    else the model's generation_config.json, else a fallback; the source names the first that set T.

    An SSD model saved by ssd-hf carries its base model's generation_config.json, whose T is the base's
    advice, not this model's T_eval: the source says so, so the pane never passes it off as measured.
    """
    from ..records import PROVENANCE_FILE

    layers = [(_generation_config(spec.path), "generation_config.json"), (_recorded(results), where),
              ({k: v for k, v in spec.decoding.items() if k in FALLBACK_DECODING and v is not None}, "config.yaml")]
    decoding, source = dict(FALLBACK_DECODING), "fallback (nothing recorded)"
    for values, name in layers:
        decoding.update(values)
        if "temperature" in values:
            source = name
    if source == where:
        source = f"T_eval {'best of the sweep' if (results.get('best') or {}).get('temperature') is not None else 'as evaluated'} in {where}"
    elif source == "generation_config.json" and os.path.isfile(os.path.join(spec.path, PROVENANCE_FILE)):
        source = "the base model's generation_config.json: no T_eval recorded for this SSD model (run `ssd-hf eval`)"
    elif source == "generation_config.json":
        source = "its generation_config.json (the publisher's advice)"
    return Decoding(float(decoding["temperature"]), int(decoding["top_k"]), float(decoding["top_p"]), source)


def _bundled_problem_files() -> list[str]:
    """The evaluation fixtures (LCB schema, with tests) first, the plain demo prompts as a fallback."""
    data = os.path.join(os.path.dirname(APP_DIR), "data")
    fixtures = os.path.join(data, "lcb_fixtures")
    files = sorted(
        os.path.join(fixtures, name) for name in (os.listdir(fixtures) if os.path.isdir(fixtures) else [])
        if name.startswith("problems") and name.endswith(".jsonl")
    )
    return files or [os.path.join(data, "demo_prompts.jsonl")]


def _problem_from_row(row: dict) -> Problem | None:
    question = row.get("question_content") or row.get("question") or row.get("problem")
    if not question:
        return None
    question_id = str(row.get("question_id") or row.get("task_id") or row.get("question_title") or question[:30])
    return Problem(
        question_id=question_id,
        title=str(row.get("question_title") or f"{question_id}: {' '.join(question.split())[:48]}"),
        question=question,
        starter_code=row.get("starter_code") or "",
        difficulty=str(row.get("difficulty") or "unknown"),
        row=row,
    )


def load_problems(source: str = "auto") -> list[Problem]:
    """Problems for the picker, from LCB-schema JSONL rows (question_content, starter_code, tests...)."""
    files = _bundled_problem_files() if source == "auto" else (
        sorted(os.path.join(source, f) for f in os.listdir(source) if f.endswith(".jsonl"))
        if os.path.isdir(source) else [source]
    )
    problems, seen = [], set()
    for file in files:
        with open(file, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                problem = _problem_from_row(json.loads(line))
                if problem and problem.question_id not in seen:
                    seen.add(problem.question_id)
                    problems.append(problem)
    logger.info("%d problems from %s", len(problems), ", ".join(os.path.basename(f) for f in files))
    return problems
