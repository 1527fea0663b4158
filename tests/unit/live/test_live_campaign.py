"""LiveCampaign on real campaigns on the PFM twin: what the PNG shows after each step."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from bluesky import RunEngine

from autoscope.agents.agent import ActiveLearningAgent
from autoscope.agents.experiment import SpectraExperiment
from autoscope.devices.twin.datasets import make_dataset
from autoscope.errors import ConfigurationError
from autoscope.live import LiveCampaign
from autoscope.live.campaign import scalar_units
from autoscope.plans.campaign import autonomous_campaign, campaign_loop, overview_candidates

from .conftest import SMALL_CAMPAIGN
from .pixels import cell_colours, is_background, is_grey, point_colours, values_from_colours

FIGURES = Path(__file__).resolve().parents[3] / "docs" / "figures"


def _figures(tmp_path):
    return FIGURES if os.environ.get("AUTOSCOPE_UPDATE_FIGURES") == "1" else tmp_path


class Steps:
    """Snapshots a view after every agent report and after the first spectrum of each step.

    Subscribed after the view, it sees each document after the view queued it, so a
    snapshot holds exactly the documents so far. It also keeps, independently of the view,
    the positions measured and each report's data (what the PNG must show).
    """

    def __init__(self, view, folder):
        self.view, self.folder = view, folder
        self.points, self.reports, self.snaps = [], [], []
        self._kind, self._start = {}, None

    def __call__(self, name, doc):
        if name == "start":
            self._start = doc
        elif name == "descriptor":
            self._kind[doc["uid"]] = (doc["name"], self._start)
        elif name == "event":
            stream, start = self._kind[doc["descriptor"]]
            if stream == "agent":
                self.reports.append((start, doc["data"]))
                self.snap("report")
            elif "positions_requested" in start:
                i = int(doc["data"][start["index_key"]])
                self.points.append(start["positions_requested"][i])
                if i == 0:
                    self.snap("spectrum")

    def snap(self, moment):
        path = self.folder / f"campaign_{len(self.snaps)}.png"
        self.snaps.append((moment, len(self.points), len(self.reports), self.view.render_png(path)))


def run_campaign(view, folder, plan):
    RE = RunEngine({}, call_returns_result=True)
    steps = Steps(view, folder)
    RE.subscribe(view)
    RE.subscribe(steps)
    RE(plan)
    return steps


def test_points_appear_in_order_and_the_maps_follow_every_step(pfm, tmp_path):
    view = LiveCampaign()
    plan = autonomous_campaign(pfm, agent="gp", budget=8, batch_size=2, n_seed=2, **SMALL_CAMPAIGN)
    steps = run_campaign(view, tmp_path, plan)
    assert [m for m, *_ in steps.snaps].count("report") == 4
    everything = np.asarray(steps.points, dtype=float)
    grid = view.report_start["candidates_shape"]
    for moment, n_points, n_reports, png in steps.snaps:
        # the points measured so far are drawn, each in its order's colour; the later ones not
        over = point_colours(png, view.axes["overview"], everything)
        assert not is_grey(over[:n_points]).any(), f"{moment}: a measured point is missing"
        assert is_grey(over[n_points:]).all(), f"{moment}: a later point is drawn already"
        cmap = view._artists["points"].get_cmap()
        order = cmap(view._artists["points"].norm(np.arange(1, n_points + 1)))[:, :3]
        np.testing.assert_allclose(over[:n_points], order, atol=0.03)
        # the maps show the latest report's mean and std; before any report, nothing
        for key in ("mean", "std"):
            ax = view.axes[key]
            rgb = cell_colours(png, view.figure, ax, *grid)
            free = ~_marked(view, ax, grid, everything[:n_points])
            report = steps.reports[n_reports - 1][1] if n_reports else None
            if report is None or not np.isfinite(report["agent_mean"]).any():
                assert is_background(rgb)[free].all(), f"{moment}: {key} drawn without a model"
                continue
            values = np.asarray(report[f"agent_{key}"])
            shown = values_from_colours(rgb, view._artists[key].get_cmap(), *_clim(values))
            expected = np.clip(values, *_clim(values))
            assert np.corrcoef(shown[free], expected[free])[0, 1] > 0.95, (moment, key)
    # budget and instrument time: the bars and the text of the last report
    start = steps.reports[-1][0]
    assert start["campaign_budget"] == 8 and start["instrument_seconds"] > 0
    bars = view._artists["bars"]
    assert bars[0].get_width() == pytest.approx(1.0)
    spent, left = start["instrument_seconds"], start["instrument_seconds_left"]
    assert bars[1].get_width() == pytest.approx(spent / (spent + left))
    assert view._artists["budget_text"].get_text() == "8 of 8 spectra, 0 left"
    assert "loop_area (a.u.·V)" in [a.get_ylabel() for a in view.figure.axes]
    assert view.axes["overview"].get_xlabel() == "x (nm)"


def _clim(values):
    finite = values[np.isfinite(values)]
    lo, hi = np.percentile(finite, [1, 99])
    return float(lo), float(hi)


def _marked(view, ax, grid, points):
    """Cells of a map that hold a point marker (their centre colour is the marker's)."""
    rows, cols = grid
    x0, x1, y0, y1 = view.overview.extent
    ix = np.floor((points[:, 0] - x0) / (x1 - x0) * cols).astype(int)
    iy = np.floor((points[:, 1] - y0) / (y1 - y0) * rows).astype(int)
    mask = np.zeros(grid, dtype=bool)
    mask[iy, ix] = True
    return mask


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_discovery_curve_counts_the_true_top_locations_measured(pfm, tmp_path):
    truth = make_dataset("pfm", size=8, seed=0, extent=400.0)["truth"]["loop_area"]
    view = LiveCampaign(truth=truth, top_fraction=0.05)
    plan = autonomous_campaign(pfm, agent="gp", budget=10, batch_size=2, n_seed=2, **SMALL_CAMPAIGN)
    steps = run_campaign(view, tmp_path, plan)
    # the top 5 % of 64 candidates: the 4 largest true values
    top = np.argsort(truth.ravel())[::-1][:4]
    measured, expected = [], []
    for _, data in steps.reports:
        measured += [i for i, _ in json.loads(data["agent_observed"])]
        expected.append((data["agent_n_measured"], np.isin(top, measured).mean()))
    n, found = view._artists["curve"].get_data()
    np.testing.assert_allclose(np.stack([n, found], axis=1), expected)
    assert view.found == pytest.approx(expected[-1][1])
    assert "top 5 % found" in view.figure._suptitle.get_text()


def test_an_untagged_overview_is_taken_and_without_truth_the_curve_is_the_best(pfm, tmp_path):
    """As autoscope demo records it: overview_candidates, then campaign_loop tagging its runs."""
    experiment = SpectraExperiment("loop_area", channel="piezoresponse", device=pfm.name)

    def plan():
        candidates, _, _ = yield from overview_candidates(
            pfm, 0.0, 0.0, 400.0, 400.0, 8, 0.05, "piezoresponse"
        )
        agent = ActiveLearningAgent(candidates, kind="random", batch_size=2, budget=4, seed=0)
        yield from campaign_loop(pfm, agent, experiment, 4, {"n_points": 32}, progress=False)

    view = LiveCampaign()
    steps = run_campaign(view, tmp_path, plan())
    view.render_png(tmp_path / "demo.png")
    assert view.overview is not None and np.isfinite(view.overview.image).all()
    assert view.axes["mean"].get_xlabel() == "x (nm)"
    _, best = view._artists["curve"].get_data()
    np.testing.assert_allclose(best, [d["agent_best"] for _, d in steps.reports])
    assert view.axes["curve"].get_ylabel() == "best loop_area (a.u.·V)"


def test_bad_choices_name_the_value():
    with pytest.raises(ConfigurationError, match="1.5"):
        LiveCampaign(top_fraction=1.5)
    with pytest.raises(ConfigurationError, match=r"\(3,\)"):
        LiveCampaign(truth=np.ones(3))
    with pytest.raises(ConfigurationError, match="'nocmap'"):
        LiveCampaign(cmap="nocmap")


def test_scalar_units_follow_the_scalarizer():
    assert scalar_units("loop_area", "a.u.", "V") == "a.u.·V"
    assert scalar_units("band_integral:0.1:0.5", "nS", "V") == "nS·V"
    assert scalar_units("peak_position", "nS", "V") == "V"
    assert scalar_units("mine", "nS", "V") == ""


def test_readme_figure_of_a_campaign_step(tmp_path):
    """A GP campaign on a 16 x 16 PFM overview, drawn after its 8th step: docs/figures/."""
    from autoscope.devices import make_spm

    pfm = make_spm("twin", sample="pfm_film", seed=0, name="pfm", drift=0.0, creep=0.0,
                   hysteresis=0.0, tip_change_rate=0.0)  # fmt: skip
    truth = make_dataset("pfm", size=16, seed=0, extent=400.0)["truth"]["loop_area"]
    view = LiveCampaign(truth=truth, top_fraction=0.02)
    out = _figures(tmp_path) / "live_campaign.png"

    def at_step(name, doc):
        if name == "event" and doc["data"].get("agent_step") == 8:
            view.render_png(out)

    RE = RunEngine({}, call_returns_result=True)
    RE.subscribe(view)
    RE.subscribe(at_step)
    RE(autonomous_campaign(
        pfm, agent="gp", budget=24, batch_size=2, n_seed=4, width=400.0, height=400.0,
        pixels=16, line_time=0.05, n_points=48, progress=False,
    ))  # fmt: skip
    assert out.stat().st_size > 10_000
