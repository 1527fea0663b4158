"""``autoscope replay``: a campaign run first, then replayed from the catalog alone.

The campaign runs on a recorded grid (the recorded-data backend) with a real
RunEngine writing to an in-process catalog. Replayed with its own agent and
settings it makes the same choices, step by step; replayed with another agent
on the recorded grid as ground truth it gets a discovery curve beside the
original's, and both replays are written as report runs that name the
original campaign. ``autoscope report`` draws any of them from the catalog,
saying when the ground truth is unknown.
"""

import numpy as np
import pytest
from bluesky import RunEngine

from autoscope.catalog.writer import make_writer
from autoscope.devices import make_spm
from autoscope.errors import ConfigurationError
from autoscope.io.recorded import RecordedDataset
from autoscope.plans.campaign import autonomous_campaign
from autoscope.studies.campaign_report import campaign_report
from autoscope.studies.replay import load_campaign, plot_replay, replay_campaign

N, K = 10, 24


def _dataset() -> RecordedDataset:
    rng = np.random.default_rng(11)
    axis = np.linspace(-1.0, 1.0, K)
    rows, cols = np.mgrid[0:N, 0:N]
    strength = np.exp(-((rows - 6.0) ** 2 + (cols - 3.0) ** 2) / 5.0) + 0.6 * np.exp(
        -((rows - 2.0) ** 2 + (cols - 7.0) ** 2) / 3.0
    )
    peak = np.exp(-((axis - 0.3) ** 2) / 0.01)
    spectra = strength[..., None] * peak + 0.01 * rng.normal(size=(N, N, K))
    image = strength + 0.1 * rng.normal(size=(N, N))
    return RecordedDataset(
        image=image,
        spectra=spectra,
        spectral_axis=axis,
        spectral_units="V",
        pixel_size=2.0,
        pixel_units="nm",
        attrs={"channel": "dIdV", "overview_channel": "topography", "source": "replay grid"},
    )


@pytest.fixture
def campaign(catalog_client, tmp_path):
    ds = _dataset()
    path = ds.write(tmp_path / "grid.h5")
    spm = make_spm("recorded", dataset=path)
    f = spm.backend.frame
    writer = make_writer(catalog_client, data_dir=tmp_path / "catalog")
    RE = RunEngine({}, call_returns_result=True)
    RE.subscribe(writer)
    result = RE(
        autonomous_campaign(
            spm,
            agent="gp",
            scalarizer="band_integral:0.2:0.4",
            channel="dIdV",
            overview_channel="topography",
            budget=7,
            n_seed=3,
            report_every=3,
            batch_size=1,
            pixels=N,
            center_x=f["center_x"],
            center_y=f["center_y"],
            width=f["width"],
            height=f["height"],
            line_time=0.01,
            start=-1.0,
            stop=1.0,
            n_points=K,
            seed=3,
            progress=False,
        )
    )
    writer.flush()
    yield result.plan_result, path, writer
    writer.close()


# a GP campaign of 7 spectra and three replays through a real catalog: about a minute on
# two idle cores, eight when six jobs share them
@pytest.mark.long
@pytest.mark.timeout(900)
def test_replay_reproduces_and_compares(catalog_client, campaign, tmp_path):
    campaign_id, path, writer = campaign
    c = load_campaign(catalog_client, campaign_id)
    assert len(c.observations) == 7 and len(set(c.order)) == 7  # reports of 3 steps each
    assert c.candidates.shape == (N, N)
    # the reports record what a replay needs: nothing is guessed (issue 17)
    assert c.assumed == {}
    report = next(
        r.metadata["start"]
        for r in catalog_client.values()
        if r.metadata["start"].get("campaign") == campaign_id
        and r.metadata["start"]["plan_name"] == "agent_report"
    )
    assert report["quantile"] == 0.99 and report["overview_channel"] == "topography"
    assert catalog_client[report["overview_uid"]].metadata["start"]["plan_name"] == "raster_image"
    assert report["overview_formed"].startswith("float64 trace image of 'topography'")

    same = replay_campaign(catalog_client, campaign_id)
    (r,) = same["replays"]
    assert r["agent"] == "gp" and r["reproduced"] and r["diverged_at"] is None
    assert r["order"] == c.order

    other = replay_campaign(
        catalog_client, campaign_id, ["gp", "random"], dataset=path, writer=writer
    )
    assert other["original"]["curve"] is not None and len(other["original"]["curve"]) == 7
    gp, rnd = other["replays"]
    assert gp["reproduced"] and gp["curve"] == other["original"]["curve"]
    assert rnd["agent"] == "random" and len(rnd["order"]) == 7 and rnd["curve"] is not None
    writer.flush()
    assert r["report_uid"] is None  # replayed without a writer: nothing written
    for rep in (gp, rnd):
        start = catalog_client[rep["report_uid"]].metadata["start"]
        assert start["replay_of"] == campaign_id and start["plan_name"] == "agent_report"
        assert start["campaign"] == rep["replay_campaign"]
    png = plot_replay(other, tmp_path / "replay.png")
    assert png.stat().st_size > 10_000

    # the report from the catalog alone: without a ground truth it says it is unknown
    plain = campaign_report(catalog_client, campaign_id, tmp_path / "r1")
    assert plain["measured"] == 7 and plain["agent"] == "gp"
    assert plain["ground_truth"].startswith("unknown") and "top1_found_fraction" not in plain
    assert "not known" in (tmp_path / "r1" / "campaign_report.html").read_text()
    scored = campaign_report(catalog_client, campaign_id, tmp_path / "r2", dataset=path)
    assert scored["top1_found_fraction"] == pytest.approx(other["original"]["curve"][-1])
    replayed = campaign_report(catalog_client, rnd["replay_campaign"], tmp_path / "r3", path)
    assert replayed["replay_of"] == campaign_id and replayed["agent"] == "random"
    assert replayed["top1_found_fraction"] == pytest.approx(rnd["curve"][-1])
    assert (tmp_path / "r3" / "campaign_report.png").stat().st_size > 10_000

    with pytest.raises(ConfigurationError, match="needs the ground truth"):
        replay_campaign(catalog_client, campaign_id, ["random"])
    with pytest.raises(ConfigurationError, match="no run of campaign"):
        replay_campaign(catalog_client, "not-a-campaign")
