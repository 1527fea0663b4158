"""Acquisition over a discrete candidate set: EI, top-set EI, UCB, maximum variance, batches, cost.

EI chases the single best value: once the maximum is found it spends the
budget wherever the posterior might still beat it. A campaign usually wants
something else, *many* measurements where the property is strong (every
location of the top few per cent), so ``"topq"`` scores the expected excess
over a level: the ``quantile`` level of the predicted map (by default its top
1 %, K locations), raised to the K-th best measured value once K values are
measured. A candidate scores high when it is likely to improve the measured
top-K set, and the score does not collapse once the maximum has been seen. It
is EI with the single best value replaced by the K-th best (K = 1 is plain EI),
in the spirit of level-set estimation (Gotovos et al., IJCAI 2013). Without
the raise, the predicted level keeps pointing at the regions already measured,
and the search stops exploring once it has filled them.

All functions work on the posterior mean and standard deviation of every
candidate (arrays of shape ``(N,)``) and return a score per candidate (higher
is better). :func:`select` picks ``q`` candidates: the first by the score, the
next ones greedily after a kriging-believer update of the posterior (the chosen
point is taken as observed at its mean, which shrinks the variance around it),
so a batch spreads out instead of piling on one spot. Already measured
candidates are excluded unless ``allow_repeats`` is set.

A :class:`CostModel` turns the score into score per instrument second: the
spectrum's own time plus the probe's travel from where it is and the settle
time a move costs (drift and creep after a long move).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from autoscope.errors import ConfigurationError

__all__ = [
    "ACQUISITIONS",
    "CostModel",
    "check_acquisition",
    "expected_improvement",
    "max_variance",
    "posterior_score",
    "score",
    "select",
    "top_level",
    "upper_confidence_bound",
]

_TINY = 1e-12


def expected_improvement(
    mean: np.ndarray, std: np.ndarray, best_f: float, xi: float = 0.0
) -> np.ndarray:
    """Analytic expected improvement over ``best_f + xi`` (maximisation), shape ``(N,)``."""
    std = np.maximum(np.asarray(std, dtype=float), _TINY)
    imp = np.asarray(mean, dtype=float) - best_f - xi
    z = imp / std
    pdf = np.exp(-0.5 * z**2) / np.sqrt(2 * np.pi)
    return np.maximum(imp * ndtr(z) + std * pdf, 0.0)


def upper_confidence_bound(mean: np.ndarray, std: np.ndarray, beta: float = 4.0) -> np.ndarray:
    """``mean + sqrt(beta) * std``, shape ``(N,)``."""
    return np.asarray(mean, dtype=float) + np.sqrt(beta) * np.asarray(std, dtype=float)


def max_variance(mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Posterior variance (pure exploration), shape ``(N,)``."""
    return np.asarray(std, dtype=float) ** 2


ACQUISITIONS = ("topq", "ei", "ucb", "maxvar")


def _checked_quantile(quantile: float) -> float:
    q = float(quantile)
    if not 0.0 < q < 1.0:
        raise ConfigurationError(f"top-set quantile must be between 0 and 1, got {quantile!r}")
    return q


def check_acquisition(name: str, quantile: float = 0.99) -> None:
    """Raise :class:`ConfigurationError` for an unknown acquisition or a quantile outside (0, 1)."""
    if name not in ACQUISITIONS:
        raise ConfigurationError(f"unknown acquisition {name!r}; known: {', '.join(ACQUISITIONS)}")
    _checked_quantile(quantile)


def top_level(
    mean: np.ndarray, quantile: float = 0.99, observed: np.ndarray | None = None
) -> float:
    """The threshold of ``"topq"``.

    The ``quantile`` level of the predicted map ``mean`` ``(N,)``; once at least
    ``K = ceil((1 - quantile) N)`` finite values are ``observed``, the larger of
    that and the K-th best observed value.
    """
    q = _checked_quantile(quantile)
    m = np.asarray(mean, dtype=float)
    level = float(np.quantile(m, q))
    if observed is not None:
        obs = np.asarray(observed, dtype=float)
        obs = obs[np.isfinite(obs)]
        k = max(1, int(np.ceil((1.0 - q) * m.size - 1e-9)))
        if obs.size >= k:
            level = max(level, float(np.sort(obs)[::-1][k - 1]))
    return level


def score(
    name: str,
    mean: np.ndarray,
    std: np.ndarray,
    best_f: float | None = None,
    beta: float = 4.0,
    xi: float = 0.0,
    level: float | None = None,
) -> np.ndarray:
    """Acquisition ``name`` (``"topq"``, ``"ei"``, ``"ucb"``, ``"maxvar"``) of every candidate.

    ``"topq"`` needs ``level`` (see :func:`top_level`), ``"ei"`` needs ``best_f``.
    """
    if name == "topq":
        if level is None:
            raise ConfigurationError("top-set EI needs level (a quantile of the predicted map)")
        return expected_improvement(mean, std, level, xi)
    if name == "ei":
        if best_f is None:
            raise ConfigurationError("expected improvement needs best_f (the best value so far)")
        return expected_improvement(mean, std, best_f, xi)
    if name == "ucb":
        return upper_confidence_bound(mean, std, beta)
    if name == "maxvar":
        return max_variance(mean, std)
    raise ConfigurationError(f"unknown acquisition {name!r}; known: {', '.join(ACQUISITIONS)}")


@dataclass(frozen=True)
class CostModel:
    """Instrument time a measurement at a candidate costs, from the probe's position.

    ``seconds = measure_s + weight * (distance / speed + settle_s if distance > 0)``;
    the acquisition is divided by it (value per instrument second).

    Parameters
    ----------
    measure_s : float
        Time of one spectrum, s.
    speed : float
        Probe travel speed, nm/s.
    settle_s : float
        Waiting time after a move for drift and creep to settle, s.
    weight : float
        Weight of the travel and settle time against the measurement time
        (0 ignores travel, 1 counts it as it is).
    """

    measure_s: float = 2.0
    speed: float = 50.0
    settle_s: float = 1.0
    weight: float = 1.0

    def __post_init__(self):
        for name in ("measure_s", "speed"):
            if not getattr(self, name) > 0:
                raise ConfigurationError(
                    f"cost model {name} must be positive, got {getattr(self, name)}"
                )
        for name in ("settle_s", "weight"):
            if getattr(self, name) < 0:
                raise ConfigurationError(
                    f"cost model {name} must be >= 0, got {getattr(self, name)}"
                )

    def seconds(self, positions: np.ndarray, probe: np.ndarray | None) -> np.ndarray:
        """Cost in s of measuring at each of ``positions`` ``(N, 2)`` from ``probe`` ``(2,)``."""
        if probe is None:
            return np.full(len(positions), self.measure_s)
        d = np.linalg.norm(
            np.asarray(positions, dtype=float) - np.asarray(probe, dtype=float), axis=1
        )
        travel = d / self.speed + np.where(d > 0, self.settle_s, 0.0)
        return self.measure_s + self.weight * travel


def select(
    acquisition: str,
    posterior,
    q: int = 1,
    measured: np.ndarray | None = None,
    best_f: float | None = None,
    beta: float = 4.0,
    xi: float = 0.0,
    allow_repeats: bool = False,
    cost: CostModel | None = None,
    positions: np.ndarray | None = None,
    probe: np.ndarray | None = None,
    quantile: float = 0.99,
    observed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick ``q`` candidates greedily with kriging-believer updates.

    Parameters
    ----------
    acquisition : ``"topq"``, ``"ei"``, ``"ucb"`` or ``"maxvar"``
    posterior : an object with ``mean`` and ``var`` ``(N,)`` and ``condition_on(index)``
        (:class:`~autoscope.agents.posterior.DiscretePosterior`, or a lazy or
        mixture posterior of that module; ``exact`` and ``refine`` where the
        variances are partly upper bounds). Updated in place for q > 1.
    q : int, number of points
    measured : bool array ``(N,)``, candidates already measured
    best_f : float, best observed value (EI)
    allow_repeats : bool, let measured candidates be chosen again
    cost : CostModel, optional; needs ``positions`` ``(N, 2)`` and ``probe`` ``(2,)``
        (the probe moves to each chosen point in turn).
    quantile : float
        Level of ``"topq"``: the quantile of the posterior mean over all
        candidates, taken once before the first pick of a batch.
    observed : float array, optional
        Measured values; ``"topq"`` raises its level to their K-th best
        (see :func:`top_level`).

    Returns
    -------
    chosen : int array ``(q,)``
    first_score : array ``(N,)``, the acquisition map of the first pick
        (before cost weighting), for reports.
    """
    n = len(posterior.mean)
    if q < 1:
        raise ConfigurationError(f"batch size q must be >= 1, got {q}")
    blocked = np.zeros(n, dtype=bool) if (measured is None or allow_repeats) else measured.copy()
    if int((~blocked).sum()) < q:
        raise ConfigurationError(f"only {int((~blocked).sum())} candidates left, asked for {q}")
    if cost is not None and positions is None:
        raise ConfigurationError("a cost-aware acquisition needs the candidate positions")
    chosen: list[int] = []
    first_score = None
    here = None if probe is None else np.asarray(probe, dtype=float)
    level = top_level(posterior.mean, quantile, observed) if acquisition == "topq" else None
    for k in range(q):
        raw = posterior_score(acquisition, posterior, None, best_f, beta, xi, level)
        shift = float(raw.min()) if acquisition == "ucb" else 0.0
        cost_s = None if cost is None else cost.seconds(positions, here)

        def final(values, rows, cost_s=cost_s, shift=shift):
            if cost_s is not None:
                c = cost_s if rows is None else cost_s[rows]
                values = (values - shift + _TINY) / c
            b = blocked if rows is None else blocked[rows]
            return np.where(b, -np.inf, values)

        s = final(raw, None)
        j = int(np.argmax(s))
        refined = _refine_until_exact(posterior, s, j, final, acquisition, best_f, beta, xi, level)
        if refined is not None:
            j = refined
        if first_score is None:
            first_score = posterior_score(acquisition, posterior, None, best_f, beta, xi, level)
        chosen.append(j)
        blocked[j] = True
        if positions is not None:
            here = positions[j]
        if acquisition == "ei" and best_f is not None:
            best_f = max(best_f, float(posterior.mean[j]))
        if k + 1 < q:
            posterior.condition_on(j)
    return np.array(chosen, dtype=int), first_score


def posterior_score(
    acquisition: str,
    posterior,
    rows: np.ndarray | None,
    best_f: float | None = None,
    beta: float = 4.0,
    xi: float = 0.0,
    level: float | None = None,
) -> np.ndarray:
    """:func:`score` of a posterior's candidates ``rows`` (None: all).

    For a mixture (a posterior with ``components`` and ``weights``, e.g.
    :class:`~autoscope.agents.posterior.MixturePosterior`), EI and ``topq``
    are the weighted sums of the components' (EI is linear in the predictive
    distribution, so this is the mixture's exact EI); UCB and ``maxvar`` use
    the mixture's mean and standard deviation.
    """
    sel = slice(None) if rows is None else rows
    comps = getattr(posterior, "components", None)
    if comps is not None and acquisition in ("topq", "ei"):
        out = 0.0
        for k, w in enumerate(posterior.weights):
            m, v = posterior.component(k, rows)
            out = out + w * score(
                acquisition, m, np.sqrt(np.maximum(v, 0.0)), best_f, beta, xi, level
            )
        return out
    std = np.sqrt(np.maximum(posterior.var[sel], 0.0))
    return score(acquisition, posterior.mean[sel], std, best_f, beta, xi, level)


def _refine_until_exact(posterior, s, j, final, acquisition, best_f, beta, xi, level):
    """Exact argmax over a posterior whose variances are partly upper bounds.

    ``s`` ``(N,)`` holds exact scores where ``posterior.exact`` is set and upper
    bounds elsewhere (every score is non-decreasing in the standard
    deviation). While the best score is only a bound, refine the best-bounded
    candidates (256, then twice as many each round) and rescore them; once the
    best is exact it beats every bound, so it is the exact argmax. Returns the
    index, or None when the posterior is exact throughout. Updates ``s``.
    """
    exact = getattr(posterior, "exact", None)
    if exact is None:
        return None
    chunk = 256
    while not exact[j]:
        open_rows = np.flatnonzero(~exact & np.isfinite(s))
        if not open_rows.size:
            break
        if chunk < open_rows.size:
            top = open_rows[np.argpartition(-s[open_rows], chunk)[:chunk]]
        else:
            top = open_rows
        posterior.refine(top)
        s[top] = final(posterior_score(acquisition, posterior, top, best_f, beta, xi, level), top)
        exact = posterior.exact
        j = int(np.argmax(s))
        chunk *= 2
    return j
