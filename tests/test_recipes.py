"""Recipes: the paper's values in every YAML, and every recipe script run end to end on a tiny model
of its family (samples -> trained checkpoint -> results.json), plus a 2-process accelerate run."""

import glob
import json
import os
import subprocess
import sys

import pytest
import yaml
from recipe_runs import RECIPES, ROOT, run_recipe, smoke_overrides

# docs/paper.md "Decoding per model (paper Table 3)", copied by hand: (T, top-k, top-p) for train and eval.
PAPER_TABLE3 = {
    "llama3_8b_instruct": ("meta-llama/Llama-3.1-8B-Instruct", (0.8, 20, 0.8), (0.7, 20, 0.8)),
    "qwen3_4b_instruct": ("Qwen/Qwen3-4B-Instruct-2507", (1.6, 20, 0.8), (1.1, 20, 0.8)),
    "qwen3_4b_thinking": ("Qwen/Qwen3-4B-Thinking-2507", (1.1, 20, 0.95), (0.7, 20, 0.95)),
    "qwen3_30b": ("Qwen/Qwen3-30B-A3B-Instruct-2507", (1.6, 20, 0.8), (0.9, 20, 0.8)),
    "qwen3_30b_thinking": ("Qwen/Qwen3-30B-A3B-Thinking-2507", (1.2, 20, 0.95), (0.7, 20, 0.95)),
}
# docs/paper.md "Training": instruct 2,500 iterations / warm-up 250 / checkpoint 250; thinking 300 / 50 / 50.
PAPER_SCHEDULE = {"instruct": (2500, 250, 250), "thinking": (300, 50, 50)}
FAMILY = {"llama3_8b_instruct": "tiny_llama", "qwen3_30b": "tiny_qwen3_moe", "qwen3_30b_thinking": "tiny_qwen3_moe"}


def load_recipe(name: str) -> dict:
    with open(os.path.join(RECIPES, f"{name}.yaml")) as f:
        return yaml.safe_load(f)


def test_every_recipe_has_a_script_and_yaml():
    names = {os.path.basename(p)[:-5] for p in glob.glob(os.path.join(RECIPES, "*.yaml"))}
    assert names == set(PAPER_TABLE3)
    for name in names:
        assert os.path.isfile(os.path.join(RECIPES, f"{name}.py"))


@pytest.mark.parametrize("name", sorted(PAPER_TABLE3))
def test_yaml_matches_paper(name):
    hub_id, train, evaluation = PAPER_TABLE3[name]
    recipe = load_recipe(name)
    assert recipe["model_name_or_path"] == hub_id
    assert (recipe["temperature"], recipe["top_k"], recipe["top_p"]) == train
    assert (recipe["eval_temperature"], recipe["eval_top_k"], recipe["eval_top_p"]) == evaluation
    steps, warmup, save = PAPER_SCHEDULE["thinking" if "thinking" in name.lower() else "instruct"]
    assert (recipe["max_steps"], recipe["warmup_steps"], recipe["save_steps"]) == (steps, warmup, save)
    assert recipe["learning_rate"] == 5e-6 and recipe["lr_scheduler_kwargs"] == {"min_lr": 1e-6}
    assert (recipe["adam_beta1"], recipe["adam_beta2"], recipe["weight_decay"]) == (0.9, 0.95, 0.1)
    # global batch 32 sequences whatever the GPU count; accumulation is derived from it, never set beside it
    assert recipe["global_batch_size"] == 32 and "gradient_accumulation_steps" not in recipe
    assert recipe["max_length"] == 65536 and recipe["num_samples_per_prompt"] == 1
    assert (recipe["dataset_name"], recipe["dataset_config"]) == ("microsoft/rStar-Coder", "seed_sft")
    assert recipe["eval_n"] == 10
    assert ("router_aux_loss_coef" in recipe) == ("30b" in name)


def test_recipe_yaml_parses_with_the_recipe_parser():
    """Every key in every YAML is a real field (a typo'd key would fail TRL's parser)."""
    from ssd_hf.args import parse

    for name in PAPER_TABLE3:
        config = parse(["--config", os.path.join(RECIPES, f"{name}.yaml")]).config
        assert config.temperature == PAPER_TABLE3[name][1][0]
        assert config.eval_temperature == PAPER_TABLE3[name][2][0]
        assert config.lr_scheduler_kwargs == {"min_lr": 1e-6}


def test_bad_recipe_config_is_one_line_error(capsys):
    from ssd_hf.cli import main

    assert main(["run", "--config", "no-such-recipe.yaml"]) == 2
    assert "does not exist" in capsys.readouterr().err


def documented_lora_args(name: str, rank: int = 8) -> list[str]:
    """The LoRA variant exactly as the recipe's YAML header documents it, at a tiny rank."""
    with open(os.path.join(RECIPES, f"{name}.yaml")) as f:
        line = next(line for line in f if line.startswith("# LoRA variant: add "))
    args = line.removeprefix("# LoRA variant: add ").split("[ours]")[0].split()
    for flag, value in (("--lora_r", str(rank)), ("--lora_alpha", str(2 * rank))):
        args[args.index(flag) + 1] = value
    return args


def assert_moe_lora_adapts_every_expert(out: str, model: str) -> None:
    """The adapter holds a LoRA pair for both fused expert weights of every layer (and none for the router), and
    ssd_provenance.json records the expert parameters beside the attention modules."""
    from safetensors import safe_open
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model)
    with safe_open(os.path.join(out, "adapter_model.safetensors"), "pt") as f:
        keys = list(f.keys())
        experts = {k: tuple(f.get_slice(k).get_shape()) for k in keys if ".mlp.experts." in k and ".lora_B." in k}
    assert len(experts) == 2 * config.num_hidden_layers, keys  # gate_up_proj and down_proj, every layer
    # one rank-8 LoRA per expert, stacked on the rank axis; outputs: fused gate+up (2 x moe_intermediate), down (hidden)
    stacked = 8 * config.num_experts
    assert set(experts.values()) == {(2 * config.moe_intermediate_size, stacked), (config.hidden_size, stacked)}
    assert not [k for k in keys if ".mlp.gate." in k]
    with open(os.path.join(out, "ssd_provenance.json")) as f:
        training = json.load(f)["training"]
    assert training["lora_target_modules"] == ["k_proj", "o_proj", "q_proj", "v_proj"]
    assert training["lora_target_parameters"] == ["mlp.experts.down_proj", "mlp.experts.gate_up_proj"]


@pytest.mark.parametrize("name", sorted(PAPER_TABLE3))
def test_recipe_smoke(name, request, tmp_path, recwarn):
    from ssd_hf.data import load_samples

    model = request.getfixturevalue(FAMILY.get(name, "tiny_qwen3"))
    lora = name == "qwen3_30b_thinking"  # the documented LoRA variant, on the MoE family
    if name == "qwen3_4b_instruct":  # the same smoke run the Space's browser test shows
        out = request.getfixturevalue("recipe_run")["ssd"]
    else:
        out = str(tmp_path / "out")
        run_recipe(name, smoke_overrides(model, out) + (documented_lora_args(name) if lora else []))
    _, (t_train, k_train, p_train), (t_eval, k_eval, p_eval) = PAPER_TABLE3[name]

    samples = load_samples(os.path.join(out, "samples"))
    assert len(samples) == 2
    assert set(samples["temperature"]) == {t_train} and set(samples["top_k"]) == {k_train}
    assert set(samples["top_p"]) == {p_train}

    with open(os.path.join(out, "ssd_provenance.json")) as f:
        provenance = json.load(f)
    assert provenance["sampling"]["temperature"] == t_train
    assert provenance["num_train_records"] == 2
    if lora:
        assert provenance["adapter"] is True
        assert_moe_lora_adapts_every_expert(out, model)
        assert not [str(w.message) for w in recwarn if "did not match any targeted module" in str(w.message)]
    else:
        assert os.path.isfile(os.path.join(out, "model.safetensors"))
        with open(os.path.join(out, "config.json")) as f:
            model_config = json.load(f)
        if "30b" in name:  # the MoE recipe's load-balancing loss reached the model (TRL turns on router logits)
            assert model_config["output_router_logits"] is True
            assert model_config["router_aux_loss_coef"] == 0.001

    with open(os.path.join(out, "eval", "results.json")) as f:
        results = json.load(f)
    decoding = results["config"]["decoding"]
    assert (decoding["temperature"], decoding["top_k"], decoding["top_p"]) == (t_eval, k_eval, p_eval)
    assert results["config"]["model"] == out
    assert results["aggregates"]["all"]["num_problems"] == 1


def shard_keys(samples_dir: str) -> list[set]:
    """(prompt_id, sample_index) written by each process, grouped by the pid in the shard file name."""
    by_pid: dict[str, set] = {}
    for path in glob.glob(os.path.join(samples_dir, ".store", "shards", "*", "*.jsonl")):
        pid = os.path.basename(path).split("-")[-2]
        with open(path) as f:
            for line in f:
                record = json.loads(line)
                by_pid.setdefault(pid, set()).add((record["prompt_id"], record["sample_index"]))
    return list(by_pid.values())


def test_accelerate_two_processes_shard_sampling_and_train_ddp(tiny_qwen3, tmp_path):
    """`accelerate launch --multi_gpu --num_processes 2` on this GPU-less machine: gloo on CPU; each rank samples
    its half of the prompts, the merged dataset equals a single-process run (completions included), and training
    runs DDP over both.

    (accelerate 1.15's `--cpu` with several processes needs MPI (`--mpirun_hostfile`); see recipes/README.md.)
    """
    from ssd_hf.data import load_samples

    common = smoke_overrides(tiny_qwen3, "")[:-2]
    common += ["--max_prompts", "4", "--per_device_train_batch_size", "1", "--run_eval", "false"]
    single, double = str(tmp_path / "single"), str(tmp_path / "double")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    script = os.path.join(RECIPES, "qwen3_4b_instruct.py")
    subprocess.run([sys.executable, script, *common, "--run_train", "false", "--output_dir", single], check=True,
                   env=env, cwd=ROOT, capture_output=True, timeout=300)
    launched = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
         "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", script, *common, "--output_dir", double],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]

    per_rank = shard_keys(os.path.join(double, "samples"))
    assert len(per_rank) == 2 and all(len(keys) == 2 for keys in per_rank)
    assert not per_rank[0] & per_rank[1]

    # Identical in content, completions included: each sample's tokens depend on its own seed only.
    a, b = load_samples(os.path.join(single, "samples")), load_samples(os.path.join(double, "samples"))
    key = lambda r: (r["prompt_id"], r["sample_index"])  # noqa: E731
    rows_a, rows_b = sorted(a.to_list(), key=key), sorted(b.to_list(), key=key)
    assert len(rows_a) == 4 and len({r["completion"] for r in rows_a}) == 4
    assert rows_a == rows_b

    with open(os.path.join(double, "ssd_provenance.json")) as f:
        provenance = json.load(f)
    assert provenance["num_train_records"] == 4
    # DDP: 2 processes x 1 per device x 1 accumulation
    assert provenance["training"]["global_batch_size"] == 2
    assert os.path.isfile(os.path.join(double, "model.safetensors"))


def test_global_batch_size_sets_accumulation_for_the_process_count(monkeypatch):
    """The paper's global batch of 32 on 8 or 16 GPUs; a count that does not divide it is one clear line."""
    from ssd_hf import SSDError
    from ssd_hf.config import SSDConfig

    for gpus, accumulation in ((8, 4), (16, 2), (32, 1)):
        monkeypatch.setenv("WORLD_SIZE", str(gpus))  # what `accelerate launch` sets in every process
        config = SSDConfig(output_dir="unused", per_device_train_batch_size=1, report_to="none", global_batch_size=32)
        assert config.gradient_accumulation_steps == accumulation
    monkeypatch.setenv("WORLD_SIZE", "12")
    with pytest.raises(SSDError, match="not a multiple of per_device_train_batch_size 1 x 12 processes"):
        SSDConfig(output_dir="unused", per_device_train_batch_size=1, report_to="none", global_batch_size=32)
