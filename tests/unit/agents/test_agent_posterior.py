"""Posteriors for large candidate sets and the botorch acquisitions: exact where it matters.

A lazy posterior must give the same mean as the dense one, variances that are
upper bounds until refined and exact after, and the same choices; botorch's
acquisitions must choose what the hand-written ones choose.
"""

import gpytorch
import numpy as np
import pytest
import torch

from autoscope.agents.acquisition import CostModel, posterior_score, select
from autoscope.agents.botorch_acquisition import make_acquisition, select_botorch
from autoscope.agents.candidates import CandidateSet
from autoscope.agents.models import make_model
from autoscope.agents.posterior import (
    LazyPosterior,
    MixturePosterior,
    cross_covariance,
    pivoted_subset,
)


@pytest.fixture(scope="module")
def problem():
    """A 17 x 23 (non-square) overview and 70 noisy observations of a smooth map."""
    rng = np.random.default_rng(3)
    cands = CandidateSet.from_image(rng.standard_normal((17, 23)), patch_size=5)
    idx = rng.choice(len(cands), 70, replace=False)
    pos = cands.normalized_positions()[idx]
    y = np.sin(5 * pos[:, 0]) + np.cos(3 * pos[:, 1]) + 0.05 * rng.standard_normal(70)
    measured = np.zeros(len(cands), bool)
    measured[idx] = True
    return cands, idx, y, measured


def test_cross_covariance_is_gpytorchs_kernel():
    torch.manual_seed(0)
    feat = gpytorch.kernels.ScaleKernel(
        gpytorch.kernels.RBFKernel(ard_num_dims=2, active_dims=[0, 1])
    )
    coords = gpytorch.kernels.ScaleKernel(
        gpytorch.kernels.MaternKernel(nu=2.5, ard_num_dims=2, active_dims=[2, 3])
    )
    kernel = (feat + coords).to(torch.float64)
    feat.base_kernel.lengthscale = torch.tensor([0.3, 0.7])
    coords.base_kernel.lengthscale = torch.tensor([0.05, 0.2])
    feat.outputscale, coords.outputscale = 1.7, 0.4
    a = torch.rand(50, 4, dtype=torch.float64)
    b = torch.rand(20, 4, dtype=torch.float64)
    with torch.no_grad():
        want = kernel(a, b).to_dense()
        got = cross_covariance(kernel, a, b)
        assert torch.allclose(got, want, atol=1e-10)
        # a point against itself: the prior variance, no rounding below it
        diag = cross_covariance(kernel, a[:3], a[:3]).diagonal()
        assert torch.allclose(diag, torch.full((3,), 2.1, dtype=torch.float64))


def test_pivoted_subset_picks_the_spread_out_rows():
    x = torch.tensor([[0.0], [0.001], [1.0], [2.0]], dtype=torch.float64)
    k = torch.exp(-0.5 * (x - x.T) ** 2 / 0.1**2) + 1e-6 * torch.eye(4, dtype=torch.float64)
    piv = pivoted_subset(k, 3).tolist()
    assert len(piv) == 3 and not {0, 1} <= set(piv)  # the near-duplicate pair is not both in


@pytest.mark.parametrize("kind", ["gp", "dkl"])
def test_lazy_posterior_is_the_dense_one_where_refined_and_bounds_it_elsewhere(problem, kind):
    cands, idx, y, measured = problem
    dense = make_model(kind, cands, seed=0).fit(idx, y)
    lazy_model = make_model(kind, cands, seed=0, lazy_above=0, lazy_subset=20)
    lazy = lazy_model.fit(idx, y)
    assert isinstance(lazy, LazyPosterior)
    assert lazy_model.grid == (17, 23)  # the coordinate part went through the FFT
    np.testing.assert_allclose(lazy.mean, dense.mean, atol=1e-9)
    assert (lazy.var >= dense.var - 1e-12).all()  # bounds
    assert (lazy.var[idx] > 5 * dense.var[idx]).any()  # and not simply the exact values
    lazy.refine(np.arange(len(cands)))
    np.testing.assert_allclose(lazy.var, dense.var, rtol=1e-8, atol=1e-12)
    # joint covariance and a measurement's predictive variance agree too
    rows = np.array([0, 5, 200])
    np.testing.assert_allclose(
        lazy.joint_covariance(rows), dense.joint_covariance(rows), atol=1e-10
    )
    assert lazy.predictive(7)[1] == pytest.approx(dense.predictive(7)[1])


@pytest.mark.parametrize("acquisition", ["topq", "ei", "ucb", "maxvar"])
def test_selection_on_a_lazy_posterior_is_the_exact_argmax(problem, acquisition):
    cands, idx, y, measured = problem
    opts = dict(measured=measured, best_f=float(y.max()), observed=y, q=3)
    for kind in ("gp", "dkl"):
        dense = make_model(kind, cands, seed=0).fit(idx, y)
        lazy = make_model(kind, cands, seed=0, lazy_above=0, lazy_subset=20).fit(idx, y)
        want, _ = select(acquisition, dense, **opts)
        got, _ = select(acquisition, lazy, **opts)
        assert got.tolist() == want.tolist()
        assert lazy.exact.sum() < len(cands)  # it did not need every variance


def test_mixture_ei_is_the_weighted_sum_of_the_components(problem):
    cands, idx, y, measured = problem
    a = make_model("gp", cands, seed=0).fit(idx, y)
    b = make_model("dkl", cands, seed=0).fit(idx, y)
    mix = MixturePosterior([a, b], np.array([0.3, 0.7]))
    np.testing.assert_allclose(mix.mean, 0.3 * a.mean + 0.7 * b.mean)
    second = 0.3 * (a.var + a.mean**2) + 0.7 * (b.var + b.mean**2)
    np.testing.assert_allclose(mix.var, second - mix.mean**2, atol=1e-12)
    ei = posterior_score("ei", mix, None, best_f=float(y.max()))
    ei_a = posterior_score("ei", a, None, best_f=float(y.max()))
    ei_b = posterior_score("ei", b, None, best_f=float(y.max()))
    np.testing.assert_allclose(ei, 0.3 * ei_a + 0.7 * ei_b)
    # a mixture of two disagreeing models is uncertain where they disagree
    assert (mix.var >= np.minimum(a.var, b.var) - 1e-12).all()


@pytest.mark.parametrize("acquisition", ["topq", "ei", "ucb", "maxvar"])
def test_botorch_and_the_hand_written_acquisition_choose_the_same_candidate(problem, acquisition):
    cands, idx, y, measured = problem
    a = make_model("gp", cands, seed=0).fit(idx, y)
    b = make_model("dkl", cands, seed=0).fit(idx, y)
    cost = CostModel(measure_s=2.0, speed=5.0, settle_s=1.0)
    probe = cands.positions[idx[-1]]
    for post in (a, b, MixturePosterior([a, b], np.array([0.4, 0.6]))):
        opts = dict(measured=measured, best_f=float(y.max()), observed=y)
        want, _ = select(acquisition, post, **opts)
        assert select_botorch(acquisition, post, **opts).tolist() == want.tolist()
        cost_opts = dict(opts, cost=cost, positions=cands.positions, probe=probe)
        want, _ = select(acquisition, post, **cost_opts)
        assert select_botorch(acquisition, post, **cost_opts).tolist() == want.tolist()


def test_botorch_topq_is_the_hand_written_score(problem):
    cands, idx, y, measured = problem
    post = make_model("gp", cands, seed=0).fit(idx, y)
    acqf = make_acquisition("topq", post, observed=y, quantile=0.95)
    x = torch.arange(len(cands), dtype=torch.float64).reshape(-1, 1, 1)
    from autoscope.agents.acquisition import top_level

    level = top_level(post.mean, 0.95, y)
    want = posterior_score("topq", post, None, level=level)
    np.testing.assert_allclose(acqf(x).detach().numpy(), want, rtol=1e-9, atol=1e-12)


def test_qlognei_batch_is_distinct_unmeasured_and_near_the_best(problem):
    cands, idx, y, measured = problem
    post = make_model("gp", cands, seed=0).fit(idx, y)
    batch = select_botorch("ei", post, q=3, measured=measured, best_f=float(y.max()))
    assert len(set(batch.tolist())) == 3 and not measured[batch].any()
    # the first pick of a noisy-EI batch is a candidate the model expects to be good
    assert post.mean[batch[0]] > np.quantile(post.mean, 0.8)
