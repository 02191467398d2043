"""The `ssd-hf` command: the core run on a tiny Qwen3, and one clear line for each bad input."""

import json
import os
import subprocess
import sys

import pytest

from ssd_hf.cli import main
from ssd_hf.sampling.store import RECORD_FIELDS

PROMPTS = os.path.join(os.path.dirname(__file__), "..", "ssd_hf", "data", "demo_prompts.jsonl")
SMALL_RUN = [
    "--max_new_tokens", "24", "--num_train_epochs", "1", "--per_device_train_batch_size", "16",
    "--learning_rate", "1e-3", "--max_length", "1024", "--save_strategy", "no", "--report_to", "none",
    "--gradient_checkpointing", "false", "--drop_empty_and_stubs", "false",
]


def test_run_32_prompts_n2_gives_64_records_and_a_trained_model(tiny_qwen3, tmp_path):
    from datasets import load_dataset

    out = str(tmp_path / "full")
    code = main(["run", "--model_name_or_path", tiny_qwen3, "--dataset_name", PROMPTS, "--output_dir", out,
                 "--num_samples_per_prompt", "2", *SMALL_RUN])
    assert code == 0
    samples = load_dataset(os.path.join(out, "samples"), split="train")
    assert len(samples) == 64 and samples.column_names == list(RECORD_FIELDS)
    assert len(set(zip(samples["prompt_id"], samples["sample_index"]))) == 64
    row = samples[0]
    assert row["engine"] == "transformers" and row["model_id"] == tiny_qwen3 and row["model_revision"] == "local"
    assert (row["temperature"], row["top_k"], row["top_p"]) == (1.6, 20, 0.8)
    assert row["finish_reason"] in ("stop", "length") and row["prompt"][-1]["role"] == "user"
    assert all(0 < n <= 24 for n in samples["completion_tokens"]) and all(n > 0 for n in samples["prompt_tokens"])
    assert len(set(samples["seed"])) == 64  # one seed per sample
    assert os.path.exists(os.path.join(out, "model.safetensors"))
    provenance = json.load(open(os.path.join(out, "ssd_provenance.json")))
    assert provenance["base_model"] == tiny_qwen3 and provenance["num_samples"] == 64
    assert provenance["sampling"]["temperature"] == 1.6 and provenance["adapter"] is False


def test_lora_run_saves_an_adapter_peft_loads(tiny_qwen3, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = str(tmp_path / "lora")
    code = main(["run", "--model_name_or_path", tiny_qwen3, "--dataset_name", PROMPTS, "--output_dir", out,
                 "--max_prompts", "8", "--use_peft", "--lora_r", "4", "--lora_alpha", "8", *SMALL_RUN])
    assert code == 0
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_qwen3), out)
    assert any("lora_A" in name for name, _ in model.named_parameters())
    assert json.load(open(os.path.join(out, "ssd_provenance.json")))["adapter"] is True
    # `train` alone reuses the samples on disk: no second sampling pass.
    code = main(["train", "--model_name_or_path", tiny_qwen3, "--output_dir", out, "--use_peft", "--lora_r", "4", *SMALL_RUN])
    assert code == 0


def _write(path, text):
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    "case, message",
    [
        ("missing_column", "no 'prompt' or 'question' column"),
        ("temperature_zero", "temperature must be > 0"),
        ("top_p", "top_p must be in (0, 1]"),
        ("empty_file", "is empty"),
        ("unreadable", "does not exist"),
    ],
)
def test_bad_inputs_give_one_line_and_exit_2(case, message, tiny_qwen3, tmp_path, capsys):
    prompts = _write(tmp_path / "p.jsonl", '{"question": "Add."}\n')
    extra = []
    if case == "missing_column":
        prompts = _write(tmp_path / "bad.jsonl", '{"text": "Add."}\n')
    elif case == "temperature_zero":
        extra = ["--temperature", "0"]
    elif case == "top_p":
        extra = ["--top_p", "1.5"]
    elif case == "empty_file":
        prompts = _write(tmp_path / "empty.jsonl", "")
    elif case == "unreadable":
        prompts = str(tmp_path / "nowhere" / "prompts.jsonl")
    code = main(["sample", "--model_name_or_path", tiny_qwen3, "--dataset_name", prompts,
                 "--output_dir", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert code == 2
    assert len(errors) == 1 and message in errors[0] and errors[0].startswith("ssd-hf sample: error:")
    assert "Traceback" not in err


def test_console_script_prints_no_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "ssd_hf.cli", "sample", "--model_name_or_path", "m", "--temperature", "0"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "ssd-hf sample: error: temperature must be > 0 (got 0.0); the paper uses 0.8-1.6 for T_train."
    )


@pytest.mark.parametrize("recipe", ["qwen3_4b_instruct", "llama3_8b_instruct", "qwen3_30b"])
def test_recipe_yaml_works_as_cli_config(recipe):
    """`ssd-hf sample --config recipes/X.yaml --engine endpoint ...` (the endpoint issue's command) parses as is."""
    from ssd_hf.args import parse_args

    path = os.path.join(os.path.dirname(__file__), "..", "recipes", f"{recipe}.yaml")
    _, config, model_args = parse_args(["--config", path, "--engine", "endpoint", "--endpoint", "http://tgi-0:8080",
                                        "--endpoint", "http://tgi-1:8080", "--concurrency", "64"])
    assert config.engine == "endpoint" and config.endpoint == ["http://tgi-0:8080", "http://tgi-1:8080"]
    assert config.concurrency == 64 and model_args.model_name_or_path and config.top_k == 20
