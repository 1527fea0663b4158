"""autoscope watch: runs of another RunEngine followed through a real Tiled server on 127.0.0.1.

The RunEngine writes with the profile's writer (autoscope.catalog.make_writer) into the
in-process catalog (uvicorn on a free 127.0.0.1 port, real HTTP and websockets); the
follower reads only what the catalog serves. No test waits on a clock: a run is held at a
line until the follower has read it, and the timeouts below only end a broken test.
"""

from __future__ import annotations

import gc
import threading

import numpy as np
import pytest
from bluesky import RunEngine

from autoscope.catalog.writer import make_writer
from autoscope.cli import main as cli_main
from autoscope.errors import ConfigurationError
from autoscope.live import LiveCampaign, LiveImage
from autoscope.live.watch import CatalogFollower, watch_headless
from autoscope.plans import raster_image
from autoscope.plans.campaign import autonomous_campaign

from .conftest import SMALL_CAMPAIGN
from .pixels import cell_colours, is_background, is_grey, point_colours

SAFETY_S = 180  # ends a broken test; nothing here waits on time


@pytest.fixture
def engine(catalog, tmp_path):
    """A RunEngine writing through the profile's writer (batched, spooled) to ``catalog``."""
    writer = make_writer(catalog, data_dir=tmp_path / "data")
    RE = RunEngine({}, call_returns_result=True)
    RE.subscribe(writer)
    yield RE
    close = getattr(writer, "close", None)
    if close is not None:
        close()


class Follow:
    """A follower in a thread, with a render after every sync and a way to wait for it."""

    def __init__(self, catalog, views, folder, render=True, **options):
        self.views, self.folder, self.render = views, folder, render
        self.follower = CatalogFollower(catalog, views, **options)
        self.renders = []
        self._cond = threading.Condition()
        self.error = None
        self.thread = None

    def on_sync(self, n):
        reader = self.follower.reader
        lines = reader.events_read("primary") if reader is not None else 0
        if n and self.render:
            png = self.views[0].render_png(self.folder / f"sync_{len(self.renders)}.png")
            self.renders.append((reader.uid, lines, png))
        with self._cond:
            self._cond.notify_all()

    def start(self, runs):
        def body():
            try:
                self.follower.follow(
                    until=lambda f: len(f.finished) >= runs, timeout=SAFETY_S, on_sync=self.on_sync
                )
            except BaseException as exc:  # noqa: BLE001 - reported by join()
                self.error = exc
            finally:
                with self._cond:
                    self._cond.notify_all()

        self.follower.start()
        self.thread = threading.Thread(target=body, daemon=True)
        self.thread.start()
        with self._cond:  # the first sync (the catalog as it is) has happened
            assert self._cond.wait_for(lambda: self.follower.syncs > 0, SAFETY_S)
        return self

    def wait_lines(self, uid, n):
        def read():
            r = self.follower.reader
            return self.error is not None or (
                r is not None and r.uid == uid and r.events_read("primary") >= n
            )

        with self._cond:
            assert self._cond.wait_for(read, SAFETY_S), f"follower never read {n} lines"

    def join(self):
        self.thread.join(SAFETY_S)
        self.follower.close()
        if self.error is not None:
            raise self.error


def test_the_newest_run_is_drawn_line_by_line_as_it_lands(engine, catalog, tmp_path):
    view = LiveImage(levelling="none")
    follow = Follow(catalog, [view], tmp_path, poll_s=0.5).start(runs=1)
    held = {}

    def hold_at_line_10(name, doc):
        if name == "start":
            held["uid"] = doc["uid"]
        if name == "event" and doc["seq_num"] == 10:
            follow.wait_lines(held["uid"], 10)  # the RunEngine waits for the follower

    engine.subscribe(hold_at_line_10)
    uid = engine(raster_image(engine_spm(), pixels=24, lines=24, line_time=0.05)).run_start_uids[0]
    follow.join()
    assert follow.follower.finished == [uid]
    assert follow.follower.wakeups > 0  # Tiled's subscription woke it, not only the poll
    mine = [(lines, png) for u, lines, png in follow.renders if u == uid]
    assert any(lines == 10 for lines, _ in mine), "no picture while the run was held at line 10"
    ax = view.axes[("topography", "trace")]
    for lines, png in mine:
        bg = is_background(cell_colours(png, view.figure, ax, 24, 24))
        assert not bg[:lines].any() and bg[lines:].all(), f"after {lines} lines"
    stream = catalog[uid]["primary"]
    np.testing.assert_array_equal(
        view.images["topography"][0], stream["spm_line_topography_trace"].read()
    )
    assert view.exit_status == "success"


def wait_for(predicate) -> bool:
    """True once ``predicate()`` is; False after SAFETY_S (a broken test)."""
    stop = threading.Event()
    for _ in range(int(SAFETY_S / 0.05)):
        if predicate():
            return True
        stop.wait(0.05)
    return False


def engine_spm():
    from autoscope.devices import make_spm

    return make_spm("twin", sample="si100_h", seed=0, name="spm")


def test_the_poll_alone_follows_a_run(engine, catalog, tmp_path):
    """Without the subscription (a server without a streaming cache) the catch-up poll does."""
    view = LiveImage()
    follow = Follow(catalog, [view], tmp_path, render=False, poll_s=0.2, subscribe=False)
    follow.start(runs=1)
    uid = engine(raster_image(engine_spm(), pixels=8, lines=8, line_time=0.05)).run_start_uids[0]
    follow.join()
    assert follow.follower.finished == [uid] and follow.follower.wakeups == 0
    view.update()
    assert view.measured.all()


@pytest.mark.long  # 20-40 s on 2 cores: make test-long
def test_a_campaign_is_followed_across_its_runs(engine, catalog, pfm, tmp_path):
    """Overview, spectra and reports: the points and the maps are those of the catalog."""
    view = LiveCampaign()
    follow = Follow(catalog, [view], tmp_path, render=False, poll_s=0.5).start(runs=5)
    campaign = engine(
        autonomous_campaign(pfm, agent="random", budget=4, batch_size=2, **SMALL_CAMPAIGN)
    ).plan_result
    follow.join()
    view.update()  # take in what the follower queued
    assert view.campaign == campaign and len(follow.follower.finished) == 5
    assert view.n_measured == 4 and view.budget == 4
    png = view.render_png(tmp_path / "campaign.png")
    from tiled.queries import Key

    runs = catalog.search(Key("campaign") == campaign)
    spectra = sorted(
        (r.metadata["start"]["campaign_step"], r.metadata["start"]["positions_requested"])
        for r in runs.values()
        if r.metadata["start"]["plan_name"] == "spectra_at"
    )
    points = np.concatenate([p for _, p in spectra])
    np.testing.assert_allclose(view.points, points)
    assert not is_grey(point_colours(png, view.axes["overview"], points)).any()
    reports = [r for r in runs.values() if r.metadata["start"]["plan_name"] == "agent_report"]
    last = max(reports, key=lambda r: r.metadata["start"]["campaign_step"])
    np.testing.assert_allclose(view.report["agent_std"], last["agent"]["agent_std"].read()[0])
    assert np.isfinite(view.overview.image).all()


def test_command_line_headless(engine, catalog, tmp_path, capsys):
    context = catalog.context
    argv = ["watch", "--uri", str(context.api_uri).rstrip("/").removesuffix("/api/v1"),
            "--api-key", context.api_key, "--png-dir", str(tmp_path), "--runs", "1",
            "--poll", "0.5"]  # fmt: skip
    status = {}
    thread = threading.Thread(target=lambda: status.update(rc=cli_main(argv)), daemon=True)
    thread.start()

    def hold_until_the_command_has_synced(name, doc):
        # a run is counted once the command has looked at the catalog before its stop
        if name == "event" and doc["seq_num"] == 4:
            png = tmp_path / "image.png"
            assert wait_for(png.exists), "autoscope watch wrote no PNG"

    engine.subscribe(hold_until_the_command_has_synced)
    uid = engine(raster_image(engine_spm(), pixels=8, lines=8, line_time=0.05)).run_start_uids[0]
    thread.join(SAFETY_S)
    assert status["rc"] == 0
    out = capsys.readouterr().out
    assert f"1 run(s) finished: {uid}" in out
    assert (tmp_path / "image.png").stat().st_size > 10_000


def test_command_line_without_a_display_says_so(tmp_path, capsys, monkeypatch):
    import matplotlib

    monkeypatch.setitem(matplotlib.rcParams, "backend", "agg")  # as on a box without a display
    assert cli_main(["watch", "--uri", "http://127.0.0.1:9"]) == 1
    assert "use --png-dir DIR" in capsys.readouterr().err
    assert cli_main(["watch", "--png-dir", str(tmp_path / "nope")]) == 1
    assert "nope does not exist" in capsys.readouterr().err


def test_callbacks_stay_subscribed_and_bad_options_name_the_value(catalog, tmp_path):
    follower = CatalogFollower(catalog, [], poll_s=5).start()
    gc.collect()  # Tiled holds its callbacks by weak reference: ours must survive this
    refs = follower._root_sub.child_created._callbacks
    assert refs and all(ref() is not None for ref in refs)
    follower._on_update(None)  # what Tiled's executor calls: never raises
    assert follower.wakeups == 1
    follower.close()
    with pytest.raises(ConfigurationError, match="-1"):
        CatalogFollower(catalog, [], poll_s=-1)
    with pytest.raises(ConfigurationError, match="does not exist"):
        watch_headless(catalog, tmp_path / "nope")
    with pytest.raises(ConfigurationError, match="0"):
        watch_headless(catalog, tmp_path, runs=0)
