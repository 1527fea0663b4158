"""GP posteriors over a discrete candidate set: exact, lazily exact for large sets, and mixtures.

A campaign step needs, for every candidate (every pixel of the overview), the
posterior mean and standard deviation, and for batches a rank-one "kriging
believer" update after each pick. Three forms share that interface (``mean``,
``var``, ``std``, ``noise``, ``exact``, ``refine(indices)``, ``condition_on(index)``):

- :class:`DiscretePosterior`: mean and variance of all ``N`` candidates computed
  at once from ``V = L^-1 K(X, Z)`` (``n x N``). Exact; costs ``N n^2`` and
  ``N n`` memory, fine for a 64 x 64 grid with a few hundred observations.
- :class:`LazyPosterior`: for large grids (65,536 candidates and 1,000
  observations: ``N n^2`` is 6.5e10). The mean is exact everywhere (one pass
  over ``K(Z, X)`` in row chunks, with the kernels evaluated by
  :func:`cross_covariance`); the variance is an **upper bound** everywhere
  (the variance given only a subset ``S`` of the observations, chosen by a
  pivoted Cholesky of the training matrix; conditioning on less data never
  lowers a GP's variance) and exact where :meth:`LazyPosterior.refine` computed
  it. ``exact`` ``(N,)`` marks those.
- :class:`MixturePosterior`: a weighted mixture of posteriors (Bayesian model
  averaging): moment-matched mean and variance, and its components for
  acquisitions that are linear in the predictive distribution (EI).

Every acquisition of :mod:`autoscope.agents.acquisition` is non-decreasing in
the standard deviation, so an upper bound of the variance gives an upper bound
of the score; :func:`autoscope.agents.acquisition.select` refines the
candidates in order of their bound until the best exact score beats every
remaining bound. The choice is therefore the exact argmax, not an approximation.
"""

from __future__ import annotations

import math

import gpytorch
import numpy as np
import torch
from scipy import fft as sp_fft

__all__ = [
    "DiscretePosterior",
    "GridConvolution",
    "LazyPosterior",
    "MixturePosterior",
    "cross_covariance",
    "on_coordinates",
    "pivoted_subset",
]

DTYPE = torch.float64
_SQRT5 = math.sqrt(5.0)


def _dims(kernel: gpytorch.kernels.Kernel, x: torch.Tensor) -> torch.Tensor:
    dims = getattr(kernel, "active_dims", None)
    return x if dims is None else x.index_select(-1, dims)


def _stationary(base, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor | None:
    """Dense RBF or Matern-5/2 matrix ``len(a) x len(b)`` (None for other kernels).

    ``a`` and ``b`` hold the kernel's own dimensions already (gpytorch slices
    ``active_dims`` once, in the outermost kernel that has them).
    """
    is_rbf = isinstance(base, gpytorch.kernels.RBFKernel)
    is_m52 = isinstance(base, gpytorch.kernels.MaternKernel) and base.nu == 2.5
    if not (is_rbf or is_m52):
        return None
    ls = base.lengthscale.reshape(-1)
    xa = a / ls
    xb = b / ls
    centre = xb.mean(0, keepdim=True)
    xa = xa - centre
    xb = xb - centre
    d2 = torch.addmm(
        (xb * xb).sum(1).expand(len(xa), len(xb)), xa, xb.T, beta=1.0, alpha=-2.0
    ).add_((xa * xa).sum(1, keepdim=True))
    d2.clamp_min_(0.0)
    if is_rbf:
        return d2.mul_(-0.5).exp_()
    t = d2.sqrt_().mul_(_SQRT5)  # sqrt(5) r, in place
    poly = torch.mul(t, 1.0 / 3.0).add_(1.0).mul_(t).add_(1.0)  # 1 + t + t^2 / 3
    return poly.mul_(t.neg_().exp_())


def cross_covariance(kernel: gpytorch.kernels.Kernel, a: torch.Tensor, b: torch.Tensor):
    """Dense ``K(a, b)``, ``len(a) x len(b)``, evaluated directly where the kernel allows.

    Sums of scaled RBF or Matern-5/2 kernels (with ``active_dims``), the kernels
    that :mod:`autoscope.agents.models` builds, are evaluated with one matrix
    product and in-place elementwise operations (about 5x faster than through
    gpytorch's lazy operators at 65,536 x 1,000); any other kernel goes through
    ``kernel(a, b).to_dense()``. Agrees with gpytorch to rounding (tested).
    """
    a = _dims(kernel, a)
    b = _dims(kernel, b)
    if isinstance(kernel, gpytorch.kernels.AdditiveKernel):
        out = None
        for part in kernel.kernels:
            k = cross_covariance(part, a, b)
            out = k if out is None else out.add_(k)
        return out
    if isinstance(kernel, gpytorch.kernels.ScaleKernel):
        k = _stationary(kernel.base_kernel, a, b)
        if k is not None:
            return k.mul_(kernel.outputscale)
    k = _stationary(kernel, a, b)
    return k if k is not None else kernel(a, b).to_dense()


def pivoted_subset(k: torch.Tensor, r: int) -> torch.Tensor:
    """Indices of ``r`` rows of the SPD matrix ``k`` ``(n x n)`` by a greedy pivoted Cholesky.

    Each pivot is the row with the largest variance left after conditioning on
    the pivots before it: a spread-out, well-conditioned subset.
    """
    n = k.shape[0]
    r = min(int(r), n)
    diag = torch.diagonal(k).clone()
    rows = torch.zeros(r, n, dtype=k.dtype)
    piv: list[int] = []
    for m in range(r):
        j = int(torch.argmax(diag))
        if diag[j] <= 0:
            break
        piv.append(j)
        row = (k[j] - rows[:m, j] @ rows[:m]) / math.sqrt(float(diag[j]))
        rows[m] = row
        diag = diag - row * row
        diag[piv] = -1.0
    return torch.as_tensor(piv, dtype=torch.long)


class DiscretePosterior:
    """Exact GP posterior over every candidate, in the units of the observed targets.

    Attributes
    ----------
    mean : array ``(N,)``, latent posterior mean
    var : array ``(N,)``, latent posterior variance (after any believer updates)
    noise : float, observation noise variance
    exact : None (every variance is exact)
    """

    exact = None

    def __init__(
        self,
        mean: np.ndarray,
        var: np.ndarray,
        noise: float,
        z: torch.Tensor,
        kernel: gpytorch.kernels.Kernel,
        v: torch.Tensor,
        scale: float = 1.0,
    ):
        self.mean = mean
        self.var = var
        self.noise = noise
        self._z = z
        self._kernel = kernel
        self._v = v  # n x N, L^-1 K(X, Z)
        self._scale = scale
        self._updates: list[torch.Tensor] = []
        self._var0 = np.array(var, dtype=float)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.var, 0.0))

    def refine(self, indices: np.ndarray) -> None:
        """Nothing to do: every variance is exact."""

    def predictive(self, index: int) -> tuple[float, float]:
        """Mean and variance of a new measurement at ``index`` (latent + noise, no believer)."""
        return float(self.mean[index]), float(self._var0[index]) + self.noise

    def joint_covariance(self, indices: np.ndarray) -> torch.Tensor:
        """Latent posterior covariance ``q x q`` of ``indices`` (after believer updates)."""
        t = torch.as_tensor(np.asarray(indices, dtype=int))
        with torch.no_grad():
            zq = self._z[t]
            k = cross_covariance(self._kernel, zq, zq) - self._v[:, t].T @ self._v[:, t]
            k = k * self._scale**2
            for u in self._updates:
                k = k - torch.outer(u[t], u[t])
        return k

    def condition_on(self, index: int) -> None:
        """Kriging believer: pretend candidate ``index`` was observed at its mean.

        The mean is unchanged; the variance everywhere shrinks by the rank-one
        update ``c(x)^2 / (var_j + noise)`` with ``c`` the posterior covariance
        with candidate ``index``.
        """
        with torch.no_grad():
            zj = self._z[index : index + 1]
            c = self._kernel(self._z, zj).to_dense()[:, 0] * self._scale**2
            c = c - (self._v.T @ self._v[:, index]) * self._scale**2
            for u in self._updates:
                c = c - u * u[index]
            denom = float(c[index]) + self.noise
            u = c / math.sqrt(max(denom, 1e-12))
            self._updates.append(u)
            self.var = self.var - (u**2).numpy()


class LazyPosterior:
    """Exact mean, upper-bounded variance, exact where refined (see the module docstring).

    Parameters
    ----------
    z : ``N x d`` kernel inputs of every candidate (embedded)
    z_train : ``n x d`` kernel inputs of the observations
    kernel : the trained covariance module
    chol : ``n x n`` lower Cholesky factor of ``K(X, X) + noise I`` (standardised units)
    alpha : ``(n,)``, ``(K + noise I)^-1 (y - c)`` (standardised units)
    constant : the GP's constant mean (standardised)
    noise : observation noise variance (standardised)
    y_mean, scale : the targets' standardisation (``y = y_mean + scale * f``)
    train_index : ``(n,)`` candidate index of each observation
    grid : ``(H, W)`` of the candidates (row-major), with
    coord_dims : the two columns of ``z`` that hold the normalised grid coordinates;
        with both, kernel parts that read only those columns multiply by FFT
        convolution on the grid (exact, ``N log N`` instead of ``N n``)
    subset : int, observations in the variance bound (pivoted Cholesky order)
    chunk : int, candidate rows per kernel block (memory: ``chunk x n`` doubles)
    """

    def __init__(
        self,
        z: torch.Tensor,
        z_train: torch.Tensor,
        kernel: gpytorch.kernels.Kernel,
        chol: torch.Tensor,
        alpha: torch.Tensor,
        constant: float,
        noise: float,
        y_mean: float,
        scale: float,
        train_index: np.ndarray | None = None,
        grid: tuple[int, int] | None = None,
        coord_dims: tuple[int, int] | None = None,
        subset: int = 128,
        chunk: int = 2048,
        k_train: torch.Tensor | None = None,
        bound: np.ndarray | None = None,
        rows: torch.Tensor | None = None,
        conv: GridConvolution | None = None,
    ):
        self._z = z
        self._ztr = z_train
        self._kernel = kernel
        self._chol = chol
        self._scale = scale
        self._chunk = int(chunk)
        self.noise = noise * scale**2
        n_all = z.shape[0]
        parts = (
            list(kernel.kernels)
            if isinstance(kernel, gpytorch.kernels.AdditiveKernel)
            else [kernel]
        )
        self._conv = None
        self._direct_parts = parts
        self._grid = None
        if grid is not None and train_index is not None and coord_dims is not None:
            self._grid = (int(grid[0]), int(grid[1]), np.asarray(train_index, dtype=int))
            on_grid = [on_coordinates(k, coord_dims, z.shape[1]) for k in parts]
            if any(on_grid):
                grid_parts = [k for k, g in zip(parts, on_grid) if g]
                self._conv = conv or GridConvolution(grid_parts, grid, coord_dims, z.shape[1])
            self._direct_parts = [k for k, g in zip(parts, on_grid) if not g]
        self._rows = rows if self._direct_parts else None
        with torch.no_grad():
            zero = torch.zeros(1, z.shape[1], dtype=DTYPE)
            if _is_stationary(kernel):
                prior0 = float(cross_covariance(kernel, zero, zero)[0, 0])
                self._prior = torch.full((n_all,), prior0, dtype=DTYPE)
            else:
                self._prior = kernel(z, diag=True).to(DTYPE)
            if bound is None:
                bound = self._subset_bound(z_train, k_train, noise, subset)
            mean = constant + self._apply(alpha)
        # standardised variances without believer updates: exact where refined, bounds elsewhere
        self.bare = np.array(bound, dtype=float)
        self.mean = (mean * scale + y_mean).numpy()
        self.var = self.bare * scale**2
        self.exact = np.zeros(n_all, dtype=bool)
        self._updates: list[np.ndarray] = []
        self.refined = 0

    def _subset_bound(self, z_train, k_train, noise, subset) -> np.ndarray:
        """The variance given only a pivoted-Cholesky subset of the observations (a bound)."""
        kernel, z = self._kernel, self._z
        if k_train is None:
            k_train = cross_covariance(kernel, z_train, z_train)
            k_train.diagonal().add_(noise + 1e-8)
        piv = pivoted_subset(k_train, subset)
        chol_s = torch.linalg.cholesky(k_train[piv][:, piv])
        z_piv = z_train[piv]
        n_all = z.shape[0]
        bound = torch.empty(n_all, dtype=DTYPE)
        for s in range(0, n_all, self._chunk):
            zc = z[s : s + self._chunk]
            w = torch.linalg.solve_triangular(
                chol_s, cross_covariance(kernel, zc, z_piv).T, upper=False
            )
            bound[s : s + len(zc)] = (self._prior[s : s + len(zc)] - (w * w).sum(0)).clamp_min_(
                1e-12
            )
        return bound.numpy()

    def _apply(self, vec: torch.Tensor) -> torch.Tensor:
        """``K(Z, X) @ vec`` ``(N,)``: grid parts by FFT convolution, the others in row chunks.

        With ``rows`` (the other parts' ``K(X, Z)``, kept by the model while its
        hyperparameters stay), those are one matrix-vector product.
        """
        n_all = self._z.shape[0]
        out = torch.zeros(n_all, dtype=DTYPE)
        if self._conv is not None:
            h, w, train_index = self._grid
            spikes = np.zeros((h, w))
            np.add.at(spikes, np.divmod(train_index, w), vec.numpy())
            out += torch.as_tensor(self._conv.apply(spikes).ravel())
        if self._direct_parts:
            if self._rows is not None:
                out += (vec.to(self._rows.dtype) @ self._rows).to(DTYPE)
                return out
            for s in range(0, n_all, self._chunk):
                zc = self._z[s : s + self._chunk]
                for k in self._direct_parts:
                    out[s : s + len(zc)] += cross_covariance(k, zc, self._ztr) @ vec
        return out

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.var, 0.0))

    def refine(self, indices: np.ndarray) -> None:
        """Make the variance of candidates ``indices`` exact (those not yet so)."""
        idx = np.asarray(indices, dtype=int)
        idx = idx[~self.exact[idx]]
        if not idx.size:
            return
        with torch.no_grad():
            for s in range(0, idx.size, self._chunk):
                part = idx[s : s + self._chunk]
                t = torch.as_tensor(part)
                kx = cross_covariance(self._kernel, self._z[t], self._ztr)
                w = torch.linalg.solve_triangular(self._chol, kx.T, upper=False)
                bare = (self._prior[t] - (w * w).sum(0)).clamp_min_(1e-12).numpy()
                self.bare[part] = bare
                v = bare * self._scale**2
                for u in self._updates:
                    v = v - u[part] ** 2
                self.var[part] = v
        self.exact[idx] = True
        self.refined += int(idx.size)

    def joint_covariance(self, indices: np.ndarray) -> torch.Tensor:
        """Latent posterior covariance ``q x q`` of ``indices`` (after believer updates)."""
        idx = np.asarray(indices, dtype=int)
        t = torch.as_tensor(idx)
        with torch.no_grad():
            zq = self._z[t]
            w = torch.linalg.solve_triangular(
                self._chol, cross_covariance(self._kernel, self._ztr, zq), upper=False
            )
            k = (cross_covariance(self._kernel, zq, zq) - w.T @ w) * self._scale**2
        for u in self._updates:
            k = k - torch.as_tensor(np.outer(u[idx], u[idx]))
        return k

    def predictive(self, index: int) -> tuple[float, float]:
        """Mean and variance of a new measurement at ``index`` (latent + noise, no believer)."""
        self.refine(np.array([index]))
        var = float(self.var[index]) + sum(float(u[index]) ** 2 for u in self._updates)
        return float(self.mean[index]), var + self.noise

    def condition_on(self, index: int) -> None:
        """Kriging believer (as :meth:`DiscretePosterior.condition_on`), in row chunks.

        The same update is subtracted from exact variances and from bounds, so
        a bound stays a bound.
        """
        self.refine(np.array([index]))
        with torch.no_grad():
            zj = self._z[index : index + 1]
            kj = cross_covariance(self._kernel, self._ztr, zj)[:, 0]
            wj = torch.cholesky_solve(kj.unsqueeze(-1), self._chol).squeeze(-1)
            kc = torch.cat(
                [
                    cross_covariance(self._kernel, self._z[s : s + self._chunk], zj)[:, 0]
                    for s in range(0, len(self.mean), self._chunk)
                ]
            )
            c = ((kc - self._apply(wj)) * self._scale**2).numpy()
        for u in self._updates:
            c = c - u * u[index]
        denom = float(c[index]) + self.noise
        u = c / math.sqrt(max(denom, 1e-12))
        self._updates.append(u)
        self.var = self.var - u**2


class GridConvolution:
    """``K(Z, X) @ v`` for coordinate kernels on a pixel grid, by FFT (exact to rounding).

    The sum of the ``parts``' values at every pixel offset
    (:func:`_kernel_image`, ``(2H - 1) x (2W - 1)``) is transformed once; each
    product then costs one forward and one inverse real FFT of the
    observations' weights placed on the grid. A circular convolution of
    length ``2H - 1`` (and ``2W - 1``) does not wrap into the ``H x W`` window
    that is kept, so no more padding is needed.
    """

    def __init__(self, parts, grid, coord_dims, width: int):
        h, w = int(grid[0]), int(grid[1])
        image = sum(_kernel_image(k, (h, w), coord_dims, width) for k in parts)
        self.grid = (h, w)
        self.shape = (sp_fft.next_fast_len(2 * h - 1, True), sp_fft.next_fast_len(2 * w - 1, True))
        self.spectrum = sp_fft.rfft2(image, s=self.shape)

    def apply(self, spikes: np.ndarray) -> np.ndarray:
        """The convolution of ``spikes`` ``(H, W)`` with the kernel, ``(H, W)``."""
        h, w = self.grid
        full = sp_fft.irfft2(sp_fft.rfft2(spikes, s=self.shape) * self.spectrum, s=self.shape)
        return full[h - 1 : 2 * h - 1, w - 1 : 2 * w - 1]


def on_coordinates(kernel, coord_dims, width: int) -> bool:
    """Whether ``kernel`` is a stationary kernel that reads only the grid coordinates."""
    if not _is_stationary(kernel) or isinstance(kernel, gpytorch.kernels.AdditiveKernel):
        return False
    dims = kernel.active_dims
    used = set(range(width)) if dims is None else {int(d) for d in dims}
    return used <= {int(d) for d in coord_dims}


def _kernel_image(kernel, grid, coord_dims, width: int) -> np.ndarray:
    """``k`` at every pixel offset of an ``H x W`` grid: ``(2H - 1) x (2W - 1)``, centred.

    The candidates' coordinate columns are ``(col / (W - 1), row / (H - 1))``
    (:meth:`~autoscope.agents.candidates.CandidateSet.normalized_positions`).
    """
    h, w = grid
    dr, dc = np.mgrid[-(h - 1) : h, -(w - 1) : w]
    offsets = torch.zeros(dr.size, width, dtype=DTYPE)
    offsets[:, coord_dims[0]] = torch.as_tensor(dc.ravel() / max(w - 1, 1))
    offsets[:, coord_dims[1]] = torch.as_tensor(dr.ravel() / max(h - 1, 1))
    zero = torch.zeros(1, width, dtype=DTYPE)
    return cross_covariance(kernel, offsets, zero)[:, 0].numpy().reshape(dr.shape)


def _is_stationary(kernel) -> bool:
    if isinstance(kernel, gpytorch.kernels.AdditiveKernel):
        return all(_is_stationary(k) for k in kernel.kernels)
    if isinstance(kernel, gpytorch.kernels.ScaleKernel):
        return _is_stationary(kernel.base_kernel)
    return isinstance(kernel, gpytorch.kernels.RBFKernel | gpytorch.kernels.MaternKernel)


class MixturePosterior:
    """Weighted mixture of posteriors over the same candidates (Bayesian model averaging).

    ``scales`` multiply each component's variance (a calibration; default 1).

    ``mean`` and ``var`` are the mixture's first two moments; ``components``
    and ``weights`` let an acquisition that is linear in the predictive
    distribution (EI) be computed exactly as the weighted sum over components.
    ``exact`` is None when every component's variance is exact, else the
    candidates where all of them are.
    """

    def __init__(
        self,
        components: list,
        weights: np.ndarray,
        noise: float | None = None,
        scales: np.ndarray | None = None,
    ):
        w = np.asarray(weights, dtype=float)
        if len(components) != len(w) or not np.isclose(w.sum(), 1.0):
            raise ValueError("mixture weights must be one per component and sum to 1")
        self.components = list(components)
        self.weights = w
        self.scales = np.ones(len(w)) if scales is None else np.asarray(scales, dtype=float)
        self.noise = (
            float(sum(wk * c.noise for wk, c in zip(w, components))) if noise is None else noise
        )
        self.mean = sum(wk * c.mean for wk, c in zip(w, components))
        self._moments()

    def component(self, k: int, rows=None) -> tuple[np.ndarray, np.ndarray]:
        """Mean and (scaled) variance of component ``k`` at ``rows`` (None: all)."""
        c = self.components[k]
        sel = slice(None) if rows is None else rows
        return c.mean[sel], c.var[sel] * self.scales[k]

    def _moments(self, idx: np.ndarray | None = None) -> None:
        parts = [self.component(k, idx) for k in range(len(self.components))]
        second = sum(wk * (v + m**2) for wk, (m, v) in zip(self.weights, parts))
        if idx is None:
            self.var = np.maximum(second - self.mean**2, 0.0)
        else:
            self.var[idx] = np.maximum(second - self.mean[idx] ** 2, 0.0)

    @property
    def exact(self) -> np.ndarray | None:
        marks = [c.exact for c in self.components if c.exact is not None]
        if not marks:
            return None
        return np.logical_and.reduce(marks)

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.var, 0.0))

    def refine(self, indices: np.ndarray) -> None:
        idx = np.asarray(indices, dtype=int)
        for c in self.components:
            c.refine(idx)
        self._moments(idx)

    def condition_on(self, index: int) -> None:
        """Each component's own believer update; the moments follow."""
        for c in self.components:
            c.condition_on(index)
        self._moments()
