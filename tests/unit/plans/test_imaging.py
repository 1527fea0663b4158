"""raster_image on the twin, written to and read back from a real (in-process) Tiled."""

from __future__ import annotations

import numpy as np
import pytest
from bluesky import Msg

from autoscope.devices.backend import ScanFrame
from autoscope.errors import ConfigurationError, InstrumentTimeout, SafetyLimitError
from autoscope.plans import raster_image

PIXELS, LINES = 32, 10


def test_one_event_per_line_float32_through_tiled(RE, catalog, spm, docs):
    (uid,) = RE(
        raster_image(
            spm,
            center_x=3.0,
            center_y=-2.0,
            width=16.0,
            height=8.0,
            pixels=PIXELS,
            lines=LINES,
            line_time=0.2,
            md={"operator": "t"},
        )
    )
    run = catalog[uid]
    stop = run.metadata["stop"]
    assert stop["exit_status"] == "success"
    assert stop["num_events"] == {"primary": LINES}
    assert len(docs.of("event")) == LINES

    stream = run["primary"]
    data_keys = stream.metadata["data_keys"]
    for ch, units in spm.backend.image_channels.items():
        for d in ("trace", "retrace"):
            key = f"spm_line_{ch}_{d}"
            assert data_keys[key]["dtype"] == "array"
            assert data_keys[key]["dtype_numpy"] == "<f4"
            assert data_keys[key]["shape"] == [PIXELS]
            assert data_keys[key]["units"] == units
            arr = stream[key].read()
            assert arr.dtype == np.float32 and arr.shape == (LINES, PIXELS)
            assert np.isfinite(arr).all()
            # the catalog holds exactly what the device handed to the RunEngine
            sent = np.stack([e["data"][key] for e in docs.of("event")])
            np.testing.assert_array_equal(arr, sent)
    np.testing.assert_array_equal(stream["spm_line_index"].read(), np.arange(LINES))
    t0, t1 = stream["spm_line_t_start"].read(), stream["spm_line_t_end"].read()
    # each line costs trace + retrace of instrument time, in order
    assert np.all(t1 - t0 >= 2 * 0.2 - 1e-9) and np.all(np.diff(t0) > 0)

    start = run.metadata["start"]
    assert start["plan_name"] == "raster_image"
    assert start["plan_args"]["pixels"] == PIXELS and start["plan_args"]["spm"] == "spm"
    assert start["frame"]["width"] == 16.0 and start["image_shape"] == [LINES, PIXELS]
    assert start["pixel_size"] == [16.0 / PIXELS, 8.0 / LINES]
    assert start["line_key"] == "spm_line_index"
    assert start["units"]["length"] == "nm" and start["units"]["bias"] == "V"
    assert start["operator"] == "t"
    assert start["hints"]["dimensions"] == [[["spm_line_index"], "primary"]]
    # the frame is in the descriptor's configuration too
    conf = stream.metadata["configuration"]["spm_line"]["data"]
    assert conf["spm_frame_width"] == 16.0 and conf["spm_frame_pixels"] == PIXELS


def test_requested_and_reported_positions_are_recorded(RE, catalog, spm):
    frame = ScanFrame(
        center_x=10.0,
        center_y=5.0,
        width=12.0,
        height=6.0,
        angle=30.0,
        pixels=16,
        lines=4,
        line_time=0.1,
    )
    (uid,) = RE(
        raster_image(
            spm,
            center_x=10.0,
            center_y=5.0,
            width=12.0,
            height=6.0,
            pixels=16,
            lines=4,
            line_time=0.1,
            angle=30.0,
        )
    )
    data = catalog[uid]["primary"].read()
    nominal = [frame.nominal_xy(i) for i in range(frame.lines)]
    expected = {
        "x_start": [x[0] for x, _ in nominal],
        "y_start": [y[0] for _, y in nominal],
        "x_end": [x[-1] for x, _ in nominal],
        "y_end": [y[-1] for _, y in nominal],
    }
    for key, values in expected.items():
        requested = data[f"spm_line_{key}_requested"].values
        reported = data[f"spm_line_{key}_reported"].values
        np.testing.assert_allclose(requested, values)
        assert np.isfinite(reported).all()
        # the instrument's own report is near the request (within a nm on a 12 nm frame)
        assert np.max(np.abs(reported - requested)) < 1.0


def test_caller_md_is_merged_last(RE, catalog, spm):
    (uid,) = RE(
        raster_image(
            spm, pixels=8, lines=2, line_time=0.1, md={"sample": "H:Si(100)", "num_points": 99}
        )
    )
    start = catalog[uid].metadata["start"]
    assert start["sample"] == "H:Si(100)"
    assert start["num_points"] == 99  # caller wins


def test_fault_mid_image_keeps_completed_lines(RE, catalog, spm, docs):
    spm.backend.inject_fault("timeout", after_lines=5)
    with pytest.raises(InstrumentTimeout):
        RE(raster_image(spm, pixels=PIXELS, lines=LINES, line_time=0.2))
    run = catalog[docs.start_uid]
    stop = run.metadata["stop"]
    assert stop["exit_status"] == "fail"
    assert stop["reason"].startswith("InstrumentTimeout: ")
    assert "scan line 5" in stop["reason"]
    assert stop["num_events"] == {"primary": 5}
    stream = run["primary"]
    np.testing.assert_array_equal(stream["spm_line_index"].read(), np.arange(5))
    topo = stream["spm_line_topography_trace"].read()
    assert topo.shape == (5, PIXELS) and topo.dtype == np.float32
    sent = np.stack([e["data"]["spm_line_topography_trace"] for e in docs.of("event")])
    np.testing.assert_array_equal(topo, sent)


def test_bias_beyond_limit_raises_before_anything_moves(RE, catalog, spm, backend_state):
    before = backend_state(spm)
    n_runs = len(catalog)
    with pytest.raises(SafetyLimitError, match=r"bias 6.0 V is beyond the device limit of ±5 V"):
        RE(raster_image(spm, pixels=8, lines=2, bias=6.0))
    assert backend_state(spm) == before
    assert len(catalog) == n_runs  # no run was opened


def test_rotated_frame_beyond_scan_range_raises_before_anything_moves(RE, spm, backend_state):
    before = backend_state(spm)
    # 250 nm square fits the ±200 nm range unrotated, not at 45° (corner at 176.8 nm + 40)
    with pytest.raises(SafetyLimitError, match="scan frame corner"):
        RE(
            raster_image(
                spm, center_x=40.0, width=250.0, height=250.0, angle=45.0, pixels=8, lines=2
            )
        )
    assert backend_state(spm) == before


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"pixels": 0}, "pixels 0 must be >= 1"),
        ({"lines": 2.5}, "lines must be an integer"),
        ({"width": "20"}, "width must be a number"),
        ({"line_time": -1.0}, "line_time -1.0 s must be > 0"),
        ({"md": [1]}, "md must be a dict"),
    ],
)
def test_bad_arguments_raise_before_the_first_message(spm, kwargs, match):
    plan = raster_image(spm, **kwargs)
    with pytest.raises(ConfigurationError, match=match):
        next(plan)


def test_not_an_spm_is_refused():
    with pytest.raises(ConfigurationError, match="spm must be an autoscope SPM device"):
        next(raster_image("spm"))


def test_messages_of_a_small_image(spm, backend_state):
    before = backend_state(spm)
    msgs = list(raster_image(spm, pixels=4, lines=3, line_time=0.1, bias=1.0))
    assert backend_state(spm) == before  # listing the messages touches nothing
    commands = [m.command for m in msgs]
    assert commands[:2] == ["stage", "open_run"]
    assert commands[-2:] == ["close_run", "unstage"]
    sets = [m for m in msgs if m.command == "set"]
    assert sets[0].obj is spm.bias and sets[0].args == (1.0,)
    assert sets[1].obj is spm.frame and sets[1].args[0].lines == 3
    assert [m.args[0] for m in sets[2:]] == [0, 1, 2] and all(
        m.obj is spm.line.index for m in sets[2:]
    )
    triggers = [m for m in msgs if m.command == "trigger"]
    assert [m.obj for m in triggers] == [spm.line] * 3
    assert commands.count("save") == 3
    # every line: set index, wait, trigger, wait, create, read, save
    i = commands.index("trigger")
    assert commands[i - 2 : i + 5] == ["set", "wait", "trigger", "wait", "create", "read", "save"]
    assert msgs[i + 2] == Msg("create", None, name="primary")


def test_lines_reach_the_catalog_while_the_image_runs(catalog, spm):
    """With TiledWriter writing every event (batch_size=1), a half-done image is readable."""
    from bluesky import RunEngine
    from bluesky_tiled_plugins import TiledWriter

    engine = RunEngine({}, call_returns_result=False)
    engine.subscribe(TiledWriter(catalog, batch_size=1, max_array_size=0))
    seen = {}

    def peek(name, doc):  # subscribed after the writer: runs once the event is written
        if name == "start":
            seen["uid"] = doc["uid"]
        elif name == "event" and doc["seq_num"] == 2:
            stream = catalog[seen["uid"]]["primary"]
            seen["rows"] = stream["spm_line_topography_trace"].read().shape
            seen["stop"] = catalog[seen["uid"]].metadata.get("stop")

    engine.subscribe(peek)
    engine(raster_image(spm, pixels=20, lines=4, line_time=0.1))
    assert seen["rows"] == (2, 20)  # two lines written, the run still open
    assert seen["stop"] is None
    assert catalog[seen["uid"]]["primary"]["spm_line_index"].read().tolist() == [0, 1, 2, 3]


def test_pause_between_lines_and_resume(spm):
    """A deferred pause stops at the next line boundary; resume finishes the image in one run."""
    import bluesky.preprocessors as bpp
    from bluesky import RunEngine
    from bluesky.utils import RunEngineInterrupted, single_gen

    saves = []

    def pause_after_second_line(msg):  # as a watcher would: defer to the next checkpoint
        if msg.command == "save":
            saves.append(msg)
            if len(saves) == 2:
                return None, single_gen(Msg("pause", defer=True))
        return None, None

    engine = RunEngine({}, call_returns_result=False)
    got = []
    engine.subscribe(lambda name, doc: got.append((name, doc)))
    plan = raster_image(spm, pixels=20, lines=5, line_time=0.1)
    with pytest.raises(RunEngineInterrupted):
        engine(bpp.plan_mutator(plan, pause_after_second_line))
    assert engine.state == "paused"
    assert [d["data"]["spm_line_index"] for n, d in got if n == "event"] == [0, 1]
    engine.resume()
    events = [d for n, d in got if n == "event"]
    assert [e["data"]["spm_line_index"] for e in events] == [0, 1, 2, 3, 4]
    assert [d for n, d in got if n == "stop"][0]["exit_status"] == "success"
    assert len([d for n, d in got if n == "start"]) == 1


@pytest.mark.parametrize(
    ("pixels", "lines", "match"),
    [
        (100_000, 100_000, "frame pixels 100000 is beyond the device limit of 8192"),
        (10**8, 2, "frame pixels 100000000 is beyond the device limit"),
        (64, 10_000, "frame lines 10000 is beyond the device limit of 8192"),
    ],
)
def test_a_frame_too_large_is_refused_before_the_run_opens(
    RE, catalog, spm, backend_state, pixels, lines, match
):
    before = backend_state(spm)
    n_runs = len(catalog)
    with pytest.raises(SafetyLimitError, match=match):
        RE(raster_image(spm, pixels=pixels, lines=lines))
    assert backend_state(spm) == before
    assert len(catalog) == n_runs  # no run was opened
