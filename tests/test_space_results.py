"""The Space's Results tab reads what evaluation and the Hub write: results JSON files in a model folder
(not the base model's, which a pushed SSD repo also carries) and, without them, the card's model-index."""

from __future__ import annotations

import json
import os

import pytest

from ssd_hf.space_app import demo_config, results_charts


def _metric(value):
    return {"value": value, "ci_low": value - 0.05, "ci_high": value + 0.05}


def _results(model: str, p1: float) -> dict:
    return {"schema_version": 1, "benchmark": "lcb-v6", "config": {"model": model, "n": 10},
            "aggregates": {"all": {"num_problems": 4, "pass@1": _metric(p1), "pass@5": _metric(p1 + 0.1)},
                           "hard": {"num_problems": 1, "pass@1": _metric(p1 / 2), "pass@5": _metric(p1)}},
            "problems": [], "samples": []}


def test_model_folder_results_skip_the_base_models_and_feed_the_chart(tmp_path):
    model = tmp_path / "ssd-model"
    (model / "results").mkdir(parents=True)
    (model / "ssd_provenance.json").write_text(json.dumps({"base_model": "org/base"}))
    (model / "results" / "lcb-v6-base.json").write_text(json.dumps(_results("org/base", 0.2)))
    (model / "results" / "lcb-v6-ssd.json").write_text(json.dumps(_results("org/ssd", 0.4)))
    spec = demo_config.ModelSpec("SSD", str(model))
    found = results_charts.find_results(spec)
    assert [os.path.basename(path) for path, _ in found] == ["lcb-v6-ssd.json"]
    headline = results_charts.headline(found)
    figure = results_charts.passk_figure({"SSD": headline["aggregates"]})
    heights = sorted(round(bar.get_height(), 1) for axis in figure.axes for bar in axis.patches)
    assert heights == [20.0, 40.0, 40.0, 50.0]  # pass@1 all/hard and pass@5 all/hard, in percent
    table = results_charts.summary_markdown([spec], {"SSD": found})
    assert "| SSD | pass@1 | 40.0 [35.0, 45.0] | - | - | 20.0 [15.0, 25.0] |" in table


def test_model_card_model_index_is_read_when_no_results_file(tmp_path):
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    entries = [
        EvalResult(task_type="text-generation", dataset_type="livecodebench/code_generation_lite",
                   dataset_name="LiveCodeBench v6" + ("" if d == "all" else f" ({d})"),
                   dataset_config=None if d == "all" else d, dataset_split="test",
                   metric_type="pass@1", metric_name="pass@1 (%)", metric_value=v)
        for d, v in (("all", 41.5), ("hard", 16.2))
    ]
    data = ModelCardData(model_name="ssd", eval_results=entries, base_model="org/base")
    model = tmp_path / "from-card"
    model.mkdir()
    ModelCard.from_template(data, template_str="---\n{{ card_data }}\n---\n# ssd\n").save(model / "README.md")
    found = results_charts.find_results(demo_config.ModelSpec("SSD", str(model)))
    aggregates = results_charts.headline(found)["aggregates"]
    assert aggregates["all"]["pass@1"]["value"] == pytest.approx(0.415)
    assert aggregates["hard"]["pass@1"]["value"] == pytest.approx(0.162)


def test_recommended_decoding_comes_from_the_evaluation_unless_configured(tmp_path):
    evaluated = {**_results("org/ssd", 0.4), "best": {"temperature": 1.3, "t_eff": 2.08}}
    evaluated["config"]["decoding"] = {"temperature": 1.1, "top_k": 20, "top_p": 0.95}
    spec = demo_config.ModelSpec("SSD", str(tmp_path))
    decoding = demo_config.recommended_decoding(spec, evaluated, "eval/results.json")
    assert decoding.values() == {"temperature": 1.3, "top_k": 20, "top_p": 0.95}
    assert decoding.source == "T_eval best of the sweep in eval/results.json"
    spec.decoding = {"temperature": 0.9}
    assert demo_config.recommended_decoding(spec, evaluated).temperature == 0.9
    fallback = demo_config.recommended_decoding(demo_config.ModelSpec("base", str(tmp_path)))
    assert fallback.values() == demo_config.FALLBACK_DECODING and fallback.source.startswith("fallback")


def test_results_in_an_eval_output_dir_give_the_recorded_decoding(tmp_path):
    """`ssd-hf eval --output DIR` (or a run's --eval_output_dir) away from the model: naming DIR under `results:`
    finds its results.json, and the pane decodes at the T_eval it records, not at the base's advice."""
    model = tmp_path / "ssd-model"
    model.mkdir()
    (model / "ssd_provenance.json").write_text(json.dumps({"base_model": "org/base"}))
    # what a trained SSD folder inherits from its base: the base publisher's advice, not this model's T_eval
    (model / "generation_config.json").write_text(json.dumps({"temperature": 0.7, "top_k": 20, "top_p": 0.8}))
    evaluation = tmp_path / "eval-out"
    evaluation.mkdir()
    results = _results(str(model), 0.4)
    results["config"]["decoding"] = {"temperature": 1.1, "top_k": 20, "top_p": 0.8, "max_new_tokens": 16}
    (evaluation / "results.json").write_text(json.dumps(results))

    bare = demo_config.ModelSpec("SSD", str(model))
    assert results_charts.find_results(bare) == []
    unmeasured = demo_config.recommended_decoding(bare)
    assert unmeasured.temperature == 0.7 and "no T_eval recorded for this SSD model" in unmeasured.source

    spec = demo_config.ModelSpec("SSD", str(model), results=[str(evaluation)])
    found = results_charts.find_results(spec)
    assert [path for path, _ in found] == [str(evaluation / "results.json")]
    decoding = demo_config.recommended_decoding(spec, results_charts.headline(found), results_charts.headline_label(spec, found))
    assert decoding.values() == {"temperature": 1.1, "top_k": 20, "top_p": 0.8}
    assert decoding.source == "T_eval as evaluated in eval-out/results.json"
