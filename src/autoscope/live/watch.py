"""``autoscope watch``: the live views of runs that run elsewhere, followed through the catalog.

A scientist at a laptop sees what the queue server's RunEngine is doing on the
instrument PC: :class:`CatalogFollower` follows the catalog's newest run and
feeds its documents, as they land in Tiled, to the same views the profile
subscribes to the RunEngine (:class:`~autoscope.live.LiveImage`,
:class:`~autoscope.live.LiveSpectra`, :class:`~autoscope.live.LiveCampaign`).

How it learns of new data:

- Tiled's subscription (``Container.subscribe()`` of tiled 0.2): the catalog
  root tells of every new run and of a run's metadata changing (its stop
  document); each stream of the followed run tells of new rows (lines,
  spectra, agent reports) as the writer appends them;
- a catch-up poll every ``poll_s`` seconds, whatever the subscription did: Tiled
  holds callbacks by weak reference (the follower keeps its own, bound to
  itself) and swallows their exceptions in its executor (each callback here
  only sets an event and logs what it could not do), a websocket can drop, and
  a server without a streaming cache sends nothing. The poll finds whatever the
  subscription missed.

Either way a wake-up only triggers a *sync*: read what the catalog holds of the
followed run beyond what was fed (new descriptors, new event rows of each
stream, the stop document) and feed it, in order. The documents are rebuilt
from the catalog as bluesky-tiled-plugins stores them (start and stop from the
run's metadata, descriptors from each stream's, events from the stream's
``internal`` table and its array nodes, sliced to the new rows), so a sync reads
only new rows. When the newest run belongs to a campaign first seen, the
campaign's earlier runs are fed first, so a campaign view started mid-campaign
shows it from its overview.
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from pathlib import Path

import numpy as np
from tiled.queries import Key

from autoscope.catalog import connect
from autoscope.catalog.paths import add_data_dir_argument
from autoscope.errors import ConfigurationError
from autoscope.live.campaign import LiveCampaign
from autoscope.live.image import LiveImage
from autoscope.live.session import live_enabled
from autoscope.live.spectra import LiveSpectra

__all__ = ["CatalogFollower", "RunReader", "add_arguments", "main", "watch_headless"]

log = logging.getLogger(__name__)

_EVENT_FIELDS = ("seq_num", "time")


def _scalar(value):
    """A table cell as event data: numpy scalars to Python, arrays kept as arrays."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return np.asarray(value)
    return value


class RunReader:
    """The documents of one catalog run, read incrementally.

    Parameters
    ----------
    uid : str
        The run's start uid (its key in the catalog).
    """

    def __init__(self, uid: str):
        self.uid = uid
        self.start: dict | None = None
        self.stopped = False
        self._descriptors: set[str] = set()
        self._rows: dict[str, int] = {}

    def events_read(self, stream: str) -> int:
        """How many events of ``stream`` were read so far."""
        return self._rows.get(stream, 0)

    def new_documents(self, client) -> list[tuple[str, dict]]:
        """What the catalog holds of the run beyond what was returned before, in order."""
        run = client[self.uid]
        metadata = run.metadata
        stop = metadata.get("stop")  # read before the rows: all rows precede a stop
        out: list[tuple[str, dict]] = []
        if self.start is None:
            self.start = dict(metadata["start"])
            out.append(("start", self.start))
        if self.stopped:
            return out
        for name in list(run):
            out += self._stream_documents(name, run[name])
        # the stop last, once every event it counts is read (a table row can become
        # readable a moment after the run's metadata says it stopped)
        if stop and all(
            self._rows.get(name, 0) >= n for name, n in (stop.get("num_events") or {}).items()
        ):
            self.stopped = True
            out.append(("stop", dict(stop)))
        return out

    def _stream_documents(self, name: str, stream) -> list[tuple[str, dict]]:
        out = []
        descriptors = list(stream.descriptors)
        for d in descriptors:
            if d["uid"] not in self._descriptors:
                self._descriptors.add(d["uid"])
                out.append(("descriptor", d))
        if not descriptors:
            return out
        base = stream.base
        children = list(base)
        if "internal" not in children:
            return out
        table = base["internal"].read()
        arrays = [k for k in children if k != "internal"]
        available = min([len(table), *(base[k].shape[0] for k in arrays)])
        done = self._rows.get(name, 0)
        if available <= done:
            return out
        sliced = {k: np.asarray(base[k][done:available]) for k in arrays}
        columns = [c for c in table.columns if c not in _EVENT_FIELDS and not c.startswith("ts_")]
        descriptor = descriptors[-1]["uid"]
        for row in range(done, available):
            record = table.iloc[row]
            data = {c: _scalar(record[c]) for c in columns}
            data.update({k: v[row - done] for k, v in sliced.items()})
            seq_num = int(record["seq_num"])
            out.append(
                (
                    "event",
                    {
                        "uid": f"{descriptor}/{seq_num}",
                        "descriptor": descriptor,
                        "seq_num": seq_num,
                        "time": float(record["time"]),
                        "data": data,
                        "timestamps": {},
                        "filled": {},
                    },
                )
            )
        self._rows[name] = available
        return out


class CatalogFollower:
    """Follows a catalog's newest run and feeds its documents to callbacks.

    Parameters
    ----------
    client
        A Tiled client of the catalog root (``autoscope.catalog.connect()``).
    callbacks : sequence of callables ``(name, doc)``
        What the documents go to: live views, or any Bluesky callback.
    poll_s : float
        Seconds between catch-up polls (the subscription's safety net).
    subscribe : bool
        Use Tiled's subscription (False: the poll alone, e.g. a server without
        a streaming cache).
    """

    def __init__(self, client, callbacks, poll_s: float = 2.0, subscribe: bool = True):
        if not (isinstance(poll_s, int | float) and poll_s > 0):
            raise ConfigurationError(f"poll_s {poll_s!r} must be a number of seconds > 0")
        self.client = client
        self.callbacks = list(callbacks)
        self.poll_s = float(poll_s)
        self.use_subscription = bool(subscribe)
        self.reader: RunReader | None = None
        self.finished: list[str] = []  # runs whose stop was fed after the first sync
        self.syncs = 0
        self.wakeups = 0
        self._seen: set[str] = set()  # runs fed, or being fed
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._root_sub = None
        self._stream_subs: dict[str, object] = {}
        self._closed = False

    # --- Tiled's subscription: callbacks only wake the follower ----------------------------

    def _on_update(self, update) -> None:
        # Tiled runs this in its executor and drops whatever it raises: never raise.
        try:
            self.wakeups += 1
            self._wake.set()
        except Exception:  # noqa: BLE001 - nothing may escape into Tiled's executor
            log.exception("could not handle a catalog update")

    def start(self) -> CatalogFollower:
        """Subscribe to the catalog root (new runs, metadata changes); no-op without."""
        if self.use_subscription and self._root_sub is None:
            try:
                sub = self.client.subscribe()
                # Tiled keeps weak references: these bound methods live as long as self
                sub.child_created.add_callback(self._on_update)
                sub.child_metadata_updated.add_callback(self._on_update)
                sub.start_in_thread()
            except Exception as exc:  # noqa: BLE001 - the poll still follows the catalog
                log.warning("no subscription to the catalog (%s); polling every %g s",
                            exc, self.poll_s)  # fmt: skip
            else:
                self._root_sub = sub
        return self

    def _subscribe_streams(self, run) -> None:
        """Subscribe to the followed run: its new streams, their new nodes, their new rows.

        One subscription per node, made once: the run container (a stream is created),
        each stream's container (its ``internal`` table and arrays are created at the
        first event) and each ``internal`` table (a row per event is appended).
        """
        if not self.use_subscription:
            return
        uid = run.item["id"]
        self._subscribe(uid, lambda: run)
        for name in list(run):
            base = run[name].base
            self._subscribe(f"{uid}/{name}", lambda base=base: base)
            if "internal" in list(base):
                self._subscribe(f"{uid}/{name}/internal", lambda base=base: base["internal"])

    def _subscribe(self, path: str, node) -> None:
        if path in self._stream_subs:
            return
        try:
            sub = node().subscribe()
            if hasattr(sub, "child_created"):
                sub.child_created.add_callback(self._on_update)
                sub.child_metadata_updated.add_callback(self._on_update)
            else:
                sub.new_data.add_callback(self._on_update)
            sub.start_in_thread()
        except Exception as exc:  # noqa: BLE001 - the poll still reads what is new
            log.warning("no subscription to %s (%s); the poll follows it", path, exc)
            self._stream_subs[path] = None
        else:
            self._stream_subs[path] = sub

    def _drop_stream_subs(self) -> None:
        for sub in self._stream_subs.values():
            if sub is not None:
                try:
                    sub.disconnect()
                except Exception:  # noqa: BLE001 - closing a dropped websocket
                    log.debug("closing a stream subscription failed", exc_info=True)
        self._stream_subs = {}

    # --- syncing ---------------------------------------------------------------------------

    def _newest_uid(self) -> str | None:
        keys = list(self.client.keys()[-1:-2:-1])
        return keys[0] if keys else None

    def _feed(self, documents) -> int:
        for name, doc in documents:
            for callback in self.callbacks:
                callback(name, doc)
            # runs already over when the follower first looked are shown, not counted
            if name == "stop" and self.syncs > 1:
                self.finished.append(doc["run_start"])
        return len(documents)

    def _backfill(self, uid: str, start: dict) -> int:
        """Feed the runs of ``uid``'s campaign that came before it and were not fed yet.

        A campaign view started mid-campaign then shows it from its overview, and a
        spectra run that was created and finished between two syncs is not skipped.
        """
        campaign = start.get("campaign")
        if campaign is None:
            return 0
        earlier = sorted(
            (run.metadata["start"]["time"], key)
            for key, run in self.client.search(Key("campaign") == campaign).items()
            if key not in self._seen and run.metadata["start"]["time"] < start["time"]
        )
        fed = 0
        for _, key in earlier:
            self._seen.add(key)
            fed += self._feed(RunReader(key).new_documents(self.client))
        return fed

    def sync(self) -> int:
        """Read what is new in the catalog and feed it; returns the number of documents fed.

        The newest run is followed; when a newer one appears, the rest of the old one
        is fed first, then the campaign's runs in between (if any), then the new one.
        """
        with self._lock:
            self.syncs += 1
            fed = 0
            newest = self._newest_uid()
            if newest is not None and (self.reader is None or newest != self.reader.uid):
                if self.reader is not None and not self.reader.stopped:
                    fed += self._catch_up()
                self._drop_stream_subs()
                fed += self._backfill(newest, self.client[newest].metadata["start"])
                self.reader = RunReader(newest)
                self._seen.add(newest)
            if self.reader is None:
                return fed
            if not self.reader.stopped:
                self._subscribe_streams(self.client[self.reader.uid])
            fed += self._catch_up()
            return fed

    def _catch_up(self) -> int:
        fed = self._feed(self.reader.new_documents(self.client))
        if self.reader.stopped:
            self._drop_stream_subs()
        return fed

    def follow(self, until=None, timeout: float | None = None, on_sync=None) -> None:
        """Sync now, then on every wake-up or poll, until ``until(self)`` or ``timeout`` s.

        Parameters
        ----------
        until : callable, optional
            ``until(follower) -> bool``; checked after every sync.
        timeout : float, optional
            Give up after this many seconds (raises :class:`TimeoutError`).
        on_sync : callable, optional
            ``on_sync(n_documents)`` after every sync (e.g. write PNGs).
        """
        self.start()
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._closed:
            self._wake.clear()
            n = self.sync()
            if on_sync is not None:
                on_sync(n)
            if until is not None and until(self):
                return
            wait = self.poll_s
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    raise TimeoutError(f"still following the catalog after {timeout} s")
            self._wake.wait(wait)

    def close(self) -> None:
        """Stop the subscriptions (the views stay as they are)."""
        self._closed = True
        self._wake.set()
        self._drop_stream_subs()
        if self._root_sub is not None:
            try:
                self._root_sub.disconnect()
            except Exception:  # noqa: BLE001 - closing a dropped websocket
                log.debug("closing the catalog subscription failed", exc_info=True)
            self._root_sub = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _views(levelling: str, truth=None):
    return {
        "image": LiveImage(levelling=levelling),
        "spectra": LiveSpectra(),
        "campaign": LiveCampaign(truth=truth),
    }


def watch_headless(
    client,
    png_dir,
    runs: int | None = 1,
    timeout: float | None = None,
    poll_s: float = 2.0,
    subscribe: bool = True,
    levelling: str = "offset",
    views: dict | None = None,
) -> CatalogFollower:
    """Follow the catalog and write each view as ``<png_dir>/<view>.png`` after every sync.

    A view is rewritten only when documents reached it since its last PNG.
    Stops after ``runs`` runs (that were open when first seen) have finished,
    or never (``runs=None``; Ctrl-C ends it).

    Returns
    -------
    CatalogFollower
        Its views in ``.views``, the finished runs in ``.finished``.
    """
    folder = Path(png_dir)
    if not folder.is_dir():
        raise ConfigurationError(f"png folder {folder} does not exist")
    if runs is not None and (not isinstance(runs, int) or runs < 1):
        raise ConfigurationError(f"runs {runs!r} must be a positive integer")
    views = views if views is not None else _views(levelling)
    follower = CatalogFollower(client, views.values(), poll_s=poll_s, subscribe=subscribe)
    follower.views = views

    def write(_):
        for name, view in views.items():
            if view.pending:
                view.render_png(folder / f"{name}.png")

    def done(f):
        return runs is not None and len(f.finished) >= runs

    try:
        follower.follow(until=done, timeout=timeout, on_sync=write)
    finally:
        follower.close()
    return follower


# --- the command line -------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``watch`` options to ``parser``."""
    add_data_dir_argument(parser, "the embedded catalog's")
    parser.add_argument("--uri", default=None, help="a Tiled server instead of the embedded one")
    parser.add_argument("--api-key", default=None, help="its API key")
    parser.add_argument(
        "--png-dir",
        type=Path,
        default=None,
        help="headless: write image.png, spectra.png and campaign.png here after every update "
        "instead of opening windows",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=None,
        help="exit after this many runs have finished (default: follow until Ctrl-C)",
    )
    parser.add_argument(
        "--poll", type=float, default=2.0, help="seconds between catch-up polls (default 2)"
    )
    parser.add_argument(
        "--no-subscribe",
        action="store_true",
        help="poll only (a Tiled server without a streaming cache)",
    )
    parser.add_argument(
        "--levelling",
        choices=("none", "offset", "plane"),
        default="offset",
        help="per-line levelling of the image (default offset)",
    )


def main(args: argparse.Namespace) -> int:
    """Run ``autoscope watch``; returns the exit status."""
    if args.png_dir is None and not live_enabled({}):
        import matplotlib

        raise ConfigurationError(
            f"no display to open windows on (matplotlib backend {matplotlib.get_backend()!r}); "
            "use --png-dir DIR to write the views as PNGs instead"
        )
    if args.png_dir is not None and not args.png_dir.is_dir():
        raise ConfigurationError(f"png folder {args.png_dir} does not exist")
    client = connect(uri=args.uri, api_key=args.api_key, data_dir=args.data_dir)
    where = getattr(client.context, "api_uri", "?")
    if args.png_dir is not None:
        print(f"following {where}; writing PNGs to {args.png_dir} (Ctrl-C stops)", flush=True)
        follower = watch_headless(
            client,
            args.png_dir,
            runs=args.runs,
            poll_s=args.poll,
            subscribe=not args.no_subscribe,
            levelling=args.levelling,
        )
        print(f"{len(follower.finished)} run(s) finished: {', '.join(follower.finished)}")
        return 0
    import matplotlib.pyplot as plt

    views = _views(args.levelling)
    for name, view in views.items():
        view.show(title=f"autoscope watch: {name}")
    follower = CatalogFollower(
        client, views.values(), poll_s=args.poll, subscribe=not args.no_subscribe
    )
    runs = args.runs

    def done(f):
        return runs is not None and len(f.finished) >= runs

    thread = threading.Thread(
        target=follower.follow, kwargs={"until": done}, name="autoscope-watch", daemon=True
    )
    print(f"following {where}; close the windows or Ctrl-C to stop", flush=True)
    thread.start()
    try:
        plt.show(block=True)
    finally:
        follower.close()
        thread.join(10)
    return 0
