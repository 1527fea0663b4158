"""Adapters between autoscope's :class:`~autoscope.agents.protocol.Agent` and the optimizer shape.

bluesky-adaptive 1.0 (and blop) talk to an optimizer through two calls:
``suggest(n)`` returns ``n`` points, each a dict of the independent variables
(and an ``"_id"`` that names the suggestion), and ``ingest(points)`` takes
evaluated points back, each with its independent and dependent variables (or
the ``"_id"`` of the suggestion it answers). Neither side is imported here:
the shapes are matched by duck typing, so bluesky-adaptive is not a
dependency.

- :class:`OptimizerAgent` wraps such an optimizer so that the campaign plan
  can run it as an autoscope agent (on the candidate set of the overview);
- :func:`as_optimizer` (:class:`AgentOptimizer`) wraps an autoscope agent so
  that a bluesky-adaptive style loop can drive it.

Points use the candidate units (nm for an SPM overview); the independent
variables are named ``"x"`` and ``"y"`` and the dependent one ``"value"``
unless told otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np

from autoscope.agents.agent import ActiveLearningAgent, _Choice
from autoscope.agents.candidates import CandidateSet
from autoscope.agents.protocol import Agent, check_agent
from autoscope.errors import ConfigurationError

__all__ = ["AgentOptimizer", "OptimizerAgent", "as_optimizer"]

log = logging.getLogger(__name__)


def _check_keys(inputs: Sequence[str], outcome: str) -> tuple[tuple[str, str], str]:
    inputs = tuple(inputs)
    if len(inputs) != 2 or len({*inputs, outcome}) != 3:
        raise ConfigurationError(
            f"need two independent variable names and another for the outcome, "
            f"got inputs={inputs!r}, outcome={outcome!r}"
        )
    return inputs, outcome  # type: ignore[return-value]


class OptimizerAgent(ActiveLearningAgent):
    """An object with ``suggest(n) -> points`` and ``ingest(points)``, run as an autoscope agent.

    Each suggested point is moved to the nearest candidate not measured yet
    (nor taken earlier in the same batch; any candidate with
    ``allow_repeats``), since the campaign measures candidates. Its ``"_id"``,
    if it has one, is sent back with the outcome. Measured values are passed
    to ``optimizer.ingest`` at the candidate's position; flagged ones (NaN)
    are kept from it, as from autoscope's models.

    A step whose ``optimizer.suggest`` raises, or gives other than ``n``
    points, explores instead (random unmeasured candidates) and is recorded
    as a failure, as a model agent's; so is an ``optimizer.ingest`` that
    raises. The microscope goes on either way.

    Parameters
    ----------
    candidates : CandidateSet
    optimizer : object with ``suggest(n)`` and ``ingest(points)``
    batch_size, budget, seed, allow_repeats : as for :class:`ActiveLearningAgent`
        (``seed`` seeds only the exploration fallback).
    inputs : the names of the independent variables (x, y), default ``("x", "y")``
    outcome : the name of the dependent variable, default ``"value"``
    """

    kind = "optimizer"

    def __init__(
        self,
        candidates: CandidateSet,
        optimizer,
        batch_size: int = 1,
        budget: int | None = None,
        seed: int = 0,
        allow_repeats: bool = False,
        inputs: Sequence[str] = ("x", "y"),
        outcome: str = "value",
    ):
        for method in ("suggest", "ingest"):
            if not callable(getattr(optimizer, method, None)):
                raise ConfigurationError(
                    f"{type(optimizer).__name__} object has no {method}(...): "
                    "an optimizer needs suggest(n) and ingest(points)"
                )
        self.inputs, self.outcome = _check_keys(inputs, outcome)
        self.optimizer = optimizer
        super().__init__(
            candidates,
            batch_size=batch_size,
            n_seed=0,
            budget=budget,
            seed=seed,
            allow_repeats=allow_repeats,
        )
        self.acquisition = None  # the optimizer's own business
        self.seed_design = None
        self._ids: dict[int, object] = {}  # candidate index -> "_id" of the suggestion

    def _decide(self, n: int) -> _Choice:
        try:
            points = list(self.optimizer.suggest(n))
            if len(points) != n:
                raise ConfigurationError(f"the optimizer gave {len(points)} points for {n} asked")
            xy = np.array([[float(p[k]) for k in self.inputs] for p in points], dtype=float)
            chosen = self._nearest_free(xy)
        except Exception as exc:  # noqa: BLE001 - the microscope must go on: explore instead
            return self._fallback(n, exc)
        for point, i in zip(points, chosen.tolist()):
            if isinstance(point, Mapping) and "_id" in point:
                self._ids[i] = point["_id"]
        return _Choice(chosen, "optimizer")

    def _nearest_free(self, xy: np.ndarray) -> np.ndarray:
        """For each position, the nearest candidate that is free (unmeasured, not yet taken)."""
        taken = self.measured.copy()
        if self.allow_repeats:
            taken[:] = False
        out = []
        for p in xy:
            d2 = ((self.candidates.positions - p) ** 2).sum(-1)
            d2[taken] = np.inf
            i = int(np.argmin(d2))
            if not np.isfinite(d2[i]):
                raise ConfigurationError(
                    f"no free candidate left for the optimizer's point {p.tolist()}"
                )
            out.append(i)
            if not self.allow_repeats:
                taken[i] = True
        return np.asarray(out, dtype=int)

    def ingest_indices(self, indices: np.ndarray, y: np.ndarray) -> None:
        """Record the measurements (as every agent does); pass the finite ones to the optimizer."""
        super().ingest_indices(indices, y)
        idx = np.atleast_1d(np.asarray(indices, dtype=int))
        val = np.atleast_1d(np.asarray(y, dtype=float))
        points = []
        for i, v in zip(idx.tolist(), val.tolist()):
            ident = self._ids.pop(i, None)
            if not np.isfinite(v):
                continue
            x, yy = self.candidates.positions[i].tolist()
            point = {self.inputs[0]: x, self.inputs[1]: yy, self.outcome: v}
            if ident is not None:
                point["_id"] = ident
            points.append(point)
        if not points:
            return
        try:
            self.optimizer.ingest(points)
        except Exception as exc:  # noqa: BLE001 - a failing optimizer must not stop the microscope
            error = f"{type(exc).__name__}: {exc}"
            log.warning("the optimizer could not ingest %d points (%s)", len(points), error)
            self.failures.append({"step": len(self.steps) - 1, "error": error})


class AgentOptimizer:
    """An autoscope agent behind bluesky-adaptive's ``suggest(n)`` / ``ingest(points)``.

    ``suggest(n)`` returns ``n`` dicts ``{"_id": k, "x": ..., "y": ...}``
    (candidate positions; ``k`` counts the suggestions). ``ingest(points)``
    takes dicts with the outcome and either the ``"_id"`` of a suggestion or
    the independent variables (an external point goes to the nearest
    candidate); an outcome of None counts as flagged (NaN). ``report()`` is the
    agent's.
    """

    def __init__(self, agent: Agent, inputs: Sequence[str] = ("x", "y"), outcome: str = "value"):
        self.agent = check_agent(agent)
        self.inputs, self.outcome = _check_keys(inputs, outcome)
        self._pending: dict[object, int] = {}
        self._next_id = 0

    def suggest(self, n: int | None = None) -> list[dict]:
        """``n`` points (default: the agent's batch size) to evaluate next."""
        idx = np.atleast_1d(np.asarray(self.agent.suggest_indices(n), dtype=int))
        points = []
        for i in idx.tolist():
            x, y = self.agent.candidates.positions[i].tolist()
            ident = self._next_id
            self._next_id += 1
            self._pending[ident] = i
            points.append({"_id": ident, self.inputs[0]: x, self.inputs[1]: y})
        return points

    def ingest(self, points: Sequence[Mapping]) -> None:
        """Evaluated points: the outcome and the ``"_id"`` of a suggestion or the position."""
        indices, values = [], []
        for point in points:
            if self.outcome not in point:
                raise ConfigurationError(f"point {dict(point)!r} has no outcome {self.outcome!r}")
            if "_id" in point and point["_id"] in self._pending:
                i = self._pending.pop(point["_id"])
            elif all(k in point for k in self.inputs):
                xy = np.array([[float(point[k]) for k in self.inputs]])
                i = int(self.agent.candidates.nearest(xy)[0])
            else:
                raise ConfigurationError(
                    f"point {dict(point)!r} has neither a pending '_id' "
                    f"nor {', '.join(self.inputs)}"
                )
            v = point[self.outcome]
            indices.append(i)
            values.append(np.nan if v is None else float(v))
        if indices:
            self.agent.ingest_indices(np.asarray(indices, dtype=int), np.asarray(values, float))

    def report(self) -> dict:
        """The agent's report of its last step."""
        return self.agent.report()


def as_optimizer(
    agent: Agent, inputs: Sequence[str] = ("x", "y"), outcome: str = "value"
) -> AgentOptimizer:
    """``agent`` behind bluesky-adaptive 1.0's optimizer shape (see :class:`AgentOptimizer`)."""
    return AgentOptimizer(agent, inputs, outcome)
