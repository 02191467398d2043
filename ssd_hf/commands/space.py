"""`ssd-hf space push`: upload the Gradio comparison demo (`ssd_hf/space_app/`) as a Hugging Face Space.

The Space must run on its own, so the upload is assembled in a staging folder: the app's entry point, README
and requirements from the package (so a wheel install can stage it too), the `ssd_hf` package beside them
(it is not on PyPI), a config.yaml naming the models by Hub id, the results files it cites, and the README's
Spaces header filled from that config. `--output_dir` stops after staging, to inspect or run the Space
locally before uploading anything.
"""

from __future__ import annotations

import argparse
import glob
import logging
import os
import shutil
import tempfile

import yaml

from ..errors import SSDError
from ..publish import push_space
from ..refs import is_local, split_revision
from ..space_app import APP_DIR, BUNDLED_CONFIG, ROOT_FILES

logger = logging.getLogger(__name__)

PACKAGE_DIR = os.path.dirname(APP_DIR)
# Benchmarks in results files -> the Hub dataset shown in the Space's `datasets:` header.
BENCHMARK_DATASETS = {"lcb": "livecodebench/code_generation_lite", "humaneval": "openai/openai_humaneval"}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ssd-hf space", description="Push the base-vs-SSD Gradio demo as a Space.")
    parser.add_argument("action", choices=["push"], help="what to do (only `push` for now)")
    parser.add_argument("--repo_id", help="the Space to create or update, e.g. me/ssd-demo")
    parser.add_argument("--config", help="a Space config.yaml (default: the bundled one, spaces_demo/config.yaml)")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=HUB_ID",
                        help="replace the models (repeat, in pane order), e.g. --model base=Qwen/Qwen3-4B-Instruct-2507")
    parser.add_argument("--results", action="append", default=[], metavar="NAME=PATH",
                        help="a results JSON from `ssd-hf eval`, or its output folder, for the model NAME (repeatable)")
    parser.add_argument("--private", action="store_true", help="create the Space as private")
    parser.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the cached login)")
    parser.add_argument("--output_dir", help="only assemble the Space in this folder; upload nothing")
    parser.add_argument("--from_dir", help="push this folder, assembled earlier with --output_dir, as it is")
    args = parser.parse_args(argv)
    if not args.output_dir and not args.repo_id:
        parser.error("give --repo_id me/ssd-demo to push, or --output_dir DIR to only assemble the Space")
    if args.from_dir and (args.output_dir or args.model or args.results or args.config):
        parser.error("--from_dir pushes a folder as it is; leave out --output_dir, --config, --model and --results")
    return args


def _pairs(values: list[str], flag: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, sep, target = value.partition("=")
        if not sep or not name or not target:
            raise SSDError(f"{flag} {value!r} is not NAME=VALUE; write e.g. {flag} base=Qwen/Qwen3-4B-Instruct-2507.")
        pairs.append((name, target))
    return pairs


def space_config(config_path: str | None, models: list[str], results: list[str]) -> tuple[dict, str]:
    """The config the Space will read, and the folder its relative paths were relative to."""
    path = config_path or BUNDLED_CONFIG
    if not os.path.isfile(path):
        raise SSDError(f"{path} does not exist; give --config a Space config.yaml (see docs/space.md).")
    with open(path, encoding="utf-8") as handle:
        config = yaml.safe_load(handle) or {}
    base_dir = os.path.dirname(os.path.abspath(path))
    if models:
        old = {entry.get("name"): entry for entry in config.get("models") or []}
        config["models"] = [{**old.get(name, {}), "name": name, "path": target} for name, target in _pairs(models, "--model")]
    entries = config.get("models") or []
    if len(entries) < 2:
        raise SSDError("the Space compares two or more models; name them with --model NAME=HUB_ID (repeat).")
    by_name = {entry["name"]: entry for entry in entries}
    for name, file in _pairs(results, "--results"):
        if name not in by_name:
            raise SSDError(f"--results names model {name!r}, which is not one of {', '.join(by_name)}.")
        by_name[name]["results"] = [*(by_name[name].get("results") or []), os.path.abspath(file)]
    for entry in entries:
        model_path = str(entry.get("path") or "")
        if not model_path.startswith("auto:") and is_local(model_path):
            raise SSDError(f"model {entry['name']} is the local folder {model_path}, which a Space cannot read; "
                           "push it with `ssd-hf push model` and name it by Hub id.")
    return config, base_dir


def _cited_files(entry: dict, base_dir: str) -> list[str]:
    """The results files a model's `results:` names: files as given, an eval output folder's results*.json."""
    results = entry.get("results") or []
    files = []
    for item in [results] if isinstance(results, str) else results:
        source = item if os.path.isabs(item) else os.path.join(base_dir, item)
        inside = sorted(glob.glob(os.path.join(source, "results*.json"))) if os.path.isdir(source) else [source]
        if not inside or not os.path.isfile(inside[0]):
            raise SSDError(f"results {source} of model {entry['name']} is neither a results file nor a folder "
                           "holding results*.json; fix the path.")
        files += inside
    return files


def _copy_results(config: dict, base_dir: str, stage: str) -> list[dict]:
    """Copy every cited results file into results/ and point the config at the copies."""
    loaded = []
    os.makedirs(os.path.join(stage, "results"), exist_ok=True)
    for entry in config["models"]:
        copies = []
        for source in _cited_files(entry, base_dir):
            target = os.path.join("results", f"{entry['name']}-{os.path.basename(source)}".replace(os.sep, "_"))
            shutil.copyfile(source, os.path.join(stage, target))
            copies.append(target)
            with open(source, encoding="utf-8") as handle:
                loaded.append(yaml.safe_load(handle) or {})  # JSON is YAML; only `benchmark` is read
        if copies:
            entry["results"] = copies
    return loaded


def _write_header(stage: str, config: dict, results: list[dict]) -> None:
    """Fill the README's Spaces header: the Hub models it loads, the datasets its results come from."""
    import gradio
    from huggingface_hub import SpaceCard

    readme = os.path.join(stage, "README.md")
    card = SpaceCard.load(readme)
    card.data.models = [split_revision(e["path"])[0] for e in config["models"] if not e["path"].startswith("auto:")]
    benchmarks = {str(r.get("benchmark") or "") for r in results}
    card.data.datasets = sorted({d for prefix, d in BENCHMARK_DATASETS.items() for b in benchmarks if b.startswith(prefix)})
    card.data.sdk_version = gradio.__version__
    card.save(readme)


def stage_space(stage: str, config: dict, base_dir: str) -> str:
    """Assemble the Space in `stage`: app.py, README and requirements, the ssd_hf package, config.yaml, results,
    README header."""
    os.makedirs(stage, exist_ok=True)
    for name in ROOT_FILES:
        shutil.copyfile(os.path.join(APP_DIR, name), os.path.join(stage, name))
    package = os.path.join(stage, "ssd_hf")
    if os.path.exists(package):
        shutil.rmtree(package)
    shutil.copytree(PACKAGE_DIR, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    results = _copy_results(config, base_dir, stage)
    with open(os.path.join(stage, "config.yaml"), "w", encoding="utf-8") as handle:
        handle.write("# Written by `ssd-hf space push`; ssd_hf/space_app/config.yaml documents every key.\n")
        yaml.safe_dump(config, handle, sort_keys=False)
    _write_header(stage, config, results)
    return stage


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if args.from_dir:
        if not os.path.isfile(os.path.join(args.from_dir, "app.py")) or not os.path.isdir(os.path.join(args.from_dir, "ssd_hf")):
            raise SSDError(f"{args.from_dir} is not an assembled Space (no app.py and ssd_hf/); make one with --output_dir.")
        print(f"Space pushed: {push_space(args.from_dir, args.repo_id, private=args.private, token=args.token)}")
        return 0
    config, base_dir = space_config(args.config, args.model, args.results)
    if args.output_dir:
        stage_space(args.output_dir, config, base_dir)
        print(f"Space assembled in {args.output_dir}; run it with: cd {args.output_dir} && python app.py")
        return 0
    with tempfile.TemporaryDirectory(prefix="ssd-space-") as stage:
        stage_space(stage, config, base_dir)
        url = push_space(stage, args.repo_id, private=args.private, token=args.token)
    print(f"Space pushed: {url}")
    return 0
