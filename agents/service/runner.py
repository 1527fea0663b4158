"""The agent runner: an agent as its own process beside an instrument.

It reads runs from the catalog (Tiled), decides with any
:class:`~autoscope.agents.protocol.Agent` (``ingest`` / ``suggest`` /
``report``, through :func:`autoscope.agents.decide.decide`, as the campaign
plan does), writes each decision's report to the catalog and adds the next
``spectra_at`` to the instrument's queue (bluesky-queueserver-api).

It keeps nothing the catalog and the queue cannot rebuild. Every plan it
queues carries ``md={"agent": NAME, "agent_seq": k, "campaign": ID,
"campaign_step": k}``; every step ``k`` has one report under a deterministic
uid (:mod:`autoscope.agents.service.reports`). Each pass of the loop reads
both places and sorts every step into one of:

=========  ====================================================================
measured   its run's stop document says success: the spectra go to the agent
pending    queued or running; or the queue says it completed and the catalog
           has not got the run's stop document yet: wait
failed     its run stopped otherwise, the queue says it failed, or its run was
           left open with nothing running: not data; the agent chooses again
unsent     its report is there but the queue never got it (a crash between the
           two): queued now with the points the report names
=========  ====================================================================

Only when nothing is pending or unsent does the agent decide step ``k + 1``.
So a runner killed at any moment and started again measures no point twice
and ingests the runs it missed. One runner holds a campaign at a time
(:mod:`autoscope.agents.service.lease`).

It learns of new runs through Tiled's subscription to the catalog root
(``Container.subscribe()``, a websocket) and catches up from the catalog every
``poll_interval`` seconds besides, so a lost subscription (Tiled restarted, a
server without a streaming cache) costs only latency. Tiled keeps
subscription callbacks by weak reference and swallows their exceptions: the
callback is a method of the runner (alive as long as the runner), does
nothing but wake the loop, and logs what it could not do.
"""

from __future__ import annotations

import importlib
import logging
import threading
from dataclasses import dataclass, field

import numpy as np

from autoscope.agents.agent import make_agent
from autoscope.agents.candidates import CandidateSet
from autoscope.agents.decide import decide, decision_report
from autoscope.agents.experiment import SpectraExperiment
from autoscope.agents.history import MEASURING_PLANS, RunRecord, campaign_records
from autoscope.agents.optimizer import OptimizerAgent
from autoscope.agents.protocol import Agent, check_agent
from autoscope.agents.reporting import report_metadata, report_values
from autoscope.agents.service.config import RunnerConfig
from autoscope.agents.service.lease import Lease
from autoscope.agents.service.queue import InstrumentQueue, QueueSnapshot
from autoscope.agents.service.reports import read_chosen, report_uid, write_report
from autoscope.errors import AgentServiceError, ConfigurationError

__all__ = ["AgentRunner", "StepStates", "candidates_from_config", "classify"]

log = logging.getLogger(__name__)

PLAN = "spectra_at"


@dataclass
class StepStates:
    """Each known step of the campaign sorted by what the catalog and the queue say."""

    measured: dict[int, RunRecord] = field(default_factory=dict)
    pending: set[int] = field(default_factory=set)
    failed: set[int] = field(default_factory=set)
    unsent: set[int] = field(default_factory=set)

    @property
    def last(self) -> int:
        seqs = [*self.measured, *self.pending, *self.failed, *self.unsent]
        return max(seqs) if seqs else -1

    def trailing_failures(self) -> int:
        """Failed steps after the last measured one."""
        last_good = max(self.measured, default=-1)
        return sum(1 for s in self.failed if s > last_good)


def classify(records: list[RunRecord], reports: set[int], snap: QueueSnapshot) -> StepStates:
    """Sort the steps of one agent's campaign (see the module docstring's table)."""
    states = StepStates()
    runs: dict[int, list[RunRecord]] = {}
    for r in records:
        if r.plan_name in MEASURING_PLANS and r.seq is not None:
            runs.setdefault(r.seq, []).append(r)
    seqs = set(reports) | set(runs) | snap.queued | set(snap.history)
    if snap.running is not None:
        seqs.add(snap.running)
    for seq in sorted(seqs):
        mine = runs.get(seq, [])
        good = [r for r in mine if r.succeeded]
        history = snap.history.get(seq, [])
        if good:
            states.measured[seq] = good[0]
        elif seq in snap.queued or seq == snap.running:
            states.pending.add(seq)
        elif any(r.exit_status is not None for r in mine):
            states.failed.add(seq)
        elif "completed" in history:
            states.pending.add(seq)  # the catalog has not got the stop document yet
        elif history or mine:
            states.failed.add(seq)
        else:
            states.unsent.add(seq)
    return states


def candidates_from_config(config: RunnerConfig, client=None) -> CandidateSet:
    """The candidate set: a square grid, or every pixel of an overview run in the catalog."""
    c = config.candidates
    if "overview" not in c:
        p = int(c["pixels"])
        size = float(c["width"]) / p
        origin = (float(c["center_x"]) - float(c["width"]) / 2,
                  float(c["center_y"]) - float(c["width"]) / 2)  # fmt: skip
        return CandidateSet.from_image(np.zeros((p, p)), pixel_size=size, origin=origin)
    uid = str(c["overview"])
    try:
        run = client[uid]
    except KeyError:
        raise ConfigurationError(
            f"{config.source}: overview run {uid} is not in the catalog"
        ) from None
    start = run.metadata["start"]
    channel = c.get("channel", "topography")
    keys = start.get("image_keys") or {}
    if channel not in keys:
        raise ConfigurationError(
            f"{config.source}: overview {uid} has no image channel {channel!r}; "
            f"known: {sorted(keys)}"
        )
    frame = start["frame"]
    if float(frame.get("angle", 0.0)) != 0.0 or frame["width"] / frame["pixels"] != (
        frame["height"] / frame["lines"]
    ):
        raise ConfigurationError(
            f"{config.source}: overview {uid} must be unrotated, square pixels"
        )
    stream = run["primary"]
    lines = np.asarray(stream[keys[channel][0]].read(), dtype=float)
    rows = np.asarray(stream[start["line_key"]].read(), dtype=int)
    image = np.full((frame["lines"], frame["pixels"]), np.nan)
    image[rows] = lines
    size = frame["width"] / frame["pixels"]
    origin = (frame["center_x"] - frame["width"] / 2, frame["center_y"] - frame["height"] / 2)
    return CandidateSet.from_image(image, patch_size=c.get("patch_size"), pixel_size=size,
                                   origin=origin)  # fmt: skip


def agent_from_config(config: RunnerConfig, candidates: CandidateSet, optimizer=None) -> Agent:
    """The agent the config names: a built-in kind, or an optimizer wrapped as an agent."""
    options = dict(config.agent)
    factory = options.pop("optimizer", None)
    common = {"batch_size": config.batch_size, "budget": config.budget, "seed": config.seed}
    if optimizer is None and factory is not None:
        module, _, name = str(factory).partition(":")
        try:
            make = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as exc:
            raise ConfigurationError(f"{config.source}: optimizer {factory!r}: {exc}") from None
        optimizer = make(**options)
    if optimizer is not None:
        return OptimizerAgent(candidates, optimizer, **common)
    kind = options.pop("kind")
    return make_agent(kind, candidates, **common, **options)


class AgentRunner:
    """Run one agent on one campaign until its budget is measured; see the module docstring.

    Parameters
    ----------
    config : RunnerConfig
    client : tiled client of the catalog root (default: ``AUTOSCOPE_CATALOG_URI``)
    queue : InstrumentQueue (default: ``QSERVER_ZMQ_*_ADDRESS``)
    agent : an Agent to use instead of the config's (on the config's candidates)
    optimizer : an object with ``suggest(n)`` / ``ingest(points)`` (bluesky-adaptive
        1.0's ``Optimizer``), wrapped in an :class:`OptimizerAgent`
    subscribe : bool, follow the catalog's websocket besides the catch-up
    """

    def __init__(
        self,
        config: RunnerConfig,
        client=None,
        queue: InstrumentQueue | None = None,
        agent: Agent | None = None,
        optimizer=None,
        subscribe: bool = True,
    ):
        self.config = config
        if client is None:
            from autoscope.catalog.client import open_client

            client = open_client(*config.catalog_address())
        self.client = client
        if queue is None:
            queue = InstrumentQueue(*config.queue_addresses(), manage=config.manage_queue)
        self.queue = queue
        self.candidates = candidates_from_config(config, client)
        self.agent = (
            check_agent(agent)
            if agent is not None
            else agent_from_config(config, self.candidates, optimizer)
        )
        ex = config.experiment
        self.experiment = SpectraExperiment(
            ex.get("scalarizer", "loop_area"),
            channel=ex.get("channel", "piezoresponse"),
            device=config.device,
        )
        self.lease = Lease(client, config.campaign, config.name, config.lease_ttl)
        self.subscribe = subscribe
        self.ingested: dict[int, str] = {}  # seq -> run uid: a cache the catalog rebuilds
        self._observed: list[tuple[int, int, float]] = []  # (seq, index, value)
        self._reported: set[int] = set()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._subscription = None
        self._thread: threading.Thread | None = None
        self.updates = 0  # subscription updates received

    # ------------------------------------------------------------ subscription

    def _on_update(self, update) -> None:
        """Subscription callback (held weakly by tiled, exceptions swallowed there): wake up."""
        try:
            self.updates += 1
            self._wake.set()
        except Exception:  # pragma: no cover - tiled would swallow it silently
            log.exception("subscription callback failed; the catch-up will find the run")

    def _follow(self) -> None:
        delay = 1.0
        while not self._stop.is_set():
            try:
                sub = self.client.subscribe()
                sub.child_created.add_callback(self._on_update)
                sub.child_metadata_updated.add_callback(self._on_update)
                self._subscription = sub
                log.info("following the catalog's websocket")
                sub.start()  # blocks until the stream ends or breaks
                delay = 1.0
            except Exception as exc:  # noqa: BLE001 - the catch-up covers a lost stream
                log.info("catalog subscription lost (%s: %s); catching up by polling",
                         type(exc).__name__, exc)  # fmt: skip
            finally:
                self._subscription = None
            self._wake.set()
            self._stop.wait(delay)
            delay = min(delay * 2, 30.0)

    # -------------------------------------------------------------------- loop

    def run(self) -> dict:
        """Hold the campaign, run it to its budget, release it; the summary."""
        cfg = self.config
        self.lease.acquire()
        log.info("agent %s holds campaign %s (lease %d)", cfg.name, cfg.campaign, self.lease.epoch)
        if self.subscribe:
            self._thread = threading.Thread(target=self._follow, name="catalog-follow", daemon=True)
            self._thread.start()
        try:
            while True:
                try:
                    if self.step():
                        break
                except AgentServiceError:
                    raise
                except Exception as exc:  # noqa: BLE001 - catalog or queue away: retry
                    log.warning("catalog or queue unavailable (%s: %s); retrying",
                                type(exc).__name__, exc)  # fmt: skip
                self._wake.wait(cfg.poll_interval)
                self._wake.clear()
        finally:
            self.close()
        summary = {
            "campaign": cfg.campaign,
            "agent": cfg.name,
            "measured": self.agent.n_measured,
            "runs": dict(sorted(self.ingested.items())),
            "subscription_updates": self.updates,
        }
        log.info("campaign %s done: %d measured", cfg.campaign, self.agent.n_measured)
        return summary

    def close(self) -> None:
        self._stop.set()
        sub = self._subscription
        if sub is not None:
            try:
                sub.disconnect()
            except Exception:  # noqa: BLE001 - closing a broken stream
                pass
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.lease.release()

    def step(self) -> bool:
        """One pass: read catalog and queue, ingest, then queue what is due. True when done."""
        cfg = self.config
        self.lease.renew()
        snap = self.queue.snapshot(cfg.campaign, cfg.name)  # before the catalog: see queue.py
        records = campaign_records(self.client, cfg.campaign, agent=cfg.name)
        reports = {r.seq for r in records if r.plan_name == "agent_report" and r.seq is not None}
        states = classify(records, reports, snap)
        self._reported |= reports
        for seq in sorted(states.measured):
            if seq not in self.ingested:
                self._ingest(seq, states.measured[seq])
        if states.trailing_failures() >= cfg.max_failures:
            raise AgentServiceError(
                f"the last {states.trailing_failures()} plans of campaign {cfg.campaign!r} "
                f"failed (steps {sorted(states.failed)[-cfg.max_failures :]}); "
                "see the queue history"
            )
        if not snap.status.get("worker_environment_exists") or states.pending:
            self.queue.keep_going(snap)  # with manage_queue: open the environment, start the queue
            return False
        if states.unsent:
            seq = min(states.unsent)
            chosen = read_chosen(self.client, report_uid(cfg.campaign, cfg.name, seq))
            if chosen is None:  # its report is incomplete: decide that step again
                self._decide_and_queue(seq)
            else:
                self._queue(seq, chosen)
            return False
        if self.agent.n_measured >= cfg.budget:
            return True
        self._decide_and_queue(states.last + 1)
        return False

    def _ingest(self, seq: int, rec: RunRecord) -> None:
        m = self.experiment.unpack_run(self.client[rec.uid])
        idx = self.candidates.nearest(np.atleast_2d(m.requested)) if len(m.values) else []
        if len(m.values):
            self.agent.ingest_indices(np.asarray(idx), m.values)
        self._observed += [(seq, int(i), float(v)) for i, v in zip(idx, m.values)]
        self.ingested[seq] = rec.uid
        log.info("step %d ingested: run %s, %d spectra", seq, rec.uid[:8], len(m.values))

    def _decide_and_queue(self, seq: int) -> None:
        cfg = self.config
        n = min(cfg.batch_size, cfg.budget - self.agent.n_measured)
        decision = decide(self.agent, n, seq)
        done = max(self._reported, default=-1)
        observed = [(i, v) for s, i, v in self._observed if s >= done]
        values = report_values(decision_report(self.agent, decision), cfg.batch_size, observed)
        md = {
            **report_metadata(self.agent, self.experiment),
            "agent_kind": report_metadata(self.agent)["agent"],
            "agent": cfg.name,
            "agent_seq": seq,
            "campaign": cfg.campaign,
            "campaign_step": seq,
            "campaign_budget": cfg.budget,
        }
        uid = report_uid(cfg.campaign, cfg.name, seq)
        c = self.candidates
        write_report(self.client, uid, md, values, c.shape, cfg.batch_size, c.units)
        self._reported.add(seq)
        if decision.error:
            log.warning("step %d: %s; measuring the fallback points", seq, decision.error)
        self._queue(seq, [int(i) for i in decision.indices])

    def _queue(self, seq: int, chosen: list[int]) -> None:
        cfg = self.config
        self.lease.check()  # never queue on a campaign another runner took over
        positions = [[float(x), float(y)] for x, y in self.candidates.positions[chosen]]
        md = {
            "agent": cfg.name,
            "agent_seq": seq,
            "campaign": cfg.campaign,
            "campaign_step": seq,
            "agent_report": report_uid(cfg.campaign, cfg.name, seq),
        }
        item = self.queue.add(PLAN, [cfg.device, positions], {**cfg.plan, "md": md})
        log.info("step %d queued: %s at %s (item %s)", seq, PLAN, positions, item[:8])
        self._wake.set()
