"""The evidence-weighted agent: its weights must follow what the data show.

On a decoy (the property is a smooth map of position that the image knows
nothing of) the image-feature share must go toward zero; where the property
is made from image structure alone (bright blobs wherever they are) it must
go toward one. Where the property is the pixel value of a nearly white noise
image, DKL does not predict the next value better than the GP's prior at
<= 50 observations, and the weight rightly stays with the GP (a strict xfail
records it).
"""

import json

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from autoscope.agents.agent import ActiveLearningAgent, EvidenceAgent
from autoscope.agents.averaging import ModelAverage
from autoscope.agents.candidates import CandidateSet
from autoscope.errors import ConfigurationError

SIZE = 20


def _campaign(target: str, seed: int, budget: int = 50) -> EvidenceAgent:
    rng = np.random.default_rng(seed)
    image = gaussian_filter(rng.standard_normal((SIZE, SIZE)), 0.7)
    cands = CandidateSet.from_image(image, patch_size=5)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    t = image if target == "image" else np.sin(3 * xx + 1) + np.cos(2 * yy)
    values = ((t - t.mean()) / t.std() + 0.05 * rng.standard_normal(t.shape)).ravel()
    agent = EvidenceAgent(cands, budget=budget, seed=seed)
    while agent.n_measured < budget:
        idx = agent.suggest_indices(1)
        agent.ingest_indices(idx, values[idx])
    return agent


@pytest.fixture(scope="module")
def decoy():
    return _campaign("decoy", seed=0)


def test_the_decoy_drives_the_image_feature_weight_toward_zero(decoy):
    last = decoy.steps[-1].model
    assert last["weights"]["gp"] > 0.95
    assert last["feature_share"] < 0.05


def _blobs(seed: int, n: int = 24, count: int = 10, width: float = 1.5):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:n, 0:n]
    img = np.zeros((n, n))
    for _ in range(count):
        cx, cy = rng.uniform(0, n, 2)
        img += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * width**2))
    return img, rng


def _weigh_one_ahead(cands, values, order) -> ModelAverage:
    """Weigh the models on a fixed design: fit on the first m points, score point m."""
    avg = ModelAverage(cands, seed=0)
    for m in range(10, len(order)):
        avg.fit(order[:m], values[order[:m]])
        avg.expect(order[m : m + 1])
        avg.score(order[m : m + 1], values[order[m : m + 1]])
    return avg


@pytest.mark.long
def test_a_target_made_of_image_structure_drives_the_feature_weight_toward_one():
    """Bright blobs anywhere carry the property: the image explains it, positions do not.

    Seed 0 of five tried: the DKL weight ended above 0.999 on seeds 0-3 and at 0 on seed 4
    (docs/benchmarks.md), so this is a typical case, not every case.
    """
    prop, rng = _blobs(0)
    cands = CandidateSet.from_image(prop + 0.05 * rng.standard_normal(prop.shape), patch_size=5)
    values = ((prop - prop.mean()) / prop.std()).ravel() + 0.05 * rng.standard_normal(prop.size)
    order = rng.permutation(prop.size)[:50]  # a random design: no acquisition in the way
    avg = _weigh_one_ahead(cands, values, order)
    assert avg.weights()[0] > 0.9
    assert avg.feature_share() > 0.5


@pytest.mark.xfail(
    strict=True,
    reason="not a fault of the weighting (issue 15 item 7, docs/benchmarks.md): the target is "
    "the pixel value of smoothed white noise (sigma 0.7 px); over observations 30-49 DKL's "
    "held-out error on the next point is about the GP's prior-level error (RMSE about 0.9 "
    "vs 0.95) with error bars that swing 50x, so the evidence rightly favours the GP",
)
def test_a_target_read_off_the_image_drives_the_feature_weight_toward_one():
    rng = np.random.default_rng(0)
    image = gaussian_filter(rng.standard_normal((SIZE, SIZE)), 0.7)
    cands = CandidateSet.from_image(image, patch_size=5)
    noise = 0.05 * rng.standard_normal(image.shape)
    values = ((image - image.mean()) / image.std() + noise).ravel()
    order = rng.permutation(SIZE * SIZE)[:50]  # a random design: no acquisition in the way
    avg = _weigh_one_ahead(cands, values, order)
    assert avg.weights()[0] > 0.5
    assert avg.feature_share() > 0.3


def test_every_model_step_records_the_weights(decoy):
    model_steps = [s for s in decoy.steps if s.source == "model"]
    assert len(model_steps) == decoy.n_measured - decoy.n_seed
    for s in model_steps:
        w = s.model["weights"]
        assert set(w) == {"dkl", "gp"} and w["dkl"] + w["gp"] == pytest.approx(1.0)
        assert 0.0 <= s.model["feature_share"] <= w["dkl"] + 1e-12
    # the first model step has no evidence yet: the prior
    assert model_steps[0].model["weights"]["dkl"] == pytest.approx(0.5)
    assert model_steps[-1].model["scored"] == len(model_steps) - 1
    json.dumps(decoy.report()["model"])  # the report's agent_model is JSON


def test_the_better_predictor_wins_and_an_overconfident_one_is_rescaled():
    cands = CandidateSet.from_image(np.random.default_rng(0).standard_normal((8, 8)))
    avg = ModelAverage(cands)
    rng = np.random.default_rng(1)
    for i in range(40):
        y = rng.standard_normal()
        # model 0 (DKL) has the right mean but claims a variance 100x too small;
        # model 1 (GP) knows nothing: mean 0, variance 1
        avg._pending[i] = np.array([[y + 0.1 * rng.standard_normal(), 1e-4], [0.0, 1.0]])
        avg.score(np.array([i]), np.array([y]))
    assert avg.calibration()[0] > 20  # its own errors show the variance was too small
    assert avg.calibration()[1] < 2
    assert avg.weights()[0] > 0.99  # with honest error bars, the right mean wins


def test_bad_options_are_refused_before_anything_runs():
    cands = CandidateSet.from_image(np.zeros((8, 8)) + np.arange(8))
    with pytest.raises(ConfigurationError, match="prior weight"):
        ActiveLearningAgent(cands, kind="bma", model_options={"prior": 1.0})
    with pytest.raises(ConfigurationError, match="forgetting"):
        ModelAverage(cands, forgetting=0.0)
