"""Acquisition on a discrete set: EI/UCB/variance prefer what they should; batches spread; cost."""

import numpy as np
import pytest

from autoscope.agents.acquisition import (
    CostModel,
    expected_improvement,
    score,
    select,
    top_level,
    upper_confidence_bound,
)
from autoscope.agents.models import CoordinateGP
from autoscope.errors import ConfigurationError


class FixedPosterior:
    """A posterior with given mean and std (no believer updates needed for q=1)."""

    def __init__(self, mean, std):
        self.mean = np.asarray(mean, float)
        self.var = np.asarray(std, float) ** 2

    @property
    def std(self):
        return np.sqrt(self.var)

    def condition_on(self, index):
        self.var[index] = 0.0


def test_ei_prefers_the_obviously_better_candidate():
    ei = expected_improvement(np.array([0.0, 1.0, 2.0]), np.array([0.1, 0.1, 0.1]), best_f=1.5)
    assert np.argmax(ei) == 2
    assert ei[2] == pytest.approx(0.5, abs=0.01)
    assert ei[0] < 1e-6


def test_ei_matches_monte_carlo():
    rng = np.random.default_rng(0)
    mu, sd, best = 0.3, 0.7, 0.5
    samples = mu + sd * rng.standard_normal(400_000)
    mc = np.maximum(samples - best, 0).mean()
    assert expected_improvement(np.array([mu]), np.array([sd]), best)[0] == pytest.approx(
        mc, rel=0.01
    )


def test_ei_values_uncertainty_when_means_tie():
    ei = expected_improvement(np.array([1.0, 1.0]), np.array([0.1, 1.0]), best_f=1.2)
    assert ei[1] > ei[0]


def test_topq_keeps_filling_the_strong_set_where_ei_chases_a_long_shot():
    # 100 candidates: the best is measured (mean 2, no uncertainty); five more are
    # confidently strong (mean 1.9); one is a weak but very uncertain long shot.
    mean = np.zeros(100)
    std = np.full(100, 0.05)
    mean[0], std[0] = 2.0, 0.0
    mean[1:6] = 1.9
    mean[50], std[50] = 0.5, 1.0
    post = FixedPosterior(mean, std)
    measured = np.zeros(100, bool)
    measured[0] = True
    ei_pick, _ = select("ei", post, measured=measured, best_f=2.0)
    assert ei_pick[0] == 50  # EI: only the long shot could beat the best value
    level = top_level(mean, 0.94)
    assert 0.5 < level < 1.9
    topq_pick, topq_map = select("topq", post, measured=measured, quantile=0.94)
    assert 1 <= topq_pick[0] <= 5  # top-set EI: the likely members of the top 6 %
    assert topq_map[1] == pytest.approx(1.9 - level, rel=1e-3)
    batch, _ = select("topq", FixedPosterior(mean, std), q=5, measured=measured, quantile=0.94)
    assert sorted(batch.tolist()) == [1, 2, 3, 4, 5]


def test_topq_level_rises_to_the_kth_best_measured_value():
    # 200 candidates, quantile 0.99: K = 2. The predicted level is the map's 99th percentile.
    mean = np.linspace(0.0, 1.0, 200)
    predicted = top_level(mean, 0.99)
    assert predicted == pytest.approx(np.quantile(mean, 0.99))
    # one measured value is not yet K: the predicted level holds
    assert top_level(mean, 0.99, observed=np.array([5.0])) == predicted
    # K = 2 measured: the level is the 2nd best, once it is above the predicted one
    assert top_level(mean, 0.99, observed=np.array([5.0, 3.0, np.nan, 0.1])) == 3.0
    assert top_level(mean, 0.99, observed=np.array([0.2, 0.1])) == predicted
    # after the region it knows is filled, a strong but certain neighbour no longer
    # outbids an uncertain unexplored candidate
    post = FixedPosterior(np.r_[2.9, 1.0, np.zeros(198)], np.r_[0.01, 1.5, np.full(198, 0.01)])
    measured = np.zeros(200, bool)
    pick, _ = select("topq", post, measured=measured, quantile=0.99)
    assert pick[0] == 0
    pick, _ = select(
        "topq", post, measured=measured, quantile=0.99, observed=np.array([3.0, 3.1, 3.05])
    )
    assert pick[0] == 1


def test_topq_needs_a_level_in_the_open_unit_interval():
    with pytest.raises(ConfigurationError, match="quantile must be between 0 and 1, got 1.5"):
        top_level(np.zeros(3), 1.5)
    with pytest.raises(ConfigurationError, match="needs level"):
        score("topq", np.zeros(3), np.ones(3))


def test_ucb_and_variance():
    mean, std = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert np.argmax(upper_confidence_bound(mean, std, beta=0.25)) == 0
    assert np.argmax(upper_confidence_bound(mean, std, beta=9.0)) == 1
    assert np.argmax(score("maxvar", mean, std)) == 1
    with pytest.raises(ConfigurationError, match="unknown acquisition 'pi'"):
        score("pi", mean, std)


def test_measured_points_are_not_chosen_again_unless_asked():
    post = FixedPosterior([0.0, 5.0, 1.0], [1.0, 1.0, 1.0])
    measured = np.array([False, True, False])
    chosen, _ = select("ucb", post, q=1, measured=measured)
    assert chosen.tolist() == [2]
    chosen, _ = select(
        "ucb",
        FixedPosterior([0.0, 5.0, 1.0], [1.0] * 3),
        q=1,
        measured=measured,
        allow_repeats=True,
    )
    assert chosen.tolist() == [1]


def test_batch_spreads_out_with_believer_updates():
    """Two equal bumps far apart: q=2 must take one from each, not two neighbours."""
    g = (np.arange(40) + 0.5) / 40
    pos = np.column_stack([g, np.zeros_like(g)])
    f = np.exp(-((g - 0.2) ** 2) / 0.002) + np.exp(-((g - 0.8) ** 2) / 0.002)
    train = np.arange(0, 40, 6)
    model = CoordinateGP(pos, seed=0, iterations_first=100)
    post = model.fit(train, f[train])
    measured = np.zeros(40, bool)
    measured[train] = True
    before = post.var.copy()
    chosen, _ = select("ucb", post, q=4, measured=measured, beta=4.0)
    assert len(set(chosen.tolist())) == 4
    assert np.ptp(g[chosen]) > 0.3  # not piled on one spot
    # the variance map was shrunk around the chosen points
    assert post.var[chosen[0]] < 0.5 * before[chosen[0]]


def test_cost_aware_choice_prefers_the_near_candidate_when_values_are_close():
    pos = np.array([[0.0, 0.0], [1.0, 0.0], [1000.0, 0.0]])
    post = FixedPosterior([0.0, 1.0, 1.05], [0.2, 0.2, 0.2])
    cost = CostModel(measure_s=2.0, speed=10.0, settle_s=1.0, weight=1.0)
    chosen, _ = select(
        "ei",
        post,
        q=1,
        best_f=0.5,
        cost=cost,
        positions=pos,
        probe=pos[0],
        measured=np.array([True, False, False]),
    )
    assert chosen.tolist() == [1]
    # without cost the farther, slightly better point wins
    chosen, _ = select(
        "ei",
        FixedPosterior([0.0, 1.0, 1.05], [0.2] * 3),
        q=1,
        best_f=0.5,
        measured=np.array([True, False, False]),
    )
    assert chosen.tolist() == [2]
    assert cost.seconds(pos, pos[0]).tolist() == pytest.approx([2.0, 3.1, 103.0])


def test_bad_arguments():
    post = FixedPosterior([0.0, 1.0], [1.0, 1.0])
    with pytest.raises(ConfigurationError, match="q must be >= 1"):
        select("ei", post, q=0, best_f=0.0)
    with pytest.raises(ConfigurationError, match="only 1 candidates left"):
        select("ei", post, q=2, best_f=0.0, measured=np.array([True, False]))
    with pytest.raises(ConfigurationError, match="best_f"):
        select("ei", post, q=1)
    with pytest.raises(ConfigurationError, match="speed"):
        CostModel(speed=0.0)
