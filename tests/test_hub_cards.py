"""Cards render from recorded provenance only, parse with huggingface_hub and pass metadata validation,
before and after results exist; pulling local samples warns when the base model differs."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from hub_fixtures import BASE_MODEL, SAMPLES_REPO, make_samples_dir, provenance, results
from hub_server import validate_card_metadata
from huggingface_hub import DatasetCard, ModelCard

from ssd_hf import cards, hub
from ssd_hf.errors import SSDError


def _model_dir(tmp_path, adapter: bool):
    root = tmp_path / ("adapter" if adapter else "full")
    root.mkdir()
    (root / ("adapter_config.json" if adapter else "config.json")).write_text("{}")
    (root / "ssd_provenance.json").write_text(json.dumps(provenance(adapter)))
    return str(root)


def test_model_card_before_results_exist(tmp_path):
    text = cards.render_model_card(_model_dir(tmp_path, adapter=True), None, "me/tiny-ssd")
    assert validate_card_metadata(text, "model") == []
    card = ModelCard(text)
    assert card.data.base_model == BASE_MODEL and card.data.datasets == [SAMPLES_REPO]
    assert card.data.library_name == "peft" and card.data.eval_results is None
    assert "No evaluation results yet" in card.text and "AutoPeftModelForCausalLM" in card.text
    assert "| lora_r | 4 |" in card.text and "| learning_rate | 0.0005 |" in card.text
    assert str(tmp_path) not in text


def test_model_card_with_results_has_base_vs_ssd_table_and_model_index(tmp_path):
    model_dir = _model_dir(tmp_path, adapter=False)
    text = cards.render_model_card(model_dir, [results(BASE_MODEL, 1.0), results("me/tiny-ssd", 1.5)], "me/tiny-ssd")
    assert validate_card_metadata(text, "model") == []
    card = ModelCard(text)
    assert card.data.library_name == "transformers"
    entries = {(r.dataset_name, r.metric_type): r.metric_value for r in card.data.eval_results}
    assert entries[("LiveCodeBench v6", "pass@1")] == 60.0 and entries[("LiveCodeBench v6 (hard)", "pass@1")] == 30.0
    assert len(entries) == 8  # only this model's own results: 4 difficulties x pass@1/pass@5
    assert "| hard | 2 | 20.0 [10.0, 30.0] | 30.0 [20.0, 40.0] |" in card.text
    assert "temperature 1.1" in card.text and "![pass@1 by difficulty](assets/results.png)" in card.text
    assert cards.results_plot_png([results(BASE_MODEL, 1.0)]).startswith(b"\x89PNG")


def test_dataset_card_counts_filters_lengths_and_is_deterministic(tmp_path):
    samples = make_samples_dir(str(tmp_path / "samples"))
    text = cards.render_dataset_card(samples, "me/samples")
    assert validate_card_metadata(text, "dataset") == []
    card = DatasetCard(text)
    assert card.data.size_categories == ["n<1K"] and "self-distillation" in card.data.tags
    assert card.data.configs[0]["data_files"][0]["path"] == "data/*.parquet"
    assert "| drop empty responses and single-line stubs | True | 2 |" in card.text
    assert "Records left for training: 4 of 6." in card.text and "| 15.5 | 3 | 8 | 18 | 28 | 28 |" in card.text
    assert cards.render_dataset_card(samples, "me/samples") == text
    assert cards.length_histogram_png(samples) == cards.length_histogram_png(samples)  # no-op re-push needs equal bytes


def test_load_local_samples_warns_on_other_base_model(tmp_path, caplog):
    samples = make_samples_dir(str(tmp_path / "samples"))
    with caplog.at_level(logging.WARNING, logger="ssd_hf.hub"):
        assert len(hub.load_samples_dataset(samples, expected_base_model="tester/tiny-base")) == 6
        assert not caplog.records
        hub.load_samples_dataset(samples, expected_base_model="other/model")
    assert "drawn from tester/tiny-base" in caplog.text and "other/model" in caplog.text


def test_model_push_refuses_missing_provenance_and_bad_dirs(tmp_path):
    model_dir = _model_dir(tmp_path, adapter=False)
    shutil.move(f"{model_dir}/ssd_provenance.json", tmp_path / "moved.json")
    with pytest.raises(SSDError, match="ssd_provenance.json"):
        cards.render_model_card(model_dir, None)
    with pytest.raises(SSDError, match="neither adapter_config.json nor config.json"):
        hub._model_files(str(tmp_path))


def test_model_files_leave_out_samples_dirs_and_trainer_state(tmp_path):
    model_dir = _model_dir(tmp_path, adapter=True)
    make_samples_dir(f"{model_dir}/samples")
    for leftover in ("training_args.bin", "checkpoint-5/optimizer.pt", "runs/events", ".hidden"):
        (tmp_path / "adapter" / leftover).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "adapter" / leftover).write_bytes(b"x")
    assert sorted(hub._model_files(model_dir)) == ["adapter_config.json", "ssd_provenance.json"]
    text = cards.render_model_card(model_dir, None, "me/m", samples_repo_id="me/m-samples")
    assert ModelCard(text).data.datasets == ["me/m-samples"]
