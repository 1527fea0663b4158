"""The campaign plan on the PFM twin with a real RunEngine and an in-process Tiled catalog."""

import numpy as np
import pytest
from bluesky import RunEngine

from autoscope.agents.agent import ActiveLearningAgent
from autoscope.agents.experiment import SpectraExperiment
from autoscope.agents.tiled_adapter import read_reports
from autoscope.plans.campaign import autonomous_campaign, campaign_loop, overview_candidates

SMALL = dict(width=400.0, height=400.0, pixels=8, line_time=0.05, n_points=32, progress=False)


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


def campaign_runs(catalog, campaign_id):
    from tiled.queries import Key

    return catalog.search(Key("campaign") == campaign_id)


def test_campaign_spends_the_budget_and_writes_spectra_and_reports(RE, spm, catalog):
    result = RE(autonomous_campaign(spm, agent="gp", budget=8, batch_size=2, n_seed=4, **SMALL))
    campaign_id = result.plan_result
    runs = campaign_runs(catalog, campaign_id)
    names = [r.metadata["start"]["plan_name"] for r in runs.values()]
    assert names.count("raster_image") == 1
    assert names.count("spectra_at") == 4  # 8 spectra, 2 per step
    assert names.count("agent_report") == 4
    positions = []
    for r in runs.values():
        if r.metadata["start"]["plan_name"] == "spectra_at":
            positions += [tuple(p) for p in r.metadata["start"]["positions_requested"]]
    assert len(positions) == 8 and len(set(positions)) == 8  # no point measured twice
    reports = [r for r in runs.values() if r.metadata["start"]["plan_name"] == "agent_report"]
    last = max(reports, key=lambda r: r.metadata["start"]["campaign_step"])
    # what a replay needs to choose the same seed points
    assert last.metadata["start"]["seed_design"] == "spatial"  # the GP's default
    assert last.metadata["start"]["n_seed"] == 4
    stream = last["agent"]
    assert stream["agent_measured"].read()[0].sum() == 8
    assert stream["agent_source"].read()[0] == "model"
    assert np.isfinite(stream["agent_mean"].read()[0]).all()
    # the maps are event data only: the descriptor does not repeat them as configuration
    configuration = stream.metadata["configuration"]
    assert "agent_mean" in configuration and not configuration["agent_mean"]["data"]


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_pause_and_resume_finish_the_campaign(RE, spm):
    import bluesky.plan_stubs as bps
    import bluesky.preprocessors as bpp

    state = {"saves": 0, "paused": False}

    def pause_after_third_save(msg):
        # a real RunEngine pause right after the third event is saved, as a pause
        # requested by an operator (or the tip-state watcher) would land
        if msg.command == "save":
            state["saves"] += 1
            if state["saves"] == 3 + SMALL["pixels"] and not state["paused"]:
                state["paused"] = True

                def then_pause():
                    response = yield msg
                    yield from bps.pause()
                    return response

                return then_pause(), None
        return None, None

    spectra = []
    RE.subscribe(
        lambda n, d: (
            spectra.append(d) if n == "event" and "spm_spectrum_bias" in d["data"] else None
        )
    )
    from bluesky.utils import RunEngineInterrupted

    with pytest.raises(RunEngineInterrupted):
        RE(
            bpp.plan_mutator(
                autonomous_campaign(spm, agent="random", budget=6, **SMALL), pause_after_third_save
            )
        )
    assert RE.state == "paused" and state["paused"]
    result = RE.resume()
    assert RE.state == "idle" and result.exit_status == "success"
    positions = {
        (d["data"]["spm_spectrum_x_requested"], d["data"]["spm_spectrum_y_requested"])
        for d in spectra
    }
    assert len(positions) == 6


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_agent_failure_falls_back_and_the_campaign_goes_on(RE, spm):
    def plan():
        candidates, _image, _ = yield from overview_candidates(
            spm, 0.0, 0.0, 400.0, 400.0, 8, 0.05, "piezoresponse"
        )
        # a huge learning rate drives the weights to inf: every model step fails for real
        agent = ActiveLearningAgent(
            candidates, kind="dkl", budget=8, n_seed=3, model_options={"lr": 1e30}
        )
        experiment = SpectraExperiment("loop_area", channel="piezoresponse")
        summary = yield from campaign_loop(
            spm, agent, experiment, 8, {"n_points": 32, "start": -2.5, "stop": 2.5}, progress=False
        )
        return summary

    summary = RE(plan()).plan_result
    assert summary["measured"] == 8
    assert summary["failures"] and all(f["error"] for f in summary["failures"])
    assert summary["instrument_seconds"] > 0


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_stop_rule_ends_early(RE, spm, catalog):
    summary = RE(_loop_with_stop(spm)).plan_result
    assert summary["stopped_by"] == "uncertainty"
    assert summary["measured"] < 20
    back = read_reports(catalog, summary["report_uids"][-1])
    assert back["metadata"]["campaign"] == summary["campaign"]


def _loop_with_stop(spm):
    candidates, _image, _ = yield from overview_candidates(
        spm, 0.0, 0.0, 400.0, 400.0, 8, 0.05, "piezoresponse"
    )
    agent = ActiveLearningAgent(candidates, kind="gp", budget=20, n_seed=4)
    experiment = SpectraExperiment("loop_area", channel="piezoresponse")
    # a threshold above any plausible uncertainty: stops at the first model step
    return (
        yield from campaign_loop(
            spm, agent, experiment, 20, {"n_points": 32}, stop_uncertainty=1e9, progress=False
        )
    )


def test_bad_arguments_are_refused_before_anything_moves(RE, spm):
    from autoscope.errors import ConfigurationError

    t0 = spm.backend.time()
    with pytest.raises(ConfigurationError, match="unknown agent 'nn'"):
        RE(autonomous_campaign(spm, agent="nn", **SMALL))
    with pytest.raises(ConfigurationError, match="budget 200 exceeds the 64"):
        RE(autonomous_campaign(spm, budget=200, **SMALL))
    with pytest.raises(ConfigurationError, match="unknown seed design 'defects'"):
        RE(autonomous_campaign(spm, seed_design="defects", **SMALL))
    assert spm.backend.time() == t0


def test_queue_server_describes_and_validates_the_campaign(spm):
    from bluesky_queueserver.manager.profile_ops import (
        existing_plans_and_devices_from_nspace,
        validate_plan,
    )

    plans_desc, devices_desc, _, _ = existing_plans_and_devices_from_nspace(
        nspace={"autonomous_campaign": autonomous_campaign, "spm": spm}
    )
    desc = plans_desc["autonomous_campaign"]
    params = {p["name"]: p for p in desc["parameters"]}
    assert params["spm"]["annotation"]["type"] == "__READABLE__"
    for p in params.values():
        assert p.get("description"), f"autonomous_campaign.{p['name']} has no description"
    item = {
        "name": "autonomous_campaign",
        "args": ["spm"],
        "kwargs": {"agent": "dkl", "budget": 50, "scalarizer": "band_integral:-1:1"},
    }
    ok, msg = validate_plan(item, allowed_plans=plans_desc, allowed_devices=devices_desc)
    assert ok, msg
    item["kwargs"]["budget"] = 5.5
    ok, msg = validate_plan(item, allowed_plans=plans_desc, allowed_devices=devices_desc)
    assert not ok and "budget" in msg
