"""CatalogWriter: documents reach Tiled in order, complete, with their dtypes, once.

A real RunEngine runs plans whose events are scan lines; a real (in-process)
Tiled catalog receives them through bluesky-tiled-plugins' run writer, in
batches. The faults are real too: a catalog refuses a document, a catalog
server stops mid-run and comes back on another port, a writer's process ends
and leaves its spool behind.
"""

from __future__ import annotations

import contextlib
import json
import time

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import pytest
from bluesky.utils import Msg, RunEngineInterrupted
from event_model import compose_run

from autoscope.catalog import spool
from autoscope.catalog.testing import inprocess_catalog
from autoscope.catalog.writer import CatalogWriter, replay_file
from autoscope.errors import CatalogError


def lines_plan(source, n, md=None):
    @bpp.run_decorator(md={"plan_name": "lines", **(md or {})})
    def inner():
        for _ in range(n):
            yield from bps.trigger_and_read([source])

    return (yield from inner())


@pytest.fixture
def writer(module_catalog, tmp_path):
    w = CatalogWriter(module_catalog, spool_dir=tmp_path / "spool")
    yield w
    w.close(raise_errors=False)


def test_lines_land_in_order_with_float32_dtype_and_units(RE, writer, module_catalog, line_source):
    RE.subscribe(writer)
    (uid,) = RE(lines_plan(line_source, 5))
    run = module_catalog[uid]
    assert type(run).__name__.startswith("BlueskyRun")
    assert run.metadata["start"]["plan_name"] == "lines"
    assert run.metadata["stop"]["exit_status"] == "success"
    primary = run["primary"]
    for key in ("spm_topo_trace", "spm_current_retrace"):
        stored = primary[key].read()
        assert stored.dtype == np.float32
        assert stored.shape == (5, 64)
        expected = np.stack([line[key] for line in line_source.lines])
        np.testing.assert_array_equal(stored, expected)
    data_keys = primary.metadata["data_keys"]
    assert data_keys["spm_topo_trace"]["units"] == "nm"
    assert data_keys["spm_current_trace"]["units"] == "pA"
    assert data_keys["spm_topo_trace"]["dtype_numpy"] == "<f4"
    assert data_keys["spm_topo_trace"]["shape"] == [64]
    # the xarray view (what databroker users read) keeps float32 too
    ds = run.primary.read()
    assert ds["spm_topo_retrace"].dtype == np.float32
    assert list(primary["seq_num"].read()) == [1, 2, 3, 4, 5]


class Stage:
    """Readable: a position vector (3 floats: x, y, z), small enough for table storage."""

    name = "stage"
    parent = None

    def __init__(self):
        self.n = 0

    def describe(self):
        return {"stage_xyz": {"source": "sim://stage", "dtype": "array", "dtype_numpy": "<f8",
                              "shape": [3], "units": "nm"}}  # fmt: skip

    def read(self):
        self.n += 1
        return {"stage_xyz": {"value": np.array([self.n, 2.0 * self.n, -1.0]), "timestamp": 0.0}}


def test_small_arrays_go_to_table_storage_and_come_back(RE, writer, module_catalog):
    RE.subscribe(writer)
    (uid,) = RE(lines_plan(Stage(), 3))
    xyz = np.asarray(module_catalog[uid]["primary"]["stage_xyz"].read())
    np.testing.assert_array_equal(xyz, [[1, 2, -1], [2, 4, -1], [3, 6, -1]])


def test_half_finished_run_is_readable_before_stop(RE, writer, module_catalog, line_source):
    """Lines already measured are in the catalog while the run is still open."""
    seen = {}

    def plan():
        @bpp.run_decorator(md={"plan_name": "lines"})
        def inner():
            for _ in range(3):
                yield from bps.trigger_and_read([line_source])
            writer.flush(timeout=60)
            uid = writer_uid[0]
            run = module_catalog[uid]
            seen["stop"] = run.metadata.get("stop")
            seen["rows"] = run["primary"]["spm_topo_trace"].read().shape[0]
            yield from bps.trigger_and_read([line_source])

        return (yield from inner())

    writer_uid = []
    RE.subscribe(lambda name, doc: writer_uid.append(doc["uid"]) if name == "start" else None)
    RE.subscribe(writer)
    (uid,) = RE(plan())
    assert seen == {"stop": None, "rows": 3}
    assert module_catalog[uid]["primary"]["spm_topo_trace"].read().shape[0] == 4


def test_queued_lines_are_copies_of_the_device_buffer(RE, writer, module_catalog, request):
    source_cls = type(request.getfixturevalue("line_source"))
    source = source_cls(reuse_buffer=True, seed=3)
    RE.subscribe(writer)
    (uid,) = RE(lines_plan(source, 4))
    stored = module_catalog[uid]["primary"]["spm_current_trace"].read()
    expected = np.stack([line["spm_current_trace"] for line in source.lines])
    np.testing.assert_array_equal(stored, expected)
    assert len({row.tobytes() for row in stored}) == 4


def test_stop_waits_until_the_run_is_written(RE, writer, module_catalog, line_source):
    RE.subscribe(writer)
    (uid,) = RE(lines_plan(line_source, 3))
    # No flush here: returning from RE() must already mean "written".
    assert writer.pending == 0
    assert module_catalog[uid].metadata["stop"]["num_events"] == {"primary": 3}
    assert len(writer.latencies()) == 3


def test_failed_plan_still_writes_its_stop_document(RE, writer, module_catalog, line_source):
    class Boom(RuntimeError):
        pass

    def plan():
        @bpp.run_decorator(md={"plan_name": "lines"})
        def inner():
            yield from bps.trigger_and_read([line_source])
            yield from bps.trigger_and_read([line_source])
            raise Boom("instrument fault")

        return (yield from inner())

    uids = []
    RE.subscribe(lambda name, doc: uids.append(doc["uid"]) if name == "start" else None)
    RE.subscribe(writer)
    with pytest.raises(Boom):
        RE(plan())
    run = module_catalog[uids[0]]
    assert run.metadata["stop"]["exit_status"] == "fail"
    assert "instrument fault" in run.metadata["stop"]["reason"]
    assert run["primary"]["spm_topo_trace"].read().shape == (2, 64)


def test_many_lines_flat_out_arrive_once_in_order(RE, writer, module_catalog, line_source):
    """Lines queued faster than requests are written in batches: same rows, same order."""
    RE.subscribe(writer)
    (uid,) = RE(lines_plan(line_source, 120))
    primary = module_catalog[uid]["primary"]
    assert list(primary["seq_num"].read()) == list(range(1, 121))
    expected = np.stack([line["spm_topo_retrace"] for line in line_source.lines])
    np.testing.assert_array_equal(primary["spm_topo_retrace"].read(), expected)
    assert not list(writer.spool_dir.iterdir())  # every run in the catalog: spool empty


def test_refused_document_is_raised_at_the_next_document_and_the_run_kept(module_catalog, tmp_path):
    """A descriptor the catalog refuses is raised, not swallowed, and nothing is lost."""
    writer = CatalogWriter(module_catalog, spool_dir=tmp_path / "spool")
    run = compose_run()
    uid = run.start_doc["uid"]
    dk = {"source": "test", "dtype": "number", "shape": [], "units": "s"}
    desc = run.compose_descriptor(name="primary", data_keys={"time": dk, "time_": dk})
    writer("start", run.start_doc)
    writer("descriptor", desc.descriptor_doc)  # refused in the background
    deadline = time.monotonic() + 60
    while writer.pending and time.monotonic() < deadline:  # poll the condition
        time.sleep(0.01)
    event = desc.compose_event(data={"time": 1.0, "time_": 2.0}, timestamps={"time": 0, "time_": 0})
    kept = tmp_path / "failed" / f"{uid}.spool"
    with pytest.raises(CatalogError, match=f"writing run {uid} to the catalog failed") as info:
        writer("event", event)  # the next document raises the error
    assert str(kept) in str(info.value)
    writer("stop", run.compose_stop(exit_status="success"))  # no second error
    writer.close()
    docs = spool.read(kept)
    assert [name for name, _ in docs] == ["start", "descriptor", "event", "stop"]
    assert docs[2][1]["data"] == {"time": 1.0, "time_": 2.0}
    assert not list((tmp_path / "spool").iterdir())
    # the catalog's partial copy is closed with the reason, not left "running"
    stop = module_catalog[uid].metadata["stop"]
    assert stop["exit_status"] == "fail"
    assert str(kept) in stop["reason"]


class ClashingKeys:
    """Readable whose data keys TiledWriter cannot store ("time" and "time_" both)."""

    name = "clash"
    parent = None

    def describe(self):
        dk = {"source": "test", "dtype": "number", "shape": [], "units": "s"}
        return {"time": dict(dk), "time_": dict(dk)}

    def read(self):
        return {"time": {"value": 1.0, "timestamp": 0.0}, "time_": {"value": 2.0, "timestamp": 0.0}}


def test_refused_run_ends_the_plan_and_keeps_its_documents(
    RE, module_catalog, tmp_path, line_source
):
    writer = CatalogWriter(module_catalog, spool_dir=tmp_path / "spool")
    uids = []
    RE.subscribe(lambda name, doc: uids.append(doc["uid"]) if name == "start" else None)
    RE.subscribe(writer)
    lines_after = []

    def plan():
        @bpp.run_decorator(md={"plan_name": "clash"})
        def inner():
            yield from bps.trigger_and_read([line_source])
            yield from bps.trigger_and_read([ClashingKeys()], name="clash")
            writer.flush(timeout=60)  # raises here: the plan ends as a failure
            for _ in range(20):
                lines_after.append(1)
                yield from bps.trigger_and_read([line_source])

        return (yield from inner())

    with pytest.raises(CatalogError, match="to the catalog failed") as refused:
        RE(plan())
    # the server's reason travels with the status: what the run writer could not store
    assert "422 Unprocessable Entity" in str(refused.value)
    assert "the run writer cannot store it" in str(refused.value)
    (uid,) = uids
    assert lines_after == []
    writer.close()
    kept = spool.read(tmp_path / "failed" / f"{uid}.spool")
    assert kept[0][0] == "start"
    assert kept[-1][0] == "stop" and kept[-1][1]["exit_status"] == "fail"
    assert [n for n, _ in kept].count("event") == 2


def test_closed_writer_refuses_documents(module_catalog, tmp_path):
    writer = CatalogWriter(module_catalog, spool_dir=tmp_path / "spool")
    writer.close()
    with pytest.raises(CatalogError, match="closed"):
        writer("start", compose_run().start_doc)


@pytest.fixture
def fast_failing_client(monkeypatch):
    """Tiled's client retries a refused connection for ~20 s; once is enough here."""
    import tiled.client.utils

    monkeypatch.setattr(tiled.client.utils, "TILED_RETRY_ATTEMPTS", 1)


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_catalog_stopped_mid_run_and_back_on_another_port_has_every_event_once(
    RE, tmp_path, line_source, fast_failing_client
):
    """The RunEngine goes on while the catalog is gone; the run is replayed once it is back.

    The run's partial copy (written before the catalog went) is replaced, so
    each line is in the catalog once; every subscriber gets the stop document;
    the plan's exit status is its own (success), and the writer follows the
    catalog to its new address.
    """
    folder = tmp_path / "catalog"
    servers = contextlib.ExitStack()
    now = {"client": servers.enter_context(inprocess_catalog(folder))}
    first_uri = str(now["client"].context.api_uri)

    def reconnect():
        if now["client"] is None:
            raise CatalogError("no catalog server")
        return now["client"]

    writer = CatalogWriter(
        now["client"], spool_dir=folder / "spool", reconnect=reconnect, retry_interval=0.05
    )
    seen = []
    RE.subscribe(writer)
    RE.subscribe(lambda name, doc: seen.append((name, doc)))

    def plan():
        @bpp.run_decorator(md={"plan_name": "lines"})
        def inner():
            for i in range(12):
                if i == 5:
                    writer.flush(timeout=60)  # lines 1-5 are in the catalog
                    now["client"] = None
                    servers.close()  # the catalog server stops
                yield from bps.trigger_and_read([line_source])

        return (yield from inner())

    (uid,) = RE(plan())  # the RunEngine does not raise
    assert seen[-1][0] == "stop" and seen[-1][1]["exit_status"] == "success"
    assert (folder / "spool" / f"{uid}.spool").exists()  # pending: spooled, not yet written
    with inprocess_catalog(folder) as client:  # back, on another port
        assert str(client.context.api_uri) != first_uri
        now["client"] = client
        writer.flush(timeout=120)
        run = client[uid]
        assert run.metadata["stop"]["exit_status"] == "success"
        primary = run["primary"]
        assert list(primary["seq_num"].read()) == list(range(1, 13))
        expected = np.stack([line["spm_topo_trace"] for line in line_source.lines])
        np.testing.assert_array_equal(primary["spm_topo_trace"].read(), expected)
        assert len([k for k in client if k == uid]) == 1
        assert not (folder / "spool" / f"{uid}.spool").exists()
        writer.close()


def _spooled_run(path, n_events, stop=True):
    """Write a run's documents to a spool file as a writer would; returns (uid, docs)."""
    run = compose_run(metadata={"plan_name": "spooled"})
    dk = {"source": "sim", "dtype": "array", "dtype_numpy": "<f4", "shape": [8], "units": "nm"}
    desc = run.compose_descriptor(name="primary", data_keys={"line": dk})
    docs = [("start", run.start_doc), ("descriptor", desc.descriptor_doc)]
    for i in range(n_events):
        line = np.full(8, i, np.float32)
        docs.append(("event", desc.compose_event(data={"line": line}, timestamps={"line": 0.0})))
    if stop:
        docs.append(("stop", run.compose_stop(exit_status="success")))
    out = spool.SpoolFile(path.parent / f"{run.start_doc['uid']}{path.suffix}")
    for name, doc in docs:
        out.append(name, doc)
    out.close()
    return run.start_doc["uid"], out.path


def test_run_left_in_the_spool_by_a_gone_writer_is_replayed_and_closed(module_catalog, tmp_path):
    """A process killed mid-run leaves a spool without stop: the next writer closes the run."""
    spool_dir = tmp_path / "spool"
    uid, path = _spooled_run(spool_dir / "x.spool", 3, stop=False)
    writer = CatalogWriter(module_catalog, spool_dir=spool_dir)
    writer.flush(timeout=60)
    writer.close()
    run = module_catalog[uid]
    assert run.metadata["stop"]["exit_status"] == spool.RECOVERED_STATUS
    assert "recovered from the local spool" in run.metadata["stop"]["reason"]
    assert run.metadata["stop"]["num_events"] == {"primary": 3}
    assert run["primary"]["line"].read()[:, 0].tolist() == [0, 1, 2]
    assert not path.exists()


def test_a_spool_held_by_a_live_writer_is_not_taken(module_catalog, tmp_path):
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    held = spool.SpoolFile(spool_dir / "00000000-held.spool")  # a live writer's open run
    writer = CatalogWriter(module_catalog, spool_dir=spool_dir)
    writer.flush(timeout=60)
    writer.close()
    assert held.path.exists()
    held.remove()


@pytest.mark.parametrize("suffix", [".spool", ".jsonl"])
def test_replaying_a_kept_run_twice_leaves_one_copy(module_catalog, tmp_path, suffix):
    """Replay replaces any copy already there: no 409, no second copy, no extra rows."""
    if suffix == ".jsonl":  # the failed/ files of earlier versions: JSON lines
        run = compose_run()
        dk = {"source": "sim", "dtype": "number", "shape": [], "units": "V"}
        desc = run.compose_descriptor(name="primary", data_keys={"bias": dk})
        docs = [("start", run.start_doc), ("descriptor", desc.descriptor_doc)]
        docs += [
            ("event", desc.compose_event(data={"bias": 0.5 * i}, timestamps={"bias": 0.0}))
            for i in range(4)
        ]
        docs.append(("stop", run.compose_stop(exit_status="success")))
        uid = run.start_doc["uid"]
        path = tmp_path / f"{uid}.jsonl"
        path.write_text("".join(json.dumps([n, d]) + "\n" for n, d in docs))
        n = 4
    else:
        uid, path = _spooled_run(tmp_path / "x.spool", 4)
        n = 4
    assert replay_file(module_catalog, path) == uid
    assert replay_file(module_catalog, path) == uid
    run = module_catalog[uid]
    assert list(run["primary"]["seq_num"].read()) == list(range(1, n + 1))
    assert run.metadata["stop"]["exit_status"] == "success"
    assert len(list(module_catalog.search(_uid_query(uid)))) == 1


def _uid_query(uid):
    from tiled.queries import Key

    return Key("start.uid") == uid


def test_an_event_retaken_after_a_pause_is_in_the_catalog_once(
    RE, writer, module_catalog, line_source
):
    """bluesky 1.15 re-takes, on resume, the events since the last checkpoint and emits
    them again under their seq_num (docs/decisions/0016-pause-rewind.md): the catalog keeps
    each event once, as first measured."""
    source = line_source

    @bpp.run_decorator(md={"plan_name": "lines"})
    def plan():
        for i in range(3):
            yield from bps.checkpoint()
            yield from bps.trigger_and_read([source])
            if i == 1:  # an immediate pause (RE.request_pause(defer=False)) after the save
                yield Msg("pause", None, defer=False)

    seen = []
    RE.subscribe(lambda name, doc: seen.append(doc["seq_num"]) if name == "event" else None)
    RE.subscribe(writer)
    with pytest.raises(RunEngineInterrupted):
        RE(plan())
    (uid,) = RE.resume()
    assert seen == [1, 2, 2, 3]  # what the RunEngine emits: event 2 re-taken
    assert len(source.lines) == 4
    primary = module_catalog[uid]["primary"]
    assert list(primary["seq_num"].read()) == [1, 2, 3]
    stored = primary["spm_topo_trace"].read()
    first_takes = [source.lines[i]["spm_topo_trace"] for i in (0, 1, 3)]
    np.testing.assert_array_equal(stored, np.stack(first_takes))
    assert module_catalog[uid].metadata["stop"]["num_events"] == {"primary": 3}
