"""End to end on a tiny local model: generation through the sampling engine, cached generations,
sandboxed scoring, the results JSON; a T_eval sweep chosen on a held-out window with T_eff and baseline."""

import json
import os
import shutil

from ssd_hf.eval.cli import main

COMMON = ["--problems", "fixtures", "--max_new_tokens", "12", "--timeout", "2", "--workers", "2"]


def test_generate_score_and_resume(tiny_qwen3, tmp_path):
    out = tmp_path / "out"
    argv = ["--model", str(tiny_qwen3), "--n", "4", "--output", str(out), *COMMON]
    assert main(argv) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["config"]["n"] == 4 and res["config"]["model"] == str(tiny_qwen3)
    assert res["config"]["decoding"]["temperature"] == 1.0 and res["config"]["model_revision"]
    assert len(res["samples"]) == 24 and all(p["n"] == 4 for p in res["problems"])
    assert {s["verdict"] for s in res["samples"]} <= {"pass", "fail", "timeout", "runtime_error", "no_code"}
    assert "pass@1" in res["aggregates"]["all"] and "pass@5" not in res["aggregates"]["all"]
    shards = out / "generations" / "eval-T1" / ".store" / "shards"
    before = sorted(p.name for p in shards.rglob("*.jsonl"))
    # the second run finds every generation cached and scores the same completions again
    assert main(argv) == 0
    again = json.loads((out / "results.json").read_text())
    assert sorted(p.name for p in shards.rglob("*.jsonl")) == before  # nothing new was sampled
    assert [s["completion"] for s in again["samples"]] == [s["completion"] for s in res["samples"]]


def test_sweep_on_heldout_window_with_t_eff_and_baseline(tiny_qwen3, tmp_path):
    model = tmp_path / "ssd-model"
    shutil.copytree(tiny_qwen3, model)
    (model / "ssd_provenance.json").write_text(json.dumps({"sampling": {"temperature": 2.0}}))
    out = tmp_path / "out"
    assert main(["--model", str(model), "--n", "1", "--output", str(out), *COMMON,
                 "--start_date", "2025-02-01", "--end_date", "2025-02-28",
                 "--sweep_temperature", "0.5:1.0:0.5", "--decode_baseline",
                 "--heldout_problems", "fixtures", "--heldout_end_date", "2024-12-31"]) == 0
    res = json.loads((out / "results.json").read_text())
    assert [p["temperature"] for p in res["sweep"]] == [0.5, 1.0]
    assert [p["t_eff"] for p in res["sweep"]] == [1.0, 2.0]
    assert res["heldout_selection"]["question_ids"] == ["fx_old_sum3"]
    assert res["config"]["problem_selection"]["question_ids"] == ["fx_sum", "fx_two_sum"]
    assert res["best"]["temperature"] in (0.5, 1.0) and res["config"]["decoding"]["temperature"] == res["best"]["temperature"]
    assert res["baseline"]["pass@1"] == res["best"]["pass@1"]
    assert sorted(os.listdir(out / "generations")) == ["heldout-T0.5", "heldout-T1", f"test-T{res['best']['temperature']:g}"]


def test_no_chat_template_reaches_the_engine(tiny_qwen3, tmp_path):
    """--no_chat_template must change what the model is fed: fewer prompt tokens without ChatML wrapping."""
    prompt_tokens = {}
    for flags in ([], ["--no_chat_template"]):
        out = tmp_path / ("plain" if flags else "chat")
        assert main(["--model", str(tiny_qwen3), "--n", "1", "--limit", "1", "--output", str(out), *COMMON,
                     "--max_new_tokens", "2", *flags]) == 0
        rows = [json.loads(line) for shard in (out / "generations").rglob("*.jsonl")
                for line in shard.read_text().splitlines() if line.strip()]
        prompt_tokens[bool(flags)] = {r["prompt_tokens"] for r in rows if "prompt_tokens" in r}
    (plain,), (chat,) = prompt_tokens[True], prompt_tokens[False]
    assert plain < chat
