"""CatalogWriter: documents reach Tiled in order, complete, with their dtypes.

A real RunEngine runs plans whose events are scan lines; a real (in-process)
Tiled catalog receives them through bluesky_tiled_plugins.TiledWriter.
"""

from __future__ import annotations

import json
import time

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import numpy as np
import pytest
from event_model import compose_run

from autoscope.catalog.writer import CatalogWriter
from autoscope.errors import CatalogError


def lines_plan(source, n, md=None):
    @bpp.run_decorator(md={"plan_name": "lines", **(md or {})})
    def inner():
        for _ in range(n):
            yield from bps.trigger_and_read([source])

    return (yield from inner())


@pytest.fixture
def writer(module_catalog, tmp_path):
    w = CatalogWriter(module_catalog, failed_dir=tmp_path / "failed")
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


def test_write_error_is_raised_at_the_next_document_and_the_run_kept(module_catalog, tmp_path):
    """A descriptor TiledWriter refuses is raised, not swallowed, and nothing is lost."""
    writer = CatalogWriter(module_catalog, failed_dir=tmp_path / "failed")
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
    with pytest.raises(CatalogError, match="writing the descriptor document of run") as info:
        writer("event", event)  # the next document raises the error
    assert str(tmp_path / "failed" / f"{uid}.jsonl") in str(info.value)
    writer("stop", run.compose_stop(exit_status="success"))  # no second error
    kept = tmp_path / "failed" / f"{uid}.jsonl"
    docs = [json.loads(line) for line in kept.read_text().splitlines()]
    assert [name for name, _ in docs] == ["start", "descriptor", "event", "stop"]
    assert docs[2][1]["data"] == {"time": 1.0, "time_": 2.0}
    assert module_catalog[uid].metadata.get("stop") is None  # the catalog's copy is partial
    writer.close()


class ClashingKeys:
    """Readable whose data keys TiledWriter cannot store ("time" and "time_" both)."""

    name = "clash"
    parent = None

    def describe(self):
        dk = {"source": "test", "dtype": "number", "shape": [], "units": "s"}
        return {"time": dict(dk), "time_": dict(dk)}

    def read(self):
        return {"time": {"value": 1.0, "timestamp": 0.0}, "time_": {"value": 2.0, "timestamp": 0.0}}


def test_write_error_ends_the_plan_and_keeps_its_documents(
    RE, module_catalog, tmp_path, line_source
):
    writer = CatalogWriter(module_catalog, failed_dir=tmp_path / "failed")
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

    with pytest.raises(CatalogError, match="writing the descriptor document of run"):
        RE(plan())
    (uid,) = uids
    assert lines_after == []
    run = module_catalog[uid]  # what was written before the failure stays
    assert run["primary"]["spm_topo_trace"].read().shape == (1, 64)
    kept = [json.loads(x) for x in (tmp_path / "failed" / f"{uid}.jsonl").read_text().splitlines()]
    assert kept[0][0] == "start"
    assert kept[-1][0] == "stop" and kept[-1][1]["exit_status"] == "fail"
    writer.close()


def test_closed_writer_refuses_documents(module_catalog, tmp_path):
    writer = CatalogWriter(module_catalog, failed_dir=tmp_path / "failed")
    writer.close()
    with pytest.raises(CatalogError, match="closed"):
        writer("start", compose_run().start_doc)


def test_memory_for_the_failed_file_is_bounded(RE, module_catalog, tmp_path, line_source):
    """Beyond keep_limit_mb, written events are not held in memory; the error says so."""
    writer = CatalogWriter(module_catalog, failed_dir=tmp_path / "failed", keep_limit_mb=0.002)
    uids = []
    RE.subscribe(lambda name, doc: uids.append(doc["uid"]) if name == "start" else None)
    RE.subscribe(writer)

    def plan():
        @bpp.run_decorator(md={"plan_name": "clash"})
        def inner():
            for _ in range(3):  # 1280 bytes each: only the first fits in 2 kB
                yield from bps.trigger_and_read([line_source])
            yield from bps.trigger_and_read([ClashingKeys()], name="clash")
            writer.flush(timeout=60)

        return (yield from inner())

    with pytest.raises(CatalogError, match=r"less 2 events written to the catalog before"):
        RE(plan())
    (uid,) = uids
    assert module_catalog[uid]["primary"]["spm_topo_trace"].read().shape == (3, 64)
    kept = [json.loads(x) for x in (tmp_path / "failed" / f"{uid}.jsonl").read_text().splitlines()]
    assert [name for name, _ in kept] == [
        "start", "descriptor", "event", "descriptor", "event", "stop"
    ]  # fmt: skip
    assert kept[2][1]["seq_num"] == 1
    writer.close()
