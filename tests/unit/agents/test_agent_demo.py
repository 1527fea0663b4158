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
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["measured"] == 10
