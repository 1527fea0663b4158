"""One runner per campaign: a lease kept in the catalog, so it holds across machines.

A lease is a container ``<campaign>.<epoch>`` (epoch zero-padded) under the
catalog's agent-leases node (:data:`LEASES`); its metadata names the holder
(agent name, host, pid) and its last heartbeat. Creating a node whose key
exists fails on the server, so of two runners that race for the same epoch
exactly one gets it.

A runner starting on a campaign reads the newest epoch:

- none, or its holder is gone (same host and its pid no longer runs; or its
  heartbeat is older than the lease's time to live) -> it creates the next
  epoch and holds the campaign;
- else it refuses, saying who holds the campaign and since when.

While it runs it renews the heartbeat and checks that its epoch is still the
newest before it queues anything (a runner that lost its lease stops).
The leases hold no campaign state: removing them loses nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid

from autoscope.catalog.paths import process_exists
from autoscope.errors import AgentServiceError

__all__ = ["LEASES", "Lease"]

log = logging.getLogger(__name__)

LEASES = str(uuid.uuid5(uuid.NAMESPACE_URL, "autoscope:agent-leases"))
"""Key of the catalog node that holds the leases: a uid-shaped key, because the catalog
root's client (``CatalogOfBlueskyRuns``) looks any other key up as a partial run uid."""
PURPOSE = "autoscope agent leases"


class Lease:
    """The lease of ``campaign`` for the runner of agent ``agent``; see the module docstring."""

    def __init__(self, client, campaign: str, agent: str, ttl: float = 60.0):
        self.client = client
        self.campaign = campaign
        self.agent = agent
        self.ttl = float(ttl)
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.epoch: int | None = None
        self._last_beat = 0.0

    # ------------------------------------------------------------------ nodes

    def _parent(self):
        try:
            return self.client[LEASES]
        except KeyError:
            pass
        try:
            return self.client.create_container(key=LEASES, metadata={"purpose": PURPOSE})
        except Exception:  # noqa: BLE001 - another runner created it first
            return self.client[LEASES]

    def _newest(self, parent):
        prefix = f"{self.campaign}."
        epochs = sorted(
            int(k[len(prefix) :])
            for k in parent.keys()
            if k.startswith(prefix) and k[len(prefix) :].isdigit()
        )
        if not epochs:
            return None, None
        return epochs[-1], parent[f"{prefix}{epochs[-1]:06d}"]

    def _holder(self, md) -> str:
        age = time.time() - float(md.get("heartbeat", 0.0))
        return (
            f"agent {md.get('agent')!r} on {md.get('host')} pid {md.get('pid')} "
            f"(lease {md.get('epoch')}, heartbeat {age:.1f} s ago)"
        )

    def _alive(self, md) -> bool:
        if md.get("host") == self.host and not process_exists(int(md.get("pid", -1))):
            return False
        return time.time() - float(md.get("heartbeat", 0.0)) < self.ttl

    # --------------------------------------------------------------- interface

    def acquire(self) -> int:
        """Hold the campaign; :class:`AgentServiceError` naming the holder if another has it."""
        parent = self._parent()
        epoch, node = self._newest(parent)
        if node is not None:
            md = dict(node.metadata)
            if self._alive(md):
                raise AgentServiceError(
                    f"campaign {self.campaign!r} is already run by {self._holder(md)}; "
                    f"stop that runner first, or start this one {self.ttl:.0f} s after it died"
                )
            log.info("taking over campaign %s from %s", self.campaign, self._holder(md))
        new = 0 if epoch is None else epoch + 1
        now = time.time()
        md = {
            "lease_campaign": self.campaign,
            "epoch": new,
            "agent": self.agent,
            "host": self.host,
            "pid": self.pid,
            "started": now,
            "heartbeat": now,
        }
        try:
            parent.create_container(key=f"{self.campaign}.{new:06d}", metadata=md)
        except Exception as exc:  # noqa: BLE001 - the key exists: another runner was first
            _, node = self._newest(parent)
            other = dict(node.metadata) if node is not None else {}
            if other.get("pid") == self.pid and other.get("host") == self.host:
                raise
            raise AgentServiceError(
                f"campaign {self.campaign!r} was taken by {self._holder(other)} while this "
                f"runner was starting ({type(exc).__name__})"
            ) from None
        self.epoch = new
        self._last_beat = now
        return new

    def renew(self, force: bool = False) -> None:
        """Renew the heartbeat (every third of the time to live); raise if the lease was lost."""
        now = time.time()
        if not force and now - self._last_beat < self.ttl / 3:
            return
        self.check()
        parent = self.client[LEASES]
        parent[f"{self.campaign}.{self.epoch:06d}"].update_metadata({"heartbeat": now})
        self._last_beat = now

    def check(self) -> None:
        """:class:`AgentServiceError` unless this runner's epoch is still the newest."""
        epoch, node = self._newest(self.client[LEASES])
        if epoch != self.epoch:
            md = dict(node.metadata) if node is not None else {}
            raise AgentServiceError(
                f"this runner lost campaign {self.campaign!r} to {self._holder(md)}; stopping"
            )

    def release(self) -> None:
        """Mark the lease free (heartbeat 0), so a successor need not wait."""
        if self.epoch is None:
            return
        try:
            self.check()
            node = self.client[LEASES][f"{self.campaign}.{self.epoch:06d}"]
            node.update_metadata({"heartbeat": 0.0, "released": time.time()})
        except Exception as exc:  # noqa: BLE001 - a lease that cannot be released expires
            log.warning("could not release the lease of %s (%s)", self.campaign, exc)
        self.epoch = None
