"""The catalog's table storage: its one DuckDB connection, lent to one thread at a time.

Tiled 0.2.20 keeps a single ADBC connection per embedded DuckDB file
(``sqlalchemy.pool.StaticPool``) and hands it to every thread that asks. An
ADBC connection is not thread-safe: its caller must serialize its use. The
server's worker threads do not. A live view reading a run's table while the
run writer appends to it (or creates the next stream's table) then races on
the connection's one transaction: the reader's commit or the pool's
rollback-on-return lands inside the writer's append. What follows is, by
chance, ``Invalid Input Error: Attempting to execute an unsuccessful or closed
pending query result``, ``No active transaction, cannot rollback`` (the batch
answered 422 and the run was kept in ``failed/``), a deadlock, or a
segmentation fault inside ``commit``.

:func:`serialize` makes the storage lend its connection to one thread at a
time, from ``connect()`` until the caller closes it (every caller in Tiled
does, through ``contextlib.closing``). DuckDB already runs one statement at a
time on a connection, so this costs no concurrency that was there. SQLite and
PostgreSQL storages pool separate connections and are left as they are.
"""

from __future__ import annotations

import threading


class _Lent:
    """A connection lent to the thread that holds ``lock``; ``close()`` gives both back."""

    def __init__(self, connection, lock: threading.RLock):
        self._connection = connection
        self._lock: threading.RLock | None = lock

    def __getattr__(self, name):
        return getattr(self._connection, name)

    def close(self) -> None:
        lock, self._lock = self._lock, None
        if lock is None:  # closed before
            return
        try:
            self._connection.close()
        finally:
            lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def serialize(uri: str):
    """Make Tiled's storage for ``uri`` lend its connection to one thread at a time.

    The storage is Tiled's shared instance for ``uri`` (the one ``from_uri``
    and every table adapter get), so this may run before or after the tree
    is built; running it again changes nothing.

    Returns
    -------
    tiled.storage.Storage
        That storage.
    """
    from tiled.storage import EmbeddedSQLStorage, parse_storage

    storage = parse_storage(uri)
    if not isinstance(storage, EmbeddedSQLStorage) or storage.dialect != "duckdb":
        return storage
    if "connect" in storage.__dict__:
        return storage
    lock = threading.RLock()
    plain = type(storage).connect

    def connect():
        lock.acquire()
        try:
            return _Lent(plain(storage), lock)
        except BaseException:
            lock.release()
            raise

    # the dataclass is frozen; an instance attribute in __dict__ shadows the method,
    # and survives dispose() (which only drops the pool)
    storage.__dict__["connect"] = connect
    return storage
