"""Cards render from recorded provenance only, parse with huggingface_hub and pass metadata validation,
before and after results exist; pulling local samples warns when the base model differs."""

from __future__ import annotations

import json
import logging
import os
import shutil

import pytest
from hub_fixtures import BASE_MODEL, PROMPTS_REVISION, SAMPLES_REPO, make_samples_dir, provenance, results
from hub_server import validate_card_metadata
from huggingface_hub import DatasetCard, ModelCard

from ssd_hf import cards, data, publish
from ssd_hf.errors import SSDError

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "model_cards", "examples")


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
    assert f"**Prompt pool:** tester/prompts (train) @ {PROMPTS_REVISION}" in card.text
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


def test_model_card_for_scored_given_completions_says_decoding_not_recorded(tmp_path):
    scored = results("me/tiny-ssd", 1.5)  # as `ssd-hf eval --solutions` writes it: no decoding at all
    scored["config"]["decoding"] = {"temperature": None, "top_k": None, "top_p": None, "max_new_tokens": None}
    text = cards.render_model_card(_model_dir(tmp_path, adapter=False), [scored], "me/tiny-ssd")
    assert validate_card_metadata(text, "model") == []
    assert "scored given completions (`ssd-hf eval --solutions`); decoding not recorded" in text
    assert "None" not in text.split("## Recommended decoding")[1].split("## Results")[0]
    assert "| all | 6 | – | 60.0 [50.0, 70.0] |" in text


def test_dataset_card_counts_filters_lengths_and_is_deterministic(tmp_path):
    samples = make_samples_dir(str(tmp_path / "samples"))
    text = cards.render_dataset_card(samples, "me/samples")
    assert validate_card_metadata(text, "dataset") == []
    card = DatasetCard(text)
    assert card.data.size_categories == ["n<1K"] and "self-distillation" in card.data.tags
    assert card.data.configs[0]["data_files"][0]["path"] == "data/*.parquet"
    assert "| drop empty responses and single-line stubs | True | 2 |" in card.text
    assert f"| Prompt pool revision | {PROMPTS_REVISION} |" in card.text
    assert "Records left for training: 4 of 6." in card.text and "| 15.5 | 3 | 8 | 18 | 28 | 28 |" in card.text
    assert cards.render_dataset_card(samples, "me/samples") == text
    assert cards.length_histogram_png(samples) == cards.length_histogram_png(samples)  # no-op re-push needs equal bytes


def test_load_local_samples_warns_on_other_base_model(tmp_path, caplog):
    samples = make_samples_dir(str(tmp_path / "samples"))
    with caplog.at_level(logging.WARNING, logger="ssd_hf.data"):
        assert len(data.load_samples_dataset(samples, expected_base_model="tester/tiny-base")) == 6
        assert not caplog.records
        data.load_samples_dataset(samples, expected_base_model="other/model")
    assert "drawn from tester/tiny-base" in caplog.text and "other/model" in caplog.text


def test_model_push_refuses_missing_provenance_and_bad_dirs(tmp_path):
    model_dir = _model_dir(tmp_path, adapter=False)
    shutil.move(f"{model_dir}/ssd_provenance.json", tmp_path / "moved.json")
    with pytest.raises(SSDError, match="ssd_provenance.json"):
        cards.render_model_card(model_dir, None)
    with pytest.raises(SSDError, match="neither adapter_config.json nor config.json"):
        publish.model_files(str(tmp_path))


def test_model_files_leave_out_samples_dirs_and_trainer_state(tmp_path):
    model_dir = _model_dir(tmp_path, adapter=True)
    make_samples_dir(f"{model_dir}/samples")
    for leftover in ("training_args.bin", "checkpoint-5/optimizer.pt", "runs/events", ".hidden"):
        (tmp_path / "adapter" / leftover).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "adapter" / leftover).write_bytes(b"x")
    assert sorted(publish.model_files(model_dir)) == ["adapter_config.json", "ssd_provenance.json"]
    text = cards.render_model_card(model_dir, None, "me/m", samples_repo_id="me/m-samples")
    assert ModelCard(text).data.datasets == ["me/m-samples"]


def test_committed_example_cards_are_what_the_templates_render(tmp_path):
    """model_cards/examples/ shows the fixtures' cards; SSD_HF_WRITE_EXAMPLES=1 rewrites them after a template change.

    The *_demo_run.md examples come from a real `ssd-hf demo --coding --use_peft` run and are not checked here.
    """
    samples = make_samples_dir(str(tmp_path / "samples"))
    adapter = _model_dir(tmp_path, adapter=True)
    both = [results(BASE_MODEL, 1.0), results("tester/tiny-ssd-lora", 1.25)]
    rendered = {
        "dataset_card.md": cards.render_dataset_card(samples, SAMPLES_REPO),
        "model_card_before_results.md": cards.render_model_card(adapter, None, "tester/tiny-ssd-lora"),
        "model_card.md": cards.render_model_card(adapter, both, "tester/tiny-ssd-lora"),
    }
    if os.environ.get("SSD_HF_WRITE_EXAMPLES"):
        images = {"assets/completion_lengths.png": cards.length_histogram_png(samples),
                  "assets/results.png": cards.results_plot_png(both)}
        for name, content in {**rendered, **images}.items():
            with open(os.path.join(EXAMPLES, name), "wb") as handle:
                handle.write(content.encode() if isinstance(content, str) else content)
    for name, text in rendered.items():
        with open(os.path.join(EXAMPLES, name), encoding="utf-8") as handle:
            assert handle.read() == text, f"model_cards/examples/{name} is stale; rerun with SSD_HF_WRITE_EXAMPLES=1"
