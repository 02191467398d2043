"""Temperature composition: the T_eff table and quadratic fit recover a known curve from a results sweep."""

import json

import numpy as np
import pytest

from ssd_hf.analysis import composition
from ssd_hf.errors import SSDError


def _results(t_train_over_eval, sweep):
    return {"schema_version": 1, "benchmark": "custom", "config": {"model": "m", "decoding": {"temperature": 1.0}},
            "aggregates": {}, "sweep": [{"temperature": t, "t_eff": t_train_over_eval * t,
                                         "aggregates": {"all": {"pass@1": {"value": v}}}} for t, v in sweep]}


def test_fit_recovers_an_exact_parabola_and_its_peak():
    points = [composition.Point(tt, te, 0.5 - 0.3 * (tt * te - 1.2) ** 2) for tt in (0.6, 0.9, 1.2) for te in (0.6, 1.0, 1.4, 1.8)]
    fit = composition.fit_quadratic(points)
    assert fit.r2 == pytest.approx(1.0, abs=1e-9)
    assert fit.peak_t_eff == pytest.approx(1.2, abs=1e-6)
    rows = composition.table(points)
    assert [r["t_eff"] for r in rows] == sorted(r["t_eff"] for r in rows)


def test_noisy_sweep_from_results_files_gives_partial_r2(tmp_path):
    rng = np.random.default_rng(0)
    points = []
    for t_train in (0.7, 1.0, 1.5):
        sweep = [(te, float(0.4 - 0.2 * (t_train * te - 1.2) ** 2 + rng.normal(0, 0.03))) for te in (0.4, 0.7, 1.0, 1.3, 1.6)]
        path = tmp_path / f"results_{t_train}.json"
        path.write_text(json.dumps(_results(t_train, sweep)))
        points += composition.points_from_results(str(path))  # T_train from each entry's t_eff / temperature
    assert sorted({p.t_train for p in points}) == [0.7, 1.0, 1.5]  # one legend group per T_train
    fit = composition.fit_quadratic(points)
    assert 0.5 < fit.r2 < 1.0 and abs(fit.peak_t_eff - 1.2) < 0.25
    png = composition.composition_plot(points, fit, str(tmp_path / "composition.png"))
    assert (tmp_path / "composition.png").stat().st_size > 10_000 and png.endswith(".png")


def test_too_few_points_is_a_user_error():
    with pytest.raises(SSDError):
        composition.fit_quadratic([composition.Point(1.0, 1.0, 0.1), composition.Point(1.0, 1.0, 0.2)])


def test_analyze_composition_command(tmp_path):
    import subprocess
    import sys

    files = []
    for t_train in (0.8, 1.2):
        path = tmp_path / f"r{t_train}.json"
        path.write_text(json.dumps(_results(t_train, [(te, 0.3 - 0.1 * (t_train * te - 1.1) ** 2) for te in (0.5, 1.0, 1.5)])))
        files.append(str(path))
    result = subprocess.run([sys.executable, "-m", "ssd_hf.cli", "analyze", "--composition", *files, "--output", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "R^2 = 1.000" in result.stdout and "peak T_eff = 1.100" in result.stdout
    saved = json.loads((tmp_path / "out" / "composition.json").read_text())
    assert len(saved["points"]) == 6 and (tmp_path / "out" / "composition.png").exists()
