"""The decision logic of an active-learning campaign: ``ingest`` / ``suggest`` / ``report``.

An agent does no I/O. It knows the candidate set (every pixel of the overview
image), what has been measured there and what was found, and decides where to
measure next. How a point is measured and how a run is unpacked into inputs
and targets is the business of the experiment side
(:mod:`autoscope.agents.experiment`) and of the Tiled adapter
(:mod:`autoscope.agents.tiled_adapter`), after bluesky-adaptive's split. What
the plan calls on an agent is the :class:`~autoscope.agents.protocol.Agent`
protocol; any object that satisfies it will do.

The built-in agents, by name in :data:`AGENTS` (``kind``):

- ``"bma"``: :class:`EvidenceAgent` (the default), DKL and the coordinate GP
  mixed by the held-out likelihood of their predictions
  (:class:`~autoscope.agents.averaging.ModelAverage`)
- ``"dkl"``: :class:`DKLAgent`, deep kernel learning on image patches
  (:class:`~autoscope.agents.models.DKLModel`)
- ``"gp"``: :class:`GPAgent`, a plain GP on coordinates
  (:class:`~autoscope.agents.models.CoordinateGP`)
- ``"random"``: :class:`RandomAgent`, uniformly random unmeasured candidates
- ``"raster"``: :class:`RasterAgent`, a regular grid whose spacing spreads the
  budget over the image, visited line by line (serpentine), then the gaps in between

They share :class:`ActiveLearningAgent` (the bookkeeping, the step records,
the report); ``ActiveLearningAgent(candidates, kind=...)`` and
:func:`make_agent` make one by name.

The first ``n_seed`` points of a model agent are seed points spread over the
image (one random pixel per cell of a coarse grid); with ``seed_design="image"``
(DKL's default) half of them are spread over the kinds of structure the image
shows instead (:func:`image_diverse_indices`). If the model fails (a
numerical error, anything), the agent falls back to an exploration choice
(random unmeasured candidates), records the failure and goes on.
"""

from __future__ import annotations

import logging
import time
from typing import ClassVar, NamedTuple

import numpy as np

from autoscope.agents.acquisition import CostModel, check_acquisition, select
from autoscope.agents.averaging import ModelAverage
from autoscope.agents.candidates import CandidateSet, pca_scores
from autoscope.agents.models import SurrogateModel, make_model, torch_threads
from autoscope.agents.protocol import StepRecord
from autoscope.errors import ConfigurationError

__all__ = [
    "AGENTS",
    "AGENT_KINDS",
    "SEED_DESIGNS",
    "ActiveLearningAgent",
    "DKLAgent",
    "EvidenceAgent",
    "GPAgent",
    "ModelAgent",
    "RandomAgent",
    "RasterAgent",
    "StepRecord",
    "agent_class",
    "check_seed_design",
    "image_diverse_indices",
    "make_agent",
    "resolve_seed_design",
    "seed_indices",
    "stratified_indices",
]

log = logging.getLogger(__name__)

SEED_DESIGNS = ("spatial", "image")


def stratified_indices(shape: tuple[int, int], count: int, rng: np.random.Generator) -> np.ndarray:
    """``count`` pixel indices of an ``H x W`` grid, one random pixel per cell of a coarse grid.

    The cells are visited in random order; used for seed points so that they
    cover the image.
    """
    h, w = shape
    cells = max(1, int(np.ceil(np.sqrt(max(count, 1)))))
    rows = np.array_split(np.arange(h), min(cells, h))
    cols = np.array_split(np.arange(w), min(cells, w))
    picks = [int(rng.choice(r)) * w + int(rng.choice(c)) for r in rows for c in cols]
    rng.shuffle(picks)
    return np.asarray(picks[:count], dtype=int)


def check_seed_design(design: str) -> str:
    """``design`` if it is one of :data:`SEED_DESIGNS`, else :class:`ConfigurationError`."""
    if design not in SEED_DESIGNS:
        raise ConfigurationError(
            f"unknown seed design {design!r}; known: {', '.join(SEED_DESIGNS)}"
        )
    return design


def resolve_seed_design(kind: str, design: str | None = None) -> str:
    """The seed design an agent of ``kind`` uses: ``design`` (checked), or its default when None.

    The default is the agent class's ``default_seed_design``: ``"image"`` for
    DKL, which learns from the patches, and ``"spatial"`` otherwise (the
    coordinate GP needs the image covered; a kind not in :data:`AGENTS` too).
    """
    if design is None:
        cls = AGENTS.get(kind) if isinstance(kind, str) else None
        return cls.default_seed_design if cls is not None else "spatial"
    return check_seed_design(design)


def image_diverse_indices(
    patches: np.ndarray, start: np.ndarray, count: int, components: int = 16
) -> np.ndarray:
    """``count`` candidates whose patches are least like those of ``start`` and of each other.

    Greedy farthest-point selection on the leading principal components of the
    flattened patches ``(N, p, p)``: each pick maximises the distance to the
    nearest patch already chosen (``start`` included). Rare structures (a
    defect, a wall, a step edge) come first, because they are far from
    everything else in patch space.
    """
    n = len(patches)
    z = pca_scores(np.asarray(patches, dtype=float).reshape(n, -1), components)
    chosen = [int(i) for i in np.atleast_1d(start)]
    if chosen:
        d = np.full(n, np.inf)
        for i in chosen:
            d = np.minimum(d, np.linalg.norm(z - z[i], axis=1))
    else:
        d = np.linalg.norm(z - z.mean(0), axis=1)
    out: list[int] = []
    for _ in range(int(count)):
        j = int(np.argmax(d))
        out.append(j)
        d = np.minimum(d, np.linalg.norm(z - z[j], axis=1))
        d[j] = -np.inf
    return np.asarray(out, dtype=int)


def seed_indices(
    candidates: CandidateSet, count: int, rng: np.random.Generator, design: str = "spatial"
) -> np.ndarray:
    """The ``count`` seed points of a campaign in the order they are measured.

    ``"spatial"``: :func:`stratified_indices`. ``"image"``: the first
    ``count - count // 2`` of those, then :func:`image_diverse_indices` for the rest.
    """
    check_seed_design(design)
    spatial = stratified_indices(candidates.shape, count, rng)
    if design == "spatial":
        return spatial
    n_image = count // 2
    start = spatial[: count - n_image]
    extra = image_diverse_indices(candidates.patches, start, n_image)
    return np.concatenate([start, extra]).astype(int)


class _Choice(NamedTuple):
    """What an agent's ``_decide`` chose, and why (becomes a :class:`StepRecord`)."""

    chosen: np.ndarray
    source: str
    error: str | None = None
    model: dict | None = None


class ActiveLearningAgent:
    """Decide where to measure next on a discrete candidate set: what every built-in agent shares.

    ``ActiveLearningAgent(candidates, kind=...)`` is also the factory it always
    was: it makes the agent of that kind from :data:`AGENTS` (a
    :class:`DKLAgent`, :class:`GPAgent`, :class:`RandomAgent` or
    :class:`RasterAgent`, each an ``ActiveLearningAgent``); so does
    :func:`make_agent`. The classes share the bookkeeping (what was measured,
    the step records, the report, the exploration fallback) and differ only in
    how a step chooses (``_decide``).

    Parameters
    ----------
    candidates : CandidateSet
    kind : ``"bma"``, ``"dkl"``, ``"gp"``, ``"random"`` or ``"raster"``
        Which agent; default ``"bma"`` (DKL and the GP weighed by evidence). A
        class of :data:`AGENTS` takes its own kind or None.
    acquisition : ``"topq"``, ``"ei"``, ``"ucb"`` or ``"maxvar"``
        ``"topq"`` (default) aims at the whole set of strongest locations
        (expected excess over the ``quantile`` level of the predicted map),
        ``"ei"`` at the single best value; see :mod:`autoscope.agents.acquisition`.
    batch_size : int
        Default number of points per :meth:`suggest`.
    n_seed : int or None
        Seed points before the model is used (default: 5 % of ``budget``,
        between :attr:`min_seed` and 20; 10 without a budget).
    seed_design : ``"spatial"``, ``"image"`` or None
        Where the seed points go. ``"spatial"``: one random pixel per cell of
        a coarse grid. ``"image"``: half of them so, the other half at the
        patches least like those already chosen, so that rare structures
        (defects, walls) are measured before the model decides. None (default):
        ``"image"`` for DKL, which learns from the patches, ``"spatial"`` for
        the coordinate GP, which needs the image covered.
    budget : int or None
        Planned number of measurements; the raster policy spreads its grid
        over it.
    seed : int
        Seeds every generator of the agent.
    beta, xi : float
        UCB's exploration weight and EI's improvement margin (target units
        after standardisation are used internally; both act on raw values).
    quantile : float
        Level of ``"topq"``, between 0 and 1 (0.99: the top 1 % of the map).
    cost : CostModel or None
        Weigh acquisition by instrument time (travel and settle).
    allow_repeats : bool
        Let measured candidates be chosen again.
    model_options : dict
        Passed to the model (iterations, widths, lr ...).
    """

    kind: ClassVar[str] = ""
    """The name of the agent in :data:`AGENTS` (reports and metadata carry it)."""
    default_seed_design: ClassVar[str] = "spatial"
    min_seed: ClassVar[int] = 4
    """Fewest seed points of the default ``n_seed`` (small budgets)."""

    def __new__(cls, *args, **kwargs):
        target = cls
        if cls is ActiveLearningAgent:  # the factory: ActiveLearningAgent(candidates, kind=...)
            kind = kwargs["kind"] if "kind" in kwargs else args[1] if len(args) > 1 else "bma"
            target = agent_class(kind)
        return super().__new__(target)

    def __init__(
        self,
        candidates: CandidateSet,
        kind: str | None = None,
        acquisition: str = "topq",
        batch_size: int = 1,
        n_seed: int | None = None,
        budget: int | None = None,
        seed: int = 0,
        beta: float = 4.0,
        xi: float = 0.0,
        cost: CostModel | None = None,
        allow_repeats: bool = False,
        model_options: dict | None = None,
        quantile: float = 0.99,
        seed_design: str | None = None,
    ):
        if kind is not None and kind != self.kind:
            agent_class(kind)  # an unknown kind gets the registry's message
            raise ConfigurationError(
                f"{type(self).__name__} is the {self.kind!r} agent, not {kind!r}"
            )
        check_acquisition(acquisition, quantile)
        seed_design = resolve_seed_design(self.kind, seed_design)
        if batch_size < 1:
            raise ConfigurationError(f"batch size must be >= 1, got {batch_size}")
        if budget is not None and not 1 <= budget <= len(candidates):
            raise ConfigurationError(
                f"budget {budget} must be between 1 and the {len(candidates)} candidates"
            )
        self.candidates = candidates
        self.acquisition = acquisition
        self.batch_size = int(batch_size)
        self.budget = budget
        if n_seed is None:
            n_seed = int(np.clip(round(0.05 * budget), self.min_seed, 20)) if budget else 10
        self.n_seed = int(n_seed)
        self.seed_design = seed_design
        self.seed = int(seed)
        self.beta = float(beta)
        self.xi = float(xi)
        self.quantile = float(quantile)
        self.cost = cost
        self.allow_repeats = bool(allow_repeats)
        self.rng = np.random.default_rng(seed)
        self._fallback_rng = np.random.default_rng([seed, 1])
        n = len(candidates)
        self.measured = np.zeros(n, dtype=bool)
        self.obs_index: list[int] = []
        self.obs_value: list[float] = []
        self.probe: np.ndarray | None = None
        self.steps: list[StepRecord] = []
        self.failures: list[dict] = []
        self.model: SurrogateModel | None = None
        self._seed_order: np.ndarray | None = None
        self._raster_order: np.ndarray | None = None
        self._setup(dict(model_options or {}))
        self._last_acq: np.ndarray | None = None
        self._last_mean: np.ndarray | None = None
        self._last_std: np.ndarray | None = None
        self._posterior = None

    def _setup(self, model_options: dict) -> None:
        """What a kind prepares once, after the common state (model, seed or raster order)."""

    def _decide(self, n: int) -> _Choice:
        """Choose ``n`` candidates (enough are free); the step record is written by the caller."""
        raise NotImplementedError(f"{type(self).__name__} does not choose points")

    # ------------------------------------------------------------------ ingest

    def ingest(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Record values ``y`` ``(n,)`` measured at positions ``x`` ``(n, 2)`` (candidate units).

        A position is mapped to the nearest candidate (the instrument reports
        where it really measured, which may differ from where it was asked
        to). NaN values (flagged spectra) mark the candidate measured but are
        left out of the model. Returns the candidate indices.
        """
        idx = self.candidates.nearest(np.atleast_2d(np.asarray(x, dtype=float)))
        self.ingest_indices(idx, y)
        return idx

    def ingest_indices(self, indices: np.ndarray, y: np.ndarray) -> None:
        """Record measurements at candidate ``indices`` ``(n,)`` with values ``y`` ``(n,)``."""
        idx = np.atleast_1d(np.asarray(indices, dtype=int))
        val = np.atleast_1d(np.asarray(y, dtype=float))
        if idx.shape != val.shape:
            raise ConfigurationError(
                f"ingest got {idx.shape[0]} positions but {val.shape[0]} values"
            )
        if ((idx < 0) | (idx >= len(self.candidates))).any():
            raise ConfigurationError(f"candidate index out of range 0..{len(self.candidates) - 1}")
        for i, v in zip(idx.tolist(), val.tolist()):
            self.measured[i] = True
            self.obs_index.append(i)
            self.obs_value.append(v)
            if not np.isfinite(v):
                log.info("candidate %d measured but its value is not finite; left out", i)
        if len(idx):
            self.probe = self.candidates.positions[idx[-1]]

    @property
    def n_measured(self) -> int:
        return len(self.obs_index)

    def observations(self) -> tuple[np.ndarray, np.ndarray]:
        """Finite observations ``(indices (m,), values (m,))``."""
        idx = np.asarray(self.obs_index, dtype=int)
        val = np.asarray(self.obs_value, dtype=float)
        ok = np.isfinite(val)
        return idx[ok], val[ok]

    # ----------------------------------------------------------------- suggest

    def suggest(self, n: int | None = None) -> np.ndarray:
        """Positions ``(n, 2)`` to measure next (candidate units, e.g. nm)."""
        return self.candidates.positions[self.suggest_indices(n)]

    def suggest_indices(self, n: int | None = None) -> np.ndarray:
        """Candidate indices ``(n,)`` to measure next; never raises for a model failure."""
        n = self.batch_size if n is None else int(n)
        if n < 1:
            raise ConfigurationError(f"number of points must be >= 1, got {n}")
        free = int((~self.measured).sum()) if not self.allow_repeats else len(self.candidates)
        if free < n:
            raise ConfigurationError(f"only {free} unmeasured candidates left, asked for {n}")
        t0 = time.perf_counter()
        self._last_acq = None
        choice = self._decide(n)
        record = StepRecord(
            step=len(self.steps),
            chosen=[int(c) for c in choice.chosen],
            source=choice.source,
            seconds=time.perf_counter() - t0,
            n_observations=len(self.observations()[0]),
            error=choice.error,
            model=dict(choice.model or {}),
        )
        self.steps.append(record)
        return np.asarray(choice.chosen, dtype=int)

    def fallback_indices(self, n: int) -> np.ndarray:
        """An exploration choice (random unmeasured candidates) from the fallback generator."""
        return self._random(n, self._fallback_rng)

    def _fallback(self, n: int, exc: Exception) -> _Choice:
        """Explore instead of a failed step, and record the failure."""
        error = f"{type(exc).__name__}: {exc}"
        log.warning("agent model step failed (%s); falling back to exploration", error)
        chosen = self._random(n, self._fallback_rng)
        self.failures.append({"step": len(self.steps), "error": error})
        return _Choice(chosen, "fallback", error)

    def _random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        pool = (
            np.arange(len(self.candidates))
            if self.allow_repeats
            else np.flatnonzero(~self.measured)
        )
        return rng.choice(pool, size=n, replace=False)

    # ------------------------------------------------------------------ state

    report_exact_below: ClassVar[float] = 4e8
    """A report makes a lazy posterior's variances exact when ``N n^2`` is below this."""

    def _exact_std_for_report(self) -> None:
        """Make the last step's standard deviation map exact, if it is only bounded and cheap.

        A lazy posterior's variances are exact where the choice looked and
        upper bounds elsewhere; a report's map should show the model's own
        uncertainty. Done once per step, when a report asks, for single-point
        steps (a batch's believer updates are part of its variances), and
        when ``N n^2`` is below :attr:`report_exact_below`; above it the map
        holds the bounds.
        """
        post = self._posterior
        if post is None or post.exact is None or post.exact.all():
            return
        n_obs = len(self.observations()[0])
        if float(len(self.candidates)) * n_obs * n_obs > self.report_exact_below:
            return
        post.refine(np.flatnonzero(~post.exact))
        self._last_std = post.std.copy()

    def max_uncertainty(self) -> float:
        """Largest posterior standard deviation over unmeasured candidates (NaN before a fit)."""
        if self._last_std is None:
            return float("nan")
        std = self._last_std
        free = ~self.measured
        return float(std[free].max()) if free.any() else 0.0

    def report(self) -> dict:
        """The last step's decision and the model's maps; no I/O.

        Returns
        -------
        dict with ``step``, ``source``, ``chosen`` (indices), ``chosen_positions``
        ``(q, 2)``, ``n_measured``, ``n_observations``, ``seconds``, ``error``,
        ``model`` (summary dict), ``best_value``, ``best_position``, and the maps
        ``mean``, ``std``, ``acquisition`` (``(H, W)`` float arrays; NaN where
        the step had no model), ``measured`` ``(H, W)`` bool.
        """
        h, w = self.candidates.shape
        nan_map = np.full((h, w), np.nan)
        last = self.steps[-1] if self.steps else None
        has_model = last is not None and last.source == "model" and self._last_mean is not None
        if has_model:
            self._exact_std_for_report()
        idx, val = self.observations()
        best = int(idx[np.argmax(val)]) if len(val) else None
        chosen = [] if last is None else last.chosen
        return {
            "agent": self.kind,
            "acquisition": self.acquisition,
            "step": -1 if last is None else last.step,
            "source": None if last is None else last.source,
            "chosen": list(chosen),
            "chosen_positions": self.candidates.positions[chosen].reshape(-1, 2),
            "n_measured": self.n_measured,
            "n_observations": len(val),
            "seconds": 0.0 if last is None else last.seconds,
            "error": None if last is None else last.error,
            "model": {} if last is None else dict(last.model),
            "best_value": float(val.max()) if len(val) else float("nan"),
            "best_position": None if best is None else self.candidates.positions[best].tolist(),
            "mean": self._last_mean.reshape(h, w) if has_model else nan_map.copy(),
            "std": self._last_std.reshape(h, w) if has_model else nan_map.copy(),
            "acquisition_map": (
                nan_map.copy() if self._last_acq is None else self._last_acq.reshape(h, w)
            ),
            "measured": self.measured.reshape(h, w).copy(),
            "failures": len(self.failures),
        }


class RandomAgent(ActiveLearningAgent):
    """Uniformly random unmeasured candidates (the baseline every model must beat)."""

    kind = "random"

    def _decide(self, n: int) -> _Choice:
        return _Choice(self._random(n, self.rng), "random")


class RasterAgent(ActiveLearningAgent):
    """A regular grid spread over the image by the budget, line by line (serpentine), then gaps."""

    kind = "raster"

    def _setup(self, model_options: dict) -> None:
        self._raster_order = self._make_raster_order()

    def _decide(self, n: int) -> _Choice:
        out = [int(i) for i in self._raster_order if not self.measured[i]][:n]
        return _Choice(np.asarray(out, dtype=int), "raster")

    def _make_raster_order(self) -> np.ndarray:
        h, w = self.candidates.shape
        n = len(self.candidates)
        stride = max(1, int(np.floor(np.sqrt(n / self.budget)))) if self.budget else 1
        order: list[int] = []
        seen = np.zeros(n, dtype=bool)
        for off in [(a, b) for a in range(stride) for b in range(stride)]:
            rows = (
                range(off[0] + stride // 2, h, stride)
                if off == (0, 0)
                else range(off[0], h, stride)
            )
            cols_base = list(
                range(off[1] + stride // 2, w, stride)
                if off == (0, 0)
                else range(off[1], w, stride)
            )
            for k, r in enumerate(rows):
                cols = cols_base if k % 2 == 0 else cols_base[::-1]
                for c in cols:
                    i = r * w + c
                    if not seen[i]:
                        seen[i] = True
                        order.append(i)
        order += np.flatnonzero(~seen).tolist()
        return np.asarray(order, dtype=int)


class ModelAgent(ActiveLearningAgent):
    """Seed points, then a surrogate model (``make_model(kind)``) and the acquisition function.

    If the model step fails (a numerical error, anything), the step explores
    instead (random unmeasured candidates from a generator of its own) and
    the failure is recorded.
    """

    def _setup(self, model_options: dict) -> None:
        self.model = make_model(self.kind, self.candidates, seed=self.seed, **model_options)
        self._seed_order = seed_indices(self.candidates, self.n_seed, self.rng, self.seed_design)

    def _decide(self, n: int) -> _Choice:
        if self._n_seeded() < self.n_seed or len(self.observations()[0]) < 2:
            return _Choice(self._seeds(n), "seed")
        try:
            chosen = self._model_choice(n)
            summary = self.model.summary()
        except Exception as exc:  # noqa: BLE001 - the microscope must go on: explore instead
            return self._fallback(n, exc)
        return _Choice(chosen, "model", model=summary)

    def _n_seeded(self) -> int:
        return sum(len(s.chosen) for s in self.steps if s.source == "seed")

    def _model_choice(self, n: int) -> np.ndarray:
        with torch_threads(self.model.threads):
            return self._fit_and_select(n)

    def _fit_and_select(self, n: int) -> np.ndarray:
        idx, val = self.observations()
        posterior = self.model.fit(idx, val)
        self._last_mean, self._last_std = posterior.mean.copy(), posterior.std.copy()
        chosen, acq = select(
            self.acquisition,
            posterior,
            q=n,
            measured=self.measured,
            best_f=float(val.max()),
            beta=self.beta,
            xi=self.xi,
            allow_repeats=self.allow_repeats,
            cost=self.cost,
            positions=self.candidates.positions if self.cost else None,
            probe=self.probe,
            quantile=self.quantile,
            observed=val,
        )
        self._last_acq = acq
        self._posterior = None
        if posterior.exact is not None and n == 1:
            # a lazy posterior's variances became exact where the choice looked
            self._last_std = posterior.std.copy()
            self._posterior = posterior  # report() may make the rest exact
        return chosen

    def _seeds(self, n: int) -> np.ndarray:
        out = [int(i) for i in self._seed_order if not self.measured[i]][:n]
        if len(out) < n:
            extra = [i for i in self._random(n + len(out), self.rng).tolist() if i not in out]
            out += extra[: n - len(out)]
        return np.asarray(out, dtype=int)


class GPAgent(ModelAgent):
    """A plain GP on coordinates (:class:`~autoscope.agents.models.CoordinateGP`); spatial seeds."""

    kind = "gp"


class DKLAgent(ModelAgent):
    """Deep kernel learning on patches (:class:`~autoscope.agents.models.DKLModel`); image seeds."""

    kind = "dkl"
    default_seed_design = "image"


class EvidenceAgent(ModelAgent):
    """DKL and the coordinate GP averaged by their held-out evidence; image seeds.

    :class:`~autoscope.agents.averaging.ModelAverage`: both models are fitted
    every step, their posteriors mixed with weights from the predictive
    likelihood each gave the measured values before they were measured. Every
    model step's record (``steps[k].model``, the report's ``agent_model``)
    holds the weights and the image-feature share. ``model_options`` go to
    :class:`~autoscope.agents.averaging.ModelAverage` (``prior``, ``dkl``, ``gp``).
    """

    kind = "bma"
    default_seed_design = "image"
    # min_seed stays the shared 4: the 10 of 805aead (tuned on PFM seeds 0-2) left bma with
    # 10 of its 20 measurements as seed points at 2 % of a 32 x 32 grid and did worse on the
    # held-out seeds 300-302 of all three twin families (issue 15 item 6; docs/benchmarks.md)

    def _setup(self, model_options: dict) -> None:
        self.model = ModelAverage(self.candidates, seed=self.seed, **model_options)
        self._seed_order = seed_indices(self.candidates, self.n_seed, self.rng, self.seed_design)

    def _model_choice(self, n: int) -> np.ndarray:
        chosen = super()._model_choice(n)
        self.model.expect(chosen)
        return chosen

    def ingest_indices(self, indices: np.ndarray, y: np.ndarray) -> None:
        """Record the measurements; score each model's prediction of them (the evidence)."""
        super().ingest_indices(indices, y)
        self.model.score(indices, y)


AGENTS: dict[str, type[ActiveLearningAgent]] = {
    "bma": EvidenceAgent,
    "dkl": DKLAgent,
    "gp": GPAgent,
    "random": RandomAgent,
    "raster": RasterAgent,
}
"""The built-in agents by name (``--agent`` of the command line, ``agent=`` of the plan)."""

AGENT_KINDS = tuple(AGENTS)


def agent_class(kind: str) -> type[ActiveLearningAgent]:
    """The class of :data:`AGENTS` named ``kind``; :class:`ConfigurationError` if unknown."""
    try:
        return AGENTS[kind]
    except (KeyError, TypeError):
        raise ConfigurationError(f"unknown agent {kind!r}; known: {', '.join(AGENTS)}") from None


def make_agent(kind: str, candidates: CandidateSet, **options) -> ActiveLearningAgent:
    """The agent named ``kind`` on ``candidates``; ``options`` of :class:`ActiveLearningAgent`."""
    return agent_class(kind)(candidates, **options)
