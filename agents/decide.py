"""One decision of a campaign, the same in the campaign plan and in the agent runner.

:func:`decide` asks an :class:`~autoscope.agents.protocol.Agent` for the next
points. An agent's own model failures are already caught inside
``suggest_indices`` (its step record says ``"fallback"``); an exception that
escapes ``suggest_indices`` itself (an agent of another make, a bug, an
optimizer that raises outside the model step) is caught here: the agent's
``fallback_indices`` are measured instead, and the :class:`Decision` says so.

:func:`decision_report` turns a decision into the report the catalog keeps
(``Agent.report()``'s shape). For a step whose ``suggest_indices`` raised, the
agent's own report still describes its previous step, so the step number,
the source (``"fallback"``), the points chosen instead and the error are put
in its place and the maps are NaN: every failure, and the point chosen
instead, reaches the catalog.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from autoscope.agents.protocol import Agent

__all__ = ["Decision", "decide", "decision_report"]

log = logging.getLogger(__name__)


@dataclass
class Decision:
    """Where a campaign step measures, and why.

    Attributes
    ----------
    step : int
        The campaign step (numbered by the campaign, not by the agent).
    indices : ``(n,)`` candidate indices to measure
    source : str
        The agent's step source (``"seed"``, ``"model"`` ...), or ``"fallback"``.
    error : str or None
        The failure that made the step explore instead.
    raised : bool
        True when ``suggest_indices`` raised and :func:`decide` chose the fallback.
    seconds : float
        Wall time of the decision.
    """

    step: int
    indices: np.ndarray
    source: str
    error: str | None = None
    raised: bool = False
    seconds: float = 0.0


def decide(agent: Agent, n: int, step: int) -> Decision:
    """Ask ``agent`` for ``n`` points at campaign step ``step``; never raises for the agent."""
    t0 = time.perf_counter()
    try:
        idx = np.atleast_1d(np.asarray(agent.suggest_indices(n), dtype=int))
    except Exception as exc:  # noqa: BLE001 - never stop the microscope for the agent
        error = f"{type(exc).__name__}: {exc}"
        log.warning("agent failed at step %d (%s); exploring instead", step, error)
        idx = np.atleast_1d(np.asarray(agent.fallback_indices(n), dtype=int))
        return Decision(step, idx, "fallback", error, True, time.perf_counter() - t0)
    last = agent.steps[-1] if agent.steps else None
    source = last.source if last is not None else "agent"
    error = last.error if last is not None and last.source == "fallback" else None
    return Decision(step, idx, source, error, False, time.perf_counter() - t0)


def decision_report(agent: Agent, decision: Decision) -> dict:
    """``agent.report()`` for ``decision``, with the campaign's step number.

    When ``suggest_indices`` raised, the fields of the step the agent could not
    report (source, chosen points and positions, error, time, model, maps) are
    those of the fallback.
    """
    report = dict(agent.report())
    report["step"] = int(decision.step)
    if decision.raised:
        c = agent.candidates
        nan_map = np.full(c.shape, np.nan)
        report.update(
            source="fallback",
            chosen=[int(i) for i in decision.indices],
            chosen_positions=c.positions[decision.indices].reshape(-1, 2),
            error=decision.error,
            seconds=float(decision.seconds),
            model={},
            mean=nan_map,
            std=nan_map.copy(),
            acquisition_map=nan_map.copy(),
        )
    return report
