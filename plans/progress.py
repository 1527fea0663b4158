"""Progress of a long plan: a bar on a terminal, a log line every few percent elsewhere.

A tqdm bar redraws itself with ``\\r`` several times a second. On a terminal
that is what a person wants; in the queue server's RE Manager log (stderr is
a pipe or a file) every redraw becomes a fragment of a line. So
:func:`progress_bar` gives a tqdm bar only when the stream is a terminal, and
otherwise writes one ``INFO`` log line each time another ``every`` share of
the total is done (and at the end).
"""

from __future__ import annotations

import logging
import sys

from autoscope.errors import ConfigurationError

__all__ = ["LogProgress", "progress_bar"]


class LogProgress:
    """tqdm's ``update``, ``set_postfix_str`` and ``close`` as a log line every ``every``.

    Parameters
    ----------
    total : int
        What 100 % is.
    initial : int
        Done already.
    unit, desc : str
        As tqdm's.
    every : float
        Share of the total between two log lines (0.05: every 5 %).
    logger : logging.Logger
        Where the lines go (level INFO).
    """

    def __init__(self, total: int, initial: int = 0, unit: str = "it", desc: str = "",
                 every: float = 0.05, logger: logging.Logger | None = None):  # fmt: skip
        if not 0.0 < every <= 1.0:
            raise ConfigurationError(f"every {every!r} must be a share between 0 and 1")
        self.total, self.n, self.unit, self.desc = int(total), int(initial), unit, desc
        self.every = float(every)
        self.log = logger or logging.getLogger(__name__)
        self.postfix = ""
        self.lines = 0
        self._next = self._step_after(self.n)
        self._closed = False
        self._due: int | None = None  # the count of a line not yet written

    def _step_after(self, n: int) -> int:
        """The smallest count past ``n`` that completes another ``every`` share."""
        if self.total <= 0:
            return 1
        k = int(n / self.total / self.every + 1e-9) + 1
        return max(n + 1, int(round(k * self.every * self.total)))

    def _emit(self, n: int | None = None) -> None:
        n = self.n if n is None else n
        share = n / self.total if self.total > 0 else 1.0
        extra = f", {self.postfix}" if self.postfix else ""
        self.log.info("%s: %d/%d %s (%.0f %%)%s", self.desc or "progress", n, self.total,
                      self.unit, 100 * share, extra)  # fmt: skip
        self.lines += 1

    def _flush(self) -> None:
        if self._due is not None:
            n, self._due = self._due, None
            self._emit(n)

    def update(self, n: int = 1) -> None:
        """Count ``n`` more; a line is due when another share is done.

        The line is written at the next call (a caller that sets the postfix after
        each update, as the campaign does, gets it with its figures).
        """
        self._flush()
        self.n += int(n)
        if self.n >= self._next and self.n < self.total:
            self._next = self._step_after(self.n)
            self._due = self.n

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        self.postfix = str(s)
        self._flush()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._flush()
            if self.n >= self.total or self.lines:
                self._emit()


def progress_bar(total: int, initial: int = 0, unit: str = "it", desc: str = "",
                 enabled: bool = True, stream=None, every: float = 0.05,
                 logger: logging.Logger | None = None):  # fmt: skip
    """A tqdm bar on a terminal, else a :class:`LogProgress`; ``enabled=False``: neither.

    Parameters
    ----------
    stream : file, optional
        Where a bar would be drawn (default ``sys.stderr``); a bar only if it is a terminal.
    every, logger
        As :class:`LogProgress`.
    """
    stream = sys.stderr if stream is None else stream
    if enabled and getattr(stream, "isatty", lambda: False)():
        from tqdm.auto import tqdm  # here: only a terminal needs it

        return tqdm(total=total, initial=initial, unit=unit, desc=desc, file=stream)
    if not enabled:
        return _NoProgress()
    return LogProgress(total, initial, unit, desc, every=every, logger=logger)


class _NoProgress:
    """What ``progress_bar(enabled=False)`` returns: the bar's methods, doing nothing.

    (A disabled logger would not do: ``logging.config.dictConfig`` enables existing
    loggers again.)
    """

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass
