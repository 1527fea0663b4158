"""The catalog's DuckDB table storage lends its one connection to one thread at a time.

Tiled shares that connection among the server's threads unguarded; a live view
reading a run's table while the writer appends to it made CI's poll-only live
test fail with a 422 (the writer's append hit the reader's commit), and made a
loaded run of the live tests crash with a segmentation fault inside ``commit``.
"""

import threading
from contextlib import closing

import numpy as np
import pytest

from autoscope.catalog.app import build_tree
from autoscope.catalog.tables import serialize

ROUNDS = 300  # unguarded, 300 interleaved appends and reads fail or hang (see the module)


@pytest.fixture
def storage(tmp_path):
    from tiled.storage import SQLStorage, acquire_storage, release_storage

    tree = build_tree(tmp_path)
    uri = f"duckdb:///{tmp_path / 'tables.duckdb'}"
    lent = serialize(uri)
    # what the tree's context does when the server starts: the table adapters get this one
    (configured,) = [s for s in tree.context.writable_storage.values() if isinstance(s, SQLStorage)]
    assert configured is lent and acquire_storage(configured) is lent
    yield lent
    release_storage(lent)


def test_appends_and_reads_from_two_threads_do_not_share_a_transaction(storage):
    import pyarrow

    rows = pyarrow.table({"a": np.arange(4.0), "b": np.arange(4)})
    with closing(storage.connect()) as conn:
        with conn.cursor() as cursor:
            cursor.adbc_ingest("t", rows, mode="create")
        conn.commit()
    errors = []
    seen = []

    def append():
        for _ in range(ROUNDS):
            with closing(storage.connect()) as conn:
                with conn.cursor() as cursor:
                    cursor.adbc_ingest("t", rows, mode="append")
                conn.commit()

    def read():
        for _ in range(ROUNDS):
            with closing(storage.connect()) as conn:
                with conn.cursor() as cursor:
                    cursor.execute('SELECT "a" FROM "t" ORDER BY rowid')
                    seen.append(cursor.fetch_arrow_table().num_rows)
                conn.commit()

    def guarded(fn):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - the test reports it
            errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=guarded, args=(f,), daemon=True) for f in (append, read)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)  # a safety net for a deadlock, not a timing assertion
    assert not any(t.is_alive() for t in threads), "the two threads deadlocked"
    assert errors == []
    assert seen == sorted(seen) and all(n % 4 == 0 for n in seen)  # whole appends only
    with closing(storage.connect()) as conn:
        with conn.cursor() as cursor:
            cursor.execute('SELECT count(*) FROM "t"')
            assert cursor.fetchone()[0] == 4 * (ROUNDS + 1)


def test_a_lent_connection_is_given_back_once(storage):
    conn = storage.connect()
    conn.close()
    conn.close()  # a second close must not release the lock again
    got = []
    other = threading.Thread(target=lambda: got.append(storage.connect().close()))
    other.start()
    other.join(timeout=60)
    assert not other.is_alive() and got == [None]


def test_serialize_twice_changes_nothing(storage):
    connect = storage.__dict__["connect"]
    assert serialize(storage.uri) is storage
    assert storage.__dict__["connect"] is connect
