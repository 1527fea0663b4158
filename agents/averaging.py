"""Bayesian model averaging of the image model (DKL) and the coordinate GP, weighed by evidence.

Whether the overview image says anything about the property is a question the
data must answer: on some samples the image decides (an STM dangling-bond
state sits on the defects the topography shows), on others a hidden field
decides (the PFM twin's loop area), and on some the image says nothing at all.
:class:`ModelAverage` runs both surrogates on the same observations and mixes
their posteriors with weights

``w_k  proportional to  prior_k * prod_i p_k(y_i | data before i) ** (forgetting ** age_i)``,

the product over every observation measured after a model step of the
predictive density the model gave it *before* it was measured (the latent
variance plus the model's noise), older ones discounted (``forgetting``, 0.95)
and each mixed with a 1 % broad outlier density (``outlier``). Without those
two it is the prequential (Dawid 1984) form of each model's marginal
likelihood; with them, dynamic model averaging (Raftery, Karny and Ettler
2010) with a robust score. Either way it is an honest held-out score, which a network
that overfits its training points cannot game, unlike the training marginal
likelihood or a leave-one-out score of a DKL whose features saw the point.
Both models are scored on the same points (the ones the mixture chose), so
the comparison is fair to each. Seed points carry no prediction and are not
scored; until the first scored observation the weights are the prior.

Each model is judged and used with its variance scaled by its own record
(:meth:`ModelAverage.calibration`): DKL's predictive variance is often far too
small while its mean is good, and an uncalibrated score would reject a model
for its error bars alone. The mixture's acquisition is exact for EI and
``topq`` (the weighted sum of the components' EI, see
:func:`autoscope.agents.acquisition.posterior_score`); UCB and maximum variance
use its moment-matched mean and variance.

:meth:`ModelAverage.summary` reports, at every step, the weights, the
accumulated log scores, and ``feature_share``: the share of the averaged
model's prior variance that comes from image features
(``w_dkl * s_f / (s_f + s_c)``, with ``s_f`` and ``s_c`` the output scales of
DKL's patch-feature and coordinate kernels). It goes to zero when either the
evidence rejects DKL or DKL itself switches its feature kernel off.
"""

from __future__ import annotations

import logging
import math
import time

import numpy as np

from autoscope.agents.models import SurrogateModel, make_model
from autoscope.agents.posterior import MixturePosterior
from autoscope.errors import ConfigurationError

__all__ = ["ModelAverage"]

log = logging.getLogger(__name__)

_LOG_2PI = math.log(2.0 * math.pi)


class ModelAverage:
    """DKL and the coordinate GP, mixed by their held-out predictive likelihood.

    Parameters
    ----------
    candidates : :class:`~autoscope.agents.candidates.CandidateSet`
    seed : int
    prior : float
        Prior weight of DKL (the GP gets ``1 - prior``), strictly between 0 and 1.
    dkl, gp : dict, optional
        Options of :class:`~autoscope.agents.models.DKLModel` and
        :class:`~autoscope.agents.models.CoordinateGP`.
    threads : int or None
        Torch threads (as :class:`~autoscope.agents.models.SurrogateModel`).
    forgetting : float
        Each step's accumulated log score is multiplied by this before the new
        observation's is added (dynamic model averaging, Raftery et al. 2010):
        old evidence fades over about ``1 / (1 - forgetting)`` observations
        (20 by default), so a model that was wrong while it had five points
        can win once it predicts better. 1 is plain BMA.
    outlier : float
        Share of a broad density (the observed values' mean, three times
        their spread) mixed into each model's predictive density when it is
        scored, so one overconfident miss costs a bounded amount
        (about ``-log(outlier)`` nats) rather than ending the model's say.
    min_lengthscale_px : float or None
        If set, both models' coordinate kernels keep their lengthscales above
        this many pixels of the grid (``dkl`` or ``gp`` options may set their
        own); None (default): no floor. Below a pixel a Matern kernel on the
        grid is white noise: with few observations of a target the
        coordinates cannot predict (the STM twin's dangling bonds at 32 x 32)
        the coordinate GP's lengthscale fell to 0.2-0.3 px and its picks
        crawled from neighbour to neighbour. A floor of 1 px did not do
        better on held-out seeds (issue 15 item 6; docs/benchmarks.md), so it
        is not the default.
    """

    kind = "bma"
    names = ("dkl", "gp")

    def __init__(
        self,
        candidates,
        seed: int = 0,
        prior: float = 0.5,
        dkl: dict | None = None,
        gp: dict | None = None,
        threads: int | None = 1,
        forgetting: float = 0.95,
        outlier: float = 0.01,
        min_lengthscale_px: float | None = None,
    ):
        if not 0.0 < float(prior) < 1.0:
            raise ConfigurationError(f"prior weight of DKL must be in (0, 1), got {prior!r}")
        if not 0.0 < float(forgetting) <= 1.0:
            raise ConfigurationError(f"forgetting must be in (0, 1], got {forgetting!r}")
        if not 0.0 <= float(outlier) < 1.0:
            raise ConfigurationError(f"outlier share must be in [0, 1), got {outlier!r}")
        self.forgetting = float(forgetting)
        self._z2 = np.zeros(2)  # discounted sum of squared standardised held-out errors
        self._z2_count = 0.0
        self.outlier = float(outlier)
        self._spread = (0.0, 1.0)
        self.threads = threads
        floor = {"min_lengthscale_px": min_lengthscale_px}
        self.models: dict[str, SurrogateModel] = {
            "dkl": make_model("dkl", candidates, seed=seed, threads=threads, **floor | (dkl or {})),
            "gp": make_model("gp", candidates, seed=seed, threads=threads, **floor | (gp or {})),
        }
        self.log_prior = np.log([float(prior), 1.0 - float(prior)])
        self.log_score = np.zeros(2)
        self.n_scored = 0
        self.posterior: MixturePosterior | None = None
        self._pending: dict[int, np.ndarray] = {}  # index -> [[mean, var] per model]
        self.last_fit_seconds = 0.0

    # ------------------------------------------------------------------ weights

    def weights(self) -> np.ndarray:
        """Current weights ``(2,)`` of (DKL, GP): prior times held-out likelihood, normalised."""
        logw = self.log_prior + self.log_score
        logw = logw - logw.max()
        w = np.exp(logw)
        return w / w.sum()

    def calibration(self) -> np.ndarray:
        """Variance scale of each model ``(2,)``: its held-out squared errors over its variances.

        The discounted mean of ``(y - m)^2 / v`` over the scored observations,
        with one pseudo-observation at 1 and never below 1: a model whose
        uncertainty is too small (DKL's often is, by a factor of ten or more)
        is judged, and used, with its variance scaled up to what its own
        errors show. Its mean, which may still be the better one, is kept.
        """
        return np.maximum(1.0, (self._z2 + 1.0) / (self._z2_count + 1.0))

    def expect(self, indices: np.ndarray) -> None:
        """Remember each model's predictive mean and variance at ``indices`` (before measuring).

        Call right after a choice, with the posteriors of the last :meth:`fit`;
        :meth:`score` compares them with the values when they come. Variances
        are taken before any kriging-believer update of the batch.
        """
        if self.posterior is None:
            return
        for i in np.atleast_1d(np.asarray(indices, dtype=int)).tolist():
            pred = [c.predictive(i) for c in self.posterior.components]
            self._pending[i] = np.asarray(pred, dtype=float)

    def score(self, indices: np.ndarray, values: np.ndarray) -> None:
        """Add the log predictive density of each measured value to each model's score.

        Values at candidates without a recorded prediction (seed points,
        fallbacks) and non-finite values (flagged spectra) are not scored.
        """
        idx = np.atleast_1d(np.asarray(indices, dtype=int))
        val = np.atleast_1d(np.asarray(values, dtype=float))
        for i, v in zip(idx.tolist(), val.tolist()):
            pred = self._pending.pop(i, None)
            if pred is None or not np.isfinite(v):
                continue
            mean, raw = pred[:, 0], np.maximum(pred[:, 1], 1e-300)
            var = raw * self.calibration()  # the scale learned before this value
            lp = -0.5 * (_LOG_2PI + np.log(var) + (v - mean) ** 2 / var)
            self._z2 = self.forgetting * self._z2 + (v - mean) ** 2 / raw
            self._z2_count = self.forgetting * self._z2_count + 1.0
            if self.outlier > 0:
                m0, s0 = self._spread
                v0 = (3.0 * s0) ** 2
                broad = -0.5 * (_LOG_2PI + math.log(v0) + (v - m0) ** 2 / v0)
                lp = np.logaddexp(math.log1p(-self.outlier) + lp, math.log(self.outlier) + broad)
            self.log_score = self.forgetting * self.log_score + lp
            self.n_scored += 1

    # --------------------------------------------------------------------- fit

    def fit(self, indices: np.ndarray, y: np.ndarray) -> MixturePosterior:
        """Fit both models on the observations and mix their posteriors by the current weights."""
        t0 = time.perf_counter()
        posts = [self.models[k].fit(indices, y) for k in self.names]
        yv = np.asarray(y, dtype=float)
        self._spread = (float(yv.mean()), float(yv.std()) or 1.0)
        self.posterior = MixturePosterior(posts, self.weights(), scales=self.calibration())
        self.last_fit_seconds = time.perf_counter() - t0
        return self.posterior

    def feature_share(self) -> float:
        """Share of the averaged prior variance that comes from the image features (0-1)."""
        dkl = self.models["dkl"]
        w_dkl = float(self.weights()[0])
        parts = getattr(dkl.model.covar_module, "kernels", None)
        if parts is None:  # DKL without the coordinate kernel: all of it is features
            return w_dkl
        s_f, s_c = (float(k.outputscale.detach()) for k in parts)
        return w_dkl * s_f / (s_f + s_c)

    def summary(self) -> dict:
        """Weights, evidence and both models' summaries, JSON-serialisable."""
        w = self.weights()
        return {
            "kind": self.kind,
            "weights": {k: float(x) for k, x in zip(self.names, w)},
            "feature_share": self.feature_share(),
            "log_score": {k: float(x) for k, x in zip(self.names, self.log_score)},
            "variance_scale": {k: float(x) for k, x in zip(self.names, self.calibration())},
            "scored": self.n_scored,
            "fit_seconds": self.last_fit_seconds,
            "models": {k: self.models[k].summary() for k in self.names},
        }
