"""The catalog server's one-request endpoint: a run's documents in one POST.

A real RunEngine makes the documents; a real (in-process) catalog server
applies them. What is checked: the run it writes is the run that Tiled's own
routes write (every node, its metadata, structure and data), re-sending never
duplicates, a wrong key is refused, the writer and the spool replay go
through it, one request per short run.
"""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import httpx
import numpy as np
import pytest

from autoscope.catalog import ingest, spool
from autoscope.catalog.writer import (
    CatalogWriter,
    endpoint_url,
    has_endpoint,
    post_documents,
    replay_file,
)
from autoscope.errors import CatalogResend


class Stage:
    """Readable: a scalar position, stored in the stream's table (not as an array)."""

    name = "stage"
    parent = None

    def __init__(self):
        self.n = 0

    def describe(self):
        return {"stage_x": {"source": "sim://stage", "dtype": "number", "units": "nm", "shape": []}}

    def read(self):
        self.n += 1
        return {"stage_x": {"value": 0.5 * self.n, "timestamp": 1.0e9 + self.n}}


def lines_plan(source, stage, n):
    @bpp.run_decorator(md={"plan_name": "lines", "sample": {"name": "Au(111)", "T_K": 4.2}})
    def inner():
        for _ in range(n):
            yield from bps.trigger_and_read([source, stage])

    return (yield from inner())


def record(RE, plan):
    docs = []
    token = RE.subscribe(lambda name, doc: docs.append((name, doc)))
    try:
        (uid,) = RE(plan)
    finally:
        RE.unsubscribe(token)
    return uid, docs


def snapshot(node, path=()):
    """Every node under ``node``: family, specs, metadata, structure, data sources, data."""
    out = {}
    # a stream is a composite container: its base lists the table itself, not its columns
    for key, child in getattr(node, "base", node).items():
        attrs = child.item["attributes"]
        entry = {
            "family": attrs["structure_family"],
            "specs": attrs["specs"],
            "metadata": dict(child.metadata),
            "structure": attrs.get("structure"),
            "sources": [
                {k: ds[k] for k in ("structure_family", "mimetype", "management", "parameters")}
                for ds in (attrs.get("data_sources") or [])
            ],
        }
        family = attrs["structure_family"]
        if family == "container":
            out.update(snapshot(child, path + (key,)))
        elif family == "array":
            entry["data"] = child.read()
        elif family == "table":
            entry["data"] = child.read()
        out["/".join(path + (key,))] = entry
    return out


def assert_same(a: dict, b: dict):
    assert sorted(a) == sorted(b)
    for path in a:
        x, y = a[path], b[path]
        for field in ("family", "specs", "metadata", "structure", "sources"):
            assert x[field] == y[field], (path, field)
        if "data" in x:
            if isinstance(x["data"], np.ndarray):
                np.testing.assert_array_equal(x["data"], y["data"])
                assert x["data"].dtype == y["data"].dtype
            else:
                assert x["data"].equals(y["data"]), path


@pytest.fixture
def counted(module_catalog):
    """The requests the catalog client sends, as (method, path) pairs."""
    seen: list[tuple[str, str]] = []
    hooks = module_catalog.context.http_client.event_hooks
    hook = lambda request: seen.append((request.method, request.url.path))  # noqa: E731
    hooks["request"].append(hook)
    yield seen
    hooks["request"].remove(hook)


def test_a_run_through_the_endpoint_is_the_run_tiled_routes_write(
    RE, module_catalog, line_source, tmp_path
):
    assert has_endpoint(module_catalog)
    # the reference: the same documents through Tiled's own routes
    ref = CatalogWriter(module_catalog, spool_dir=tmp_path / "spool", direct=False)
    RE.subscribe(ref)
    uid, docs = record(RE, lines_plan(line_source, Stage(), 2))
    ref.close()
    before = snapshot(module_catalog[uid])
    assert set(before) >= {"primary", "primary/spm_topo_trace", "primary/internal"}
    # first=0 replaces the run: the catalog's copy is now the endpoint's
    post_documents(module_catalog, uid, 0, docs)
    run = module_catalog[uid]
    after = snapshot(run)
    assert_same(before, after)
    assert run.metadata["start"]["sample"] == {"name": "Au(111)", "T_K": 4.2}
    assert run.metadata["stop"]["exit_status"] == "success"
    # what databroker users read
    ds = run.primary.read()
    assert ds["spm_topo_trace"].dtype == np.float32
    np.testing.assert_array_equal(
        ds["spm_topo_trace"].values, np.stack([ln["spm_topo_trace"] for ln in line_source.lines])
    )
    assert list(ds["stage_x"].values) == [0.5, 1.0]


def test_resending_documents_never_duplicates_them(RE, module_catalog, line_source):
    uid, docs = record(RE, lines_plan(line_source, Stage(), 4))
    # a raster's batches (start, descriptor, 4 lines, stop), the second re-sending
    # what the first applied
    post_documents(module_catalog, uid, 0, docs[:4])
    post_documents(module_catalog, uid, 1, docs[1:3])  # applied already: changes nothing
    post_documents(module_catalog, uid, 2, docs[2:])
    # and the whole run again from the first (a lost response, a replay)
    post_documents(module_catalog, uid, 0, docs)
    primary = module_catalog[uid]["primary"]
    assert list(primary["seq_num"].read()) == [1, 2, 3, 4]
    assert primary["spm_topo_trace"].read().shape == (4, 64)
    assert module_catalog[uid].metadata["stop"]["num_events"] == {"primary": 4}


def test_a_batch_of_a_run_the_server_does_not_hold_is_sent_back(RE, module_catalog, line_source):
    uid, docs = record(RE, lines_plan(line_source, Stage(), 3))
    # no start yet (a restarted server): the writer must re-send the run whole
    with pytest.raises(CatalogResend, match="send its documents from the first"):
        post_documents(module_catalog, uid, 2, docs[2:])
    post_documents(module_catalog, uid, 0, docs[:3])
    with pytest.raises(CatalogResend, match="are missing"):
        post_documents(module_catalog, uid, 4, docs[4:])
    assert uid not in module_catalog or "stop" not in module_catalog[uid].metadata


def test_a_wrong_api_key_is_refused_and_writes_nothing(RE, module_catalog, line_source):
    uid, docs = record(RE, lines_plan(line_source, Stage(), 2))
    body = ingest.pack({"uid": uid, "first": 0, "docs": docs})
    url = endpoint_url(module_catalog)
    for headers in ({"Authorization": "Apikey not-the-key"}, {}):
        response = httpx.post(
            url, content=body, headers={**headers, "Content-Type": ingest.MSGPACK}
        )
        assert response.status_code == 401, response.text
    assert uid not in module_catalog


def test_a_malformed_batch_gets_one_line_naming_what_is_wrong(module_catalog):
    http = module_catalog.context.http_client
    url = endpoint_url(module_catalog)
    response = http.post(url, content=b"\xc1 not msgpack")
    assert response.status_code == 400 and "msgpack" in response.json()["detail"]
    body = ingest.pack({"uid": "abc", "first": 0, "docs": [["event", {}]]})
    response = http.post(url, content=body)
    assert response.status_code == 400
    assert response.json()["detail"] == "run abc: the first document must be its start document"


def test_a_short_run_is_one_request(RE, module_catalog, line_source, tmp_path, counted):
    # linger: the batch waits (at most 5 s) for the run's stop, which ends the wait
    writer = CatalogWriter(module_catalog, spool_dir=tmp_path / "spool", linger=5.0)
    try:
        RE.subscribe(writer)
        counted.clear()
        (uid,) = RE(lines_plan(line_source, Stage(), 1))
        writes = [(m, p) for m, p in counted if m != "GET"]
        assert writes == [("POST", "/api/v1/autoscope/documents")]
        assert module_catalog[uid]["primary"]["spm_topo_trace"].read().shape == (1, 64)
    finally:
        writer.close()


def test_spool_replay_goes_through_the_endpoint_once(
    RE, module_catalog, line_source, tmp_path, counted
):
    uid, docs = record(RE, lines_plan(line_source, Stage(), 3))
    path = tmp_path / f"{uid}{spool.SUFFIX}"
    held = spool.SpoolFile(path)
    for name, doc in docs[:-1]:  # the process died before its stop
        held.append(name, doc)
    held.close()
    counted.clear()
    assert replay_file(module_catalog, path) == uid
    assert replay_file(module_catalog, path) == uid
    assert [m for m, _ in counted if m != "GET"] == ["POST", "POST"]
    run = module_catalog[uid]
    assert list(run["primary"]["seq_num"].read()) == [1, 2, 3]
    assert run.metadata["stop"]["exit_status"] == spool.RECOVERED_STATUS


class _Unprintable(np.ndarray):
    """An array that fails the test if anything prints it."""

    def __repr__(self):
        raise AssertionError("the event's array was printed")

    __str__ = __repr__


def _fed(router, docs):
    seen = []
    router.subscribe(lambda name, doc: seen.append((name, doc)))
    for name, doc in docs:
        router(name, doc)
    return seen


def test_events_are_validated_without_printing_their_arrays(RE, line_source):
    # jsonschema's unevaluatedProperties check formats each value it probes: the
    # plain RunNormalizer printed every array of every event (most of a line's cost)
    _, docs = record(RE, lines_plan(line_source, Stage(), 2))
    docs = [
        (
            name,
            {**doc, "data": {k: np.asarray(v).view(_Unprintable) for k, v in doc["data"].items()}},
        )
        if name == "event"
        else (name, doc)
        for name, doc in docs
    ]
    seen = _fed(ingest.normalizer(), docs)
    events = [doc for name, doc in seen if name == "event"]
    assert [e["seq_num"] for e in events] == [1, 2]
    sent = [doc for name, doc in docs if name == "event"]
    for got, want in zip(events, sent):
        assert set(got["data"]) == set(want["data"])
        for key, value in want["data"].items():
            np.testing.assert_array_equal(np.asarray(got["data"][key]), np.asarray(value))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda e: {k: v for k, v in e.items() if k != "seq_num"}, id="no seq_num"),
        pytest.param(lambda e: {**e, "extra": 1}, id="unknown field"),
        pytest.param(lambda e: {**e, "time": "noon"}, id="time not a number"),
        pytest.param(lambda e: {**e, "data": [1, 2]}, id="data not a mapping"),
        pytest.param(lambda e: {**e, "timestamps": {"x": "late"}}, id="timestamps any"),
    ],
)
def test_an_event_is_refused_or_taken_as_upstream_does(RE, line_source, change):
    from bluesky_tiled_plugins.writing.tiled_writer import RunNormalizer

    _, docs = record(RE, lines_plan(line_source, Stage(), 1))
    docs = [(n, change(d) if n == "event" else d) for n, d in docs[:3]]
    outcomes = []
    for router in (RunNormalizer(), ingest.normalizer()):
        try:
            seen = _fed(router, docs)
        except Exception as exc:  # noqa: BLE001 - compared below
            outcomes.append((type(exc), getattr(exc, "message", str(exc))))
        else:
            outcomes.append([name for name, _ in seen])
    assert outcomes[0] == outcomes[1]
