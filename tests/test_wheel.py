"""A wheel install carries what a user reaches without a source checkout: the card templates and the Space.

The wheel is built from a copy of this tree (`pip wheel --no-deps --no-build-isolation`: no network, nothing
written into the checkout) and installed into a fresh virtual environment that sees the running environment's
packages (torch, transformers, gradio...; scripts/overlay_venv.py, so a user's venv serves as well as the base)
but not this tree. From there `ssd-hf card` renders a model card and `ssd-hf space push --output_dir` stages the
Space, both from the installed package's own files.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

import pytest

from ssd_hf.records import Provenance, write_provenance

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _run(command: list[str], cwd, env=None) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> tuple[str, dict]:
    """(the venv's bin folder, an environment without this tree on the path) with the wheel installed."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source / name)
    shutil.copytree(os.path.join(ROOT, "ssd_hf"), source / "ssd_hf", ignore=shutil.ignore_patterns("__pycache__"))
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
          "-w", str(work / "dist"), str(source)], cwd=work)
    wheel = glob.glob(str(work / "dist" / "ssd_hf-*.whl"))[0]
    overlay = os.path.join(ROOT, "scripts", "overlay_venv.py")
    python = _run([sys.executable, overlay, str(work / "venv")], cwd=work).stdout.strip()
    # the running environment's pip, run by the venv's interpreter, installs into the venv; the checkout stays put
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "--ignore-installed", "-q", wheel], cwd=work)
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "SSD_SPACE_CONFIG")}
    env.update(HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    where = _run([python, "-c", "import ssd_hf; print(ssd_hf.__file__)"], cwd=work, env=env).stdout.strip()
    assert where.startswith(str(work / "venv")), f"ssd_hf came from {where}, not the wheel"
    return str(work / "venv" / "bin"), env


def test_wheel_renders_cards_and_stages_the_space(installed, tmp_path):
    bin_dir, env = installed
    model = tmp_path / "model"
    write_provenance(str(model), Provenance(base_model="org/base", num_samples=4, num_train_records=4,
                                            sampling={"temperature": 1.6, "top_k": 20, "top_p": 0.8}))
    card = _run([os.path.join(bin_dir, "ssd-hf"), "card", str(model), "--repo_id", "me/ssd"], cwd=tmp_path, env=env).stdout
    assert "Simple Self-Distillation" in card and "org/base" in card and "| 1.6 | 20 | 0.8 |" in card

    stage = tmp_path / "space"
    _run([os.path.join(bin_dir, "ssd-hf"), "space", "push", "--output_dir", str(stage), "--model", "base=org/a",
          "--model", "SSD=org/b"], cwd=tmp_path, env=env)
    for name in ("app.py", "README.md", "requirements.txt", "config.yaml", "ssd_hf/space_app/ui.py",
                 "ssd_hf/templates/model_card.md.j2"):
        assert (stage / name).is_file(), name
    assert "app_file: app.py" in (stage / "README.md").read_text() and "- org/b" in (stage / "README.md").read_text()
    assert "path: org/a" in (stage / "config.yaml").read_text()
