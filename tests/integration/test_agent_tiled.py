"""The agent's Tiled adapter against a real Tiled server: spectra runs in, reports out and back."""

import numpy as np
import pytest
from bluesky import RunEngine

from autoscope.agents.agent import ActiveLearningAgent
from autoscope.agents.candidates import CandidateSet
from autoscope.agents.experiment import SpectraExperiment
from autoscope.agents.scalarizers import get_scalarizer
from autoscope.agents.tiled_adapter import TiledAdapter, read_reports

pytestmark = pytest.mark.integration


@pytest.fixture
def catalog(tmp_path):
    from autoscope.catalog.testing import inprocess_catalog

    with inprocess_catalog(tmp_path / "catalog") as client:
        yield client


def test_spectra_run_round_trips_through_tiled_into_the_agent_and_reports_back(catalog):
    from bluesky_tiled_plugins import TiledWriter

    from autoscope.devices import make_spm
    from autoscope.plans.spectroscopy import spectra_at

    RE = RunEngine({}, call_returns_result=False)
    RE.subscribe(TiledWriter(catalog, max_array_size=0))
    docs = []
    RE.subscribe(lambda name, doc: docs.append((name, doc)))
    spm = make_spm("twin", sample="pfm_film", seed=0)

    # candidates: an 8 x 8 grid of 25 nm pixels around the origin
    image = np.random.default_rng(0).random((8, 8))
    cands = CandidateSet.from_image(image, pixel_size=25.0, origin=(-100.0, -100.0))
    agent = ActiveLearningAgent(cands, kind="gp", n_seed=3, batch_size=2, seed=0)
    experiment = SpectraExperiment("loop_area", channel="piezoresponse", device=spm.name)
    adapter = TiledAdapter(
        catalog,
        agent,
        experiment,
        writer=TiledWriter(catalog, max_array_size=0),
        campaign="test-campaign",
    )

    expected_values = []
    for _ in range(3):
        points = agent.suggest(2).tolist()
        uid = RE(spectra_at(spm, points, start=-2.0, stop=2.0, n_points=48))
        if isinstance(uid, tuple):
            uid = uid[0]
        m = adapter.ingest_uid(uid)
        # what the adapter read from Tiled equals what the RunEngine emitted
        local = experiment.unpack_documents(
            [(n, d) for n, d in docs if n == "start" and d["uid"] == uid or n != "start"]
        )
        np.testing.assert_allclose(m.values, local.values[-2:], rtol=1e-6)
        np.testing.assert_allclose(m.requested, np.asarray(points), atol=1e-9)
        expected_values += m.values.tolist()
        adapter.write_report()
    adapter.close()

    assert agent.n_measured == 6
    # the scalar is the loop area of the spectrum the catalog holds
    run = catalog[adapter.ingested[0]]
    spectra = run["primary"]["spm_spectrum_piezoresponse"].read()
    axis = run["primary"]["spm_spectrum_bias"].read()[0]
    assert get_scalarizer("loop_area").apply(spectra, axis)[0] == pytest.approx(expected_values[0])

    back = read_reports(catalog, adapter.report_uid)
    assert back["metadata"]["campaign"] == "test-campaign"
    assert back["metadata"]["plan_name"] == "agent_report"
    assert [int(s["agent_step"]) for s in back["steps"]] == [0, 1, 2]
    assert [s["agent_source"] for s in back["steps"]] == ["seed", "seed", "model"]
    observed = back["observations"]
    assert [v for _, v in observed] == pytest.approx(expected_values)
    last = back["steps"][-1]
    local = adapter.documents[-2][1]["data"]  # the last event the adapter wrote
    np.testing.assert_allclose(np.asarray(last["agent_mean"]), local["agent_mean"])
    np.testing.assert_array_equal(np.asarray(last["agent_measured"]).sum(), 6)
    assert np.isfinite(np.asarray(last["agent_mean"])).all()

    # replay: a fresh agent fed the recorded observations makes the same next choice
    replay = ActiveLearningAgent(cands, kind="gp", n_seed=3, batch_size=2, seed=0)
    for step in back["steps"]:
        chosen = replay.suggest_indices(2)
        np.testing.assert_array_equal(chosen, np.asarray(step["agent_chosen"]))
        obs = [o for o in json_obs(step)]
        replay.ingest_indices([i for i, _ in obs], [v for _, v in obs])


def json_obs(step):
    return [(int(i), float("nan") if v is None else float(v)) for i, v in step["agent_observed"]]
