"""The demo campaign end to end on a small PFM twin, into an in-process catalog."""

import json

import pytest

from autoscope.studies.demo import run_campaign_demo


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_demo_campaign_writes_report_and_runs(tmp_path):
    from tiled.queries import Key

    from autoscope.catalog.testing import inprocess_catalog

    with inprocess_catalog(tmp_path / "catalog") as client:
        summary = run_campaign_demo(
            tmp_path / "out",
            seed=1,
            size=12,
            budget=10,
            catalog=client,
            agent="gp",
            progress=False,
            data_dir=tmp_path / "catalog",
        )
        runs = client.search(Key("campaign") == summary["campaign"])
        names = [r.metadata["start"]["plan_name"] for r in runs.values()]
    assert summary["measured"] == 10
    # the writer keeps its durable spool in the catalog's own folder, not the default one
    assert (tmp_path / "catalog" / "spool").is_dir()
    assert 0.0 <= summary["top1_found_fraction"] <= 1.0
    assert summary["top1_locations"] >= 1
    assert summary["instrument_hours_full_grid"] > summary["instrument_hours_campaign"] > 0
    assert names.count("spectra_at") == 10 and "agent_report" in names
    assert (tmp_path / "out" / "campaign_report.png").stat().st_size > 10_000
    html = (tmp_path / "out" / "campaign_report.html").read_text()
    assert "campaign_report.png" in html and "top1_found_fraction" in html
    saved = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert saved["measured"] == 10
    # the report of `autoscope report CAMPAIGN_UID`: read back from the catalog, spectra too
    assert saved["campaign"] == summary["campaign"] and saved["report_runs"] >= 2
    assert saved["spectra_from"] == "the campaign's spectra runs"
    assert saved["top1_found_fraction"] == summary["top1_found_fraction"]
    assert "<b>model weights</b>" in html


def test_a_campaign_held_in_memory_gets_the_report_of_autoscope_report():
    """The demo without a catalog: the agent's own record, drawn by the report's code."""
    import numpy as np

    from autoscope.agents.agent import ActiveLearningAgent
    from autoscope.agents.candidates import CandidateSet
    from autoscope.studies.campaign_report import (
        PANELS,
        agent_report_data,
        discovery_curve,
        report_figure,
    )

    rows, cols = np.mgrid[0:12, 0:12]
    truth = np.sin(cols / 3.0) + np.cos(rows / 4.0)
    candidates = CandidateSet.from_image(truth + 0.1 * np.sin(rows * cols), pixel_size=2.0)
    short = {"dkl": {"iterations_first": 10}, "gp": {"iterations_first": 10}}
    agent = ActiveLearningAgent(
        candidates, kind="bma", budget=12, n_seed=10, seed=0, model_options=short
    )
    while agent.n_measured < 12:
        idx = agent.suggest_indices(1)
        agent.ingest_indices(idx, truth.ravel()[idx])
    data = agent_report_data(
        agent, candidates.image, campaign="memory", scalar_label="s (a.u.)", truth=truth,
        instrument_seconds=24.0, summary={"measured": 12},
    )  # fmt: skip
    # what the catalog would give: the order measured, the last maps, the weights per model step
    assert data.order.tolist() == agent.obs_index and data.agent == "bma"
    assert data.mean.shape == (12, 12) and np.isfinite(data.std).all()
    assert [m for m, _ in data.model_steps] == [11, 12]
    assert all(set(s["weights"]) == {"dkl", "gp"} for _, s in data.model_steps)
    fig = report_figure(data)
    axes = {a.get_title(loc="left").split(":")[0]: a for a in fig.get_axes()}
    assert set(PANELS) <= set(axes)
    np.testing.assert_allclose(
        axes["discovery"].get_lines()[-1].get_ydata(), discovery_curve(data.order, data.top)
    )
    assert len(axes["model weights"].get_lines()) == 3  # two weights and the feature share
    (top,) = axes["discovery"].child_axes  # the campaign's instrument time
    assert top.get_xlabel() == "instrument time (s)"
