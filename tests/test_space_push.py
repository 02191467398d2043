"""`ssd-hf space push`: the assembled Space is self-contained, its header is filled from its config, and
bad input stops with one line. The staged Space is imported in a fresh process from its own folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ssd_hf.cli import main as cli_main
from ssd_hf.commands.space import main as space_main
from ssd_hf.commands.space import space_config
from ssd_hf.errors import SSDError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _results_file(path, benchmark: str = "lcb-v6") -> str:
    metric = {"value": 0.4, "ci_low": 0.3, "ci_high": 0.5}
    path.write_text(json.dumps({"schema_version": 1, "benchmark": benchmark, "config": {"n": 10},
                                "aggregates": {"all": {"num_problems": 5, "pass@1": metric, "pass@5": metric}},
                                "problems": [], "samples": []}))
    return str(path)


def test_staged_space_is_self_contained_and_header_names_its_models(tmp_path):
    results = _results_file(tmp_path / "ssd-results.json")
    stage = tmp_path / "space"
    code = space_main(["push", "--output_dir", str(stage), "--model", "base=Qwen/Qwen3-4B-Instruct-2507",
                       "--model", "SSD=apple/SimpleSD-4B-instruct@main", "--results", f"SSD={results}"])
    assert code == 0

    from huggingface_hub import SpaceCard

    header = SpaceCard.load(stage / "README.md").data
    assert header.sdk == "gradio" and header.app_file == "app.py"
    assert header.models == ["Qwen/Qwen3-4B-Instruct-2507", "apple/SimpleSD-4B-instruct"]
    assert header.datasets == ["livecodebench/code_generation_lite"]
    assert (stage / "ssd_hf" / "tiny.py").is_file() and not list(stage.rglob("__pycache__"))

    config_text = (stage / "config.yaml").read_text()
    assert str(tmp_path) not in config_text and str(tmp_path) not in (stage / "README.md").read_text()
    copied = stage / "results" / "SSD-ssd-results.json"
    assert json.loads(copied.read_text())["aggregates"]["all"]["pass@1"]["value"] == 0.4

    # The Space imports its own ssd_hf copy and builds its UI from its own config, offline, in a new process.
    assert (stage / "app.py").read_text() == (stage / "ssd_hf" / "space_app" / "app.py").read_text()
    probe = (
        "import os, app, ssd_hf\n"
        "from ssd_hf.space_app import results_charts as rc, ui\n"
        "config = ui.load_config(default=os.path.join(app.HERE, 'config.yaml'))\n"
        "ui.build_demo(config)\n"
        "print(os.path.dirname(ssd_hf.__file__))\n"
        "print([m.path for m in config.models])\n"
        "print(rc.headline(rc.find_results(config.models[1]))['aggregates']['all']['pass@1']['value'])\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONPATH": ""}
    env.pop("SSD_SPACE_CONFIG", None)
    env.pop("SSD_SPACE_MODELS", None)
    run = subprocess.run([sys.executable, "-c", probe], cwd=stage, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-3000:]
    package_dir, models, value = run.stdout.strip().splitlines()[-3:]
    assert os.path.realpath(package_dir) == os.path.realpath(stage / "ssd_hf")
    assert models == "['Qwen/Qwen3-4B-Instruct-2507', 'apple/SimpleSD-4B-instruct@main']"
    assert value == "0.4"


def test_bad_space_input_is_one_clear_line(tmp_path, capsys):
    with pytest.raises(SSDError, match="cannot read; push it with `ssd-hf push model`"):
        space_config(None, ["base=Qwen/Qwen3-4B-Instruct-2507", f"SSD={tmp_path}"], [])
    with pytest.raises(SSDError, match="two or more models"):
        space_config(None, ["base=Qwen/Qwen3-4B-Instruct-2507"], [])
    with pytest.raises(SSDError, match="not one of base, SSD"):
        space_config(None, [], [f"other={tmp_path / 'r.json'}"])
    code = cli_main(["space", "push", "--output_dir", str(tmp_path / "s"), "--model", "base", "--model", "b=x/y"])
    assert code == 2
    assert "is not NAME=VALUE" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def test_space_config_env_override_and_recommended_decoding(tmp_path, monkeypatch, tiny_qwen3):
    from ssd_hf.space_app import demo_config as demo_config_module
    from ssd_hf.space_app.demo_config import load_config, recommended_decoding

    config = tmp_path / "config.yaml"
    config.write_text("models:\n  - name: base\n    path: x/y\n    decoding: {temperature: 0.6}\n"
                      "  - name: SSD\n    path: x/z\n")
    monkeypatch.setenv("SSD_SPACE_MODELS", f"base={tiny_qwen3},SSD=org/ssd")
    loaded = load_config(str(config))
    assert [(m.name, m.path) for m in loaded.models] == [("base", tiny_qwen3), ("SSD", "org/ssd")]
    # config decoding wins over the model's generation_config.json, which wins over the fallback
    assert recommended_decoding(loaded.models[0]).values() == {"temperature": 0.6, "top_k": 20, "top_p": 0.8}
    # the bundled problems: the evaluator's LCB fixtures (with tests) when installed, else the demo prompts
    problems = demo_config_module.load_problems("auto")
    fixtures = os.path.join(ROOT, "ssd_hf", "data", "lcb_fixtures", "problems.jsonl")
    assert problems and all(p.has_tests for p in problems) == os.path.isfile(fixtures)
    monkeypatch.setenv("SSD_SPACE_MODELS", "only-one-model")
    with pytest.raises(ValueError, match="not NAME=PATH"):
        load_config(str(config))


def test_push_to_loopback_hub_uploads_once_and_never_the_token(tmp_path):
    """The real client pushes the Space to a loopback Hub (tests/hub_server.py) from a subprocess, and the
    Space pulls a Hub model's results from it."""
    import secrets

    hub_server = pytest.importorskip("hub_server")
    token = "hf_" + secrets.token_hex(16)

    # Assembled once and pushed from the folder, so that the second push sends exactly the same bytes.
    stage = tmp_path / "space"
    assert space_main(["push", "--output_dir", str(stage), "--model", "base=Qwen/Qwen3-4B-Instruct-2507",
                       "--model", "SSD=tester/qwen3-ssd"]) == 0

    # One subprocess (HF_ENDPOINT is read at import time) pushes twice, then once with a wrong token.
    script = (
        "import sys\n"
        "from ssd_hf.cli import main\n"
        "push = ['space', 'push', '--repo_id', 'tester/ssd-demo', '--from_dir', sys.argv[1]]\n"
        "codes = [main(push), main(push), main([*push, '--token', sys.argv[2]])]\n"
        "print('codes', *codes)\n"
        # a model repo with results, as `ssd-hf push results` leaves it; the Space pulls them by Hub id
        "from huggingface_hub import HfApi\n"
        "api = HfApi()\n"
        "api.create_repo('tester/qwen3-ssd')\n"
        "api.upload_file(path_or_fileobj=sys.argv[3].encode(), path_in_repo='results/lcb-v6-ssd.json', repo_id='tester/qwen3-ssd')\n"
        "from ssd_hf.space_app import results_charts, demo_config\n"
        "found = results_charts.find_results(demo_config.ModelSpec('SSD', 'tester/qwen3-ssd'))\n"
        "print('pulled', results_charts.headline(found)['aggregates']['all']['pass@1']['value'])\n"
    )
    with hub_server.FakeHub({token: "tester"}) as hub:
        env = {**os.environ, "HF_ENDPOINT": hub.url, "HF_HUB_OFFLINE": "0", "HF_HOME": str(tmp_path / "home"),
               "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1", "HF_TOKEN": token}
        results = open(_results_file(tmp_path / "ssd.json")).read()
        run = subprocess.run([sys.executable, "-c", script, str(stage), "hf_" + secrets.token_hex(16), results],
                             cwd=tmp_path, env=env, capture_output=True, text=True,
                             timeout=120)
        assert run.returncode == 0, run.stderr[-2000:]
        assert "codes 0 0 2" in run.stdout, run.stderr[-2000:]
        assert "pulled 0.4" in run.stdout, run.stderr[-2000:]
        assert run.stdout.count(f"Space pushed: {hub.url}/spaces/tester/ssd-demo") == 2
        space = hub.repo("space", "tester/ssd-demo")
        files = space.commits[-1].files
        assert {"app.py", "README.md", "config.yaml", "requirements.txt", "ssd_hf/tiny.py"} <= set(files)
        assert b"app_file: app.py" in files["README.md"] and b"- tester/qwen3-ssd" in files["README.md"]
        assert len(space.commits) == 2  # the repo's initial commit and ours: the same content again is no commit
        refusal = [line for line in run.stderr.splitlines() if line.startswith("ssd-hf space: error:")]
        assert len(refusal) == 1 and "hf auth login" in refusal[0] and "hf_" not in refusal[0]
        assert not [name for name, data in hub.all_pushed_bytes() if token.encode() in data]
