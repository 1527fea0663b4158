"""Faults of the campaign loop (issue 18 item 6): a raising agent, a resumed campaign id.

A real RunEngine, the PFM twin and an in-process Tiled catalog.
"""

import numpy as np
import pytest
from bluesky import RunEngine
from tiled.queries import Key

from autoscope.agents.agent import RandomAgent
from autoscope.agents.experiment import SpectraExperiment
from autoscope.plans.campaign import campaign_loop, overview_candidates

SPECTROSCOPY = {"n_points": 24, "start": -2.5, "stop": 2.5}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    from autoscope.catalog.testing import inprocess_catalog

    with inprocess_catalog(tmp_path_factory.mktemp("catalog")) as client:
        yield client


@pytest.fixture
def RE(catalog):
    from bluesky_tiled_plugins import TiledWriter

    engine = RunEngine({}, call_returns_result=True)
    engine.subscribe(TiledWriter(catalog, max_array_size=0))
    return engine


@pytest.fixture
def spm():
    from autoscope.devices import make_spm

    return make_spm("twin", sample="pfm_film", seed=0)


class RaisesOnce(RandomAgent):
    """A random agent whose ``suggest_indices`` raises on its second call."""

    def suggest_indices(self, n=None):
        self.calls = getattr(self, "calls", 0) + 1
        if self.calls == 2:
            raise RuntimeError("the optimiser's server went away")
        return super().suggest_indices(n)


def _runs(catalog, campaign, plan_name):
    runs = catalog.search(Key("campaign") == campaign).search(Key("plan_name") == plan_name)
    return sorted(runs.values(), key=lambda r: r.metadata["start"]["campaign_step"])


def test_a_raising_agent_and_its_fallback_point_reach_the_catalog(RE, spm, catalog):
    def plan():
        candidates, _, _ = yield from overview_candidates(
            spm, 0.0, 0.0, 400.0, 400.0, 8, 0.05, "piezoresponse"
        )
        agent = RaisesOnce(candidates, budget=3, seed=0)
        experiment = SpectraExperiment("loop_area", channel="piezoresponse")
        return (yield from campaign_loop(spm, agent, experiment, 3, SPECTROSCOPY,
                                         campaign_id="raises", progress=False))  # fmt: skip

    summary = RE(plan()).plan_result
    assert summary["failures"] == [
        {"step": 1, "error": "RuntimeError: the optimiser's server went away"}
    ]
    reports = _runs(catalog, "raises", "agent_report")
    spectra = _runs(catalog, "raises", "spectra_at")
    assert [r.metadata["start"]["campaign_step"] for r in reports] == [0, 1, 2]
    keys = ("agent_source", "agent_step", "agent_error", "agent_chosen_x", "agent_chosen_y")
    rows = [{k: r["agent"][k].read() for k in keys} for r in reports]
    sources = [str(np.asarray(d["agent_source"])[0]) for d in rows]
    assert sources == ["random", "fallback", "random"]
    assert [int(np.asarray(d["agent_step"])[0]) for d in rows] == [0, 1, 2]
    assert "server went away" in str(np.asarray(rows[1]["agent_error"])[0])
    # the point measured at the failed step is the one its report names (not step 0's)
    for report, run in zip(rows, spectra):
        chosen = (float(report["agent_chosen_x"][0, 0]), float(report["agent_chosen_y"][0, 0]))
        asked = tuple(run.metadata["start"]["positions_requested"][0])
        assert chosen == pytest.approx(asked)
    assert len({tuple(r.metadata["start"]["positions_requested"][0]) for r in spectra}) == 3


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_a_campaign_resumed_with_its_id_numbers_on_and_measures_nothing_twice(RE, spm, catalog):
    experiment = SpectraExperiment("loop_area", channel="piezoresponse")

    def plan(budget, with_catalog):
        candidates, _, _ = yield from overview_candidates(
            spm, 0.0, 0.0, 400.0, 400.0, 8, 0.05, "piezoresponse"
        )
        agent = RandomAgent(candidates, budget=budget, seed=0)  # same seed: same choices
        return (yield from campaign_loop(spm, agent, experiment, budget, SPECTROSCOPY,
                                         campaign_id="resumed", progress=False,
                                         catalog=catalog if with_catalog else None))  # fmt: skip

    first = RE(plan(3, True)).plan_result
    assert first["measured"] == 3 and first["steps"] == 3
    second = RE(plan(5, True)).plan_result
    assert second["measured"] == 5  # 3 from the catalog, 2 measured now
    spectra = _runs(catalog, "resumed", "spectra_at")
    reports = _runs(catalog, "resumed", "agent_report")
    assert [r.metadata["start"]["campaign_step"] for r in spectra] == [0, 1, 2, 3, 4]
    assert [r.metadata["start"]["campaign_step"] for r in reports] == [0, 1, 2, 3, 4]
    asked = [tuple(r.metadata["start"]["positions_requested"][0]) for r in spectra]
    assert len(set(asked)) == 5, asked
