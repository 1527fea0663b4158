"""``autoscope demo --stem`` and ``autoscope benchmark --twin stem``: the dose-aware campaign
scored against the twin's truth, its report, and the dose against the device's limits."""

import json

import numpy as np
import pytest

from autoscope.cli import main as cli_main
from autoscope.studies.stem_demo import campaign_truth, run_stem_benchmark, run_stem_demo


@pytest.mark.long
def test_stem_demo_writes_its_report_into_the_catalog_within_the_dose_limits(tmp_path):
    from tiled.queries import Key

    from autoscope.catalog import make_writer
    from autoscope.catalog.testing import inprocess_catalog

    with inprocess_catalog(tmp_path / "catalog") as client:
        summary = run_stem_demo(
            tmp_path / "out", seed=2, size=16, writer=make_writer(client), agent="raster"
        )
        runs = client.search(Key("campaign") == summary["campaign"])
        names = [r.metadata["start"]["plan_name"] for r in runs.values()]
    assert summary["spectra"] == 12  # 5 % of 16 x 16
    assert 0.0 <= summary["top1_found_fraction"] <= 1.0 and summary["n_top1"] >= 3
    assert 0.99 < summary["dose_used_fraction_of_limit"] <= 1.0
    assert summary["dose_max"] <= summary["dose_per_area_limit"]
    assert summary["electrons"] < 0.1 * summary["spectrum_image_electrons"]
    assert {"stem_image", "eels_at", "agent_report", "dose_map"} <= set(names)
    assert (tmp_path / "out" / "campaign_report.png").stat().st_size > 10_000
    html = (tmp_path / "out" / "campaign_report.html").read_text()
    assert "dose_used_fraction_of_limit" in html
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["campaign"] == summary["campaign"]


@pytest.mark.long
def test_stem_benchmark_scores_each_agent_on_the_same_seeds_and_dose():
    out = run_stem_benchmark(agents=("raster", "random"), seeds=2, size=16)
    assert set(out["agents"]) == {"raster", "random"}
    for scores in out["agents"].values():
        assert scores["spectra"]["per_seed"] == [12, 12]
        assert all(0.0 <= v <= 1.0 for v in scores["top1_found_fraction"]["per_seed"])
    # the same dose for every agent on a seed
    by_seed = {}
    for r in out["runs"]:
        by_seed.setdefault(r["seed"], set()).add(round(r["electrons"]))
    assert all(len(v) == 1 for v in by_seed.values())
    json.dumps(out)


def test_the_truth_is_the_plasmon_band_of_the_noise_free_spectrum_strongest_at_particles():
    from autoscope.devices import make_stem

    stem = make_stem("twin", sample="nanoparticles", seed=0)
    sample = stem.backend.twin.sample
    p = sample.particles[0]
    far = (sample.width / 2 - 20.0) / 10.0
    near = np.array([[p.x / 10.0 + p.size / 20.0 + 0.5, p.y / 10.0], [far, far]])
    truth = campaign_truth(stem, near)
    assert truth[0] > 2 * truth[1] > 0  # the particle's plasmons over the bare film


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["benchmark", "--twin", "stem", "--budget", "5"], "give --dose-fraction instead"),
        (["benchmark", "--twin", "pfm"], "--budget is required"),
        (["benchmark", "--twin", "stem", "--baselines", "grid"], "unknown agent 'grid'"),
    ],
)
def test_the_command_line_refuses_what_does_not_fit_the_stem_benchmark(argv, message, capsys):
    assert cli_main(argv) == 1
    assert message in capsys.readouterr().err
