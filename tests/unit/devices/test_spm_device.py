"""The SPM ophyd device on the twin: protocols, descriptors, limits before the backend."""

from __future__ import annotations

import subprocess
import sys

import event_model
import numpy as np
import pytest
from bluesky import protocols as bp
from ophyd.utils.errors import ReadOnlyError

from autoscope.devices import SafetyLimits, make_spm
from autoscope.devices.backend import ScanFrame
from autoscope.devices.spm.device import SPM
from autoscope.errors import AutoscopeError, ConfigurationError, SafetyLimitError

LIMITS = SafetyLimits(
    bias=5.0, setpoint=5000.0, scan_range=400.0, dip_depth=2.0, pulse_voltage=8.0, pulse_width=0.5
)


@pytest.fixture
def spm():
    return make_spm("twin", sample="si100_h", seed=0, limits=LIMITS)


def state(spm):
    b = spm.backend
    return b.time(), tuple(b.get_position()), b.get_bias(), b.get_setpoint(), b.get_feedback()


@pytest.mark.parametrize(
    "attr,protocols",
    [
        ("", {bp.Readable, bp.Configurable, bp.Stageable, bp.Triggerable}),
        ("probe", {bp.Readable, bp.Movable, bp.Configurable}),
        ("frame", {bp.Readable, bp.Movable, bp.Configurable}),
        ("bias", {bp.Readable, bp.Movable, bp.Configurable}),
        ("setpoint", {bp.Readable, bp.Movable}),
        ("feedback", {bp.Readable, bp.Movable}),
        ("line", {bp.Readable, bp.Triggerable, bp.Configurable, bp.Stageable}),
        ("line.index", {bp.Readable, bp.Movable}),
        ("spectrum", {bp.Readable, bp.Triggerable, bp.Configurable, bp.Stageable}),
        ("tip", {bp.Readable, bp.Configurable}),
        ("tip.action", {bp.Readable, bp.Movable}),
    ],
)
def test_protocols(spm, attr, protocols):
    obj = spm
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    for proto in protocols:
        assert isinstance(obj, proto), f"{obj.name} is not {proto.__name__}"


@pytest.mark.parametrize("attr", ["", "probe", "line", "spectrum", "tip", "frame"])
def test_read_and_describe_agree_and_validate(spm, attr):
    obj = getattr(spm, attr) if attr else spm
    desc, reading = obj.describe(), obj.read()
    assert list(desc) == list(reading)
    conf_desc, conf = obj.describe_configuration(), obj.read_configuration()
    assert list(conf_desc) == list(conf)
    for key, dk in desc.items():
        assert dk["dtype"] in {"number", "integer", "boolean", "string", "array"}
        if dk["dtype"] != "string":
            assert "dtype_numpy" in dk, key
    # event-model accepts the descriptor (schema of data keys, configuration)
    run = event_model.compose_run()
    run.compose_descriptor(
        name="primary",
        data_keys=desc,
        configuration={
            obj.name: {
                "data": {k: v["value"] for k, v in conf.items()},
                "timestamps": {k: v["timestamp"] for k, v in conf.items()},
                "data_keys": conf_desc,
            }
        },
    )


def test_line_arrays_are_float32_with_units_and_shape(spm):
    spm.frame.set({"pixels": 24, "lines": 6, "line_time": 0.1})
    desc = spm.line.describe()
    for ch, units in spm.backend.image_channels.items():
        for d in ("trace", "retrace"):
            dk = desc[f"spm_line_{ch}_{d}"]
            assert dk == {
                "source": f"SPM:line.{ch}.{d}",
                "dtype": "array",
                "shape": [24],
                "dtype_numpy": "<f4",
                "dims": ["x"],
                "units": units,
            }
    t0 = spm.backend.time()
    spm.line.index.set(2)
    spm.line.trigger()
    reading = spm.line.read()
    for ch in spm.backend.image_channels:
        for d in ("trace", "retrace"):
            value = reading[f"spm_line_{ch}_{d}"]["value"]
            assert value.dtype == np.float32 and value.shape == (24,)
    assert reading["spm_line_index"]["value"] == 2
    x, y = spm.frame.get_frame().nominal_xy(2)
    assert reading["spm_line_x_start_requested"]["value"] == pytest.approx(x[0])
    assert reading["spm_line_y_end_requested"]["value"] == pytest.approx(y[-1])
    assert reading["spm_line_t_start"]["value"] >= t0
    assert spm.backend.time() - t0 >= 2 * 0.1  # trace + retrace in instrument time
    assert desc["spm_line_t_start"]["units"] == "s"
    # after a frame change, read() keeps to the described shape until the next line
    spm.frame.set({"pixels": 12})
    value = spm.line.read()["spm_line_topography_trace"]["value"]
    assert value.shape == (12,) and np.isnan(value).all()


def test_line_index_beyond_frame_raises_before_the_backend(spm):
    spm.frame.set({"lines": 4})
    spm.line.index.set(4)
    before = state(spm)
    with pytest.raises(AutoscopeError, match="line index 4 is beyond the frame's 4 lines"):
        spm.line.trigger()
    assert state(spm) == before
    with pytest.raises(ConfigurationError, match="line index -1 must be >= 0"):
        spm.line.index.set(-1)


def test_spectrum_readout(spm):
    s = spm.spectrum
    for sig, v in (
        (s.sweep_start, -1.0),
        (s.sweep_stop, 1.5),
        (s.points, 40),
        (s.x_requested, 3.0),
        (s.y_requested, -2.0),
    ):
        sig.set(v)
    s.trigger()
    r = s.read()
    np.testing.assert_allclose(r["spm_spectrum_bias"]["value"][[0, -1]], [-1.0, 1.5])
    for ch in spm.backend.spectrum_channels:
        assert r[f"spm_spectrum_{ch}"]["value"].dtype == np.float32
        assert r[f"spm_spectrum_{ch}"]["value"].shape == (40,)
    assert r["spm_spectrum_x_requested"]["value"] == 3.0
    assert np.isfinite(r["spm_spectrum_x_reported"]["value"])
    assert s.describe()["spm_spectrum_bias"]["units"] == "V"
    conf = s.read_configuration()
    assert conf["spm_spectrum_points"]["value"] == 40 and "spm_setpoint" in conf


def test_bias_beyond_limit_raises_before_the_backend(spm):
    before = state(spm)
    with pytest.raises(SafetyLimitError) as err:
        spm.bias.set(6.0)
    assert str(err.value) == "bias 6.0 V is beyond the device limit of ±5 V"
    with pytest.raises(SafetyLimitError):
        spm.bias.put(-6.0, force=True)  # force does not bypass the limit
    assert state(spm) == before
    spm.bias.set(-2.0)
    assert spm.backend.get_bias() == -2.0 and spm.bias.get() == -2.0


def test_setpoint_units_come_from_the_backend(spm):
    assert spm.setpoint.describe()["spm_setpoint"]["units"] == "pA"
    with pytest.raises(SafetyLimitError, match="setpoint 6000.0 pA .* ±5000 pA"):
        spm.setpoint.set(6000.0)
    pfm = make_spm("twin", sample="pfm_film", seed=0)
    assert pfm.mode == "pfm"
    assert pfm.setpoint.describe()["spm_setpoint"]["units"] == pfm.backend.setpoint_units
    assert set(pfm.line.channel_keys()) == set(pfm.backend.image_channels)


def test_probe_moves_and_reports(spm):
    spm.probe.set((12.0, -7.0))
    r = spm.probe.read()
    assert r["spm_probe_x_requested"]["value"] == 12.0
    assert r["spm_probe_y_requested"]["value"] == -7.0
    assert r["spm_probe_x"]["value"] == pytest.approx(spm.backend.get_position()[0])
    assert abs(r["spm_probe_x"]["value"] - 12.0) < 1.0
    before = state(spm)
    with pytest.raises(SafetyLimitError, match=r"probe position \(250.0, 0.0\) nm"):
        spm.probe.set((250.0, 0.0))
    with pytest.raises(ConfigurationError, match="must be a pair"):
        spm.probe.set(5.0)
    assert state(spm) == before
    with pytest.raises(ConfigurationError, match="reported position"):
        spm.probe.x.set(1.0)


def test_frame_is_checked_as_a_whole(spm):
    spm.frame.set(ScanFrame(center_x=10.0, width=100.0, height=50.0, pixels=64, lines=32))
    assert spm.frame.get_frame().width == 100.0
    assert spm.frame.pixel_size == (100.0 / 64, 50.0 / 32)
    with pytest.raises(SafetyLimitError, match="scan frame corner"):
        spm.frame.set({"center_x": 150.0, "angle": 30.0})
    assert spm.frame.center_x.get() == 10.0 and spm.frame.angle.get() == 0.0  # unchanged
    with pytest.raises(ConfigurationError, match="unknown scan frame field"):
        spm.frame.set({"speed": 3.0})
    with pytest.raises(ConfigurationError, match="frame pixels 0 must be >= 1"):
        spm.frame.pixels.set(0)
    # a frame pushed beyond range field by field is still stopped at the line
    spm.frame.center_x.set(190.0)
    before = state(spm)
    with pytest.raises(SafetyLimitError, match="scan frame corner"):
        spm.line.trigger()
    assert state(spm) == before


def test_tip_actions_check_limits_first(spm):
    spm.tip.pulse_voltage.set(4.0)
    spm.tip.pulse_width.set(0.1)
    t0 = spm.backend.time()
    spm.tip.action.set("pulse")
    assert spm.tip.action.get() == "pulse"
    assert spm.tip.t_end.get() - spm.tip.t_start.get() >= 0.1
    assert spm.backend.time() > t0
    with pytest.raises(SafetyLimitError, match="dip depth 3.0 nm"):
        spm.tip.dip_depth.set(3.0)
    with pytest.raises(SafetyLimitError, match="pulse voltage 9.0 V"):
        spm.tip.pulse_voltage.set(9.0)
    before = state(spm)
    with pytest.raises(ConfigurationError, match="tip action must be one of"):
        spm.tip.action.set("zap")
    assert state(spm) == before


def test_readouts_are_read_only(spm):
    with pytest.raises(ReadOnlyError):
        spm.line.t_start.set(1.0)
    with pytest.raises(ConfigurationError):
        spm.instrument_time.set(0.0)


def test_same_seed_same_line():
    lines = []
    for _ in range(2):
        spm = make_spm("twin", seed=3)
        spm.frame.set({"pixels": 32, "lines": 4, "line_time": 0.1})
        spm.line.index.set(1)
        spm.line.trigger()
        lines.append(spm.line.read()["spm_line_topography_trace"]["value"])
    np.testing.assert_array_equal(lines[0], lines[1])


def test_construction_errors():
    with pytest.raises(ConfigurationError, match="unknown SPM backend 'scope9'"):
        make_spm("scope9")
    with pytest.raises(ConfigurationError, match="does not implement"):
        SPM(object())
    with pytest.raises(ConfigurationError, match="hardware range"):
        make_spm("twin", limits=SafetyLimits(bias=20.0))
    backend = make_spm("twin").backend
    assert make_spm(backend, name="other").backend is backend
    with pytest.raises(ConfigurationError, match="apply to a named backend"):
        make_spm(backend, noise=0.0)


def test_importing_the_twin_does_not_import_ophyd():
    code = (
        "import sys, autoscope.devices.twin, autoscope.devices.backend, "
        "autoscope.devices.spm.limits; "
        "print(any(m.split('.')[0] in ('ophyd', 'bluesky') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_simulated_limit_check_of_a_plan(spm):
    """bluesky.simulators.check_limits finds a value beyond a limit without running the plan."""
    import bluesky.plan_stubs as bps
    from bluesky import RunEngine
    from bluesky.simulators import check_limits

    RunEngine({}, call_returns_result=False)  # check_limits runs in bluesky's event loop
    before = state(spm)
    check_limits(bps.mv(spm.bias, 4.0, spm.probe, (10.0, 10.0), spm.frame, {"width": 50.0}))
    for plan, match in (
        (bps.mv(spm.bias, 6.0), "bias 6.0 V"),
        (bps.mv(spm.probe, (0.0, 300.0)), "probe position"),
        (bps.mv(spm.frame, {"center_x": 190.0, "width": 50.0}), "scan frame corner"),
        (bps.mv(spm.tip.dip_depth, 2.5), "dip depth 2.5 nm"),
    ):
        with pytest.raises(SafetyLimitError, match=match):
            check_limits(plan)
    assert state(spm) == before
    assert spm.frame.width.get() == 20.0  # check_value stored nothing
