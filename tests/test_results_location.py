"""One place for a model folder's evaluation, `<model>/eval/results.json`: the demo, `ssd-hf run` and
`ssd-hf eval --model DIR` write it there, and `ssd-hf card`, `push model` and the Space read it there."""

from __future__ import annotations

import json
import os

from hub_fixtures import provenance, results

from ssd_hf import publish
from ssd_hf.commands.card import render
from ssd_hf.eval.cli import default_output
from ssd_hf.records import model_eval_dir, model_results_path
from ssd_hf.space_app import demo_config, results_charts


def _model(root, base: str | None = None) -> str:
    os.makedirs(root)
    with open(os.path.join(root, "config.json"), "w") as handle:
        handle.write("{}")
    recorded = provenance(adapter=False)
    if base:
        recorded["base_model"] = base
    with open(os.path.join(root, "ssd_provenance.json"), "w") as handle:
        json.dump(recorded, handle)
    return root


def _evaluate(model_dir: str, scale: float) -> str:
    os.makedirs(model_eval_dir(model_dir), exist_ok=True)
    path = os.path.join(model_eval_dir(model_dir), "results.json")
    with open(path, "w") as handle:
        json.dump(results(model_dir, scale), handle)
    return path


def test_eval_of_a_local_model_goes_beside_it_and_card_push_and_space_find_it(tmp_path):
    base = str(tmp_path / "base")
    os.makedirs(base)
    ssd = _model(str(tmp_path / "ssd"), base=base)
    assert default_output(ssd) == os.path.join(ssd, "eval") and default_output("org/model") == "eval_results"
    assert "No evaluation recorded" in render(ssd)
    ssd_results, base_results = _evaluate(ssd, 1.5), _evaluate(base, 1.0)
    assert model_results_path(ssd) == ssd_results

    card = render(ssd)  # `ssd-hf card DIR`: this model's results and its local base's, side by side
    assert "No evaluation recorded" not in card and "| all | 6 | 40.0 [30.0, 50.0] | 60.0 [50.0, 70.0] |" in card
    assert publish.model_folder_results(ssd) == [ssd_results, base_results]
    assert not [path for path in publish.model_files(ssd) if path.startswith("eval/")]  # pushed as results/*.json

    found = results_charts.find_results(demo_config.ModelSpec("SSD", ssd))  # the Space's Results tab
    assert [path for path, _ in found] == [ssd_results]
