"""`.eval_results/*.yaml` and the traces dataset, built from results files without a Hub: huggingface_hub
parses the entries back with the recorded values; the traces card has a config per model and valid metadata."""

from __future__ import annotations

import io

import pyarrow.parquet as pq
import yaml
from hub_fixtures import BASE_MODEL, results
from hub_server import validate_card_metadata
from huggingface_hub import DatasetCard, parse_eval_result_entries

from ssd_hf import eval_results, traces
from ssd_hf.records import EvalResults

ENDPOINT = "https://huggingface.co"


def _judged(model: str, scale: float) -> EvalResults:
    data = results(model, scale)
    data["grader"] = {"name": "lcb", "version": "1", "reference": "LiveCodeBench"}
    data["problems"] = [{"question_id": "q1", "difficulty": "easy", "n": 2, "c": 1},
                        {"question_id": "q2", "difficulty": "hard", "n": 2, "c": 0}]
    data["samples"] = [{"question_id": q, "sample_index": i, "verdict": "pass" if (q, i) == ("q1", 0) else "fail",
                        "completion": f"```python\nprint({i})\n```", "code": f"print({i})", "detail": "wrong answer"}
                       for q in ("q1", "q2") for i in (0, 1)]
    data["date"] = "2026-01-02T03:04:05Z"
    return EvalResults.from_dict(data)


def test_eval_results_entries_parse_back_with_recorded_values():
    ssd = _judged("me/tiny-ssd", 1.5)
    files = eval_results.eval_results_files([("results/lcb-v6-tiny-ssd-0.json", ssd)], "me/tiny-ssd-eval-traces", ENDPOINT)
    assert list(files) == [".eval_results/lcb-v6-tiny-ssd-0.yaml"]
    entries = parse_eval_result_entries(yaml.safe_load(files[".eval_results/lcb-v6-tiny-ssd-0.yaml"]))
    assert [(e.dataset_id, e.task_id, e.value) for e in entries] == [
        ("livecodebench/code_generation_lite", "tiny", 60.0), ("livecodebench/code_generation_lite", "tiny-pass@5", 90.0)]
    first = entries[0]
    assert first.date == "2026-01-02T03:04:05Z" and first.source_url == f"{ENDPOINT}/datasets/me/tiny-ssd-eval-traces"
    assert first.notes.startswith("pass@1 (%); grader lcb v1; T_eval 1.1") and "n=5" in first.notes
    # a problem set with no Hub benchmark is named by its traces dataset, and says so
    custom = _judged("me/tiny-ssd", 1.0)
    custom.benchmark = "custom"
    (entry, _) = eval_results.entries(custom, None, "me/traces")
    assert entry.dataset_id == "me/traces" and "no Hub benchmark" in entry.notes


def test_traces_have_a_row_per_judged_sample_and_a_config_per_model():
    judged = [_judged(BASE_MODEL, 1.0), _judged("me/tiny-ssd", 1.5)]
    files = traces.traces_files(judged, BASE_MODEL, "me/tiny-ssd", "me/tiny-ssd-eval-traces", {"endpoint": ENDPOINT})
    assert sorted(files) == ["README.md", "data/lcb-v6-base/test.parquet", "data/lcb-v6-ssd/test.parquet"]
    table = pq.read_table(io.BytesIO(files["data/lcb-v6-ssd/test.parquet"])).to_pylist()
    assert len(table) == 4 and table[0]["difficulty"] == "easy" and table[0]["verdict"] == "pass"
    assert table[0]["model"] == "me/tiny-ssd" and table[0]["temperature"] == 1.1 and table[0]["grader"] == "lcb v1"
    text = files["README.md"].decode()
    assert validate_card_metadata(text, "dataset") == []
    configs = DatasetCard(text).data.to_dict()["configs"]
    assert [c["config_name"] for c in configs] == ["lcb-v6-base", "lcb-v6-ssd"]
    assert f"({ENDPOINT}/me/tiny-ssd)" in text
    assert traces.traces_files([EvalResults.from_dict(results("me/x", 1.0))], None, "me/x", "me/x-t") == {}
