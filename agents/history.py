"""A campaign as the catalog holds it: its runs, its steps, what was measured.

The catalog is the one record of a campaign; nothing else needs to survive a
restart. The campaign plan (resuming a campaign id) and the agent runner
(rebuilding after a crash) both read it through this module:

- :func:`campaign_records`: every run of a campaign (``start["campaign"]``),
  optionally of one agent (``start["agent"]``), oldest first, with its
  campaign step, agent sequence number and exit status (None while the run
  has no stop document);
- :func:`next_step`: the step number after the last one recorded;
- :func:`ingest_records`: feed the spectra of the successful measuring runs
  to an agent, at the candidates they were asked for. A run that failed, was
  aborted or never closed is not data.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from autoscope.agents.experiment import SpectraExperiment
from autoscope.agents.protocol import Agent

__all__ = ["MEASURING_PLANS", "RunRecord", "campaign_records", "ingest_records", "next_step"]

log = logging.getLogger(__name__)

MEASURING_PLANS = ("spectra_at",)
"""Plans whose runs are a campaign's measurements."""


@dataclass(frozen=True)
class RunRecord:
    """One run of a campaign, from its start and stop documents.

    Attributes
    ----------
    uid, plan_name : str
    step : int or None
        ``start["campaign_step"]``.
    seq : int or None
        ``start["agent_seq"]`` (runs queued by the agent runner).
    agent : str or None
        ``start["agent"]``.
    exit_status : str or None
        ``stop["exit_status"]``; None while the run has no stop document.
    time : float
        ``start["time"]``.
    start : dict
        The start document.
    """

    uid: str
    plan_name: str
    step: int | None
    seq: int | None
    agent: str | None
    exit_status: str | None
    time: float
    start: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def succeeded(self) -> bool:
        return self.exit_status == "success"


def _int_or_none(value) -> int | None:
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def campaign_records(client, campaign_id: str, agent: str | None = None) -> list[RunRecord]:
    """Every run of campaign ``campaign_id`` in the catalog (of ``agent`` only, if given)."""
    from tiled.queries import Key

    results = client.search(Key("campaign") == campaign_id)
    if agent is not None:
        results = results.search(Key("agent") == agent)
    records = []
    for key, run in results.items():
        md = run.metadata
        start = dict(md.get("start") or {})
        stop = md.get("stop") or None
        records.append(
            RunRecord(
                uid=str(start.get("uid", key)),
                plan_name=str(start.get("plan_name", "")),
                step=_int_or_none(start.get("campaign_step")),
                seq=_int_or_none(start.get("agent_seq")),
                agent=start.get("agent"),
                exit_status=None if stop is None else str(stop.get("exit_status", "")),
                time=float(start.get("time", 0.0)),
                start=start,
            )
        )
    return sorted(records, key=lambda r: r.time)


def next_step(records: Iterable[RunRecord]) -> int:
    """The campaign step after the last one in ``records`` (0 for a new campaign)."""
    steps = [r.step for r in records if r.step is not None]
    return max(steps) + 1 if steps else 0


def ingest_records(
    client, records: Iterable[RunRecord], agent: Agent, experiment: SpectraExperiment
) -> list[tuple[int, float]]:
    """Give ``agent`` the spectra of the successful measuring runs among ``records``.

    Each spectrum counts for the candidate nearest to the position asked for
    (the campaign asks for candidate positions). Returns ``[(index, value), ...]``
    in the order ingested.
    """
    observed: list[tuple[int, float]] = []
    for rec in records:
        if rec.plan_name not in MEASURING_PLANS or not rec.succeeded:
            continue
        m = experiment.unpack_run(client[rec.uid])
        if not len(m.values):
            continue
        idx = agent.candidates.nearest(np.atleast_2d(m.requested))
        agent.ingest_indices(idx, m.values)
        observed += list(zip(np.asarray(idx).tolist(), np.asarray(m.values, float).tolist()))
    return observed
