"""The runner's reports in the catalog under deterministic uids: a restart never duplicates one.

The report of campaign step ``seq`` is an ``agent_report`` run (stream
``"agent"``, the data keys of :mod:`autoscope.agents.reporting`) whose uid is
``uuid5(campaign / agent / seq)``. Before writing, the runner looks the uid
up: a complete report (it has a stop document) is left as it is; one that a
crash cut short (start without stop) is removed and written again.
"""

from __future__ import annotations

import logging
import time
import uuid

import numpy as np
from event_model import compose_run

from autoscope.agents.reporting import REPORT_STREAM, data_keys

__all__ = ["read_chosen", "report_uid", "write_report"]

log = logging.getLogger(__name__)

_NAMESPACE = uuid.UUID("6f1d8a52-3c1e-5b7a-9d4e-2a7c0b9e51f3")


def report_uid(campaign: str, agent: str, seq: int) -> str:
    """The uid of the report of step ``seq`` of ``agent`` on ``campaign``."""
    return str(uuid.uuid5(_NAMESPACE, f"{campaign}/{agent}/{int(seq)}"))


def _existing(client, uid: str):
    try:
        return client[uid]
    except KeyError:
        return None


def write_report(client, uid: str, md: dict, values: dict, shape, q: int, units: str) -> bool:
    """Write the report run ``uid`` unless a complete one is there; True if written now."""
    from bluesky_tiled_plugins import TiledWriter

    node = _existing(client, uid)
    if node is not None:
        if node.metadata.get("stop"):
            return False
        log.info("report %s was cut short by a crash; writing it again", uid)
        node.delete(recursive=True, external_only=False)
    writer = TiledWriter(client, max_array_size=0)
    bundle = compose_run(uid=uid, metadata=md)
    writer("start", bundle.start_doc)
    desc = bundle.compose_descriptor(data_keys=data_keys(shape, q, units), name=REPORT_STREAM)
    writer("descriptor", desc.descriptor_doc)
    now = time.time()
    writer("event", desc.compose_event(data=values, timestamps={k: now for k in values}))
    writer("stop", bundle.compose_stop(exit_status="success"))
    return True


def read_chosen(client, uid: str) -> list[int] | None:
    """The candidate indices report ``uid`` chose (None if there is no complete report)."""
    node = _existing(client, uid)
    if node is None or not node.metadata.get("stop"):
        return None
    chosen = np.asarray(node[REPORT_STREAM]["agent_chosen"].read()).reshape(-1)
    return [int(i) for i in chosen if i >= 0]
