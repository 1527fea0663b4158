"""Run summaries (``autoscope catalog ls``) from a real catalog."""

from __future__ import annotations

import bluesky.plan_stubs as bps
import bluesky.preprocessors as bpp
import pytest

from autoscope.catalog.listing import latest_runs, summarize
from autoscope.catalog.writer import CatalogWriter


@pytest.fixture
def writer(module_catalog, tmp_path):
    w = CatalogWriter(module_catalog, spool_dir=tmp_path / "spool")
    yield w
    w.close(raise_errors=False)


def two_stream_plan(source, n_lines, fail=False):
    @bpp.run_decorator(md={"plan_name": "image_lines"})
    def inner():
        yield from bps.trigger_and_read([source], name="baseline")
        for _ in range(n_lines):
            yield from bps.trigger_and_read([source])
        if fail:
            raise RuntimeError("tip crash")

    return (yield from inner())


def test_summaries_of_finished_and_failed_runs(RE, writer, module_catalog, line_source):
    RE.subscribe(writer)
    (ok,) = RE(two_stream_plan(line_source, 3))
    with pytest.raises(RuntimeError):
        RE(two_stream_plan(line_source, 1, fail=True))
    runs = latest_runs(module_catalog, limit=2)
    assert [r.exit_status for r in runs] == ["success", "fail"]
    first = runs[0]
    assert first.uid == ok and first.plan_name == "image_lines"
    assert first.events == {"baseline": 1, "primary": 3}
    assert first.line().startswith(ok[:8] + "  image_lines")
    assert first.line().endswith("baseline=1 primary=3")
    assert runs[1].events == {"baseline": 1, "primary": 1}


def test_open_run_counts_its_lines(RE, writer, module_catalog, line_source):
    seen = {}

    def plan():
        @bpp.run_decorator(md={"plan_name": "image_lines"})
        def inner():
            for _ in range(2):
                yield from bps.trigger_and_read([line_source])
            writer.flush(timeout=60)
            seen["summary"] = latest_runs(module_catalog, limit=1)[0]

        return (yield from inner())

    RE.subscribe(writer)
    (uid,) = RE(plan())
    assert seen["summary"].uid == uid
    assert seen["summary"].exit_status == "running"
    assert seen["summary"].events == {"primary": 2}
    assert summarize(module_catalog[uid]).exit_status == "success"


def test_runs_waiting_in_the_spool_are_pending(RE, writer, module_catalog, line_source, tmp_path):
    """A run in the spool is ``pending``: partly in the catalog, or not there at all yet."""
    from event_model import compose_run

    from autoscope.catalog import spool

    RE.subscribe(writer)
    (written,) = RE(two_stream_plan(line_source, 1))
    spool_dir = tmp_path / "other-spool"
    # the written run's file still there (its writer was cut off before removing it)
    kept = spool.SpoolFile(spool_dir / f"{written}.spool")
    kept.append("start", module_catalog[written].metadata["start"])
    kept.close()
    # a run the catalog has not seen at all
    unseen = compose_run(metadata={"plan_name": "grid_spectroscopy"})
    other = spool.SpoolFile(spool_dir / f"{unseen.start_doc['uid']}.spool")
    other.append("start", unseen.start_doc)
    other.close()
    runs = {r.uid: r for r in latest_runs(module_catalog, limit=5, spool_dir=spool_dir)}
    assert runs[written].exit_status == "pending"
    assert runs[unseen.start_doc["uid"]].exit_status == "pending"
    assert runs[unseen.start_doc["uid"]].plan_name == "grid_spectroscopy"
    assert " pending " in runs[unseen.start_doc["uid"]].line()
