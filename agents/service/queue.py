"""The instrument's queue as the runner sees it, through bluesky-queueserver-api.

:meth:`InstrumentQueue.snapshot` reads what the RE Manager holds of one
agent's campaign: the items queued and running (one ``queue_get``, so an item
is never seen in neither place while it moves) and then the history's
results, each by the ``agent_seq`` in the item's ``md``. Read in that order,
an item missing from both the queue and the history was never added.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

__all__ = ["InstrumentQueue", "QueueSnapshot"]

log = logging.getLogger(__name__)


@dataclass
class QueueSnapshot:
    """One agent's items in the RE Manager, by ``agent_seq``."""

    queued: set[int] = field(default_factory=set)
    running: int | None = None
    history: dict[int, list[str]] = field(default_factory=dict)  # seq -> exit statuses
    status: dict = field(default_factory=dict)


def _seq_of(item: dict | None, campaign: str, agent: str) -> int | None:
    if not item:
        return None
    md = (item.get("kwargs") or {}).get("md") or {}
    if md.get("agent") != agent or md.get("campaign") != campaign:
        return None
    try:
        return int(md["agent_seq"])
    except (KeyError, TypeError, ValueError):
        return None


class InstrumentQueue:
    """An RE Manager: what one agent has in it, adding a plan, keeping the queue going.

    Parameters
    ----------
    control, info : str
        0MQ addresses of the RE Manager (``tcp://host:60615``, ``tcp://host:60625``).
    manage : bool
        Open the worker environment when it is closed and start the queue when
        the agent's items wait in a stopped queue (a facility that leaves both
        to its operators sets this False).
    """

    def __init__(self, control: str, info: str, manage: bool = True, timeout: float = 10.0):
        from bluesky_queueserver_api.zmq import REManagerAPI

        self.api = REManagerAPI(zmq_control_addr=control, zmq_info_addr=info, timeout_recv=timeout)
        self.manage = manage

    def snapshot(self, campaign: str, agent: str) -> QueueSnapshot:
        """The agent's items: queued, running, and the results of those that ran."""
        status = self.api.status()
        q = self.api.queue_get()
        snap = QueueSnapshot(status=status)
        for item in q.get("items", []):
            seq = _seq_of(item, campaign, agent)
            if seq is not None:
                snap.queued.add(seq)
        snap.running = _seq_of(q.get("running_item"), campaign, agent)
        for item in self.api.history_get().get("items", []):
            seq = _seq_of(item, campaign, agent)
            if seq is not None:
                result = item.get("result") or {}
                snap.history.setdefault(seq, []).append(str(result.get("exit_status", "")))
        return snap

    def add(self, plan: str, args: list, kwargs: dict) -> str:
        """Add one plan at the back of the queue; its item uid."""
        from bluesky_queueserver_api import BPlan

        reply = self.api.item_add(BPlan(plan, *args, **kwargs))
        if not reply.get("success", False):
            raise RuntimeError(f"the RE Manager refused {plan}: {reply.get('msg')}")
        return reply["item"]["item_uid"]

    def keep_going(self, snap: QueueSnapshot) -> None:
        """With ``manage``: open the environment if closed; start the queue if our items wait."""
        if not self.manage:
            return
        status = snap.status
        if status.get("manager_state") != "idle":
            return
        if not status.get("worker_environment_exists"):
            log.info("opening the RE Manager's worker environment")
            self.api.environment_open()
            return
        if snap.queued and status.get("items_in_queue", 0) > 0:
            log.info("starting the queue (%d items)", status.get("items_in_queue", 0))
            self.api.queue_start()

    def close(self) -> None:
        self.api.close()
