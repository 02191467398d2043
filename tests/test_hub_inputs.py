"""Bad prompt pools named by --dataset_name: one clear line and exit status 2, never a traceback or a Hub error
for something that can only be a local path. And what a prompt pool's revision is recorded as."""

from __future__ import annotations

import os

import pytest

from ssd_hf import hub
from ssd_hf.cli import main

PROMPTS = os.path.join(os.path.dirname(__file__), "..", "ssd_hf", "data", "demo_prompts.jsonl")


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty_folder", "is an empty folder"),
        ("folder_without_data", "cannot load a dataset from folder"),
        ("relative_data_file", "nowhere.jsonl does not exist"),
        ("relative_folder", "./nowhere does not exist"),
        ("blank_lines", "holds only blank lines"),
        ("garbage", "line 2 is not JSON"),
        ("not_objects", "line 1 is not a JSON object"),
    ],
)
def test_bad_prompt_pools_give_one_line_and_exit_2(case, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "unused-model").mkdir()  # a model folder: the model is checked before the prompts
    (tmp_path / "unused-model" / "config.json").write_text("{}")
    name = {"relative_data_file": "nowhere.jsonl", "relative_folder": "./nowhere"}.get(case, case)
    if case == "empty_folder":
        os.mkdir(name)
    elif case == "folder_without_data":
        os.mkdir(name)
        (tmp_path / name / "weights.bin").write_bytes(b"\0")
    elif case in ("blank_lines", "garbage", "not_objects"):
        name += ".jsonl"
        text = {"blank_lines": "\n  \n\n", "garbage": '{"question": "Add."}\nnot json at all\n', "not_objects": "[1, 2]\n"}[case]
        (tmp_path / name).write_text(text)
    code = main(["sample", "--model_name_or_path", "unused-model", "--dataset_name", name, "--output_dir", "out"])
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error" in line.lower()]
    assert code == 2 and "Traceback" not in err
    assert len(errors) == 1 and errors[0].startswith("ssd-hf sample: error:") and message in errors[0], err
    assert "from the Hub" not in err and "OfflineModeIsEnabled" not in err


def test_prompt_pool_revision_is_local_for_paths_and_the_pinned_ref_offline():
    assert hub.dataset_revision(PROMPTS) == "local"
    assert hub.dataset_revision("missing/deeper/prompts.jsonl") == "local"
    # Offline with nothing cached, a Hub id records the revision it was pinned to (or None: "not recorded").
    assert hub.dataset_revision("someone/prompts@v2") == "v2"
    assert hub.dataset_revision("someone/prompts") is None
