"""One-line summaries of the runs in a catalog (what ``autoscope catalog ls`` prints)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class RunSummary:
    """What ``autoscope catalog ls`` shows of one run.

    Attributes
    ----------
    uid : str
        Full run uid.
    plan_name : str
        ``start["plan_name"]`` or ``"-"``.
    start_time : float
        ``start["time"]`` (Unix seconds).
    exit_status : str
        ``stop["exit_status"]``, ``"running"`` while the run has no stop document,
        or ``"pending"`` while its documents wait in the local spool to be
        written (the catalog was slow or down).
    events : dict
        Number of events per stream name.
    """

    uid: str
    plan_name: str
    start_time: float
    exit_status: str
    events: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        """The row printed by ``autoscope catalog ls``."""
        when = dt.datetime.fromtimestamp(self.start_time).strftime("%Y-%m-%d %H:%M:%S")
        events = " ".join(f"{k}={v}" for k, v in sorted(self.events.items())) or "-"
        return f"{self.uid[:8]}  {self.plan_name:<24} {when}  {self.exit_status:<8} {events}"


HEADER = f"{'uid':<8}  {'plan':<24} {'start':<19}  {'exit':<8} events per stream"


def summarize(run) -> RunSummary:
    """Summarise one BlueskyRun client (reads metadata; counts events only for open runs)."""
    md = run.metadata
    start = md.get("start", {})
    stop = md.get("stop") or None
    if stop is not None:
        events = {k: int(v) for k, v in (stop.get("num_events") or {}).items()}
        status = str(stop.get("exit_status", "-"))
    else:
        events = {}
        for name in run:
            stream = run[name]
            events[name] = len(stream["seq_num"].read()) if "seq_num" in stream else 0
        status = "running"
    return RunSummary(
        uid=str(start.get("uid", "")),
        plan_name=str(start.get("plan_name", "-")),
        start_time=float(start.get("time", 0.0)),
        exit_status=status,
        events=events,
    )


def latest_runs(client, limit: int = 20, spool_dir=None) -> list[RunSummary]:
    """Summaries of the ``limit`` most recently written runs, oldest first.

    Runs with a file in ``spool_dir`` (the data folder's ``spool/``) are
    ``pending``, whether the catalog holds a partial copy or none yet.
    """
    from autoscope.catalog import spool

    if limit <= 0:
        items = list(client.items())
    else:
        # Tiled slices from the end only backwards: newest first, limit of them.
        items = list(client.items()[-1 : -limit - 1 : -1])
    runs = {key: summarize(run) for key, run in items}
    pending = spool.pending_starts(spool_dir) if spool_dir is not None else {}
    for uid, start in pending.items():
        if uid in runs:
            runs[uid] = replace(runs[uid], exit_status="pending")
        else:
            runs[uid] = RunSummary(
                uid=uid,
                plan_name=str(start.get("plan_name", "-")),
                start_time=float(start.get("time", 0.0)),
                exit_status="pending",
            )
    ordered = sorted(runs.values(), key=lambda r: r.start_time)
    return ordered[-limit:] if limit > 0 else ordered
