"""Ground truth of a twin: what really happened, for tests, benchmarks and labels.

Nothing here ever goes into :class:`~autoscope.devices.backend.LineData` or
:class:`~autoscope.devices.backend.SpectrumData`; an agent must not see it.

The per-line records and the tip history are kept in :class:`TruthLog` ring
buffers: the newest ``maxlen`` records, plus running counters over every
record ever added, so a twin that scans for days keeps a bounded memory.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

import numpy as np

from autoscope.devices.twin.tip import TipEvent, TipState
from autoscope.errors import ConfigurationError

#: Default number of line records kept (about 3 MB): a 2048-line frame fits four times over,
#: and a days-long unattended run stops growing after a few hours.
TRUTH_LINES_MAX = 8192
#: Default number of tip events kept.
TIP_HISTORY_MAX = 10000


@dataclass(frozen=True)
class LineTruth:
    """Truth of one scanned line (global counter ``line``; ``frame_line``: index in the frame)."""

    line: int
    frame_line: int
    t_start: float
    t_end: float
    kind_start: str
    kind_end: str
    changed: bool
    mean_offset: tuple[float, float]  # true - commanded position (nm), averaged over the line


class TruthLog(Sequence):
    """The newest ``maxlen`` records of an append-only log, with running counters.

    Indexing, slicing, ``len`` and iteration see the records still held (oldest
    first), like a list. Absolute positions count every record ever added:
    record number ``n`` (0-based) is held while ``n >= first``; :meth:`since`
    reads by absolute position.

    Parameters
    ----------
    maxlen : int
        Records held (>= 1); older ones are dropped, their counts kept.
    keys : callable, optional
        ``keys(record) -> iterable of hashable``: the counters a record adds 1 to.
    name : str
        Name of the cap in error messages.

    Attributes
    ----------
    total : int
        Records ever added.
    counts : collections.Counter
        Running counts of the keys of every record ever added.
    last_dropped : object or None
        The newest record that was dropped (None while nothing was).
    """

    def __init__(
        self, maxlen: int, keys: Callable[[object], Iterable] | None = None, name: str = "maxlen"
    ) -> None:
        if isinstance(maxlen, bool) or not isinstance(maxlen, (int, np.integer)) or maxlen < 1:
            raise ConfigurationError(f"{name}={maxlen!r} must be an integer >= 1")
        self._d: deque = deque(maxlen=int(maxlen))
        self._keys = keys
        self.total = 0
        self.counts: Counter = Counter()
        self.last_dropped = None

    @property
    def maxlen(self) -> int:
        return self._d.maxlen

    @property
    def first(self) -> int:
        """Absolute position of the oldest record held (``total`` when empty)."""
        return self.total - len(self._d)

    @property
    def dropped(self) -> int:
        """Records dropped so far (their counts are kept)."""
        return self.first

    def append(self, record) -> None:
        """Add a record (dropping the oldest when full) and count its keys."""
        if len(self._d) == self._d.maxlen:
            self.last_dropped = self._d[0]
        self._d.append(record)
        self.total += 1
        if self._keys is not None:
            self.counts.update(self._keys(record))

    def since(self, n: int) -> list:
        """Records from absolute position ``n`` on (``n`` as read from :attr:`total` earlier).

        Raises
        ------
        LookupError
            if some of them were already dropped (raise ``maxlen``).
        """
        n = int(n)
        if n < self.first:
            raise LookupError(
                f"truth records from {n} on were asked for, but only "
                f"{self.first}..{self.total - 1} are held (maxlen {self.maxlen}); raise the cap"
            )
        k = self.total - n
        if k <= 0:
            return []
        return list(islice(reversed(self._d), k))[::-1]

    def __len__(self) -> int:
        return len(self._d)

    def __iter__(self) -> Iterator:
        return iter(self._d)

    def __getitem__(self, i):
        if isinstance(i, slice):
            return list(self._d)[i]
        return self._d[i]

    def __eq__(self, other) -> bool:
        if isinstance(other, (TruthLog, list, tuple)):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"TruthLog({len(self)} held of {self.total}, maxlen {self.maxlen})"


def _line_keys(rec: LineTruth):
    yield ("kind_start", rec.kind_start)
    if rec.changed:
        yield "changed"


def _event_keys(ev: TipEvent):
    yield ("cause", ev.cause)
    yield ("after", ev.after)


class TwinTruth:
    """Ground truth held by a :class:`~autoscope.devices.twin.TwinSPM`.

    Parameters
    ----------
    twin : TwinSPM
    lines_max : int
        Line records held (older ones dropped, counted in :attr:`line_counts`).
    tip_history_max : int
        Tip events held (older ones dropped, counted in :attr:`tip_event_counts`).

    Attributes
    ----------
    tip_state : TipState
        The tip as it is now.
    tip_history : TruthLog of TipEvent
        The newest changes of tip state, in order, with instrument time and the line
        (global counter and index in its frame) and sample where it happened.
    lines : TruthLog of LineTruth
        One record per scanned line, the newest ``lines_max``; ``lines.total``
        counts every line and ``lines.since(n)`` reads from absolute line ``n``
        (the record's ``line`` field is that absolute position).
    faults : list
        ``(time, FaultPlan, where)`` for every fault that fired.
    """

    def __init__(
        self, twin, lines_max: int = TRUTH_LINES_MAX, tip_history_max: int = TIP_HISTORY_MAX
    ) -> None:
        self.twin = twin
        self.lines = TruthLog(lines_max, _line_keys, "truth_lines_max")
        self.tip_history = TruthLog(tip_history_max, _event_keys, "tip_history_max")

    def __repr__(self) -> str:
        return f"TwinTruth(lines={self.lines!r}, tip_history={self.tip_history!r})"

    @property
    def tip_state(self) -> TipState:
        return self.twin._tip

    @property
    def sample(self):
        """The sample object (its ``truth_maps(x, y)`` give the true functional maps)."""
        return self.twin.sample

    @property
    def faults(self) -> list:
        return list(self.twin._faults.fired)

    @property
    def line_counts(self) -> dict:
        """Every line ever scanned: ``total``, ``changed`` (tip changed in it), ``kind_start``."""
        c = self.lines.counts
        return {
            "total": self.lines.total,
            "changed": c["changed"],
            "kind_start": {k[1]: v for k, v in c.items() if isinstance(k, tuple)},
        }

    @property
    def tip_event_counts(self) -> dict:
        """Every tip change ever: ``total``, ``cause`` ({cause: n}), ``after`` ({kind: n})."""
        c = self.tip_history.counts
        return {
            "total": self.tip_history.total,
            "cause": {k[1]: v for k, v in c.items() if k[0] == "cause"},
            "after": {k[1]: v for k, v in c.items() if k[0] == "after"},
        }

    def drift_offset(self, t=None):
        """True drift offset ``(dx, dy)`` (nm) at instrument time ``t`` (default now)."""
        t = self.twin.clock.now() if t is None else t
        return self.twin._drift.offset(t)

    def creep_offset(self, t=None):
        """True creep offset ``(dx, dy)`` (nm) at instrument time ``t`` (default now)."""
        t = self.twin.clock.now() if t is None else t
        return self.twin._creep.offset(t)

    def position_offset(self, t=None) -> tuple[float, float]:
        """True minus reported probe position (nm) at ``t``: drift plus creep (no hysteresis)."""
        dx, dy = self.drift_offset(t)
        cx, cy = self.creep_offset(t)
        return float(dx + cx), float(dy + cy)

    def drift_velocity(self, t=None) -> np.ndarray:
        """Drift velocity (nm/s) at ``t`` (default now)."""
        t = self.twin.clock.now() if t is None else t
        return self.twin._drift.velocity(t)

    def tip_kind_at(self, t: float) -> str:
        """Kind of the tip at instrument time ``t`` (from the history).

        Raises
        ------
        LookupError
            if ``t`` lies before the oldest tip event still held.
        """
        hist = self.tip_history
        dropped = hist.last_dropped
        if dropped is not None and t < dropped.time:
            raise LookupError(
                f"tip kind at t={t} s is no longer known: the tip history holds events from "
                f"{dropped.time} s on (tip_history_max {hist.maxlen})"
            )
        kind = dropped.after if dropped is not None else self.twin._initial_tip_kind
        for ev in hist:
            if ev.time <= t:
                kind = ev.after
        return kind
