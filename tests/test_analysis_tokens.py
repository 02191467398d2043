"""`ssd-hf analyze` on two tiny models: a base and a copy sharpened on the samples by SSDTrainer."""

import json

import pytest
from datasets import Dataset

from ssd_hf import SSDConfig, SSDTrainer
from ssd_hf.cli import main

CODE = "```python\nn = int(input())\nprint(n * 2)\n```"


@pytest.fixture(scope="module")
def samples_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("samples") / "samples.jsonl"
    rows = [{"prompt": [{"role": "user", "content": f"Problem {i}: double n."}], "completion": CODE} for i in range(8)]
    Dataset.from_list(rows).to_json(str(path))
    return str(path)


@pytest.fixture(scope="module")
def sharpened(tiny_qwen3, samples_file, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("sharp"))
    args = SSDConfig(output_dir=out, max_steps=80, learning_rate=2e-2, warmup_steps=0, per_device_train_batch_size=8,
                     report_to="none", save_strategy="no", gradient_checkpointing=False, max_length=512)
    trainer = SSDTrainer(model=tiny_qwen3, args=args, train_dataset=Dataset.from_json(samples_file))
    trainer.train()
    trainer.save_model(out)
    return out


def test_analyze_writes_four_panels_and_lock_fork_counts(tiny_qwen3, sharpened, samples_file, tmp_path, capsys):
    code = main(["analyze", "--base", tiny_qwen3, "--ssd", sharpened, "--samples", samples_file,
                 "--output", str(tmp_path), "--max_samples", "4"])
    assert code == 0
    stats = json.loads((tmp_path / "token_stats.json").read_text())
    for name in ("cumulative_mass_vs_rank", "survivors_vs_temperature", "entropy_vs_temperature", "entropy_by_top20_mass"):
        assert (tmp_path / f"{name}.png").stat().st_size > 10_000
    for model in ("base", "ssd"):
        s = stats[model]
        assert sum(s["labels"].values()) == s["positions"] > 0
        mass = s["cumulative_mass_by_rank"]
        assert all(b >= a - 1e-6 for a, b in zip(mass, mass[1:])) and mass[-1] <= 1 + 1e-6
        assert sum(s["top20_bucket_counts"].values()) == s["positions"]
        # Raising T_eval never removes survivors of top-k/top-p truncation at fixed k, p in this range.
        assert s["survivors_vs_temperature"][-1] >= s["survivors_vs_temperature"][0]
    assert sum(stats["transitions"].values()) == stats["base"]["positions"]
    # Cross-entropy on these completions turns near-uniform positions into spikes (locks).
    assert stats["ssd"]["labels"]["lock"] > stats["base"]["labels"]["lock"]
    assert stats["ssd"]["cumulative_mass_by_rank"][0] > stats["base"]["cumulative_mass_by_rank"][0]
    assert "lock" in capsys.readouterr().out
