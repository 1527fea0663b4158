"""A RunEngine callback that writes documents to Tiled without holding the scan back.

Every scan line is an event, and a plain write of one event to Tiled (an
HTTP round trip per array plus one per table row) takes tens of milliseconds,
more than a line may wait. :class:`CatalogWriter` therefore hands each
document to a background thread through a FIFO queue and returns at once;
the thread feeds the documents, in order, to
``bluesky_tiled_plugins.TiledWriter`` with ``batch_size=1``, so each line is
in the catalog as soon as the thread reaches it (a half-finished image is
readable), not when the run ends.

Guarantees:

- Order: one thread, one queue; documents reach TiledWriter in the order the
  RunEngine emitted them.
- A run is complete in Tiled when the RunEngine has processed its stop
  document: the callback waits for the queue to drain on ``stop`` (the one
  place where it blocks), up to ``stop_timeout`` seconds.
- Errors are not swallowed: a failed write is logged, and raised as
  :class:`~autoscope.errors.CatalogError` by the next call (after that
  document is queued; the RunEngine then ends the plan), by
  :meth:`CatalogWriter.flush` or at the stop document. The failed run's
  documents, the ones already sent and all that follow, including its stop
  document, are kept as JSON lines in
  ``failed/<uid>.jsonl`` of the data folder, so nothing is lost.
- Arrays in event data are copied when the callback is called, so a device
  that reuses its buffer for the next line cannot change a queued line.
"""

from __future__ import annotations

import atexit
import copy
import json
import logging
import queue
import threading
import time
import weakref
from collections import deque
from pathlib import Path

import numpy as np

from autoscope.catalog import paths
from autoscope.catalog.client import connect
from autoscope.errors import CatalogError

logger = logging.getLogger(__name__)

_EVENT_NAMES = frozenset({"event", "event_page"})


def _snapshot(name: str, doc: dict) -> dict:
    """Copy a document so that later changes by its producer cannot reach the queue."""
    if name in _EVENT_NAMES:
        out = dict(doc)
        out["data"] = {
            k: (v.copy() if isinstance(v, np.ndarray) else copy.copy(v))
            for k, v in doc["data"].items()
        }
        out["timestamps"] = dict(doc["timestamps"])
        if "filled" in doc:
            out["filled"] = dict(doc["filled"])
        return out
    return copy.deepcopy(doc)


def _json_default(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


class CatalogWriter:
    """RunEngine callback writing documents to Tiled through a background thread.

    Parameters
    ----------
    client : tiled.client.container.Container
        Writable Tiled client of the catalog root.
    failed_dir : str or path-like
        Where the documents of a run that could not be written are kept
        (``<uid>.jsonl``, one ``[name, doc]`` pair per line).
    stop_timeout : float or None
        Seconds a stop document may wait for the run's earlier documents to
        be written; None waits without limit, 0 does not wait.
    backlog_warning : int
        Log a warning (once until the queue drains) when this many documents
        wait: the catalog is slower than the scan and lags behind it.
    keep_limit_mb : float
        Memory for keeping the open run's written documents (for the failed/
        file). Events beyond it are not kept in memory; should the run fail
        later, they are in the catalog already and the error says how many
        the file lacks.
    **tiled_writer_kwargs
        Passed to ``bluesky_tiled_plugins.TiledWriter`` (``batch_size``
        defaults to 1: every event is written as soon as it is reached).

    Examples
    --------
    >>> writer = CatalogWriter(client, failed_dir=folder / "failed")  # doctest: +SKIP
    >>> RE.subscribe(writer)  # doctest: +SKIP
    """

    def __init__(
        self,
        client,
        *,
        failed_dir,
        stop_timeout: float | None = 120.0,
        backlog_warning: int = 500,
        keep_limit_mb: float = 256.0,
        **tiled_writer_kwargs,
    ):
        from bluesky_tiled_plugins import TiledWriter

        tiled_writer_kwargs.setdefault("batch_size", 1)
        # TiledWriter keeps arrays of <= 16 elements in the events table, which
        # Tiled's SQL table storage cannot hold as lists: a 16-pixel line or a
        # 10-point spectrum came back as strings. Every array goes to array storage.
        tiled_writer_kwargs.setdefault("max_array_size", 0)
        self._tiled_writer = TiledWriter(client, **tiled_writer_kwargs)
        self.failed_dir = Path(failed_dir)
        self.stop_timeout = stop_timeout
        self.backlog_warning = backlog_warning
        self._warned_backlog = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._submitted = 0
        self._done = 0
        self._errors: deque[CatalogError] = deque()
        self._closed = False
        # Worker-thread state: which run each document belongs to, the documents
        # of each open run (kept until its stop is written, for the failed/ file),
        # and the runs whose writing failed.
        self._run_of: dict[str, str] = {}
        self._open_runs: dict[str, list[tuple[str, dict]]] = {}
        self._open_bytes: dict[str, int] = {}
        self._not_kept: dict[str, int] = {}
        self._keep_limit = int(keep_limit_mb * 2**20)
        self._failed_runs: dict[str, Path] = {}
        self._latencies: deque[float] = deque(maxlen=1_000_000)
        self._thread = threading.Thread(
            target=self._work, name="autoscope-catalog-writer", daemon=True
        )
        self._thread.start()
        ref = weakref.ref(self)
        self._atexit = lambda: (
            (w := ref()) is not None and w.close(timeout=60.0, raise_errors=False)
        )
        atexit.register(self._atexit)

    # ---- the RunEngine side -------------------------------------------------

    def __call__(self, name: str, doc: dict) -> None:
        """Queue one document; on ``stop``, wait until the run is written.

        The document is always queued (or, for a failed run, kept on disk)
        before an error of an earlier write is raised, so none is lost.
        """
        if self._closed:
            raise CatalogError("the catalog writer is closed; make a new one with make_writer()")
        item = (name, _snapshot(name, doc), time.perf_counter())
        with self._cond:
            self._submitted += 1
            backlog = self._submitted - self._done
        self._queue.put(item)
        if backlog >= self.backlog_warning and not self._warned_backlog:
            self._warned_backlog = True
            logger.warning(
                "catalog writer: %d documents wait to be written; the catalog lags behind "
                "the scan (data is kept in order and written when it catches up)",
                backlog,
            )
        elif backlog <= 1:
            self._warned_backlog = False
        if name == "stop" and self.stop_timeout != 0:
            self.flush(self.stop_timeout)
        else:
            self._raise_pending()

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every document queued so far is written (or failed).

        Raises
        ------
        CatalogError
            If a write failed, or the queue did not drain within ``timeout`` s.
        """
        with self._cond:
            target = self._submitted
            ok = self._cond.wait_for(lambda: self._done >= target, timeout=timeout)
            left = target - self._done
        if not ok:
            raise CatalogError(
                f"the catalog writer still has {left} documents to write after {timeout:g} s; "
                "is the Tiled server overloaded or gone?"
            )
        self._raise_pending()

    @property
    def pending(self) -> int:
        """Number of documents queued and not yet written."""
        with self._cond:
            return self._submitted - self._done

    def latencies(self) -> list[float]:
        """Seconds from the callback call to the end of the write, per event written."""
        return list(self._latencies)

    def close(self, timeout: float | None = 120.0, raise_errors: bool = True) -> None:
        """Write what is queued, then stop the thread. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._atexit)
        try:
            with self._cond:
                target = self._submitted
                self._cond.wait_for(lambda: self._done >= target, timeout=timeout)
        finally:
            self._queue.put(None)
            self._thread.join(timeout=5.0)
        if raise_errors:
            self._raise_pending()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close(raise_errors=exc[0] is None)

    def _raise_pending(self) -> None:
        with self._cond:
            if not self._errors:
                return
            first = self._errors.popleft()
            self._errors.clear()
        raise first

    # ---- the worker thread --------------------------------------------------

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            name, doc, t_submit = item
            try:
                self._write(name, doc)
            except Exception:  # never let the thread die; _write records errors
                logger.exception("catalog writer: unexpected error on a %s document", name)
            finally:
                if name in _EVENT_NAMES:
                    self._latencies.append(time.perf_counter() - t_submit)
                with self._cond:
                    self._done += 1
                    self._cond.notify_all()

    def _run_uid(self, name: str, doc: dict) -> str | None:
        if name == "start":
            uid = doc["uid"]
        elif name in ("descriptor", "stop", "resource", "stream_resource"):
            uid = doc.get("run_start")
        elif name in ("event", "event_page", "stream_datum"):
            uid = self._run_of.get(doc.get("descriptor"))
        elif name in ("datum", "datum_page"):
            uid = self._run_of.get(doc.get("resource"))
        else:
            uid = None
        if uid is not None and name in ("descriptor", "resource", "stream_resource"):
            self._run_of[doc["uid"]] = uid
        return uid

    def _write(self, name: str, doc: dict) -> None:
        uid = self._run_uid(name, doc)
        if uid in self._failed_runs:
            self._append_failed(self._failed_runs[uid], [(name, doc)])
            if name == "stop":
                self._forget(uid)
            return
        kept = uid is not None and self._keep(uid, name, doc)
        try:
            self._tiled_writer(name, doc)
        except Exception as exc:
            self._fail(uid, name, exc, None if kept else doc)
        if name == "stop":
            self._forget(uid)

    def _keep(self, uid: str, name: str, doc: dict) -> bool:
        """Keep ``doc`` in memory for the failed/ file; events only within the limit."""
        if name in _EVENT_NAMES:
            size = 256 + sum(getattr(v, "nbytes", 8) for v in doc["data"].values())
            if self._open_bytes.get(uid, 0) + size > self._keep_limit:
                self._not_kept[uid] = self._not_kept.get(uid, 0) + 1
                return False
            self._open_bytes[uid] = self._open_bytes.get(uid, 0) + size
        self._open_runs.setdefault(uid, []).append((name, doc))
        return True

    def _fail(self, uid: str | None, name: str, exc: Exception, unkept: dict | None) -> None:
        docs = self._open_runs.pop(uid, [])
        if unkept is not None:
            docs.append((name, unkept))
        path = self.failed_dir / f"{uid or 'unknown'}.jsonl"
        where = f"; its documents are kept in {path}"
        if self._not_kept.get(uid):
            where += f" (less {self._not_kept[uid]} events written to the catalog before)"
        try:
            self._append_failed(path, docs)
        except OSError as write_exc:
            where = f"; keeping its documents in {path} failed too ({write_exc.strerror})"
        if uid is not None:
            self._failed_runs[uid] = path
        message = " ".join(str(exc).split())[:300]
        error = CatalogError(
            f"writing the {name} document of run {uid} to the catalog failed "
            f"({type(exc).__name__}: {message}){where}"
        )
        logger.error("%s", error)
        logger.debug("catalog writer: traceback of the failed write", exc_info=exc)
        with self._cond:
            self._errors.append(error)

    def _append_failed(self, path: Path, docs: list[tuple[str, dict]]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as f:
            f.writelines(
                json.dumps([name, doc], default=_json_default) + "\n" for name, doc in docs
            )

    def _forget(self, uid: str | None) -> None:
        self._open_runs.pop(uid, None)
        self._open_bytes.pop(uid, None)
        self._not_kept.pop(uid, None)
        self._failed_runs.pop(uid, None)
        for key in [k for k, v in self._run_of.items() if v == uid]:
            del self._run_of[key]


def make_writer(client=None, *, data_dir=None, **kwargs) -> CatalogWriter:
    """Return a :class:`CatalogWriter` for ``client`` (default: the embedded catalog).

    Parameters
    ----------
    client : tiled client, optional
        Writable client of the catalog root; default :func:`autoscope.catalog.connect`.
    data_dir : str or path-like, optional
        Data folder; its ``failed/`` subfolder keeps runs that could not be written.
    **kwargs
        Passed to :class:`CatalogWriter` (``stop_timeout``, TiledWriter options).
    """

    if client is None:
        client = connect(data_dir=data_dir)
    kwargs.setdefault("failed_dir", paths.data_dir(data_dir) / paths.FAILED_DIR)
    return CatalogWriter(client, **kwargs)
