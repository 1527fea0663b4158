"""Bayesian model averaging of the image model (DKL) and the coordinate GP, weighed by evidence.

Whether the overview image says anything about the property is a question the
data must answer: on some samples the image decides (an STM dangling-bond
state sits on the defects the topography shows), on others a hidden field
decides (the PFM twin's loop area), and on some the image says nothing at all.
:class:`ModelAverage` runs both surrogates on the same observations and mixes
their posteriors with weights

``w_k  proportional to  prior_k * prod_i p_k(y_i | data before i)``,

the product over every observation measured after a model step of the
predictive density the model gave it *before* it was measured (the latent
variance plus the model's noise). That is the prequential (Dawid 1984) form of
each model's marginal likelihood: an honest held-out score, which a network
that overfits its training points cannot game, unlike the training marginal
likelihood or a leave-one-out score of a DKL whose features saw the point.
Both models are scored on the same points (the ones the mixture chose), so
the comparison is fair to each. Seed points carry no prediction and are not
scored; until the first scored observation the weights are the prior.

The mixture's acquisition is exact for EI and ``topq`` (the weighted sum of
the components' EI, see :func:`autoscope.agents.acquisition.posterior_score`);
UCB and maximum variance use its moment-matched mean and variance.

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
    ):
        if not 0.0 < float(prior) < 1.0:
            raise ConfigurationError(f"prior weight of DKL must be in (0, 1), got {prior!r}")
        self.threads = threads
        self.models: dict[str, SurrogateModel] = {
            "dkl": make_model("dkl", candidates, seed=seed, threads=threads, **(dkl or {})),
            "gp": make_model("gp", candidates, seed=seed, threads=threads, **(gp or {})),
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
            mean, var = pred[:, 0], np.maximum(pred[:, 1], 1e-300)
            self.log_score += -0.5 * (_LOG_2PI + np.log(var) + (v - mean) ** 2 / var)
            self.n_scored += 1

    # --------------------------------------------------------------------- fit

    def fit(self, indices: np.ndarray, y: np.ndarray) -> MixturePosterior:
        """Fit both models on the observations and mix their posteriors by the current weights."""
        t0 = time.perf_counter()
        posts = [self.models[k].fit(indices, y) for k in self.names]
        self.posterior = MixturePosterior(posts, self.weights())
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
            "scored": self.n_scored,
            "fit_seconds": self.last_fit_seconds,
            "models": {k: self.models[k].summary() for k in self.names},
        }
