"""GP and DKL surrogates on small seeded problems, float64: they must predict what they learn."""

import numpy as np
import pytest
import torch

from autoscope.agents.candidates import CandidateSet, extract_patches
from autoscope.agents.models import CoordinateGP, DKLModel


def grid_positions(n=30):
    g = (np.arange(n) + 0.5) / n
    yy, xx = np.meshgrid(g, g, indexing="ij")
    return np.column_stack([xx.ravel(), yy.ravel()])


def known_function(xy):
    return np.sin(6 * xy[:, 0]) + np.cos(4 * xy[:, 1])


def test_coordinate_gp_predicts_a_known_function():
    pos = grid_positions(30)
    f = known_function(pos)
    rng = np.random.default_rng(0)
    train = rng.choice(len(pos), 80, replace=False)
    model = CoordinateGP(pos, seed=0, iterations_first=200)
    post = model.fit(train, f[train] + 0.01 * rng.standard_normal(80))
    test = np.setdiff1d(np.arange(len(pos)), train)
    rmse = np.sqrt(np.mean((post.mean[test] - f[test]) ** 2))
    assert rmse < 0.05 * f.std()
    # calibrated: most true values inside 3 sigma, uncertainty small at training points
    z = np.abs(post.mean[test] - f[test]) / post.std[test]
    assert np.mean(z < 3) > 0.95
    assert post.std[train].mean() < post.std[test].mean()


def test_gp_mean_is_not_the_prior_when_trained_on_a_shifted_function():
    # a model that ignored the data would predict a constant
    pos = grid_positions(20)
    f = 10.0 + 3.0 * pos[:, 0]
    train = np.arange(0, len(pos), 7)
    post = CoordinateGP(pos, seed=1).fit(train, f[train])
    assert np.corrcoef(post.mean, f)[0, 1] > 0.99
    assert abs(post.mean.mean() - f.mean()) < 0.1


def test_believer_update_matches_the_exact_posterior():
    """condition_on(j) must give the variance of the GP with j added (hyperparameters fixed)."""
    pos = grid_positions(15)
    f = known_function(pos)
    train = np.arange(0, len(pos), 11)
    model = CoordinateGP(pos, seed=0, iterations_first=50)
    post = model.fit(train, f[train])
    j = 100
    post.condition_on(j)
    post.condition_on(7)
    # rebuild with j and 7 added as observations at their (believed) means, no further training
    train_x = model.inputs[np.r_[train, j, 7]]
    ys = (np.r_[f[train], post.mean[j], post.mean[7]] - model.y_mean) / model.y_std
    exact = model._build_posterior(train_x, torch.as_tensor(ys, dtype=torch.float64))
    np.testing.assert_allclose(post.var, exact.var, rtol=1e-4, atol=1e-8)


def test_dkl_learns_a_property_of_image_structure():
    """The property sits on bright blobs anywhere: DKL must generalise to unseen blobs."""
    rng = np.random.default_rng(3)
    n = 32
    yy, xx = np.mgrid[0:n, 0:n]
    img = np.zeros((n, n))
    for _ in range(14):
        cx, cy = rng.uniform(0, n, 2)
        img += np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * 1.5**2))
    prop = img.copy()
    img = img + 0.05 * rng.standard_normal(img.shape)
    cands = CandidateSet.from_image(img, patch_size=5)
    train = rng.choice(n * n, 60, replace=False)
    model = DKLModel(
        cands.patches, cands.normalized_positions(), seed=0, spatial=False, iterations_first=300
    )
    post = model.fit(train, prop.ravel()[train])
    test = np.setdiff1d(np.arange(n * n), train)
    corr = np.corrcoef(post.mean[test], prop.ravel()[test])[0, 1]
    assert corr > 0.8
    gp = CoordinateGP(cands.normalized_positions(), seed=0).fit(train, prop.ravel()[train])
    assert corr > np.corrcoef(gp.mean[test], prop.ravel()[test])[0, 1] + 0.1


def test_dkl_warm_starts_from_the_previous_step():
    rng = np.random.default_rng(0)
    img = rng.standard_normal((16, 16))
    cands = CandidateSet.from_image(img, patch_size=3)
    model = DKLModel(
        cands.patches, cands.normalized_positions(), seed=0, iterations_first=30, iterations_step=5
    )
    y = img.ravel()

    def weights():
        return torch.cat([p.detach().clone().ravel() for p in model.model.features.parameters()])

    w0 = weights()
    model.fit(np.arange(0, 256, 5), y[::5])
    w1 = weights()
    model.fit(np.arange(0, 256, 4), y[::4])
    w2 = weights()
    # trained further, but from where the first fit left it: 5 steps move it less
    # than the 30 steps of the first fit did
    assert 0 < float((w2 - w1).norm()) < 0.5 * float((w1 - w0).norm())
    assert model.n_fits == 2


def test_patches_are_centred_on_their_pixel():
    img = np.arange(25, dtype=float).reshape(5, 5)
    p = extract_patches(img, 3)
    assert p.shape == (25, 3, 3)
    assert p[12, 1, 1] == img[2, 2]
    np.testing.assert_array_equal(p[12], img[1:4, 1:4])
    # mirrored at the border
    assert p[0, 0, 0] == img[1, 1]


@pytest.mark.parametrize("size", [20, 64])
def test_default_patch_fits_small_grids(size):
    cands = CandidateSet.from_image(np.random.default_rng(0).random((size, size)))
    assert len(cands) == size * size
    assert cands.patch_size % 2 == 1 and cands.patch_size < size


def test_the_lengthscale_floor_holds_a_coordinate_gp_above_a_pixel():
    """A target the coordinates cannot predict (white noise at each pixel) and a few points.

    Without a floor the marginal likelihood takes the lengthscales below a pixel
    (the kernel tends to white noise and predicts nothing between points, issue 15
    item 6); with ``min_lengthscale_px=1`` they stay at or above one pixel, in both
    models of the evidence-weighted agent when it is given the floor.
    """
    from autoscope.agents.averaging import ModelAverage
    from autoscope.agents.models import make_model

    rng = np.random.default_rng(3)
    cands = CandidateSet.from_image(rng.standard_normal((16, 16)))
    idx = rng.choice(16 * 16, 20, replace=False)
    y = rng.standard_normal(20)
    pixel = 1.0 / 15  # the grid's pitch in the unit square
    bare = make_model("gp", cands, seed=0)
    bare.fit(idx, y)
    floored = make_model("gp", cands, seed=0, min_lengthscale_px=1.0)
    floored.fit(idx, y)
    assert bare.model.covar_module.base_kernel.lengthscale.max() < pixel
    assert floored.model.covar_module.base_kernel.lengthscale.min() >= pixel * (1 - 1e-9)
    avg = ModelAverage(cands, min_lengthscale_px=1.0)
    coords = avg.models["dkl"].model.covar_module.kernels[1].base_kernel
    for kernel in (avg.models["gp"].model.covar_module.base_kernel, coords):
        assert kernel.raw_lengthscale_constraint.lower_bound.min() == pytest.approx(pixel)
