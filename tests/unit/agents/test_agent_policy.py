"""The agent's decisions: seeds count, no repeats, fallback on failure, and DKL beats random."""

import numpy as np
import pytest

from autoscope.agents.agent import ActiveLearningAgent
from autoscope.agents.candidates import CandidateSet
from autoscope.agents.scalarizers import get_scalarizer
from autoscope.errors import ConfigurationError
from autoscope.studies.benchmark import top_set


def run(agent, values, budget):
    while agent.n_measured < budget:
        idx = agent.suggest_indices(min(agent.batch_size, budget - agent.n_measured))
        agent.ingest_indices(idx, values[idx])
    return np.asarray(agent.obs_index)


@pytest.fixture(scope="module")
def small_twin():
    from autoscope.devices.twin.datasets import make_dataset

    data = make_dataset("pfm", size=24, seed=2)
    values = get_scalarizer("loop_area").apply(data["spectra"], data["spectral_axis"])
    return data["image"], values.ravel()


@pytest.mark.long  # a small study (4 campaigns of 58 steps), run by `make test-long`
def test_dkl_finds_more_top_locations_than_random(small_twin):
    image, values = small_twin
    top = top_set(values, 0.03)  # 18 of 576 locations
    budget = 58  # 10 %
    found = {"dkl": 0, "random": 0}
    for seed in range(2):
        for kind in found:
            cands = CandidateSet.from_image(image)
            # EI, not the default topq: this tests what the model learns. On this small
            # grid topq found less (DKL: 11 top locations over 4 seeds against EI's 17),
            # see docs/benchmarks.md; on 32x32 and 64x64 it finds more.
            agent = ActiveLearningAgent(
                cands,
                kind=kind,
                budget=budget,
                seed=seed,
                acquisition="ei",
                model_options={"iterations_step": 15},
            )
            measured = run(agent, values, budget)
            assert len(set(measured.tolist())) == budget  # nothing measured twice
            found[kind] += int(top[measured].sum())
    assert found["dkl"] >= 2 * max(found["random"], 1), found


def test_seed_points_are_spread_and_count_against_the_budget():
    rng = np.random.default_rng(0)
    cands = CandidateSet.from_image(rng.random((20, 20)))
    agent = ActiveLearningAgent(cands, kind="gp", budget=40, n_seed=9, seed=0)
    first = []
    for _ in range(9):
        i = agent.suggest_indices(1)[0]
        agent.ingest_indices([i], [float(i % 7)])
        first.append(int(i))
    rows, cols = np.divmod(np.asarray(first), 20)
    assert len(set(first)) == 9
    assert np.ptp(rows) >= 10 and np.ptp(cols) >= 10
    assert [s.source for s in agent.steps] == ["seed"] * 9
    agent.suggest_indices(1)
    assert agent.steps[-1].source == "model"


def test_raster_spreads_the_budget_over_the_image():
    cands = CandidateSet.from_image(np.zeros((20, 20)) + np.arange(20))
    agent = ActiveLearningAgent(cands, kind="raster", budget=25)
    idx = agent.suggest_indices(25)
    rows, cols = np.divmod(idx, 20)
    assert sorted(set(rows.tolist())) == [2, 6, 10, 14, 18]
    assert sorted(set(cols.tolist())) == [2, 6, 10, 14, 18]


def test_a_failing_model_falls_back_to_exploration_and_records_it():
    rng = np.random.default_rng(1)
    img = rng.random((16, 16))
    cands = CandidateSet.from_image(img)
    # a huge learning rate drives the weights to inf/NaN: the fit fails for real
    agent = ActiveLearningAgent(
        cands, kind="dkl", budget=30, n_seed=4, seed=0, model_options={"lr": 1e30}
    )
    values = img.ravel()
    run(agent, values, 12)
    sources = [s.source for s in agent.steps]
    assert sources[:4] == ["seed"] * 4
    assert "fallback" in sources
    assert agent.failures and agent.failures[0]["error"]
    assert agent.n_measured == 12 and len(set(agent.obs_index)) == 12
    rep = agent.report()
    assert rep["failures"] == len(agent.failures)


def test_flagged_values_are_recorded_but_not_used():
    cands = CandidateSet.from_image(np.random.default_rng(0).random((12, 12)))
    agent = ActiveLearningAgent(cands, kind="gp", budget=20, n_seed=3)
    agent.ingest_indices([1, 2, 3, 4], [1.0, np.nan, 2.0, 3.0])
    idx, val = agent.observations()
    assert idx.tolist() == [1, 3, 4] and val.tolist() == [1.0, 2.0, 3.0]
    assert agent.measured[2]


def test_ingest_by_position_maps_to_the_nearest_candidate():
    cands = CandidateSet.from_image(np.zeros((10, 10)), pixel_size=2.0)
    agent = ActiveLearningAgent(cands, kind="random")
    idx = agent.ingest([[3.2, 1.1], [19.0, 19.0]], [0.5, 0.7])
    assert idx.tolist() == [1, 99]


def test_report_has_maps_after_a_model_step():
    rng = np.random.default_rng(0)
    img = rng.random((12, 12))
    cands = CandidateSet.from_image(img)
    agent = ActiveLearningAgent(cands, kind="gp", n_seed=4, batch_size=2)
    run(agent, img.ravel(), 8)
    rep = agent.report()
    assert rep["source"] == "model" and len(rep["chosen"]) == 2
    assert rep["mean"].shape == (12, 12) and np.isfinite(rep["mean"]).all()
    assert (rep["std"] >= 0).all() and np.isfinite(rep["acquisition_map"]).all()
    assert rep["measured"].sum() == 8


def test_bad_configuration_is_named():
    cands = CandidateSet.from_image(np.zeros((8, 8)))
    with pytest.raises(ConfigurationError, match="unknown agent 'svm'"):
        ActiveLearningAgent(cands, kind="svm")
    with pytest.raises(ConfigurationError, match="budget 100"):
        ActiveLearningAgent(cands, budget=100)
    with pytest.raises(ConfigurationError, match="unknown acquisition"):
        ActiveLearningAgent(cands, acquisition="xx")


def _dotted_image(seed=0):
    """A 32 x 32 noisy flat image with four bright 2 x 2 dots (rare structure)."""
    rng = np.random.default_rng(seed)
    image = rng.normal(0.0, 0.05, (32, 32))
    dots = [(5, 7), (12, 25), (22, 4), (27, 18)]
    for r, c in dots:
        image[r : r + 2, c : c + 2] += 3.0
    near_dot = np.zeros((32, 32), dtype=bool)
    for r, c in dots:
        near_dot[max(r - 2, 0) : r + 4, max(c - 2, 0) : c + 4] = True
    return image, near_dot.ravel()


def test_image_seed_design_measures_rare_structures_first():
    image, near_dot = _dotted_image()
    cands = CandidateSet.from_image(image, patch_size=5)
    hits = {}
    for design in ("spatial", "image"):
        agent = ActiveLearningAgent(cands, kind="gp", n_seed=8, seed=0, seed_design=design)
        seeds = agent.suggest_indices(8)
        assert len(set(seeds.tolist())) == 8 and agent.steps[-1].source == "seed"
        hits[design] = int(near_dot[seeds].sum())
    # 4 of the 8 image seeds go to the four dots; spread seeds land near one by chance at most
    assert hits["image"] >= 4 and hits["spatial"] <= 1
    with pytest.raises(ConfigurationError, match="'patches'.*spatial, image"):
        ActiveLearningAgent(cands, kind="dkl", seed_design="patches")
    # the default: image seeds for the model of the image, spread seeds for the coordinate GP
    assert ActiveLearningAgent(cands, kind="dkl").seed_design == "image"
    assert ActiveLearningAgent(cands, kind="gp").seed_design == "spatial"


def test_image_diverse_indices_are_farthest_first_in_patch_space():
    from autoscope.agents.agent import image_diverse_indices

    patches = np.zeros((6, 3, 3))
    patches[1] += 1.0
    patches[2] += 5.0  # the odd one out
    patches[3] += 1.1
    picks = image_diverse_indices(patches, np.array([0]), 2, components=2)
    assert picks[0] == 2 and picks[1] in (1, 3) and 0 not in picks
