"""A RunEngine callback that writes documents to Tiled without holding the scan back.

Every scan line is an event. :class:`CatalogWriter` appends each document to
the run's file in the local durable spool (:mod:`autoscope.catalog.spool`,
microseconds) and hands it to a background thread through a FIFO queue; the
callback then returns. The thread writes to Tiled in batches: it takes every
document waiting in the queue (up to ``max_batch``, waiting up to ``linger``
s for a run's stop) and sends each run's documents of the batch in **one
request** to the catalog server's ``/api/v1/autoscope/documents`` endpoint
(:mod:`autoscope.catalog.ingest`), which applies them in-process through
bluesky-tiled-plugins' run writer, so the layout is TiledWriter's. A short run
(a spectrum) is one request; a raster's queued lines are one request per batch.
A Tiled server without that endpoint (a plain ``tiled serve``) gets the same
batches through Tiled's own routes: one request per array key and one table
append per batch, plus one per node created.
At a slow line rate a batch is one line, written as soon as it is measured
(a half-finished image is readable); when lines come faster than requests, the
batches grow and the catalog keeps up.

Guarantees:

- Order: one thread, one queue; documents reach Tiled in the order the
  RunEngine emitted them.
- Nothing measured is lost: a document is in the spool before the callback
  returns. When Tiled fails or cannot be reached, the RunEngine goes on; the
  writer keeps spooling, retries every ``retry_interval`` s (following the
  embedded server to a new address, see :func:`make_writer`), and once the
  catalog answers it replays each unfinished run from its spool file: the
  partial copy in the catalog is deleted and the run written anew (through the
  endpoint: one request, ``first=0``, which deletes any copy first), so every
  event is in the catalog exactly once, whatever the failed requests did.
  The spool file is removed once the run's stop document is written.
- A spool file left by a process that ended (crash, kill) is replayed by the
  next writer on the folder; a run without a stop document gets one with
  ``exit_status="abort"`` and a reason that says so.
- The stop document waits (up to ``stop_timeout`` s) until its run is in the
  catalog, unless the catalog is unreachable; it never raises for the
  catalog's sake, so every later subscriber gets it, and a run's exit status
  is the plan's own. A run still being written shows as ``pending`` in
  ``autoscope catalog ls``.
- A document the catalog refuses (HTTP 4xx, or one bluesky-tiled-plugins
  cannot store) is not retried: the run's spool file moves to
  ``failed/<uid>.spool``, the partial run in the catalog is closed with a stop
  that says why, and :class:`~autoscope.errors.CatalogError` is raised by
  the next call (except a stop document), by :meth:`CatalogWriter.flush` or
  :meth:`CatalogWriter.close`.
- Arrays in event data are copied when the callback is called, so a device
  that reuses its buffer for the next line cannot change a queued line.
"""

from __future__ import annotations

import atexit
import copy
import logging
import os
import queue
import threading
import time
import uuid
import weakref
from collections import deque
from pathlib import Path

import numpy as np

from autoscope.catalog import ingest, paths, spool
from autoscope.catalog.client import connect, open_client
from autoscope.errors import CatalogError, CatalogResend, CatalogRoutesOnly

logger = logging.getLogger(__name__)

_EVENT_NAMES = frozenset({"event", "event_page"})
# Rows are cached by bluesky-tiled-plugins' run writer until we flush them.
_NO_AUTO_BATCH = 2**62
_REPLAY_ATTEMPTS = 3
# one request of the endpoint carries at most this many bytes of arrays (a long
# run's replay goes in several)
_MAX_REQUEST_BYTES = 32 * 2**20


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


def _transient(exc: BaseException) -> bool:
    """True for failures of the catalog (unreachable, 5xx), False for refused documents."""
    import httpx

    if isinstance(exc, (CatalogError, CatalogResend)):  # nobody answers / server restarted
        return True
    if isinstance(exc, httpx.HTTPStatusError):
        code = exc.response.status_code if exc.response is not None else 500
        return code >= 500 or code in (408, 429)
    if isinstance(exc, RuntimeError) and "client has been closed" in str(exc):
        return True  # httpx: the client was closed under us; a reconnect makes a new one
    return isinstance(exc, (httpx.TransportError, ConnectionError, TimeoutError))


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:300]}"


class _Run:
    """One run as the writer sees it: its spool file, how far Tiled has it, its router."""

    def __init__(self, uid: str):
        self.uid = uid
        self.spool: spool.SpoolFile | None = None
        self.spooled = 0  # records appended to the spool (the next record's index)
        self.sent = 0  # records written to Tiled (confirmed by a flushed batch)
        self.router = None  # RunNormalizer feeding run_writer
        self.run_writer = None
        self.replay = False  # the catalog's copy is uncertain: rewrite from the spool
        self.replay_failures = 0
        self.finished = False  # stop written to Tiled, spool removed
        self.failed: Path | None = None  # refused by the catalog; kept here
        self.streams: dict[str, str] = {}  # descriptor uid -> run uid routing helpers
        self.direct = True  # through the endpoint (False: a structure it does not build)


class CatalogWriter:
    """RunEngine callback writing documents to Tiled in batches, spooled on local disk.

    Parameters
    ----------
    client : tiled.client.container.Container
        Writable Tiled client of the catalog root.
    spool_dir : str or path-like
        The durable spool (``<uid>.spool`` per run not yet in the catalog);
        ``failed/`` beside it keeps runs the catalog refused.
    reconnect : callable, optional
        Returns a fresh client when the catalog failed (default: the same
        address and key as ``client``). :func:`make_writer` passes one that
        follows the embedded server of a data folder to its new address.
    stop_timeout : float or None
        Seconds a stop document may wait for its run to be written to the
        catalog (None: no limit, 0: no wait). It never waits on a catalog found
        unreachable, and never raises.
    retry_interval : float
        Seconds between attempts to reach a failed catalog.
    max_batch : int
        Most documents written in one batch.
    linger : float
        Seconds a batch waits for more documents when its newest one is not a
        stop (so a short run goes in one request; 0: send at once).
    direct : bool or None
        Write through the catalog server's ``autoscope/documents`` endpoint
        (None: when the server has it; False: Tiled's own routes only).
    backlog_warning : int
        Log a warning (once until the queue drains) when this many documents
        wait: the catalog is slower than the scan and lags behind it.
    max_array_size : int
        Arrays with more elements go to array storage (default 0: all of them;
        Tiled's table storage returns short arrays as strings).
    patches, spec_to_mimetype : dict, optional
        Passed to bluesky-tiled-plugins' ``RunNormalizer``.
    failed_dir : str or path-like, optional
        Where refused runs go (default ``spool_dir/../failed``).

    Examples
    --------
    >>> writer = CatalogWriter(client, spool_dir=folder / "spool")  # doctest: +SKIP
    >>> RE.subscribe(writer)  # doctest: +SKIP
    """

    def __init__(
        self,
        client,
        *,
        spool_dir,
        reconnect=None,
        stop_timeout: float | None = 30.0,
        retry_interval: float = 1.0,
        max_batch: int = 1000,
        linger: float = 0.05,
        direct: bool | None = None,
        backlog_warning: int = 500,
        max_array_size: int = 0,
        patches: dict | None = None,
        spec_to_mimetype: dict | None = None,
        failed_dir=None,
    ):
        import bluesky_tiled_plugins.writing.tiled_writer  # noqa: F401 (fail early if missing)

        self.spool_dir = Path(spool_dir)
        self.failed_dir = Path(failed_dir) if failed_dir else self.spool_dir.parent / "failed"
        self.spool_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.stop_timeout = stop_timeout
        self.retry_interval = float(retry_interval)
        self.max_batch = int(max_batch)
        self.linger = float(linger)
        # patches are callables of this process: those runs go through Tiled's routes
        self._direct_wanted = direct is not False and not patches and not spec_to_mimetype
        self._direct = False  # the server has the endpoint (probed by the worker thread)
        self.backlog_warning = backlog_warning
        self._max_array_size = max_array_size
        self._patches = patches
        self._spec_to_mimetype = spec_to_mimetype
        self._client = client.include_data_sources()
        if reconnect is None:
            uri, key = _address(client)
            reconnect = lambda: open_client(uri, key)  # noqa: E731
        self._reconnect = reconnect
        self._warned_backlog = False
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._cond = threading.Condition()
        self._submitted = 0
        self._done = 0
        self._errors: deque[CatalogError] = deque()
        self._closed = False
        self._stop_now = False
        self._down: str | None = None  # why the catalog is unreachable, while it is
        # RunEngine side: open runs by uid, descriptor/resource uid -> run uid
        self._runs: dict[str, _Run] = {}
        self._owner: dict[str, str] = {}
        # descriptor uid -> highest seq_num written: a RunEngine resumed after an
        # immediate pause re-takes the events since its last checkpoint and emits them
        # again under the same seq_num (docs/decisions/0016-pause-rewind.md)
        self._last_seq: dict[str, int] = {}
        self._last_uid: str | None = None
        self._spool_error: tuple[Path, BaseException] | None = None
        self._latencies: deque[float] = deque(maxlen=1_000_000)
        self._orphans_checked = False  # the first look for runs left by gone writers
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
        """Spool and queue one document; on ``stop``, wait (bounded) for its run.

        Raises
        ------
        CatalogError
            The spool cannot be written (then the document still goes to the
            catalog), or an earlier document was refused by the catalog. Never
            on a stop document.
        """
        if self._closed:
            raise CatalogError("the catalog writer is closed; make a new one with make_writer()")
        if name in _EVENT_NAMES:
            doc = self._first_takes(name, doc)
            if doc is None:
                return
        snap = _snapshot(name, doc)
        t_submit = time.perf_counter()
        spool_error = None
        with self._cond:
            self._spool_error = None
            run = self._route(name, snap)
            if self._spool_error is not None:
                spool_error = self._spool_error[1]
            if run.spool is not None:
                try:
                    run.spool.append(name, snap)
                except (OSError, TypeError, ValueError) as exc:
                    spool_error = exc
            index = run.spooled
            run.spooled += 1
            self._submitted += 1
            backlog = self._submitted - self._done
        self._queue.put((run, index, name, snap, t_submit))
        if backlog >= self.backlog_warning and not self._warned_backlog:
            self._warned_backlog = True
            logger.warning(
                "catalog writer: %d documents wait to be written; the catalog lags behind "
                "the scan (they are spooled in %s and written when it catches up)",
                backlog,
                self.spool_dir,
            )
        elif backlog <= 1:
            self._warned_backlog = False
        if name == "stop":
            if self.stop_timeout != 0:
                self._wait_run(run, self.stop_timeout)
            return
        if spool_error is not None:
            where = run.spool.path if run.spool is not None else self.spool_dir
            raise CatalogError(
                f"the catalog spool {where} cannot be written ({_short(spool_error)}); "
                "the documents still go to the catalog, without a local copy"
            )
        self._raise_pending()

    def _first_takes(self, name: str, doc: dict) -> dict | None:
        """``doc`` without the events already written under the same seq_num, or ``None``.

        A re-taken event (the RunEngine rewound to its last checkpoint on resume)
        is dropped with a warning: the catalog keeps each event once, as first
        measured.
        """
        desc = doc.get("descriptor")
        last = self._last_seq.get(desc, 0)
        if name == "event":
            seq = doc.get("seq_num")
            if isinstance(seq, int) and seq <= last:
                logger.warning(
                    "catalog writer: event %d of descriptor %s was re-taken after a pause; "
                    "the catalog keeps the first measurement",
                    seq,
                    desc,
                )
                return None
            if isinstance(seq, int):
                self._last_seq[desc] = seq
            return doc
        seqs = list(doc.get("seq_num", []))
        keep = [i for i, q in enumerate(seqs) if not (isinstance(q, int) and q <= last)]
        if len(keep) < len(seqs):
            logger.warning(
                "catalog writer: %d event(s) of descriptor %s were re-taken after a pause; "
                "the catalog keeps the first measurements",
                len(seqs) - len(keep),
                desc,
            )
            if not keep:
                return None
            doc = {
                **doc,
                "seq_num": [seqs[i] for i in keep],
                "time": [doc["time"][i] for i in keep],
                "uid": [doc["uid"][i] for i in keep],
                "data": {k: [v[i] for i in keep] for k, v in doc["data"].items()},
                "timestamps": {k: [v[i] for i in keep] for k, v in doc["timestamps"].items()},
                "filled": {k: [v[i] for i in keep] for k, v in doc.get("filled", {}).items()},
            }
        ints = [q for q in doc.get("seq_num", []) if isinstance(q, int)]
        if ints:
            self._last_seq[desc] = max(last, *ints)
        return doc

    def _route(self, name: str, doc: dict) -> _Run:
        """The run a document belongs to (callback thread, under the lock)."""
        if name == "start":
            uid = doc["uid"]
            run = _Run(uid)
            path = self.spool_dir / f"{uid}{spool.SUFFIX}"
            try:
                run.spool = spool.SpoolFile(path)
            except OSError as exc:
                self._spool_error = (path, exc)
            self._runs[uid] = run
            self._last_uid = uid
            return run
        if name in ("descriptor", "resource", "stream_resource"):
            uid = doc.get("run_start") or self._last_uid
            self._owner[doc["uid"]] = uid
        elif name in ("event", "event_page", "stream_datum"):
            uid = self._owner.get(doc.get("descriptor")) or self._owner.get(
                doc.get("stream_resource")
            )
        elif name in ("datum", "datum_page"):
            uid = self._owner.get(doc.get("resource"))
        elif name == "stop":
            uid = doc.get("run_start")
        else:
            uid = None
        run = self._runs.get(uid)
        if run is None and uid is None and name != "stop":
            run = self._runs.get(self._last_uid)
        if run is None:  # a document of no run we know: give it a run of its own
            run = self._runs.setdefault(uid or "unknown", _Run(uid or "unknown"))
        if name == "stop":
            for key in [k for k, v in self._owner.items() if v == run.uid]:
                del self._owner[key]
                self._last_seq.pop(key, None)
        return run

    def _wait_run(self, run: _Run, timeout: float | None) -> None:
        with self._cond:
            self._cond.wait_for(
                lambda: run.finished or run.failed is not None or self._down or self._stop_now,
                timeout=timeout,
            )

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every document queued so far is in the catalog.

        Also waits for the runs that writers now gone left in the spool
        (replayed when this writer starts).

        Raises
        ------
        CatalogError
            If the catalog refused a document, or the documents are not all
            written within ``timeout`` s (they stay spooled and are written
            when the catalog is back).
        """
        with self._cond:
            target = self._submitted
            ok = self._cond.wait_for(
                lambda: self._done >= target and (self._orphans_checked or self._down),
                timeout=timeout,
            )
            left = target - self._done
            down = self._down
        self._raise_pending()
        if not ok:
            why = f"the catalog is unreachable ({down})" if down else "the catalog is slow"
            raise CatalogError(
                f"{left} documents are not in the catalog after {timeout:g} s: {why}; they are "
                f"kept in {self.spool_dir} and written when it answers"
            )

    @property
    def pending(self) -> int:
        """Number of documents queued and not yet in the catalog."""
        with self._cond:
            return self._submitted - self._done

    @property
    def catalog_down(self) -> str | None:
        """Why the catalog cannot be reached now, or None while it can."""
        return self._down

    def latencies(self) -> list[float]:
        """Seconds from the callback call until the event was written to Tiled, per event."""
        return list(self._latencies)

    def close(self, timeout: float | None = 120.0, raise_errors: bool = True) -> None:
        """Write what is queued, then stop the thread. Safe to call twice.

        Runs that could not be written within ``timeout`` s stay in the spool
        (``pending``); the next writer on the folder replays them.
        """
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self._atexit)
        with self._cond:
            target = self._submitted
            self._cond.wait_for(lambda: self._done >= target, timeout=timeout)
            left = target - self._done
            self._stop_now = True
            self._cond.notify_all()
        self._queue.put(None)
        self._thread.join(timeout=30.0)
        with self._cond:
            for run in self._runs.values():
                if run.spool is not None:
                    run.spool.close()  # released: a later writer replays it
        if raise_errors:
            self._raise_pending()
            if left:
                raise CatalogError(
                    f"{left} documents were not written to the catalog before the writer "
                    f"closed; they are kept in {self.spool_dir} and written by the next writer"
                )

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
        backlog: list = []
        try:
            self._probe()
            self._replay_orphans()
        except Exception as exc:  # noqa: BLE001 - any failure: the catalog is down
            self._set_down(exc)
        with self._cond:
            self._orphans_checked = True
            self._cond.notify_all()
        while True:
            items = self._take(block=not backlog and not self._down)
            end = None in items
            items = [it for it in items if it is not None]
            if self._stop_now and (self._down or end):
                if not self._down and (items or backlog):
                    self._process(backlog + items)
                return
            if self._down:
                backlog.extend(items)
                if self._try_reconnect():
                    backlog = self._recover(backlog)
                continue
            backlog = self._process(backlog + items)
            if end and not backlog:
                return

    def _take(self, block: bool) -> list:
        """Every queued item, up to max_batch (waits for the first one when ``block``)."""
        items = []
        try:
            if block:
                items.append(self._queue.get())
            else:
                items.append(self._queue.get(timeout=self.retry_interval))
        except queue.Empty:
            return items
        while len(items) < self.max_batch and items[-1] is not None:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                break
        if self._direct and self.linger > 0 and items[-1] is not None and items[-1][2] != "stop":
            # wait a little for the rest of the run: a short run goes in one request
            deadline = time.monotonic() + self.linger
            while len(items) < self.max_batch and items[-1] is not None:
                if items[-1][2] == "stop":
                    break
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    items.append(self._queue.get(timeout=remaining))
                except queue.Empty:
                    break
        return items

    def _process(self, items: list) -> list:
        """Write ``items`` to Tiled as one batch; returns those left for later (catalog down)."""
        if not items:
            return []
        touched: dict[_Run, int] = {}
        events: list[float] = []
        stopped: list[_Run] = []
        groups: dict[_Run, tuple[int, list]] = {}  # run -> (first index, docs) for the endpoint
        skipped = 0
        current = None
        replay_first = False
        try:
            for run, index, name, doc, t_submit in items:
                current = run
                if index < run.sent or run.finished:
                    skipped += 1  # already in the catalog (written by a replay)
                    continue
                if run.failed is not None:
                    skipped += 1  # refused: its spool file (now in failed/) keeps it
                    if name == "stop":
                        stopped.append(run)
                    continue
                if run.replay:  # the catalog came back in between: replay first
                    replay_first = True
                    break
                if self._direct and run.direct:
                    groups.setdefault(run, (index, []))[1].append((name, doc))
                else:
                    self._feed(run, name, doc)
                touched[run] = index
                if name in _EVENT_NAMES:
                    events.append(t_submit)
                if name == "stop":
                    stopped.append(run)
            if not replay_first:
                for run in touched:
                    if run.failed is None and run not in groups:
                        current = run
                        _flush_rows(run.run_writer)
                for run, (first, docs) in groups.items():
                    current = run
                    self._post(run.uid, first, docs)
        except CatalogRoutesOnly as exc:
            current.direct = False  # this run goes through Tiled's routes, from its spool
            self._later(items, touched, reason=exc)
            return self._recover(items)
        except Exception as exc:  # noqa: BLE001 - sorted by _transient below
            if isinstance(exc, CatalogResend):
                # the server lost the run's earlier documents (restarted): re-send it whole
                self._later(items, touched, reason=exc)
                return self._recover(items)
            if _transient(exc):
                self._set_down(exc)
                return self._later(items, touched, reason=exc)
            self._refuse(current, exc)
            # the other runs of the batch are uncertain: rewrite them from the spool
            return self._later(items, touched, reason=exc, refused=current)
        if replay_first:
            self._later(items, touched, reason=None)
            return self._recover(items)
        now = time.perf_counter()
        with self._cond:
            for run, index in touched.items():
                run.sent = max(run.sent, index + 1)
            for run in stopped:
                self._finish(run)
            self._latencies.extend(now - t for t in events)
            self._done += len(items)
            self._cond.notify_all()
        return []

    def _later(self, items, touched, reason, refused=None) -> list:
        """After a failed batch: runs of the batch are rewritten from their spool."""
        with self._cond:
            for run in {it[0] for it in items} | set(touched):
                if run is not refused and run.failed is None and not run.finished:
                    run.replay = True
                    run.router = run.run_writer = None
        if refused is not None and not self._down:
            # the catalog works: replay the others now, in order
            return self._recover(items)
        return items

    def _post(self, uid: str, first: int, docs: list) -> None:
        post_documents(self._client, uid, first, docs, max_array_size=self._max_array_size)

    def _feed(self, run: _Run, name: str, doc: dict) -> None:
        if run.router is None:
            from bluesky_tiled_plugins.writing.tiled_writer import _RunWriter

            run.run_writer = _RunWriter(
                self._client, batch_size=_NO_AUTO_BATCH, max_array_size=self._max_array_size
            )
            run.router = ingest.normalizer(
                patches=self._patches, spec_to_mimetype=self._spec_to_mimetype
            )
            run.router.subscribe(run.run_writer)
        ingest.feed(run.router, run.run_writer, name, doc)

    def _finish(self, run: _Run) -> None:
        """The run's stop is in the catalog (or it was refused): release its spool file."""
        run.finished = True
        run.router = run.run_writer = None
        if run.failed is not None:
            if run.spool is not None:
                run.spool.close()
        elif run.spool is not None:
            try:
                run.spool.remove()
            except OSError as exc:
                logger.warning("catalog writer: could not remove %s (%s)", run.spool.path, exc)
        if self._runs.get(run.uid) is run:
            del self._runs[run.uid]

    def _set_down(self, exc: BaseException) -> None:
        with self._cond:
            was = self._down
            self._down = _short(exc)
            for run in self._runs.values():
                if not run.finished and run.failed is None:
                    run.replay = True
                    run.router = run.run_writer = None
            self._cond.notify_all()
        if was is None:
            logger.warning(
                "catalog writer: the catalog failed (%s); the runs go on, spooled in %s, and "
                "are written when it answers again",
                self._down,
                self.spool_dir,
            )

    def _try_reconnect(self) -> bool:
        try:
            client = self._reconnect()
        except Exception as exc:  # noqa: BLE001 - still down
            logger.debug("catalog writer: still no catalog (%s)", _short(exc))
            return False
        self._client = client.include_data_sources()
        try:
            self._probe()
        except Exception as exc:  # noqa: BLE001 - still down
            logger.debug("catalog writer: still no catalog (%s)", _short(exc))
            return False
        logger.info("catalog writer: the catalog answers again at %s", _address(client)[0])
        return True

    def _probe(self) -> None:
        """Find whether the server has the one-request endpoint (raises if it fails)."""
        self._direct = self._direct_wanted and has_endpoint(self._client)

    def _recover(self, backlog: list) -> list:
        """The catalog answers: replay orphans and uncertain runs, then the backlog."""
        try:
            self._replay_orphans()
            for run in sorted(
                [r for r in list(self._runs.values()) if r.replay],
                key=lambda r: list(self._runs).index(r.uid),
            ):
                self._replay(run)
        except Exception as exc:  # noqa: BLE001
            if _transient(exc):
                self._set_down(exc)
                return backlog
            raise
        with self._cond:
            self._down = None
            self._cond.notify_all()
        return self._process(backlog)

    def _replay(self, run: _Run) -> None:
        """Rewrite ``run`` in the catalog from its spool file (idempotent)."""
        if run.spool is None:  # its spool could not be opened: nothing to rewrite from
            self._refuse(run, CatalogError("the catalog failed and the run has no spool file"))
            return
        with self._cond:
            docs = spool.read(run.spool.path)
        docs = docs[: run.spooled]
        try:
            run.direct = self._write_whole(run.uid, docs, direct=run.direct)
        except Exception as exc:
            run.replay_failures += 1
            if _transient(exc) and run.replay_failures < _REPLAY_ATTEMPTS:
                raise
            self._refuse(run, exc)
            return
        with self._cond:
            run.sent = len(docs)
            run.replay = False
            run.replay_failures = 0
            if any(name == "stop" for name, _ in docs):
                self._finish(run)
            self._cond.notify_all()
        logger.info(
            "catalog writer: run %s rewritten from the spool (%d documents)", run.uid, len(docs)
        )

    def _write_whole(self, uid: str, docs, direct: bool = True) -> bool:
        """Replace any copy of run ``uid`` in the catalog with ``docs``; True if direct.

        Through the endpoint when the server has it (``first=0`` deletes any
        copy first), else (or for a run it cannot build) through Tiled's routes.
        """
        docs = list(docs)
        if self._direct and direct:
            try:
                self._post(uid, 0, docs)
                return True
            except CatalogRoutesOnly:
                pass
        delete_run(self._client, uid)
        run = _Run(uid)
        for name, doc in docs:
            self._feed(run, name, doc)
        _flush_rows(run.run_writer)
        return False

    def _replay_orphans(self) -> None:
        """Write the runs left in the spool by writers that are gone."""
        for path in spool.files(self.spool_dir):
            uid = spool.run_uid(path)
            if uid in self._runs or not spool.is_orphan(path):
                continue
            try:
                held = spool.SpoolFile(path) if path.suffix == spool.SUFFIX else None
            except OSError:
                continue  # taken by another writer just now
            try:
                docs = list(spool.iter_records(spool.read(path)))
                if not docs:
                    path.unlink(missing_ok=True)
                    continue
                try:
                    self._write_whole(uid, docs, direct=True)
                except Exception as exc:
                    if _transient(exc):
                        raise
                    self._move_failed(path, uid, exc)
                    continue
                path.unlink(missing_ok=True)
                logger.info("catalog writer: run %s recovered from %s", uid, path)
            finally:
                if held is not None:
                    held.close()

    # ---- refused documents ---------------------------------------------------

    def _refuse(self, run: _Run | None, exc: BaseException) -> None:
        """The catalog refused a document of ``run``: keep the run in failed/, say so."""
        if run is None:
            logger.error("catalog writer: %s", _short(exc))
            return
        with self._cond:
            if run.spool is not None:
                # the open file follows the rename: later documents are appended there
                target = self._move_failed(run.spool.path, run.uid, exc)
                run.spool.path = target
            else:
                target = self.failed_dir / f"{run.uid}{spool.SUFFIX}"
            run.failed = target
            run.replay = False
            run.router = run.run_writer = None
        error = CatalogError(
            f"writing run {run.uid} to the catalog failed ({_short(exc)}); its documents are "
            f"kept in {target}"
        )
        logger.error("%s", error)
        logger.debug("catalog writer: traceback of the failed write", exc_info=exc)
        self._close_stub(run.uid, exc, target)
        with self._cond:
            self._errors.append(error)
            self._cond.notify_all()

    def _move_failed(self, path: Path, uid: str, exc: BaseException) -> Path:
        self.failed_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = self.failed_dir / f"{uid}{spool.SUFFIX}"
        n = 1
        while target.exists():  # an earlier failed copy of the same run: keep both
            target = self.failed_dir / f"{uid}.{n}{spool.SUFFIX}"
            n += 1
        try:
            os.replace(path, target)
        except OSError as move_exc:
            logger.error("catalog writer: could not move %s to %s (%s)", path, target, move_exc)
            return path
        logger.error("catalog writer: run %s refused (%s); kept in %s", uid, _short(exc), target)
        return target

    def _close_stub(self, uid: str, exc: BaseException, kept: Path) -> None:
        """Give a refused run's partial copy in the catalog a stop that says why."""
        try:
            node = self._client[uid]
            if node.metadata.get("stop"):
                return
            stop = {
                "uid": str(uuid.uuid4()),
                "run_start": uid,
                "time": time.time(),
                "exit_status": "fail",
                "reason": f"the catalog refused this run ({_short(exc)}); all its documents "
                f"are kept in {kept}",
                "num_events": {},
            }
            node.update_metadata(metadata={"stop": stop}, drop_revision=True)
        except Exception as close_exc:  # noqa: BLE001 - best effort, the error is raised anyway
            logger.debug("catalog writer: could not close run %s (%s)", uid, close_exc)


_flush_rows = ingest.flush_rows


def endpoint_url(client) -> str:
    """Address of the catalog server's one-request endpoint."""
    return f"{str(client.context.api_uri).rstrip('/')}{ingest.ROUTE}"


def has_endpoint(client) -> bool:
    """True if the catalog server takes whole batches of documents (autoscope's own app).

    Raises the transport error or 5xx when the server fails to answer.
    """
    response = client.context.http_client.get(endpoint_url(client))
    if response.status_code in (404, 405):
        return False  # a plain Tiled server
    if response.is_error:
        response.raise_for_status()
    try:
        return response.json().get("protocol") == ingest.PROTOCOL
    except ValueError:
        return False


def _chunks(first: int, docs: list):
    """``(first, docs)`` pieces of a run's documents, each under _MAX_REQUEST_BYTES of arrays."""
    start, size = 0, 0
    for i, (name, doc) in enumerate(docs):
        nbytes = 0
        if name in _EVENT_NAMES:
            for value in doc.get("data", {}).values():
                nbytes += getattr(value, "nbytes", 0)
        if i > start and size + nbytes > _MAX_REQUEST_BYTES:
            yield first + start, docs[start:i]
            start, size = i, 0
        size += nbytes
    if start < len(docs) or not docs:
        yield first + start, docs[start:]


def post_documents(client, uid: str, first: int, docs: list, max_array_size: int = 0) -> None:
    """Write documents ``first, first+1, ...`` of run ``uid`` through the endpoint.

    Raises
    ------
    httpx.HTTPStatusError
        The server refused them (4xx) or failed (5xx).
    """
    http = client.context.http_client
    url = endpoint_url(client)
    for k, chunk in _chunks(first, docs):
        body = ingest.pack(
            {"uid": uid, "first": k, "docs": chunk, "max_array_size": int(max_array_size)}
        )
        response = http.post(url, content=body, headers={"Content-Type": ingest.MSGPACK})
        if response.status_code == 409:
            raise CatalogResend(_detail(response))
        if response.status_code == 501:
            raise CatalogRoutesOnly(_detail(response))
        if response.is_error:
            _raise_with_detail(response)


def _raise_with_detail(response) -> None:
    """``raise_for_status``, with the server's own reason in the message (it names the fault)."""
    import httpx

    try:
        response.raise_for_status()
    except httpx.HTTPStatusError as exc:
        raise httpx.HTTPStatusError(
            f"{exc.args[0].splitlines()[0]}: {_detail(response)}",
            request=exc.request,
            response=exc.response,
        ) from None


def _detail(response) -> str:
    try:
        return str(response.json().get("detail", response.text))
    except ValueError:
        return response.text


def _address(client) -> tuple[str, str | None]:
    """Base address and API key of a Tiled client."""
    api_uri = str(client.context.api_uri).rstrip("/")
    base = api_uri[: -len("/api/v1")] if api_uri.endswith("/api/v1") else api_uri
    return base, client.context.api_key


def delete_run(client, uid: str) -> bool:
    """Delete run ``uid`` (and everything under it) from the catalog; False if absent."""
    import httpx

    uri = f"{str(client.context.api_uri).rstrip('/')}/metadata/{uid}"
    response = client.context.http_client.delete(
        uri, params={"recursive": True, "external_only": False}
    )
    if response.status_code == 404:
        return False
    if response.is_error:
        response.raise_for_status()
    _ = httpx  # the error raised above is httpx.HTTPStatusError
    return True


def replay_file(client, path) -> str:
    """Write the run kept in a spool or ``failed/`` file to the catalog, once.

    Any copy of the run already in the catalog is replaced, so replaying a
    file twice leaves one copy. A run without a stop document is closed with
    ``exit_status="abort"``. Returns the run's uid.
    """
    from bluesky_tiled_plugins.writing.tiled_writer import _RunWriter

    docs = list(spool.iter_records(spool.read(path)))
    if not docs or docs[0][0] != "start":
        raise CatalogError(f"{path} holds no run (its first document is not a start document)")
    uid = docs[0][1]["uid"]
    client = client.include_data_sources()
    if has_endpoint(client):
        try:
            post_documents(client, uid, 0, docs)  # first=0: any copy is replaced
            return uid
        except CatalogRoutesOnly:
            pass
    delete_run(client, uid)
    rw = _RunWriter(client, batch_size=_NO_AUTO_BATCH, max_array_size=0)
    router = ingest.normalizer()
    router.subscribe(rw)
    for name, doc in docs:
        ingest.feed(router, rw, name, doc)
    _flush_rows(rw)
    return uid


def make_writer(client=None, *, data_dir=None, **kwargs) -> CatalogWriter:
    """Return a :class:`CatalogWriter` for ``client`` (default: the embedded catalog).

    When ``client`` is the embedded server of the data folder, the writer
    follows that server: after a failure it reconnects to whatever address the
    folder's ``server.json`` names (a restarted server takes a new port).

    Parameters
    ----------
    client : tiled client, optional
        Writable client of the catalog root; default :func:`autoscope.catalog.connect`.
    data_dir : str or path-like, optional
        Data folder; its ``spool/`` subfolder keeps runs until the catalog has them.
    **kwargs
        Passed to :class:`CatalogWriter` (``stop_timeout``, ``retry_interval`` ...).
    """
    folder = paths.data_dir(data_dir)
    if client is None:
        client = connect(data_dir=data_dir)
    kwargs.setdefault("spool_dir", folder / paths.SPOOL_DIR)
    kwargs.setdefault("failed_dir", folder / paths.FAILED_DIR)
    if "reconnect" not in kwargs:
        uri, key = _address(client)
        rec = paths.read_server_file(folder)
        if rec is not None and rec["uri"] == uri:
            kwargs["reconnect"] = lambda: _follow(folder)
        else:
            kwargs["reconnect"] = lambda: open_client(uri, key)
    return CatalogWriter(client, **kwargs)


def _follow(folder: Path):
    """A client of the server that ``folder``'s server.json names now."""
    rec = paths.read_server_file(folder)
    if rec is None:
        raise CatalogError(f"no catalog server runs for {folder}")
    return open_client(rec["uri"], paths.read_api_key(folder))
