"""autoscope's acquisition as botorch ``AcquisitionFunction``\\ s over the discrete candidate set.

A campaign chooses among the pixels of the overview, so a point ``X`` here is
a candidate's index, held as a float in a ``b x q x 1`` tensor (exact up to
2^53). :class:`CandidateModel` wraps a fitted posterior over all candidates
(:mod:`autoscope.agents.posterior`) as a botorch ``Model``: its
``posterior(X)`` is the joint Gaussian of the latent values at those
candidates. Any botorch acquisition then works on it, and
``botorch.optim.optimize_acqf_discrete`` chooses among the unmeasured ones:

- ``"ei"``: ``LogExpectedImprovement`` (botorch's numerically sound EI; its
  argmax is EI's), ``"ucb"``: ``UpperConfidenceBound``, ``"maxvar"``:
  ``PosteriorStandardDeviation``, all from ``botorch.acquisition.analytic``;
- ``"topq"``: :class:`TopQuantileEI`, autoscope's top-set criterion as an
  ``AnalyticAcquisitionFunction`` subclass (EI over the level of
  :func:`~autoscope.agents.acquisition.top_level`);
- batches: ``qLogNoisyExpectedImprovement`` (MC, joint over the batch and the
  measured points), chosen by ``optimize_acqf_discrete``'s sequential greedy
  with pending points;
- cost: :class:`CostWeighted` divides any of them by the instrument time of
  each candidate through botorch's ``InverseCostWeightedUtility`` with a
  deterministic cost model.

A mixture posterior (:class:`~autoscope.agents.posterior.MixturePosterior`)
gives one model per component; for EI and ``topq`` the acquisition is the
weighted sum over components (:class:`MixtureAcquisition`, exact), for the
others and for ``qLogNEI`` the mixture's moment-matched Gaussian.

The agents keep :func:`autoscope.agents.acquisition.select` for speed (it
never needs the variance of every candidate, see
:class:`~autoscope.agents.posterior.LazyPosterior`); :func:`select_botorch`
makes the same choices (tested, and timed side by side in
``benchmarks/bench_agent_scale.py``).
"""

from __future__ import annotations

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import (
    AnalyticAcquisitionFunction,
    LogExpectedImprovement,
    PosteriorStandardDeviation,
    UpperConfidenceBound,
)
from botorch.acquisition.cost_aware import InverseCostWeightedUtility
from botorch.acquisition.logei import qLogNoisyExpectedImprovement
from botorch.models.deterministic import GenericDeterministicModel
from botorch.models.model import Model
from botorch.optim import optimize_acqf_discrete
from botorch.posteriors.gpytorch import GPyTorchPosterior
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.probability.utils import ndtr, phi
from botorch.utils.transforms import t_batch_mode_transform
from gpytorch.distributions import MultivariateNormal

from autoscope.agents.acquisition import ACQUISITIONS, CostModel, top_level
from autoscope.errors import ConfigurationError

__all__ = [
    "CandidateModel",
    "CostWeighted",
    "MixtureAcquisition",
    "TopQuantileEI",
    "make_acquisition",
    "select_botorch",
]

DTYPE = torch.float64


class CandidateModel(Model):
    """A posterior over every candidate as a botorch ``Model`` on candidate indices.

    Parameters
    ----------
    posterior : :class:`~autoscope.agents.posterior.DiscretePosterior` or
        :class:`~autoscope.agents.posterior.LazyPosterior` (anything with
        ``mean``, ``var``, ``noise``, ``refine`` and ``joint_covariance``)
    scale : float
        Multiplies the latent (co)variance (a mixture component's calibration).
    """

    num_outputs = 1

    def __init__(self, posterior, scale: float = 1.0):
        super().__init__()
        self._post = posterior
        self._scale = float(scale)

    def posterior(self, X, output_indices=None, observation_noise=False, posterior_transform=None):
        """Joint Gaussian of the candidates ``X`` ``(b x q x 1)`` (batch dims kept)."""
        idx = X[..., 0].round().long()  # b x q
        flat = idx.reshape(-1).numpy()
        self._post.refine(np.unique(flat))
        mean = torch.as_tensor(self._post.mean, dtype=DTYPE)[idx]
        if idx.shape[-1] == 1:
            var = torch.as_tensor(self._post.var, dtype=DTYPE)[idx].clamp_min(1e-12) * self._scale
            if observation_noise:
                var = var + self._post.noise
            covar = torch.diag_embed(var)
        else:
            covar = (
                torch.stack(
                    [
                        self._post.joint_covariance(row.numpy())
                        for row in idx.reshape(-1, idx.shape[-1])
                    ]
                ).reshape(*idx.shape, idx.shape[-1])
                * self._scale
            )
            if observation_noise:
                covar = covar + self._post.noise * torch.eye(idx.shape[-1], dtype=DTYPE)
        dist = MultivariateNormal(mean, covar)
        return GPyTorchPosterior(dist)


class TopQuantileEI(AnalyticAcquisitionFunction):
    """autoscope's ``topq``: expected excess over the top-quantile level.

    ``level`` as :func:`~autoscope.agents.acquisition.top_level` (the
    ``quantile`` of the predicted map, raised to the K-th best measured value
    once K are measured); ``forward(X)`` on ``b x 1 x d`` returns ``(b,)``.
    """

    def __init__(self, model: Model, level: float):
        super().__init__(model=model)
        self.register_buffer("level", torch.as_tensor(float(level), dtype=DTYPE))

    @classmethod
    def from_posterior(cls, model, posterior, quantile: float = 0.99, observed=None):
        return cls(model, top_level(posterior.mean, quantile, observed))

    @t_batch_mode_transform(expected_q=1)
    def forward(self, X: torch.Tensor) -> torch.Tensor:
        mean, sigma = self._mean_and_sigma(X)  # b x 1 (one output)
        mean, sigma = mean.squeeze(-1), sigma.squeeze(-1)
        u = (mean - self.level) / sigma
        return (sigma * (phi(u) + u * ndtr(u))).clamp_min(0.0)


class MixtureAcquisition(AcquisitionFunction):
    """``sum_k w_k a_k(X)``: an acquisition that is linear in the predictive distribution."""

    def __init__(self, parts: list[AcquisitionFunction], weights):
        super().__init__(model=parts[0].model)
        self.parts = torch.nn.ModuleList(parts)
        self.register_buffer("weights", torch.as_tensor(np.asarray(weights), dtype=DTYPE))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return sum(w * a(X) for w, a in zip(self.weights, self.parts))


class CostWeighted(AcquisitionFunction):
    """``(a(X) - floor) / seconds(X)``: value per instrument second (botorch cost utility).

    ``seconds`` ``(N,)`` is the :class:`~autoscope.agents.acquisition.CostModel`
    time of each candidate from where the probe is; ``floor`` shifts UCB (which
    may be negative) as :func:`~autoscope.agents.acquisition.select` does.
    """

    def __init__(self, acquisition: AcquisitionFunction, seconds: np.ndarray, floor: float = 0.0):
        super().__init__(model=acquisition.model)
        self.acquisition = acquisition
        cost = torch.as_tensor(np.asarray(seconds, dtype=float), dtype=DTYPE)

        def cost_of(X):
            return cost[X[..., 0].round().long()].unsqueeze(-1)

        self.utility = InverseCostWeightedUtility(GenericDeterministicModel(cost_of))
        self.floor = float(floor)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        deltas = self.acquisition(X) - self.floor + 1e-12
        return self.utility(X, deltas.unsqueeze(0)).squeeze(0)


def make_acquisition(
    name: str,
    posterior,
    best_f: float | None = None,
    beta: float = 4.0,
    quantile: float = 0.99,
    observed: np.ndarray | None = None,
    X_baseline: torch.Tensor | None = None,
    batch: bool = False,
    mc_samples: int = 256,
    seed: int = 0,
    log_ei: bool = True,
) -> AcquisitionFunction:
    """The botorch acquisition of autoscope's ``name`` on ``posterior``.

    ``batch=True`` gives ``qLogNoisyExpectedImprovement`` (needs ``X_baseline``,
    the measured candidates as ``n x 1``), whatever ``name``. ``log_ei=False``
    gives EI itself rather than its logarithm, and the variance for ``"maxvar"``
    (as :func:`~autoscope.agents.acquisition.score`; to divide by a cost).
    """
    if name not in ACQUISITIONS:
        raise ConfigurationError(f"unknown acquisition {name!r}; known: {', '.join(ACQUISITIONS)}")
    comps = getattr(posterior, "components", None)
    if batch:
        if X_baseline is None:
            raise ConfigurationError("qLogNoisyExpectedImprovement needs the measured candidates")
        return qLogNoisyExpectedImprovement(
            CandidateModel(posterior),
            X_baseline=X_baseline,
            sampler=SobolQMCNormalSampler(torch.Size([mc_samples]), seed=seed),
            prune_baseline=True,
            cache_root=False,
        )
    if comps is not None and name in ("ei", "topq"):
        level = top_level(posterior.mean, quantile, observed) if name == "topq" else None
        scales = getattr(posterior, "scales", np.ones(len(comps)))
        parts = [
            _single(name, CandidateModel(c, sk), best_f, beta, level)
            for c, sk in zip(comps, scales)
        ]
        if name == "ei":  # LogEI: sum the EIs, not their logarithms
            parts = [_Exp(p) for p in parts]
        return MixtureAcquisition(parts, posterior.weights)
    level = top_level(posterior.mean, quantile, observed) if name == "topq" else None
    acqf = _single(name, CandidateModel(posterior), best_f, beta, level)
    if name == "maxvar" and not log_ei:  # autoscope's maxvar is the variance
        return _Square(acqf)
    return acqf if (log_ei or name != "ei") else _Exp(acqf)


class _Exp(AcquisitionFunction):
    def __init__(self, log_acquisition: AcquisitionFunction):
        super().__init__(model=log_acquisition.model)
        self.inner = log_acquisition

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.inner(X).exp()


class _Square(AcquisitionFunction):
    def __init__(self, acquisition: AcquisitionFunction):
        super().__init__(model=acquisition.model)
        self.inner = acquisition

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.inner(X) ** 2


def _single(name, model, best_f, beta, level) -> AcquisitionFunction:
    if name == "topq":
        return TopQuantileEI(model, level)
    if name == "ei":
        if best_f is None:
            raise ConfigurationError("expected improvement needs best_f (the best value so far)")
        return LogExpectedImprovement(model, best_f=best_f)
    if name == "ucb":
        return UpperConfidenceBound(model, beta=beta)
    return PosteriorStandardDeviation(model)


def select_botorch(
    acquisition: str,
    posterior,
    q: int = 1,
    measured: np.ndarray | None = None,
    best_f: float | None = None,
    beta: float = 4.0,
    quantile: float = 0.99,
    observed: np.ndarray | None = None,
    cost: CostModel | None = None,
    positions: np.ndarray | None = None,
    probe: np.ndarray | None = None,
    batch_seed: int = 0,
) -> np.ndarray:
    """Choose ``q`` unmeasured candidates with ``optimize_acqf_discrete``.

    ``q = 1``: the analytic acquisition of ``acquisition`` (cost-weighted with
    ``cost``); ``q > 1``: ``qLogNoisyExpectedImprovement`` over the measured
    candidates, sequential greedy. Every candidate's variance is needed, so a
    lazy posterior is refined everywhere first.
    """
    n = len(posterior.mean)
    free = np.ones(n, dtype=bool) if measured is None else ~np.asarray(measured, dtype=bool)
    if int(free.sum()) < q:
        raise ConfigurationError(f"only {int(free.sum())} candidates left, asked for {q}")
    posterior.refine(np.arange(n))
    choices = torch.as_tensor(np.flatnonzero(free), dtype=DTYPE).unsqueeze(-1)
    if q == 1:
        acqf = make_acquisition(
            acquisition, posterior, best_f, beta, quantile, observed, log_ei=cost is None
        )
        if cost is not None:
            if positions is None:
                raise ConfigurationError("a cost-aware acquisition needs the candidate positions")
            floor = 0.0
            if acquisition == "ucb":
                all_x = torch.arange(n, dtype=DTYPE).reshape(-1, 1, 1)
                floor = float(acqf(all_x).min())
            acqf = CostWeighted(acqf, cost.seconds(positions, probe), floor)
    else:
        baseline = torch.as_tensor(np.flatnonzero(~free), dtype=DTYPE).unsqueeze(-1)
        if baseline.shape[0] == 0:
            raise ConfigurationError("a batch needs measured candidates (qLogNEI's baseline)")
        acqf = make_acquisition(
            acquisition,
            _moment_matched(posterior),
            X_baseline=baseline,
            batch=True,
            seed=batch_seed,
        )
    with torch.no_grad():
        chosen, _ = optimize_acqf_discrete(acqf, q=q, choices=choices, max_batch_size=8192)
    return chosen[:, 0].round().long().numpy()


def _moment_matched(posterior):
    """A Gaussian posterior with a mixture's first two moments (the posterior itself otherwise)."""
    comps = getattr(posterior, "components", None)
    if comps is None:
        return posterior
    return _MomentMatched(posterior)


class _MomentMatched:
    def __init__(self, mix):
        self.mix = mix
        self.mean = mix.mean
        self.var = mix.var
        self.noise = mix.noise

    def refine(self, indices):
        self.mix.refine(indices)

    def joint_covariance(self, indices):
        idx = np.asarray(indices, dtype=int)
        m = torch.as_tensor(self.mix.mean[idx], dtype=DTYPE)
        scales = getattr(self.mix, "scales", np.ones(len(self.mix.components)))
        second = sum(
            w * (sk * c.joint_covariance(idx) + torch.outer(*(2 * [torch.as_tensor(c.mean[idx])])))
            for w, sk, c in zip(self.mix.weights, scales, self.mix.components)
        )
        return second - torch.outer(m, m)
