"""Benchmark: the floor of the catalog's server-side write cost, in-process.

What a run or a batch of scan lines costs the catalog server, split into what
Tiled itself must do for the layout TiledWriter writes (nodes created, arrays
written or extended, table rows appended, the stop's metadata update, closed
streams) and what autoscope's endpoint (:mod:`autoscope.catalog.ingest`) adds
on top (msgpack decode, bluesky-tiled-plugins' run writer, request bodies
parsed as Tiled's routes parse them, thread hops). No HTTP: the same catalog
adapter tree as the embedded server (:func:`autoscope.catalog.app.build_tree`)
with its event loop on a thread of this process, so the CPU is this process's
(``time.process_time``, every thread).

Three ways to write the same documents, side by side:

- ``endpoint``: :meth:`ingest.Sessions.apply` on the decoded request body, plus
  the msgpack decode of that body: what the endpoint spends, minus FastAPI and
  the socket;
- ``tiled`` (the part of ``endpoint`` spent inside Tiled's adapter methods,
  found by timing each outermost call: ``create_node``, ``write``, ``patch``,
  ``append_partition``, ``replace_metadata``, ``close_stream``,
  ``lookup_adapter``, ``delete``);
- ``oracle``: the minimum adapter calls for the same layout, made directly from
  prepared arguments (no run writer, no parsing): a floor for any writer of
  TiledWriter's layout through Tiled's adapter API.

- ``oracle_1tx``: the oracle with every adapter call of the run (or batch) in
  one SQL transaction (a shared session whose commits only flush; an
  experiment that relies on Tiled's internals, to size what one transaction
  per batch would save).

Cases: ``spectrum`` (bench_catalog's 2-key spectrum run: start, descriptor,
one event of a 256-point bias axis and current, stop), ``demo_spectrum`` and
``demo_report`` (the two kinds of run of ``autoscope demo``: a ``spectra_at``
run of one spectrum on the PFM twin, an ``agent_report`` run on a 64 x 64
grid), ``demo_report_noconf`` (the same report with empty descriptor
configuration: a bare ophyd Signal's configuration is its value, so the
report's descriptor repeats its 64 x 64 arrays as 250 kB of metadata), and
``lines N`` (a batch of N lines of 4 x 512 float32 appended to a raster run
already open: one patch per key and one table append).

Also counted: SQL statements per run or batch (SQLAlchemy's
``before_cursor_execute``) and commits.

    python benchmarks/bench_catalog_floor.py [--repeat 12] [--lines 1,8,64] [--json OUT]
        [--profile PREFIX]   # cProfile of the event-loop and the worker thread
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import json
import os
import platform
import pstats
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_catalog import LineSource, SpectrumSource, scan_plan, spectra_plan  # noqa: E402

_TIMED = {
    "CatalogNodeAdapter": (
        "create_node",
        "replace_metadata",
        "close_stream",
        "lookup_adapter",
        "delete",
        "put_data_source",
    ),
    "CatalogArrayAdapter": ("write", "patch"),
    "CatalogTableAdapter": ("append_partition",),
}


class Timers:
    """CPU seconds and calls of Tiled's outermost adapter methods, SQL statements, commits."""

    def __init__(self):
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.statements = 0
        self.commits = 0
        self.commit_cpu = self.commit_wall = 0.0
        self.gc_s, self.gc_runs, self._gc_t0 = 0.0, [0, 0, 0], None
        self._depth = threading.local()

    def reset(self):
        self.cpu.clear()
        self.wall.clear()
        self.calls.clear()
        self.statements = 0
        self.commits = 0
        self.commit_cpu = self.commit_wall = 0.0
        self.gc_s, self.gc_runs = 0.0, [0, 0, 0]

    def figures(self) -> dict:
        return {
            "tiled_cpu_s": sum(self.cpu.values()),
            "tiled_calls": dict(self.calls),
            "tiled_cpu_by_call": dict(self.cpu),
            "tiled_wall_by_call": dict(self.wall),
            "sql_statements": self.statements,
            "commits": self.commits,
            "commit_cpu_s": self.commit_cpu,
            "commit_wall_s": self.commit_wall,
            "gc_s": self.gc_s,
            "gc_runs": list(self.gc_runs),
        }

    def wrap(self, name, fn):
        timers = self

        async def timed(*args, **kwargs):
            key = name
            if name == "create_node":  # by what it makes
                family = kwargs.get("structure_family", args[1] if len(args) > 1 else "?")
                key = f"create_{getattr(family, 'value', family)}"
            depth = getattr(timers._depth, "n", 0)
            timers._depth.n = depth + 1
            t0, w0 = time.process_time(), time.perf_counter()
            try:
                return await fn(*args, **kwargs)
            finally:
                timers._depth.n = depth
                if depth == 0:
                    timers.cpu[key] = timers.cpu.get(key, 0.0) + time.process_time() - t0
                    timers.wall[key] = timers.wall.get(key, 0.0) + time.perf_counter() - w0
                    timers.calls[key] = timers.calls.get(key, 0) + 1

        return timed

    def install(self, engine):
        from sqlalchemy import event
        from sqlalchemy.ext.asyncio import AsyncSession
        from tiled.catalog import adapter as cat

        for cls_name, methods in _TIMED.items():
            cls = getattr(cat, cls_name)
            for method in methods:
                setattr(cls, method, self.wrap(method, getattr(cls, method)))

        def on_statement(*_):
            self.statements += 1

        event.listen(engine.sync_engine, "before_cursor_execute", on_statement)
        commit = AsyncSession.commit

        async def counted_commit(session):
            self.commits += 1
            t0, w0 = time.process_time(), time.perf_counter()
            try:
                return await commit(session)
            finally:
                self.commit_cpu += time.process_time() - t0
                self.commit_wall += time.perf_counter() - w0

        AsyncSession.commit = counted_commit
        gc.callbacks.append(self._on_gc)

    def _on_gc(self, phase, info):
        if phase == "start":
            self._gc_t0 = time.perf_counter()
        elif self._gc_t0 is not None:
            self.gc_s += time.perf_counter() - self._gc_t0
            self.gc_runs[info["generation"]] += 1
            self._gc_t0 = None


class Catalog:
    """The embedded server's adapter tree, its event loop on a thread of this process."""

    def __init__(
        self,
        folder: Path,
        profile: cProfile.Profile | None = None,
        tables: str = "duckdb",
        loop: str = "asyncio",
    ):
        from autoscope.catalog import ingest
        from autoscope.catalog.app import build_tree

        # the embedded server's tree; or the same with the tables in SQLite (a variant)
        sqlite_tables = f"sqlite:///{folder / 'tables.sqlite'}"
        self.root = build_tree(folder, None if tables == "duckdb" else sqlite_tables)
        if loop == "uvloop":
            import uvloop

            self.loop = uvloop.new_event_loop()
        else:
            self.loop = asyncio.new_event_loop()
        self._profile = profile
        self._thread = threading.Thread(target=self._run, name="catalog-loop", daemon=True)
        self._thread.start()
        for task in self.root.startup_tasks:
            asyncio.run_coroutine_threadsafe(task(), self.loop).result()
        self.tree = ingest._Tree(self.root, self.loop)
        self.sessions = ingest.Sessions()

    def _run(self):
        asyncio.set_event_loop(self.loop)
        if self._profile is not None:
            self._profile.enable()
        self.loop.run_forever()

    def call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(self):
        for task in self.root.shutdown_tasks:
            self.call(task())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        if self._profile is not None:
            self._profile.disable()


# ---- documents ----------------------------------------------------------------------


def record(plan) -> list[list[tuple[str, dict]]]:
    """The documents of every run ``plan`` makes, one list per run."""
    from bluesky import RunEngine

    RE = RunEngine({}, call_returns_result=False)
    runs: list[list] = []

    def keep(name, doc):
        if name == "start":
            runs.append([])
        runs[-1].append((name, doc))

    RE.subscribe(keep)
    RE(plan)
    return runs


def spectrum_runs(n: int):
    return record(spectra_plan(SpectrumSource(), n, 0.0))


def demo_runs(n: int):
    """``n`` runs of each kind ``autoscope demo`` makes: a one-spectrum ``spectra_at`` run
    on the PFM twin with the demo's settings, and an ``agent_report`` run (64 x 64, q = 1)."""
    from autoscope.devices.factories import make_spm
    from autoscope.plans.campaign_parts import report_signals, write_report
    from autoscope.plans.spectroscopy import spectra_at
    from autoscope.studies.demo import EXTENT, SPECTROSCOPY

    spm = make_spm(
        "twin", sample="pfm_film", seed=0, drift=0.0, creep=0.0, hysteresis=0.0,
        tip_change_rate=0.0,
    )  # fmt: skip
    rng = np.random.default_rng(0)
    signals = report_signals((64, 64), 1, "nm")

    def plan():
        for i in range(n):
            x, y = (rng.random(2) - 0.5) * 0.9 * EXTENT
            yield from spectra_at(
                spm, [[float(x), float(y)]], md={"campaign_step": i}, **SPECTROSCOPY
            )
            yield from write_report(
                signals,
                {
                    "agent_step": i,
                    "agent_source": "bma",
                    "agent_chosen": np.array([i]),
                    "agent_mean": rng.normal(size=(64, 64)),
                    "agent_std": rng.random((64, 64)),
                    "agent_acquisition": rng.random((64, 64)),
                    "agent_measured": (rng.random((64, 64)) < 0.05).astype(np.uint8),
                },
                {"plan_name": "agent_report", "campaign_step": i},
            )

    runs = record(plan())
    return runs[0::2], runs[1::2]


def without_configuration(docs):
    """A run whose descriptors have empty configuration (an ``agent_report``'s repeats the
    event: a bare ophyd Signal's configuration is its own value, 64 x 64 arrays included)."""
    out = []
    for name, doc in docs:
        if name == "descriptor":
            empty = {"data": {}, "timestamps": {}, "data_keys": {}}
            doc = {**doc, "configuration": {k: dict(empty) for k in doc.get("configuration", {})}}
        out.append((name, doc))
    return out


def raster_docs(n_lines: int):
    """One raster run of ``n_lines`` lines of 4 x 512 float32: (head, lines, stop)."""
    (docs,) = record(scan_plan(LineSource(512), n_lines, 0.0))
    head = [d for d in docs if d[0] in ("start", "descriptor")]
    lines = [d for d in docs if d[0] == "event"]
    return head, lines, docs[-1]


# ---- the oracle: the minimum adapter calls for TiledWriter's layout ------------------


class Oracle:
    """Prepared arguments and the direct adapter calls that write a run's layout."""

    def __init__(self, catalog: Catalog):
        self.catalog = catalog

    @staticmethod
    def prepare(docs, max_array_size=0):
        """The nodes of a run as TiledWriter lays it out, from its documents (untimed)."""
        import pyarrow
        from tiled.server import schemas
        from tiled.structures.array import ArrayStructure, BuiltinDtype
        from tiled.structures.table import TableStructure
        from tiled.utils import safe_json_dump

        start = dict(docs[0][1])
        stop = dict(docs[-1][1])
        streams = {}
        for name, doc in docs:
            if name == "descriptor":
                arrays = {
                    k
                    for k, v in doc["data_keys"].items()
                    if v.get("dtype") == "array" and np.prod(v.get("shape", ())) > max_array_size
                }
                md = {k: v for k, v in doc.items() if k not in {"name", "object_keys", "run_start"}}
                streams[doc["uid"]] = {"name": doc["name"], "md": md, "arrays": arrays,
                                       "keys": doc["data_keys"], "rows": []}  # fmt: skip
            elif name == "event":
                s = streams[doc["descriptor"]]
                row = {"seq_num": doc["seq_num"], "time": doc["time"], **doc["data"]}
                row.update({f"ts_{k}": v for k, v in doc["timestamps"].items()})
                s["rows"].append(row)

        def request(family, key, metadata, specs, data_sources=()):
            body = {"id": key, "metadata": metadata, "structure_family": family,
                    "specs": specs, "data_sources": list(data_sources)}  # fmt: skip
            return schemas.PostMetadataRequest.model_validate_json(safe_json_dump(body))

        plan = {
            "run": request(
                "container",
                start["uid"],
                {"start": start},
                [{"name": "BlueskyRun", "version": "3.0"}],
            ),  # fmt: skip
            "md_stop": {"start": start, "stop": stop},
            "streams": [],
        }
        for s in streams.values():
            entry = {
                "node": request(
                    "container",
                    s["name"],
                    s["md"],
                    [
                        {"name": "BlueskyEventStream", "version": "3.0"},
                        {"name": "composite", "version": None},
                    ],
                ),  # fmt: skip
                "arrays": [],
            }
            for key in sorted(s["arrays"]):
                array = np.ascontiguousarray(np.stack([r.pop(key) for r in s["rows"]]))
                structure = ArrayStructure.from_array(array)
                structure = ArrayStructure(
                    shape=array.shape, chunks=structure.chunks, dims=None,
                    data_type=BuiltinDtype.from_numpy_dtype(array.dtype),
                )  # fmt: skip
                ds = {"structure": structure, "structure_family": "array", "mimetype": None,
                      "parameters": {}, "assets": [], "management": "writable"}  # fmt: skip
                md = dict(s["keys"][key], dtype_numpy=str(array.dtype))
                entry["arrays"].append(
                    (request("array", key, md, [], [ds]), array.tobytes(), array)
                )
            table = pyarrow.Table.from_pylist(s["rows"])
            tstructure = TableStructure.from_schema(table.schema, 1)
            ds = {"structure": tstructure, "structure_family": "table",
                  "mimetype": "application/x-tiled-sql-table", "parameters": {},
                  "assets": [], "management": "writable"}  # fmt: skip
            md = {k: v for k, v in s["keys"].items() if k in table.column_names}
            entry["table"] = (request("table", "internal", md, [], [ds]), table)
            plan["streams"].append(entry)
        return plan

    async def write_run(self, plan, close: bool = True, root=None):
        """The adapter calls; ``close``: the run ends (stop written, streams closed)."""
        from tiled.catalog.adapter import STRUCTURES
        from tiled.media_type_registration import default_deserialization_registry
        from tiled.mimetypes import APACHE_ARROW_FILE_MIME_TYPE
        from tiled.serialization.table import serialize_arrow

        root = root or self.catalog.root
        arr_deser = default_deserialization_registry.dispatch("array", "application/octet-stream")
        tab_deser = default_deserialization_registry.dispatch("table", APACHE_ARROW_FILE_MIME_TYPE)

        def typed(made):
            return STRUCTURES[made.node.structure_family](made.context, made.node)

        async def create(parent, req):
            return typed(
                await parent.create_node(
                    metadata=req.metadata, structure_family=req.structure_family, key=req.id,
                    specs=req.specs, data_sources=req.data_sources,
                )
            )  # fmt: skip

        made = []
        run = await create(root, plan["run"])
        made.append(run)
        for s in plan["streams"]:
            stream = await create(run, s["node"])
            made.append(stream)
            for req, body, _ in s["arrays"]:
                node = await create(stream, req)
                await node.write("application/octet-stream", arr_deser, node, body)
                made.append(node)
            req, table = s["table"]
            tnode = await create(stream, req)
            body = bytes(serialize_arrow(APACHE_ARROW_FILE_MIME_TYPE, table, {}))
            await tnode.append_partition(APACHE_ARROW_FILE_MIME_TYPE, tab_deser, tnode, body, 0)
            made.append(tnode)
        if close:
            await run.replace_metadata(
                metadata=plan["md_stop"], specs=run.specs, drop_revision=True
            )
            for node in made:
                await node.close_stream()
        return made

    async def append_lines(self, nodes, lines, offset):
        """A batch of lines into an open raster run's arrays (patch) and table (append)."""
        import pyarrow
        from tiled.media_type_registration import default_deserialization_registry
        from tiled.mimetypes import APACHE_ARROW_FILE_MIME_TYPE
        from tiled.serialization.table import serialize_arrow

        arr_deser = default_deserialization_registry.dispatch("array", "application/octet-stream")
        tab_deser = default_deserialization_registry.dispatch("table", APACHE_ARROW_FILE_MIME_TYPE)
        rows = []
        for _, doc in lines:
            row = {"seq_num": doc["seq_num"], "time": doc["time"]}
            row.update({f"ts_{k}": v for k, v in doc["timestamps"].items()})
            rows.append(row)
        for node in nodes:
            if node.structure_family == "array":
                key = node.node.key
                array = np.ascontiguousarray(np.stack([d["data"][key] for _, d in lines]))
                where = (offset,) + (0,) * (array.ndim - 1)
                body = array.tobytes()
                await node.patch(
                    array.shape, where, True, "application/octet-stream", arr_deser, node, body
                )
            elif node.structure_family == "table":
                body = bytes(
                    serialize_arrow(
                        APACHE_ARROW_FILE_MIME_TYPE, pyarrow.Table.from_pylist(rows), {}
                    )
                )
                await node.append_partition(APACHE_ARROW_FILE_MIME_TYPE, tab_deser, node, body, 0)


class _SharedSession:
    """One SQLAlchemy session lent to every adapter call; their commits only flush."""

    def __init__(self, session):
        self._session = session

    def __getattr__(self, name):
        return getattr(self._session, name)

    async def commit(self):
        await self._session.flush()

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False


class _OneTransaction:
    """Tiled's catalog Context whose ``session()`` is always one shared session.

    An experiment only (what one SQL transaction per run or batch would save):
    it relies on every adapter method taking its session from
    ``context.session()`` and committing it itself, which is Tiled's internals.
    """

    def __init__(self, context):
        self._context = context
        self._session = context.session()
        self._shared = _SharedSession(self._session)

    def __getattr__(self, name):
        return getattr(self._context, name)

    def session(self):
        return self._shared

    def adapter(self, adapter):
        """``adapter`` (a catalog node) seen through this context."""
        return type(adapter)(self, adapter.node)

    async def commit(self):
        await self._session.commit()
        await self._session.close()


# ---- measurements ---------------------------------------------------------------------


def cpu_of(fn):
    t0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return time.process_time() - t0, time.perf_counter() - w0, out


def endpoint_run(catalog: Catalog, timers: Timers, docs):
    """One run through the endpoint's code (decode + apply); its figures."""
    from autoscope.catalog import ingest

    body = ingest.pack({"uid": docs[0][1]["uid"], "first": 0, "docs": docs, "max_array_size": 0})
    timers.reset()
    t0, w0 = time.process_time(), time.perf_counter()
    msg = ingest.unpack(body)
    t_unpack = time.process_time() - t0
    catalog.sessions.apply(catalog.tree, msg)
    cpu, wall = time.process_time() - t0, time.perf_counter() - w0
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "unpack_cpu_s": t_unpack,
        "body_bytes": len(body),
        **timers.figures(),
    }


def oracle_run(catalog: Catalog, timers: Timers, docs, one_tx: bool = False):
    plan = Oracle.prepare(docs)

    async def write():
        if not one_tx:
            return await Oracle(catalog).write_run(plan)
        tx = _OneTransaction(catalog.root.context)
        await Oracle(catalog).write_run(plan, root=tx.adapter(catalog.root))
        await tx.commit()

    timers.reset()
    t0, w0 = time.process_time(), time.perf_counter()
    catalog.call(write())
    return {
        "cpu_s": time.process_time() - t0,
        "wall_s": time.perf_counter() - w0,
        **timers.figures(),
    }


def with_new_uids(docs):
    """The same run under fresh uids (a run is written once per uid)."""
    import uuid

    start_uid, mapping = str(uuid.uuid4()), {}
    out = []
    for name, doc in docs:
        doc = dict(doc)
        if name == "start":
            mapping[doc["uid"]] = start_uid
            doc["uid"] = start_uid
        else:
            if "run_start" in doc:
                doc["run_start"] = start_uid
            if name == "descriptor":
                mapping[doc["uid"]] = new = str(uuid.uuid4())
                doc["uid"] = new
            elif name == "event":
                doc["descriptor"] = mapping[doc["descriptor"]]
                doc["uid"] = str(uuid.uuid4())
            elif name == "stop":
                doc["uid"] = str(uuid.uuid4())
        out.append((name, doc))
    return out


def summarize(reps: list[dict]) -> dict:
    out = {}
    keys = ("cpu_s", "wall_s", "unpack_cpu_s", "tiled_cpu_s", "sql_statements", "commits",
            "commit_cpu_s", "commit_wall_s", "gc_s", "body_bytes")  # fmt: skip
    for key in keys:
        vals = [r[key] for r in reps if key in r]
        if vals:
            out[key] = statistics.median(vals)
    calls = reps[-1].get("tiled_calls", {})
    out["tiled_calls"] = calls
    out["tiled_cpu_by_call_ms"] = {
        k: 1e3 * statistics.median(r["tiled_cpu_by_call"].get(k, 0.0) for r in reps) for k in calls
    }
    out["tiled_wall_by_call_ms"] = {
        k: 1e3 * statistics.median(r["tiled_wall_by_call"].get(k, 0.0) for r in reps) for k in calls
    }
    out["tiled_cpu_per_call_ms"] = {
        k: out["tiled_cpu_by_call_ms"][k] / calls[k] for k in calls if calls[k]
    }
    return out


def measure_runs(catalog, timers, name, runs, repeat, results):
    ep = [endpoint_run(catalog, timers, with_new_uids(runs[i % len(runs)])) for i in range(repeat)]
    orc = [oracle_run(catalog, timers, with_new_uids(runs[i % len(runs)])) for i in range(repeat)]
    tx = [
        oracle_run(catalog, timers, with_new_uids(runs[i % len(runs)]), one_tx=True)
        for i in range(repeat)
    ]
    results[name] = {"endpoint": summarize(ep), "oracle": summarize(orc),
                     "oracle_1tx": summarize(tx),
                     "repetitions": {"endpoint": ep, "oracle": orc, "oracle_1tx": tx}}  # fmt: skip


def measure_lines(catalog, timers, n_lines, repeat, results):
    """Batches of ``n_lines`` lines appended to one open raster run, each way."""
    from autoscope.catalog import ingest

    total = n_lines * (2 * repeat + 1)
    head, lines, _stop = raster_docs(total)
    # endpoint: the run's head and its first batch, then ``repeat`` timed batches
    head_e = with_new_uids(head + lines)
    uid = head_e[0][1]["uid"]
    ev = [d for d in head_e if d[0] == "event"]
    first = head_e[: len(head)] + ev[:n_lines]
    catalog.sessions.apply(catalog.tree, {"uid": uid, "first": 0, "docs": first})
    ep, k = [], len(first)
    for r in range(repeat):
        batch = ev[n_lines * (r + 1) : n_lines * (r + 2)]
        body = ingest.pack({"uid": uid, "first": k, "docs": batch, "max_array_size": 0})
        timers.reset()
        t0, w0 = time.process_time(), time.perf_counter()
        catalog.sessions.apply(catalog.tree, ingest.unpack(body))
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        ep.append({"cpu_s": cpu, "wall_s": wall, "body_bytes": len(body), **timers.figures()})
        k += len(batch)
    # oracle: the same run's nodes made directly, then the same batches
    head_o = with_new_uids(head + lines)
    ev_o = [d for d in head_o if d[0] == "event"]
    plan = Oracle.prepare(head_o[: len(head)] + ev_o[:n_lines] + [("stop", {})])
    oracle = Oracle(catalog)
    made = catalog.call(oracle.write_run(plan, close=False))
    stream_nodes = [m for m in made if m.structure_family in ("array", "table")]
    orc, offset = [], n_lines
    for r in range(repeat):
        batch = ev_o[n_lines * (r + 1) : n_lines * (r + 2)]
        timers.reset()
        t0, w0 = time.process_time(), time.perf_counter()
        catalog.call(oracle.append_lines(stream_nodes, batch, offset))
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        orc.append({"cpu_s": cpu, "wall_s": wall, **timers.figures()})
        offset += len(batch)
    # oracle in one transaction per batch, on the same nodes
    tx = []
    for r in range(repeat, 2 * repeat):
        batch = ev_o[n_lines * (r + 1) : n_lines * (r + 2)]

        async def append(batch=batch, offset=offset):
            one = _OneTransaction(catalog.root.context)
            await oracle.append_lines([one.adapter(n) for n in stream_nodes], batch, offset)
            await one.commit()

        timers.reset()
        t0, w0 = time.process_time(), time.perf_counter()
        catalog.call(append())
        cpu, wall = time.process_time() - t0, time.perf_counter() - w0
        tx.append({"cpu_s": cpu, "wall_s": wall, **timers.figures()})
        offset += len(batch)
    results[f"lines{n_lines}"] = {"endpoint": summarize(ep), "oracle": summarize(orc),
                                  "oracle_1tx": summarize(tx),
                                  "repetitions": {"endpoint": ep, "oracle": orc,
                                                  "oracle_1tx": tx}}  # fmt: skip


def thread_cpu() -> dict[str, float]:
    """CPU seconds of each thread of this process so far, by thread name (Linux)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    tck = os.sysconf("SC_CLK_TCK")
    for task in Path("/proc/self/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        name = names.get(int(task.name), "other (sqlite/duckdb/aiosqlite)")
        out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tck
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=12)
    parser.add_argument("--lines", default="1,8,64", help="lines per batch, comma-separated")
    parser.add_argument("--only", default="spectrum,demo,lines", help="spectrum,demo,lines")
    parser.add_argument(
        "--tables", default="duckdb", choices=("duckdb", "sqlite"),
        help="table storage (duckdb: the embedded server's)",
    )  # fmt: skip
    parser.add_argument(
        "--loop", default="asyncio", choices=("asyncio", "uvloop"),
        help="event loop (asyncio: the embedded server's)",
    )  # fmt: skip
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--profile", default=None, help="write cProfile stats to PREFIX.*.txt")
    args = parser.parse_args(argv)
    only = set(args.only.split(","))
    # CPU time of the thread (the default timer is wall time, which counts GIL waits)
    loop_prof = cProfile.Profile(time.thread_time) if args.profile else None
    main_prof = cProfile.Profile(time.thread_time) if args.profile else None
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="bench-floor-") as tmp:
        catalog = Catalog(Path(tmp), profile=loop_prof, tables=args.tables, loop=args.loop)
        timers = Timers()
        timers.install(catalog.root.context.engine)
        try:
            # warm up: imports, first table of each schema, first zarr store
            warm = spectrum_runs(2)
            for docs in warm:
                endpoint_run(catalog, timers, with_new_uids(docs))
                oracle_run(catalog, timers, with_new_uids(docs))
            if main_prof:
                main_prof.enable()
            threads0 = thread_cpu()
            if "spectrum" in only:
                measure_runs(catalog, timers, "spectrum", spectrum_runs(4), args.repeat, results)
            if "demo" in only:
                spectra, reports = demo_runs(4)
                for docs in (spectra[0], reports[0]):  # warm their table schemas
                    endpoint_run(catalog, timers, with_new_uids(docs))
                    oracle_run(catalog, timers, with_new_uids(docs))
                measure_runs(catalog, timers, "demo_spectrum", spectra, args.repeat, results)
                measure_runs(catalog, timers, "demo_report", reports, args.repeat, results)
                light = [without_configuration(docs) for docs in reports]
                measure_runs(catalog, timers, "demo_report_noconf", light, args.repeat, results)
            if "lines" in only:
                for n in [int(x) for x in args.lines.split(",")]:
                    reps = max(3, args.repeat // max(1, n // 8))
                    measure_lines(catalog, timers, n, reps, results)
            threads1 = thread_cpu()
            if main_prof:
                main_prof.disable()
        finally:
            catalog.close()
    results["thread_cpu_s"] = {k: threads1.get(k, 0) - threads0.get(k, 0) for k in threads1}

    print(f"medians of {args.repeat} (lines: see repetitions); CPU of this process, all threads")
    print(f"{'case':<16}{'way':<10}{'CPU ms':>9}{'wall ms':>9}{'in Tiled ms':>12}{'SQL':>6}"
          f"{'commits':>8}{'commit ms':>10}{'gc ms':>7}  Tiled calls (ms CPU each)")  # fmt: skip
    for case, res in results.items():
        if case == "thread_cpu_s":
            continue
        for way in ("endpoint", "oracle", "oracle_1tx"):
            m = res[way]
            tiled = m.get("tiled_cpu_s", sum(m["tiled_cpu_by_call_ms"].values()) / 1e3)
            calls = ", ".join(
                f"{k} {m['tiled_calls'][k]}x{v:.1f} (wall {m['tiled_wall_by_call_ms'][k]:.0f})"
                for k, v in m["tiled_cpu_per_call_ms"].items()
            )
            print(
                f"{case:<16}{way:<10}{1e3 * m['cpu_s']:>9.1f}{1e3 * m['wall_s']:>9.1f}"
                f"{1e3 * tiled:>12.1f}{m['sql_statements']:>6.0f}{m['commits']:>8.0f}"
                f"{1e3 * m['commit_cpu_s']:>10.1f}{1e3 * m['gc_s']:>7.1f}  {calls}"
            )
    print("thread CPU s:", {k: round(v, 2) for k, v in results["thread_cpu_s"].items()})
    if args.profile:
        for tag, prof in (("loop", loop_prof), ("worker", main_prof)):
            path = Path(f"{args.profile}.{tag}.txt")
            with path.open("w") as fh:
                stats = pstats.Stats(prof, stream=fh)
                stats.sort_stats("cumulative").print_stats(60)
                stats.sort_stats("tottime").print_stats(40)
            print("profile:", path)
    if args.json:
        payload = {"benchmark": "bench_catalog_floor", "python": sys.version.split()[0],
                   "platform": platform.platform(), "args": vars(args) | {"json": str(args.json)},
                   "loadavg": os.getloadavg(), "results": results}  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
