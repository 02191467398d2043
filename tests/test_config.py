"""SSDConfig: validation with one-line errors, YAML + command-line parsing through TRL's parser."""

import pytest

from ssd_hf import SSDConfig, SSDError
from ssd_hf.args import parse_args


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("temperature", 0.0, "temperature must be > 0"),
        ("temperature", -1.0, "temperature must be > 0"),
        ("top_p", 1.5, "top_p must be in (0, 1]"),
        ("top_p", 0.0, "top_p must be in (0, 1]"),
        ("top_k", -1, "top_k must be >= 0"),
        ("num_samples_per_prompt", 0, "num_samples_per_prompt must be >= 1"),
        ("max_new_tokens", 0, "max_new_tokens must be >= 1"),
        ("engine", "tgi", "engine must be one of"),
        ("drop_shortest_fraction", 1.0, "drop_shortest_fraction must be in [0, 1)"),
        ("prompt_template", "chatml", "prompt_template must be one of"),
    ],
)
def test_bad_values_raise_one_line(tmp_path, field, value, message):
    with pytest.raises(SSDError) as error:
        SSDConfig(output_dir=str(tmp_path), **{field: value})
    assert message in str(error.value)
    assert "\n" not in str(error.value)


def test_paper_optimiser_defaults(tmp_path):
    config = SSDConfig(output_dir=str(tmp_path))
    assert (config.learning_rate, config.adam_beta1, config.adam_beta2, config.weight_decay) == (5e-6, 0.9, 0.95, 0.1)
    assert config.lr_scheduler_kwargs == {"min_lr": 1e-6}
    assert getattr(config.lr_scheduler_type, "value", config.lr_scheduler_type) == "cosine_with_min_lr"
    assert config.num_samples_per_prompt == 1 and config.drop_empty_and_stubs and config.drop_shortest_fraction == 0


def test_yaml_then_command_line_overrides(tmp_path):
    yaml_path = tmp_path / "my.yaml"
    yaml_path.write_text(
        "model_name_or_path: some/model\ndataset_name: prompts.jsonl\ntemperature: 1.1\ntop_k: 20\n"
        "top_p: 0.95\nnum_samples_per_prompt: 2\noutput_dir: out\n"
    )
    script_args, config, model_args = parse_args(["--config", str(yaml_path), "--temperature", "1.6", "--top_p", "0.8"])
    assert (config.temperature, config.top_k, config.top_p) == (1.6, 20, 0.8)
    assert config.num_samples_per_prompt == 2
    assert model_args.model_name_or_path == "some/model"
    assert script_args.dataset_name == "prompts.jsonl"
    assert config.resolved_samples_dir().endswith("samples")


def test_bad_value_in_yaml_is_one_line(tmp_path):
    yaml_path = tmp_path / "bad.yaml"
    yaml_path.write_text("model_name_or_path: m\ntemperature: 0\n")
    with pytest.raises(SSDError, match="temperature must be > 0"):
        parse_args(["--config", str(yaml_path)])


def test_missing_config_file():
    with pytest.raises(SSDError, match="does not exist"):
        parse_args(["--config", "no/such/file.yaml"])


def test_unknown_yaml_key(tmp_path):
    yaml_path = tmp_path / "typo.yaml"
    yaml_path.write_text("model_name_or_path: m\ntemprature: 1.0\n")
    with pytest.raises(SSDError, match="temprature"):
        parse_args(["--config", str(yaml_path)])
