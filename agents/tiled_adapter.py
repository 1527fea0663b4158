"""Thin adapter between the agent's decision logic and a Tiled catalog.

It reads spectra runs by uid (unpacked by a
:class:`~autoscope.agents.experiment.SpectraExperiment`), feeds them to an
:class:`~autoscope.agents.protocol.Agent` (e.g. an
:class:`~autoscope.agents.agent.ActiveLearningAgent`), and writes each step's
report (see :mod:`autoscope.agents.reporting`) as events of an
``agent_report`` run, through any document callback (``TiledWriter``,
autoscope's ``CatalogWriter``). :func:`read_reports` reads them back, so a
campaign can be audited and replayed.
"""

from __future__ import annotations

import json
import logging
import time
import uuid

import numpy as np
from event_model import compose_run

from autoscope.agents.experiment import Measurements, SpectraExperiment
from autoscope.agents.protocol import Agent
from autoscope.agents.reporting import REPORT_STREAM, data_keys, report_metadata, report_values
from autoscope.errors import ConfigurationError

__all__ = ["TiledAdapter", "read_reports"]

log = logging.getLogger(__name__)


class TiledAdapter:
    """Read runs into an agent and write its reports to the catalog.

    Parameters
    ----------
    client : tiled client of the catalog root (``client[uid]`` is a run)
    agent : Agent (:mod:`autoscope.agents.protocol`), e.g. an ActiveLearningAgent
    experiment : SpectraExperiment
    writer : callable ``(name, doc)``, optional
        Where report documents go (e.g. ``TiledWriter(client)``); without it
        reports are kept only in memory (``self.documents``).
    campaign : str, optional
        Id that ties reports and spectra runs together (a new uuid by default).
    md : dict, optional
        Extra start-document metadata of the report run.
    """

    def __init__(
        self,
        client,
        agent: Agent,
        experiment: SpectraExperiment,
        writer=None,
        campaign: str | None = None,
        md: dict | None = None,
    ):
        self.client = client
        self.agent = agent
        self.experiment = experiment
        self.writer = writer
        self.campaign = campaign or str(uuid.uuid4())
        self.md = dict(md or {})
        self.documents: list[tuple[str, dict]] = []
        self._bundle = None
        self._descriptor = None
        self.report_uid: str | None = None  # uid of the report run, once opened
        self._pending_obs: list[tuple[int, float]] = []
        self.ingested: list[str] = []

    # ---------------------------------------------------------------- reading

    def ingest_uid(self, uid: str) -> Measurements:
        """Read run ``uid`` from the catalog, scalarize its spectra and ingest them."""
        run = self.client[uid]
        m = self.experiment.unpack_run(run)
        return self.ingest(m)

    def ingest(self, m: Measurements) -> Measurements:
        """Ingest already unpacked measurements."""
        idx = self.agent.ingest(m.positions, m.values) if len(m.values) else np.zeros(0, int)
        self._pending_obs += list(zip(np.asarray(idx).tolist(), m.values.tolist()))
        if m.uid:
            self.ingested.append(m.uid)
        return m

    # ---------------------------------------------------------------- writing

    def _emit(self, name: str, doc: dict) -> None:
        self.documents.append((name, doc))
        if self.writer is not None:
            self.writer(name, doc)

    def _open(self) -> None:
        md = {**report_metadata(self.agent, self.experiment), "campaign": self.campaign, **self.md}
        self._bundle = compose_run(metadata=md)
        self.report_uid = self._bundle.start_doc["uid"]
        self._emit("start", self._bundle.start_doc)
        c = self.agent.candidates
        keys = data_keys(c.shape, self.agent.batch_size, units=c.units)
        self._descriptor = self._bundle.compose_descriptor(data_keys=keys, name=REPORT_STREAM)
        self._emit("descriptor", self._descriptor.descriptor_doc)

    def write_report(self) -> dict:
        """Write the agent's current report as one event; returns the event data."""
        if self._bundle is None:
            self._open()
        values = report_values(self.agent.report(), self.agent.batch_size, self._pending_obs)
        self._pending_obs = []
        now = time.time()
        event = self._descriptor.compose_event(data=values, timestamps={k: now for k in values})
        self._emit("event", event)
        return values

    def close(self, exit_status: str = "success", reason: str = "") -> None:
        """Close the report run (if one was opened)."""
        if self._bundle is None:
            return
        self._emit("stop", self._bundle.compose_stop(exit_status=exit_status, reason=reason))
        self._bundle = None


def read_reports(client, report_uid: str, keys=None) -> dict:
    """Read an ``agent_report`` run back.

    Parameters
    ----------
    client : tiled client of the catalog root
    report_uid : the report run
    keys : data keys to read (see :func:`autoscope.agents.reporting.data_keys`), or None
        for all of them. Each key is one request and the maps are ``H x W`` per
        event, so a reader that needs only the observations passes
        ``("agent_observed",)``; ``agent_observed`` is always read.

    Returns
    -------
    dict with ``metadata`` (the start document), ``steps`` (list of dicts, one
    per report event, the keys read, JSON fields decoded) and ``observations``
    (``[(index, value), ...]`` in the order ingested, for replay).

    Raises
    ------
    ConfigurationError
        If ``keys`` names a key that report runs do not have.
    """
    run = client[report_uid]
    start = dict(run.metadata["start"])
    stream = run[REPORT_STREAM]
    known = list(data_keys(tuple(start["candidates_shape"]), start.get("batch_size", 1)))
    if keys is None:
        wanted = known
    else:
        unknown = [k for k in keys if k not in known]
        if unknown:
            raise ConfigurationError(
                f"report runs have no key {unknown[0]!r}; known: {', '.join(known)}"
            )
        wanted = [k for k in known if k in keys or k == "agent_observed"]
    cols = {k: stream[k].read() for k in wanted}
    n = len(cols["agent_observed"])
    steps = []
    observations: list[tuple[int, float]] = []
    for i in range(n):
        row = {k: (v[i] if not hasattr(v, "iloc") else v.iloc[i]) for k, v in cols.items()}
        for k in ("agent_model", "agent_observed"):
            if k in row:
                row[k] = json.loads(row[k])
        observations += [
            (int(a), float("nan") if b is None else float(b)) for a, b in row["agent_observed"]
        ]
        steps.append(row)
    return {"metadata": start, "steps": steps, "observations": observations}
