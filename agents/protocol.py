"""What an agent is to the rest of autoscope: the :class:`Agent` protocol; the optimizer shape.

The campaign plan (:func:`autoscope.plans.campaign.campaign_loop`), the
benchmark harness and the Tiled adapter drive an agent through the members of
:class:`Agent` and nothing else: ``ingest`` what was measured, ``suggest``
where to measure next, ``report`` what was decided. The agent decides among a
discrete :class:`~autoscope.agents.candidates.CandidateSet` (the pixels of
the overview image), so each call comes in two flavours, in candidate indices
(what the plan uses) and in positions (what an instrument reports).

autoscope's own agents (:mod:`autoscope.agents.agent`: DKL, GP, random,
raster) satisfy it, and so does :class:`~autoscope.agents.optimizer.OptimizerAgent`,
which wraps any object of the :class:`Optimizer` shape (bluesky-adaptive 1.0,
blop: ``suggest(n)`` gives points, ``ingest(points)`` takes them back with
their outcomes). :func:`~autoscope.agents.optimizer.as_optimizer` goes the other
way. Neither needs bluesky-adaptive: the shapes are matched by duck typing.

Both protocols are ``runtime_checkable``: ``isinstance(obj, Agent)`` checks that
the members are there (not their signatures); :func:`check_agent` does that
and names what is missing.
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from autoscope.errors import ConfigurationError

if TYPE_CHECKING:
    import numpy as np

    from autoscope.agents.candidates import CandidateSet

__all__ = ["AGENT_MEMBERS", "Agent", "Optimizer", "StepRecord", "check_agent"]


@dataclass
class StepRecord:
    """What one call of an agent's ``suggest_indices`` decided (one item of ``Agent.steps``)."""

    step: int
    chosen: list[int]
    source: str  # "seed", "model", "random", "raster", "optimizer" or "fallback"
    seconds: float
    n_observations: int
    error: str | None = None
    model: dict = field(default_factory=dict)


@runtime_checkable
class Agent(Protocol):
    """What the campaign plan, the benchmark harness and the Tiled adapter call on an agent.

    Attributes
    ----------
    candidates : CandidateSet
        Where the agent may ask for a measurement (its ``shape``, ``positions``
        and ``units`` size the report's data keys).
    batch_size : int
        Points per step when ``suggest`` is called without ``n``.
    steps : list of StepRecord
        One record per ``suggest_indices`` call, in order; a step whose
        ``source`` is ``"fallback"`` had a failure (its ``error``) and explored instead.
    """

    candidates: CandidateSet
    batch_size: int
    steps: list[StepRecord]

    @property
    def n_measured(self) -> int:
        """Measurements ingested so far (flagged ones included)."""

    def ingest(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Record values ``y`` ``(n,)`` measured at positions ``x`` ``(n, 2)``; their indices."""

    def ingest_indices(self, indices: np.ndarray, y: np.ndarray) -> None:
        """Record values ``y`` ``(n,)`` measured at candidates ``indices`` (NaN: flagged)."""

    def suggest(self, n: int | None = None) -> np.ndarray:
        """Positions ``(n, 2)`` to measure next (``batch_size`` of them without ``n``)."""

    def suggest_indices(self, n: int | None = None) -> np.ndarray:
        """Candidate indices ``(n,)`` to measure next; appends one record to ``steps``."""

    def fallback_indices(self, n: int) -> np.ndarray:
        """``n`` unmeasured candidates to explore, for when ``suggest_indices`` raised."""

    def max_uncertainty(self) -> float:
        """Largest predicted standard deviation over unmeasured candidates (NaN without a model)."""

    def report(self) -> dict:
        """The last step's decision and maps, as :mod:`autoscope.agents.reporting` writes them."""


AGENT_MEMBERS = (
    "candidates",
    "batch_size",
    "steps",
    "n_measured",
    "ingest",
    "ingest_indices",
    "suggest",
    "suggest_indices",
    "fallback_indices",
    "max_uncertainty",
    "report",
)
"""The members of :class:`Agent`, for messages that name what an object lacks."""


@runtime_checkable
class Optimizer(Protocol):
    """bluesky-adaptive 1.0's optimizer shape (blop's ``Agent`` too), matched by duck typing.

    A point is a mapping of the independent variables (here ``"x"``, ``"y"``
    in candidate units unless told otherwise) to their values; a suggested
    point may carry an ``"_id"`` that comes back with its outcome. Ingested
    points carry the independent variables (or the ``"_id"`` of a suggestion)
    and the dependent ones (the measured value).
    """

    def suggest(self, n: int | None = None) -> list[dict[str, Any]]:
        """``n`` points to evaluate next."""

    def ingest(self, points: list[dict[str, Any]]) -> None:
        """Evaluated points: independent and dependent variables."""


def check_agent(obj: object) -> Agent:
    """``obj`` if it satisfies :class:`Agent`, else :class:`ConfigurationError` (what it lacks)."""
    if isinstance(obj, Agent):
        return obj
    missing = [m for m in AGENT_MEMBERS if getattr(obj, m, None) is None]
    name = _short_repr.repr(obj).replace("\n", " ")
    raise ConfigurationError(
        f"{name} is not an autoscope Agent: it lacks {', '.join(missing)} "
        "(see autoscope.agents.protocol.Agent)"
    )


_short_repr = reprlib.Repr()
_short_repr.maxother = 80
_short_repr.maxstring = 80
