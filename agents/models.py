"""Surrogate models over the discrete candidate set: deep kernel learning and a plain GP.

Both are exact Gaussian processes (gpytorch) in float64 on the CPU, trained by
maximising the exact marginal likelihood with Adam, warm-started from the
previous step's weights and optimizer state, for a bounded number of
iterations per step:

- :class:`DKLModel`: a small MLP maps each candidate's image patch (``p x p``)
  to a few learned features; an RBF kernel (one lengthscale per feature) acts
  on them. Network and GP hyperparameters are trained jointly.
- :class:`CoordinateGP`: a Matern-5/2 kernel on the candidate positions scaled
  to the unit square.

After :meth:`SurrogateModel.fit` the model builds a :class:`DiscretePosterior`
over all ``N`` candidates at once: latent mean and variance (``N``), and rank-one
"kriging believer" updates for picking a batch of points.
"""

from __future__ import annotations

import logging
import math
import time
from contextlib import contextmanager

import gpytorch
import numpy as np
import torch

from autoscope.agents.candidates import pca_scores
from autoscope.agents.posterior import (
    DiscretePosterior,
    LazyPosterior,
    cross_covariance,
    on_coordinates,
)
from autoscope.errors import ConfigurationError

__all__ = ["CoordinateGP", "DKLModel", "DiscretePosterior", "SurrogateModel", "make_model"]

log = logging.getLogger(__name__)
DTYPE = torch.float64


@contextmanager
def torch_threads(n: int | None):
    """Run the block with ``n`` torch threads (``None``: leave as is), then restore.

    The matrices of a campaign step are small (a few hundred rows): one
    thread is fastest, and several threads on a busy machine are many times
    slower (they wait for each other).
    """
    old = torch.get_num_threads()
    change = n is not None and n != old
    if change:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if change:
            torch.set_num_threads(old)


def _coordinate_matern(
    ard: int, active_dims=None, min_lengthscale=None, start: float = 0.1
) -> gpytorch.kernels.MaternKernel:
    """Matern-5/2 kernel on scaled coordinates, its lengthscales held above ``min_lengthscale``.

    ``min_lengthscale``: None, a number, or one per dimension (unit-square
    units); the start value is ``start`` or 1.5 times the floor, whichever is larger.
    """
    constraint = None
    if min_lengthscale is not None:
        floor = torch.as_tensor(min_lengthscale, dtype=DTYPE).reshape(-1)
        if (floor <= 0).any() or not torch.isfinite(floor).all():
            raise ConfigurationError(f"minimum lengthscale must be positive, got {floor.tolist()}")
        constraint = gpytorch.constraints.GreaterThan(floor.expand(ard).clone())
        start = torch.clamp(floor.expand(ard) * 1.5, min=start)
    kernel = gpytorch.kernels.MaternKernel(
        nu=2.5, ard_num_dims=ard, active_dims=active_dims, lengthscale_constraint=constraint
    )
    kernel.lengthscale = start  # set before the model's float64: as it always was without a floor
    return kernel


class _FeatureMLP(torch.nn.Module):
    """``n x D -> n x d`` MLP with tanh-bounded outputs."""

    def __init__(self, d_in: int, hidden: tuple[int, ...], d_out: int):
        super().__init__()
        layers: list[torch.nn.Module] = []
        last = d_in
        for width in hidden:
            layers += [torch.nn.Linear(last, width), torch.nn.SiLU()]
            last = width
        layers += [torch.nn.Linear(last, d_out), torch.nn.Tanh()]
        self.net = torch.nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _PatchFeatures(torch.nn.Module):
    """Learned features of the first ``d_patch`` inputs, with the remaining inputs passed through.

    ``n x (d_patch + c) -> n x (latent + c)``: the MLP sees the patch part;
    any trailing columns (scaled coordinates) go to the kernel unchanged.
    """

    def __init__(self, d_patch: int, hidden: tuple[int, ...], latent: int):
        super().__init__()
        self.d_patch = d_patch
        self.mlp = _FeatureMLP(d_patch, hidden, latent)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.mlp(x[:, : self.d_patch]), x[:, self.d_patch :]], dim=-1)


class _ExactGP(gpytorch.models.ExactGP):
    """Exact GP with an optional feature extractor in front of the kernel."""

    def __init__(
        self, train_x, train_y, likelihood, covar_module, features: torch.nn.Module | None
    ):
        super().__init__(train_x, train_y, likelihood)
        self.features = features
        self.mean_module = gpytorch.means.ConstantMean()
        self.covar_module = covar_module

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.features is None else self.features(x)

    def forward(self, x: torch.Tensor) -> gpytorch.distributions.MultivariateNormal:
        z = self.embed(x)
        return gpytorch.distributions.MultivariateNormal(self.mean_module(z), self.covar_module(z))


class SurrogateModel:
    """Exact GP on per-candidate inputs, warm-started between fits.

    Parameters
    ----------
    inputs : array ``(N, D)``
        The input of every candidate (flattened patch, or coordinates).
    features : torch module or None
        Maps ``n x D`` to ``n x d``; ``None`` uses the inputs directly.
    kernel : gpytorch kernel acting on ``n x d`` (the full covariance module)
    iterations_first, iterations_step : int
        Adam iterations of the first fit and of every later (warm) fit.
    lr : float
        Adam learning rate.
    weight_decay : float
        L2 penalty on the feature network's weights.
    seed : int
    threads : int or None
        Torch threads while fitting and predicting (default 1, fastest for
        these sizes); ``None`` leaves torch's setting alone.
    train_max : int or None
        The hyperparameters (and the feature network) are trained on at most
        this many observations: the latest half of them and an even spread of
        the others (None: all). The posterior always conditions on all of
        them. Training costs ``n^3`` per iteration; 1,000 observations would
        make it the slowest part of a step.
    lazy_above : float
        When ``N n^2`` (candidates times squared observations) exceeds this,
        the posterior is a :class:`~autoscope.agents.posterior.LazyPosterior`
        (exact mean, bounded variance refined where the acquisition needs it)
        instead of a dense :class:`~autoscope.agents.posterior.DiscretePosterior`.
        The default 1e7 (a 64 x 64 grid from 50 observations on) was 4e8
        before the lazy posterior kept its rows and bounds between trainings:
        at 4,096 candidates and 300 observations the dense posterior cost
        0.22 s of CPU per two-model step, the lazy one 0.03 s.
    lazy_subset : int
        Observations in the lazy posterior's variance bound.
    refit_scale : int or None
        The hyperparameters (and the feature network) are trained again once
        ``max(1, n // refit_scale)`` observations came since the last training
        (``n`` observations now): every step up to ``2 * refit_scale``
        observations, every 10th at ``10 * refit_scale``. Between trainings a
        step only conditions the posterior on the new data with the
        hyperparameters it has, and reuses what depends on those alone: the
        candidates' embedding, the FFT of the coordinate kernel, the other
        kernel parts' rows ``K(X, Z)`` and, for a lazy posterior, the last
        variances as bounds (more data never raises a GP's variance). None:
        train every step.
    cache_mb : float
        Largest size of the kept rows ``K(X, Z)`` of a lazy posterior (float64
        up to 131,072 candidates, float32 above); beyond it they are
        computed again each step.
    """

    kind = "gp"
    grid: tuple[int, int] | None = None
    """``(H, W)`` of the candidates when they are the pixels of a grid (see :func:`make_model`)."""
    coord_dims: tuple[int, int] | None = None
    """Columns of the kernel input that hold the normalised grid coordinates, if any."""

    def __init__(
        self,
        inputs: np.ndarray,
        features: torch.nn.Module | None,
        kernel: gpytorch.kernels.Kernel,
        iterations_first: int = 150,
        iterations_step: int = 25,
        lr: float = 0.02,
        weight_decay: float = 1e-3,
        seed: int = 0,
        threads: int | None = 1,
        train_max: int | None = 300,
        lazy_above: float = 1e7,
        lazy_subset: int = 128,
        refit_scale: int | None = 25,
        cache_mb: float = 6000.0,
    ):
        x = np.asarray(inputs, dtype=float)
        if x.ndim != 2:
            raise ConfigurationError(f"model inputs must be N x D, got shape {x.shape}")
        self.inputs = torch.as_tensor(x, dtype=DTYPE)
        self.threads = threads
        if train_max is not None and train_max < 2:
            raise ConfigurationError(f"train_max must be >= 2 or None, got {train_max}")
        self.train_max = train_max
        self.lazy_above = float(lazy_above)
        self.lazy_subset = int(lazy_subset)
        if refit_scale is not None and int(refit_scale) < 1:
            raise ConfigurationError(f"refit_scale must be >= 1 or None, got {refit_scale}")
        self.refit_scale = None if refit_scale is None else int(refit_scale)
        self.cache_mb = float(cache_mb)
        self.n_trainings = 0
        self.last_trained = False
        self._n_at_training = 0
        self._version = 0  # counts trainings: what is cached belongs to one version
        self._cache: dict = {}
        self.iterations_first = int(iterations_first)
        self.iterations_step = int(iterations_step)
        self._gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.likelihood = gpytorch.likelihoods.GaussianLikelihood(
            noise_constraint=gpytorch.constraints.GreaterThan(1e-4)
        ).to(DTYPE)
        dummy_x = self.inputs[:1]
        dummy_y = torch.zeros(1, dtype=DTYPE)
        self.model = _ExactGP(dummy_x, dummy_y, self.likelihood, kernel, features).to(DTYPE)
        self.model.likelihood.noise = 0.05
        groups = [
            {
                "params": [
                    p for n, p in self.model.named_parameters() if not n.startswith("features")
                ]
            }
        ]
        if features is not None:
            groups.append({"params": list(features.parameters()), "weight_decay": weight_decay})
        self.optimizer = torch.optim.Adam(groups, lr=lr)
        self.n_fits = 0
        self.y_mean = 0.0
        self.y_std = 1.0
        self.last_loss = float("nan")
        self.last_fit_seconds = 0.0
        self.posterior: DiscretePosterior | None = None

    def fit(self, indices: np.ndarray, y: np.ndarray) -> DiscretePosterior:
        """Train on observations ``y`` at candidates ``indices`` and build the posterior.

        Parameters
        ----------
        indices : int array ``(n,)``
        y : float array ``(n,)``, finite

        Returns
        -------
        DiscretePosterior over all N candidates, in the units of ``y``.
        """
        with torch_threads(self.threads):
            return self._fit(indices, y)

    def _fit(self, indices: np.ndarray, y: np.ndarray) -> DiscretePosterior:
        t0 = time.perf_counter()
        idx = torch.as_tensor(np.asarray(indices, dtype=np.int64))
        yv = np.asarray(y, dtype=float)
        if len(yv) < 2:
            raise ConfigurationError(f"a GP needs at least 2 observations, got {len(yv)}")
        if not np.isfinite(yv).all():
            raise ConfigurationError("GP targets must be finite (flagged spectra are left out)")
        self.y_mean = float(yv.mean())
        std = float(yv.std())
        self.y_std = std if std > 0 else 1.0
        train_x = self.inputs[idx]
        train_y = torch.as_tensor((yv - self.y_mean) / self.y_std, dtype=DTYPE)
        self._train_index = idx.numpy()
        sub = self._training_subset(len(yv))
        fit_x, fit_y = (train_x, train_y) if sub is None else (train_x[sub], train_y[sub])
        train = self._should_train(len(yv))
        loss = torch.tensor(float("nan"))
        if train:
            self.model.set_train_data(fit_x, fit_y, strict=False)
            iterations = self.iterations_first if self.n_trainings == 0 else self.iterations_step
            self.model.train()
            self.likelihood.train()
            for _ in range(iterations):
                self.optimizer.zero_grad()
                loss = self._negative_mll(fit_x, fit_y)
                loss.backward()
                self.optimizer.step()
            self.n_trainings += 1
            self._n_at_training = len(yv)
            self._version += 1
            self._cache = {}
            self.last_loss = float(loss.detach())
        self.last_trained = train
        self.model.set_train_data(train_x, train_y, strict=False)
        self.n_fits += 1
        self.posterior = self._build_posterior(train_x, train_y)
        self.last_fit_seconds = time.perf_counter() - t0
        return self.posterior

    def _should_train(self, n: int) -> bool:
        """Whether this fit trains the hyperparameters (see ``refit_scale``)."""
        if self.n_trainings == 0 or self.refit_scale is None:
            return True
        new = n - self._n_at_training
        return new < 0 or new >= max(1, n // self.refit_scale)

    def _embedded(self) -> torch.Tensor:
        """Every candidate's kernel input, computed once per training."""
        z = self._cache.get("z")
        if z is None:
            with torch.no_grad():
                z = self._cache["z"] = self.model.embed(self.inputs)
        return z

    def _rows(self, parts, z_all: torch.Tensor, z_tr: torch.Tensor, index: np.ndarray):
        """``K(X, Z)`` ``(n, N)`` of the kernel ``parts``, kept between trainings (None: too big).

        Rows of observations seen before are kept; new observations add rows.
        The index must extend the one kept (observations are only appended),
        else every row is computed again.
        """
        n_all, n = z_all.shape[0], len(index)
        dtype = torch.float64 if n_all <= 2**17 else torch.float32
        itemsize = 8 if dtype == torch.float64 else 4
        kept = self._cache.get("rows")
        if kept is not None:
            old_index, buf, have = kept
            if have > n or not np.array_equal(old_index[:have], index[:have]):
                kept = None
        if kept is None:
            buf, have = None, 0
        if buf is None or buf.shape[0] < n:
            capacity = n + max(64, n // 4)
            if n_all * capacity * itemsize > self.cache_mb * 2**20:
                self._cache.pop("rows", None)
                return None
            grown = torch.empty(capacity, n_all, dtype=dtype)
            if have:
                grown[:have] = buf[:have]
            buf = grown
        with torch.no_grad():
            for s in range(have, n, 256):
                zs = z_tr[s : min(n, s + 256)]
                block = None
                for k in parts:
                    kk = cross_covariance(k, zs, z_all)
                    block = kk if block is None else block.add_(kk)
                buf[s : s + len(zs)] = block.to(dtype)
        self._cache["rows"] = (np.array(index), buf, n)
        return buf[:n]

    def _training_subset(self, n: int) -> torch.Tensor | None:
        """Rows that train the hyperparameters when ``n`` exceeds ``train_max`` (else None).

        The latest ``train_max // 2`` observations and an evenly spaced half of
        the earlier ones: deterministic, and the newest data always count.
        """
        if self.train_max is None or n <= self.train_max:
            return None
        recent = self.train_max // 2
        older = np.linspace(0, n - recent - 1, self.train_max - recent).round().astype(np.int64)
        rows = np.unique(np.concatenate([older, np.arange(n - recent, n)]))
        return torch.as_tensor(rows)

    def _negative_mll(self, train_x: torch.Tensor, train_y: torch.Tensor) -> torch.Tensor:
        """Exact negative log marginal likelihood per observation (dense Cholesky).

        The same quantity as ``gpytorch.mlls.ExactMarginalLogLikelihood`` (no
        priors), computed on the dense ``n x n`` kernel matrix, which for the
        few hundred points of a campaign is several times faster than going
        through lazy linear operators.
        """
        z = self.model.embed(train_x)
        n = len(train_y)
        k = self.model.covar_module(z).to_dense()
        k = k + (self.likelihood.noise + 1e-6) * torch.eye(n, dtype=DTYPE)
        chol = torch.linalg.cholesky(k)
        r = (train_y - self.model.mean_module.constant).unsqueeze(-1)
        alpha = torch.cholesky_solve(r, chol)
        quad = (r * alpha).sum()
        logdet = 2 * torch.log(torch.diagonal(chol)).sum()
        return 0.5 * (quad + logdet + n * math.log(2 * math.pi)) / n

    def _build_posterior(self, train_x: torch.Tensor, train_y: torch.Tensor) -> DiscretePosterior:
        self.model.eval()
        self.likelihood.eval()
        kernel = self.model.covar_module
        n_all, n = self.inputs.shape[0], len(train_y)
        if float(n_all) * n * n > self.lazy_above:
            return self._lazy_posterior(train_x, train_y)
        z_all = self._embedded()
        with torch.no_grad():
            z_tr = self.model.embed(train_x)
            noise = float(self.likelihood.noise)
            k_tr = kernel(z_tr, z_tr).to_dense()
            k_tr = k_tr + (noise + 1e-8) * torch.eye(len(train_y), dtype=DTYPE)
            chol = torch.linalg.cholesky(k_tr)
            k_xs = kernel(z_all, z_tr).to_dense()  # N x n
            c = float(self.model.mean_module.constant)
            alpha = torch.cholesky_solve((train_y - c).unsqueeze(-1), chol).squeeze(-1)
            mean = c + k_xs @ alpha
            v = torch.linalg.solve_triangular(chol, k_xs.T, upper=False)  # n x N
            prior_var = kernel(z_all, diag=True)
            var = (prior_var - (v**2).sum(0)).clamp_min(1e-12)
        s = self.y_std
        return DiscretePosterior(
            mean=(mean.numpy() * s + self.y_mean),
            var=var.numpy() * s**2,
            noise=noise * s**2,
            z=z_all,
            kernel=kernel,
            v=v,
            scale=s,
        )

    def _lazy_posterior(self, train_x: torch.Tensor, train_y: torch.Tensor) -> LazyPosterior:
        kernel = self.model.covar_module
        z_all = self._embedded()
        index = self._train_index
        with torch.no_grad():
            z_tr = self.model.embed(train_x)
            noise = float(self.likelihood.noise)
            k_tr = cross_covariance(kernel, z_tr, z_tr)
            k_tr.diagonal().add_(noise + 1e-8)
            chol = torch.linalg.cholesky(k_tr)
            c = float(self.model.mean_module.constant)
            alpha = torch.cholesky_solve((train_y - c).unsqueeze(-1), chol).squeeze(-1)
            # the last posterior's variances bound this one's if only observations were added
            last = self._cache.get("lazy")
            bound = None
            if last is not None:
                last_index, last_bare = last
                m = len(last_index)
                if m <= len(index) and np.array_equal(last_index, index[:m]):
                    bound = last_bare.copy()
            post = LazyPosterior(
                z_all,
                z_tr,
                kernel,
                chol,
                alpha,
                c,
                noise,
                self.y_mean,
                self.y_std,
                train_index=index,
                grid=self.grid,
                coord_dims=self.coord_dims,
                subset=self.lazy_subset,
                k_train=k_tr,
                bound=bound,
                rows=self._cached_rows(kernel, z_all, z_tr, index),
                conv=self._cache.get("conv"),
            )
        if post._conv is not None:
            self._cache["conv"] = post._conv
        self._cache["lazy"] = (np.array(index), post.bare)  # refined in place by select
        return post

    def _cached_rows(self, kernel, z_all, z_tr, index):
        """The rows ``K(X, Z)`` of the kernel parts the FFT does not cover (None if none)."""
        parts = (
            list(kernel.kernels)
            if isinstance(kernel, gpytorch.kernels.AdditiveKernel)
            else [kernel]
        )
        if self.grid is not None and self.coord_dims is not None:
            width = z_all.shape[1]
            parts = [k for k in parts if not on_coordinates(k, self.coord_dims, width)]
        if not parts:
            return None
        return self._rows(parts, z_all, z_tr, index)

    def summary(self) -> dict:
        """Hyperparameters and training state, JSON-serialisable."""
        hyper = {}
        with torch.no_grad():
            for name, _, constraint in self.model.named_parameters_and_constraints():
                if name.startswith("features"):
                    continue
                raw = dict(self.model.named_parameters())[name]
                value = constraint.transform(raw) if constraint is not None else raw
                hyper[name.replace("raw_", "")] = value.detach().numpy().ravel().tolist()
        return {
            "kind": self.kind,
            "fits": self.n_fits,
            "trainings": self.n_trainings,
            "trained": self.last_trained,
            "loss": self.last_loss,
            "fit_seconds": self.last_fit_seconds,
            "hyperparameters": hyper,
            "y_mean": self.y_mean,
            "y_std": self.y_std,
        }


class DKLModel(SurrogateModel):
    """Deep kernel learning on image patches.

    The patches are projected on their leading principal components (fixed,
    computed once from all candidates' patches: the overview image is known),
    an MLP maps those to ``latent`` learned features, and an RBF kernel acts on
    them. With ``spatial=True`` a Matern-5/2 kernel on the scaled positions is
    added, for the part of the property the image cannot explain.

    Parameters
    ----------
    patches : array ``(N, p, p)``
    positions : array ``(N, 2)`` scaled to the unit square, needed with ``spatial``
    hidden : tuple of int
        Widths of the MLP's hidden layers.
    latent : int
        Number of learned features the kernel sees.
    pca : int
        Principal components fed to the MLP (0: the raw patch pixels).
    spatial : bool
        Add the coordinate kernel.
    spatial_weight : float
        Starting output scale of the coordinate kernel.
    feature_weight : float, optional
        Starting output scale of the patch-feature kernel (default: gpytorch's, ln 2).
        ``spatial_weight=1, feature_weight=0.2`` makes the first steps behave
        like the coordinate GP (earlier first discovery on the PFM twin, about
        the same share found; measured on 3 seeds only).
    **kwargs
        Passed to :class:`SurrogateModel` (iterations, lr, weight_decay, seed).
    """

    kind = "dkl"

    def __init__(
        self,
        patches: np.ndarray,
        positions: np.ndarray | None = None,
        hidden: tuple[int, ...] = (32, 16),
        latent: int = 2,
        pca: int = 16,
        spatial: bool = True,
        spatial_weight: float = 0.3,
        feature_weight: float | None = None,
        min_lengthscale=None,
        seed: int = 0,
        **kwargs,
    ):
        kwargs.setdefault("iterations_first", 60)
        kwargs.setdefault("lr", 0.05)
        kwargs.setdefault("weight_decay", 0.01)
        p = np.asarray(patches, dtype=float)
        flat = p.reshape(p.shape[0], -1)
        if pca:
            flat = pca_scores(flat, pca)
        d_patch = flat.shape[1]
        torch.manual_seed(seed)
        features = _PatchFeatures(d_patch, tuple(hidden), int(latent)).to(DTYPE)
        latent_dims = list(range(int(latent)))
        kernel = gpytorch.kernels.ScaleKernel(
            gpytorch.kernels.RBFKernel(ard_num_dims=int(latent), active_dims=latent_dims)
        )
        kernel.base_kernel.lengthscale = 0.5
        if feature_weight is not None:
            kernel.outputscale = float(feature_weight)
        inputs = flat
        if spatial:
            if positions is None:
                raise ConfigurationError("a spatial DKL model needs the candidate positions")
            inputs = np.hstack([flat, np.asarray(positions, dtype=float)])
            coords = gpytorch.kernels.ScaleKernel(
                _coordinate_matern(2, [int(latent), int(latent) + 1], min_lengthscale)
            )
            coords.outputscale = float(spatial_weight)
            kernel = kernel + coords
        self.spatial = bool(spatial)
        self.coord_dims = (int(latent), int(latent) + 1) if spatial else None
        super().__init__(inputs, features, kernel, seed=seed, **kwargs)


class CoordinateGP(SurrogateModel):
    """Plain GP on candidate positions (unit square), Matern-5/2 kernel with ARD."""

    kind = "gp"
    coord_dims = (0, 1)

    def __init__(self, positions: np.ndarray, seed: int = 0, min_lengthscale=None, **kwargs):
        kwargs.setdefault("iterations_first", 100)
        kwargs.setdefault("iterations_step", 20)
        kwargs.setdefault("lr", 0.05)
        kernel = gpytorch.kernels.ScaleKernel(_coordinate_matern(2, None, min_lengthscale))
        super().__init__(np.asarray(positions, dtype=float), None, kernel, seed=seed, **kwargs)


def make_model(
    kind: str, candidates, seed: int = 0, min_lengthscale_px: float | None = None, **options
) -> SurrogateModel:
    """A model of ``kind`` (``"dkl"`` or ``"gp"``) over a :class:`CandidateSet`.

    ``min_lengthscale_px``: the coordinate kernel's lengthscales are held above
    this many pixels of the grid (None: no floor).
    """
    if min_lengthscale_px is not None:
        h, w = candidates.shape
        pitch = [1.0 / max(w - 1, 1), 1.0 / max(h - 1, 1)]  # (x, y) in the unit square
        options["min_lengthscale"] = [float(min_lengthscale_px) * p for p in pitch]
    if kind == "dkl":
        model = DKLModel(
            candidates.patches, candidates.normalized_positions(), seed=seed, **options
        )
    elif kind == "gp":
        model = CoordinateGP(candidates.normalized_positions(), seed=seed, **options)
    else:
        raise ConfigurationError(f"unknown model kind {kind!r}; known: dkl, gp")
    model.grid = tuple(candidates.shape)
    return model
