"""The local durable spool: every document of a run, on disk, until the catalog has it.

:class:`~autoscope.catalog.writer.CatalogWriter` appends each document to
``spool/<uid>.spool`` in the data folder before it is sent to Tiled, and
removes the file once the run's stop document is written there. A file in
``spool/`` is therefore a run that the catalog does not hold completely yet:
``autoscope catalog ls`` shows it as ``pending``, and it is replayed into the
catalog once the catalog is back (by the writer that owns it, or by the next
writer started on the folder when its owner is gone).

Format: a sequence of msgpack records ``[name, doc]``; numpy arrays are kept
as binary (dtype, shape, bytes), so spooling a scan line costs microseconds.
A record cut short by a crash is ignored. The JSON-lines files of older
versions (``failed/<uid>.jsonl``, one ``[name, doc]`` per line) are read too.

While a writer owns a spool file it holds an exclusive ``flock`` on it; a file
that nobody holds belongs to a process that is gone.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np

SUFFIX = ".spool"
LEGACY_SUFFIX = ".jsonl"
_NDARRAY = 1

#: ``exit_status`` and ``reason`` of the stop document given to a spooled run
#: whose process ended before it wrote one.
RECOVERED_STATUS = "abort"
RECOVERED_REASON = (
    "the process that ran this run ended before the run's stop document; "
    "its documents were recovered from the local spool"
)


def _default(obj):
    if isinstance(obj, np.ndarray):
        import msgpack

        if obj.dtype.hasobject:
            return obj.tolist()
        arr = np.ascontiguousarray(obj)
        payload = msgpack.packb([arr.dtype.str, list(arr.shape), arr.tobytes()])
        return msgpack.ExtType(_NDARRAY, payload)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, (tuple, set, frozenset)):
        return list(obj)
    raise TypeError(f"{type(obj).__name__} cannot be spooled")


def _ext_hook(code: int, data: bytes):
    import msgpack

    if code == _NDARRAY:
        dtype, shape, raw = msgpack.unpackb(data, raw=False)
        return np.frombuffer(raw, dtype=np.dtype(dtype)).reshape(shape).copy()
    return msgpack.ExtType(code, data)


def _created_locked(path: Path) -> int | None:
    """A new spool file at ``path``, already locked when its name appears; None if it exists.

    The file is made and locked under a private name, then linked to ``path``:
    a writer's recovery scan (:func:`is_orphan`, which probes the lock) never
    sees a new run's file unlocked, so it can neither take it for a dead
    writer's file nor make the owner's own lock fail.
    """
    private = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
    fd = os.open(private, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            os.link(private, path)
        except FileExistsError:
            os.close(fd)
            return None
        return fd
    except BaseException:
        os.close(fd)
        raise
    finally:
        private.unlink(missing_ok=True)


class SpoolFile:
    """One run's spool file, opened for appending and locked by this process.

    Parameters
    ----------
    path : Path
        ``spool/<uid>.spool``.

    Raises
    ------
    BlockingIOError
        If another process holds the file (it is that process's run).
    """

    def __init__(self, path: Path):
        import msgpack

        self.path = Path(path)
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = _created_locked(self.path)
        if fd is None:  # the file exists: take it over if nobody holds it
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                raise
        self._f = os.fdopen(fd, "ab", buffering=0)
        self._packer = msgpack.Packer(default=_default, use_bin_type=True)
        self.records = 0

    def append(self, name: str, doc: dict) -> None:
        """Append one document; it reaches the operating system before this returns."""
        self._f.write(self._packer.pack([name, doc]))
        self.records += 1

    def sync(self) -> None:
        """fsync: the records so far survive a power cut too."""
        os.fsync(self._f.fileno())

    def remove(self) -> None:
        """Delete the file (its run is in the catalog) and release it."""
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        self.close()

    def close(self) -> None:
        if not self._f.closed:
            self._f.close()


def read(path: Path) -> list[tuple[str, dict]]:
    """All complete ``(name, doc)`` records of a spool file or a legacy ``.jsonl`` file."""
    path = Path(path)
    if path.suffix == LEGACY_SUFFIX:
        docs = []
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    name, doc = json.loads(line)
                except ValueError:
                    break  # a line cut short by a crash ends the file
                docs.append((name, doc))
        return docs
    import msgpack

    unpacker = msgpack.Unpacker(
        raw=False, ext_hook=_ext_hook, strict_map_key=False, max_buffer_size=2**31 - 1
    )
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            unpacker.feed(chunk)
    out = []
    try:
        for record in unpacker:
            out.append((record[0], record[1]))
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        pass  # a damaged tail: keep what came before it
    return out


def run_uid(path: Path) -> str:
    """The run uid a spool file is named after."""
    return Path(path).name.split(".")[0]


def files(folder: Path) -> list[Path]:
    """Spool files (and legacy ``.jsonl`` files) in ``folder``, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if p.suffix in (SUFFIX, LEGACY_SUFFIX)]
    return sorted(found, key=lambda p: (p.stat().st_mtime, p.name))


def is_orphan(path: Path) -> bool:
    """True if no process holds ``path`` (its writer is gone)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return False
        raise
    finally:
        os.close(fd)
    return True


def pending_starts(folder: Path) -> dict[str, dict]:
    """``{uid: start document}`` of the runs waiting in the spool folder ``folder``."""
    out = {}
    for path in files(folder):
        docs = _first_docs(path)
        for name, doc in docs:
            if name == "start":
                out[doc["uid"]] = doc
                break
    return out


def _first_docs(path: Path) -> list[tuple[str, dict]]:
    if path.suffix == LEGACY_SUFFIX:
        with open(path) as f:
            line = f.readline()
        try:
            return [tuple(json.loads(line))]
        except ValueError:
            return []
    import msgpack

    unpacker = msgpack.Unpacker(raw=False, ext_hook=_ext_hook, strict_map_key=False)
    with open(path, "rb") as f:
        unpacker.feed(f.read(1 << 16))
    try:
        return [tuple(next(iter(unpacker)))]
    except (StopIteration, ValueError, msgpack.ExtraData, msgpack.FormatError):
        return []


def close_unstopped(docs: list[tuple[str, dict]]) -> tuple[str, dict] | None:
    """The stop document for a spooled run that has none (None if it has one).

    ``num_events`` counts the spooled events of each stream.
    """
    if any(name == "stop" for name, _ in docs):
        return None
    start = next((doc for name, doc in docs if name == "start"), None)
    if start is None:
        return None
    streams = {doc["uid"]: doc.get("name", "primary") for name, doc in docs if name == "descriptor"}
    counts: dict[str, int] = {}
    for name, doc in docs:
        if name == "event":
            stream = streams.get(doc.get("descriptor"), "primary")
            counts[stream] = counts.get(stream, 0) + 1
        elif name == "event_page":
            stream = streams.get(doc.get("descriptor"), "primary")
            counts[stream] = counts.get(stream, 0) + len(doc.get("seq_num", []))
    stop = {
        "uid": str(uuid.uuid4()),
        "run_start": start["uid"],
        "time": time.time(),
        "exit_status": RECOVERED_STATUS,
        "reason": RECOVERED_REASON,
        "num_events": counts,
    }
    return "stop", stop


def iter_records(docs: list[tuple[str, dict]]) -> Iterator[tuple[str, dict]]:
    """The records of a spooled run, closed with :func:`close_unstopped` if needed."""
    yield from docs
    extra = close_unstopped(docs)
    if extra is not None:
        yield extra
