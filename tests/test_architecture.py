"""The house: no import cycles, small modules and functions, one parser that resolves a YAML the same way
from every entry point, and one manifest shape for every sampling path."""

from __future__ import annotations

import ast
import dataclasses
import os

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "ssd_hf")
RECIPES = os.path.join(ROOT, "recipes")
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 450, 60


def _modules() -> dict[str, str]:
    found = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                module = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".").removesuffix(".__init__")
                found[module] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> ssd_hf modules it imports anywhere (function-level imports included)."""
    modules = _modules()
    graph = {m: set() for m in modules}
    for module, path in modules.items():
        package = module if path.endswith("__init__.py") else module.rsplit(".", 1)[0]
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([node.module] if node.module else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
            graph[module] |= {n for n in names if n in modules and n != module}
    return graph


def test_import_graph_is_acyclic():
    graph, state, cycles = import_graph(), {}, []

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                cycles.append(path[path.index(target):] + [target])
            elif target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_modules_and_functions_are_small():
    too_long = []
    for module, path in _modules().items():
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        if text.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{module}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES:
                too_long.append(f"{module}.{node.name}: {node.end_lineno - node.lineno + 1} lines")
    assert too_long == []


def test_every_ssd_field_is_in_one_help_group():
    from ssd_hf.settings import FIELD_GROUPS, SSDSettings

    grouped = [name for names in FIELD_GROUPS.values() for name in names]
    assert sorted(grouped) == sorted(f.name for f in dataclasses.fields(SSDSettings))


def _resolved(script, config, model) -> dict:
    """The facts a run acts on: model, prompts, stages, decoding (train and eval), and the global batch."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return {
        "model": model.model_name_or_path, "dataset": (script.dataset_name, script.dataset_config),
        "stages": (config.run_sample, config.run_train, config.run_eval),
        "sampling": config.sampling_params(), "eval": config.eval_params(), "engine": config.engine,
        "global_batch": config.per_device_train_batch_size * config.gradient_accumulation_steps * world,
        "schedule": (config.max_steps, config.warmup_steps, config.learning_rate),
    }


@pytest.mark.parametrize("recipe", ["qwen3_4b_instruct", "qwen3_30b_thinking"])
@pytest.mark.parametrize("world", ["1", "8"])
def test_one_yaml_resolves_the_same_from_cli_recipe_and_python(recipe, world, monkeypatch):
    from trl import ModelConfig, ScriptArguments

    from ssd_hf.args import parse
    from ssd_hf.config import SSDConfig

    monkeypatch.setenv("WORLD_SIZE", world)
    path = os.path.join(RECIPES, f"{recipe}.yaml")
    from_cli = parse(["--config", path], "run")  # ssd-hf run --config recipes/<recipe>.yaml
    from_recipe = parse([], "run", default_config=path)  # recipes/<recipe>.py (recipe_main)
    with open(path) as handle:
        values = yaml.safe_load(handle)
    groups = []
    for cls in (ScriptArguments, SSDConfig, ModelConfig):
        names = {f.name for f in dataclasses.fields(cls)}
        groups.append(cls(**{k: v for k, v in values.items() if k in names}))
    expected = _resolved(*groups)
    assert _resolved(from_cli.script, from_cli.config, from_cli.model) == expected
    assert _resolved(from_recipe.script, from_recipe.config, from_recipe.model) == expected
    assert expected["global_batch"] == 32 and expected["stages"] == (True, True, True)


def test_explicit_accumulation_wins_over_the_yaml_global_batch():
    from ssd_hf.args import parse

    path = os.path.join(RECIPES, "qwen3_4b_instruct.yaml")
    config = parse(["--config", path, "--gradient_accumulation_steps", "3"], "run").config
    assert config.gradient_accumulation_steps == 3 and config.global_batch_size is None


@pytest.mark.parametrize("command, flag", [("sample", "--run_sample"), ("sample", "--eval_n"), ("train", "--run_eval")])
def test_a_flag_the_command_does_not_use_is_an_error(command, flag):
    from ssd_hf import SSDError
    from ssd_hf.args import parse

    with pytest.raises(SSDError, match=f"{flag} is not used by `ssd-hf {command}`"):
        parse(["--model_name_or_path", "m", flag, "1"], command)


def test_python_api_and_cli_record_the_same_manifest_fields(tiny_qwen3, tmp_path):
    """`SSDTrainer(...).train()` and `ssd-hf run` write one manifest shape, prompt pool included."""
    import json

    from datasets import load_dataset

    from ssd_hf import SSDConfig, SSDTrainer
    from ssd_hf.cli import main
    from ssd_hf.records import read_samples_manifest

    pool = tmp_path / "prompts.jsonl"
    pool.write_text("".join(json.dumps({"question": f"Print {i} twice."}) + "\n" for i in range(3)))
    common = dict(max_new_tokens=8, max_steps=1, per_device_train_batch_size=2, report_to="none", save_strategy="no",
                  gradient_checkpointing=False, drop_empty_and_stubs=False, warmup_steps=0, engine="transformers")
    args = SSDConfig(output_dir=str(tmp_path / "python"), **common)
    SSDTrainer(model=tiny_qwen3, args=args, train_dataset=load_dataset("json", data_files=str(pool), split="train")).train()
    argv = ["run", "--model_name_or_path", tiny_qwen3, "--dataset_name", str(pool), "--output_dir", str(tmp_path / "cli")]
    argv += [item for key, value in common.items() for item in (f"--{key}", str(value))]
    assert main(argv) == 0
    python, cli = (read_samples_manifest(str(tmp_path / name / "samples")) for name in ("python", "cli"))
    for manifest in (python, cli):
        assert manifest.prompt_pool is not None and manifest.prompt_pool.num_prompts == 3
        assert manifest.prompt_pool.num_rows == 3 and manifest.prompt_pool.fingerprint
        assert manifest.prompt_pool.split == "train" and manifest.finalized and manifest.num_records == 3
    filled = lambda m: {k for k, v in dataclasses.asdict(m).items() if v not in (None, [], {})}  # noqa: E731
    assert filled(python) == filled(cli)
    assert python.sampling == cli.sampling and python.prompts == cli.prompts
