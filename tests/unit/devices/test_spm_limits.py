"""SafetyLimits: resolution against the hardware ranges and every check's message."""

from __future__ import annotations

import pytest

from autoscope.devices.backend import HardwareRanges, ScanFrame, SpectroscopySettings
from autoscope.devices.spm.limits import SafetyLimits, frame_corners
from autoscope.errors import ConfigurationError, SafetyLimitError

RANGES = HardwareRanges(scan_range=1000.0, bias=10.0, current=100_000.0, dip_depth=5.0)


@pytest.fixture
def limits():
    return SafetyLimits(
        bias=5.0,
        setpoint=2000.0,
        scan_range=200.0,
        dip_depth=1.0,
        pulse_voltage=8.0,
        pulse_width=0.5,
    ).resolve(RANGES)


def test_unset_limits_take_the_hardware_ranges():
    lim = SafetyLimits().resolve(RANGES)
    assert lim.bias == 10.0 and lim.setpoint == 100_000.0
    assert lim.scan_range == 1000.0 and lim.dip_depth == 5.0 and lim.pulse_voltage == 10.0


def test_limits_beyond_the_hardware_are_refused():
    with pytest.raises(ConfigurationError, match="bias 20 is beyond the hardware range 10"):
        SafetyLimits(bias=20.0).resolve(RANGES)
    with pytest.raises(ConfigurationError, match="must be > 0"):
        SafetyLimits(scan_range=-1.0).resolve(RANGES)


def test_unresolved_limits_cannot_check():
    with pytest.raises(ConfigurationError, match="resolved"):
        SafetyLimits().check_bias(1.0)


def test_bias_message_names_value_and_limit():
    lim = SafetyLimits().resolve(RANGES)
    with pytest.raises(SafetyLimitError) as err:
        lim.check_bias(12.0)
    assert str(err.value) == "bias 12.0 V is beyond the device limit of ±10 V"
    assert lim.check_bias(-10.0) == -10.0


@pytest.mark.parametrize("bad", ["1", None, float("nan"), float("inf"), True])
def test_bias_must_be_a_finite_number(limits, bad):
    with pytest.raises(ConfigurationError, match="bias"):
        limits.check_bias(bad)


def test_setpoint_position_dip_pulse(limits):
    with pytest.raises(SafetyLimitError, match=r"setpoint 2500.0 pA .* ±2000 pA"):
        limits.check_setpoint(2500.0)
    assert limits.check_setpoint(-1999.0) == -1999.0
    with pytest.raises(SafetyLimitError, match=r"\(101.0, 0.0\) nm is beyond .* ±100 nm"):
        limits.check_position(101.0, 0.0)
    assert limits.check_position(100.0, -100.0) == (100.0, -100.0)
    with pytest.raises(
        SafetyLimitError, match="dip depth 1.5 nm is beyond the device limit of 1 nm"
    ):
        limits.check_dip(1.5)
    with pytest.raises(ConfigurationError, match="dip depth"):
        limits.check_dip(0.0)
    with pytest.raises(SafetyLimitError, match="pulse voltage -9.0 V"):
        limits.check_pulse(-9.0, 0.1)
    with pytest.raises(SafetyLimitError, match="pulse width 0.6 s"):
        limits.check_pulse(3.0, 0.6)
    assert limits.check_pulse(-8.0, 0.5) == (-8.0, 0.5)


def test_frame_corners_after_rotation_are_checked(limits):
    # 140 nm square at the centre: fits unrotated (±70 nm) but its rotated corners
    # reach 70·√2 ≈ 99 nm at 45° and 70·(cos 30° + sin 30°) ≈ 95.6 nm at 30°.
    square = ScanFrame(width=140.0, height=140.0)
    limits.check_frame(square)
    limits.check_frame(ScanFrame(width=140.0, height=140.0, angle=45.0))
    with pytest.raises(SafetyLimitError, match="scan frame corner"):
        limits.check_frame(ScanFrame(center_x=5.0, width=140.0, height=140.0, angle=45.0))
    # unrotated it would fit: the failure is the rotation's
    limits.check_frame(ScanFrame(center_x=5.0, width=140.0, height=140.0))
    corners = frame_corners(ScanFrame(width=2.0, height=2.0, angle=90.0))
    assert sorted(map(tuple, corners.round(9).tolist())) == [(-1, -1), (-1, 1), (1, -1), (1, 1)]


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("pixels", 0, "pixels 0 must be >= 1"),
        ("pixels", 2.5, "pixels must be an integer"),
        ("width", -3.0, "width -3.0 nm must be > 0"),
        ("line_time", 0.0, "line_time 0.0 s must be > 0"),
    ],
)
def test_frame_geometry_is_validated(limits, field, value, match):
    import dataclasses

    with pytest.raises(ConfigurationError, match=match):
        limits.check_frame(dataclasses.replace(ScanFrame(), **{field: value}))


def test_sweep_checks_range_and_lockin_peak(limits):
    limits.check_spectroscopy(SpectroscopySettings(start=-4.0, stop=4.0))
    with pytest.raises(
        SafetyLimitError, match="sweep stop 6.0 V is beyond the device limit of ±5 V"
    ):
        limits.check_spectroscopy(SpectroscopySettings(start=-1.0, stop=6.0))
    # 4.99 V plus a 0.1 V rms modulation peaks at 5.13 V
    with pytest.raises(SafetyLimitError, match="sweep peak bias"):
        limits.check_spectroscopy(SpectroscopySettings(start=0.0, stop=4.99, lockin_amplitude=0.1))
    with pytest.raises(ConfigurationError, match="both 1.0 V"):
        limits.check_spectroscopy(SpectroscopySettings(start=1.0, stop=1.0))
    with pytest.raises(ConfigurationError, match="spectrum points 1 must be >= 2"):
        limits.check_spectroscopy(SpectroscopySettings(points=1))


def test_frame_size_limits_take_the_hardware_and_name_the_value():
    lim = SafetyLimits().resolve(RANGES)
    assert (lim.max_pixels, lim.max_lines, lim.pixel_step) == (8192, 8192, 1)
    assert lim.frame_memory == 2**30
    lim.check_frame(ScanFrame(pixels=8192, lines=4096), channels=2)  # 512 MiB
    with pytest.raises(SafetyLimitError, match="frame pixels 100000 is beyond the device limit"):
        lim.check_frame(ScanFrame(pixels=100_000, lines=100_000))
    with pytest.raises(SafetyLimitError, match="frame lines 9000 is beyond the device limit"):
        lim.check_frame(ScanFrame(pixels=64, lines=9000))
    # 4 channels x trace/retrace x float32 of 8192 x 8192 is 2 GiB
    with pytest.raises(SafetyLimitError, match=r"is 2 GiB: beyond the device limit of 1 GiB"):
        lim.check_frame(ScanFrame(pixels=8192, lines=8192), channels=4)
    small = SafetyLimits(max_pixels=512, frame_memory=2**20).resolve(RANGES)
    with pytest.raises(SafetyLimitError, match="pixels 513 is beyond the device limit of 512"):
        small.check_frame(ScanFrame(pixels=513, lines=4))
    with pytest.raises(SafetyLimitError, match="beyond the device limit of 1 MiB per frame"):
        small.check_frame(ScanFrame(pixels=512, lines=512))


def test_frame_size_limits_cannot_exceed_the_hardware():
    with pytest.raises(ConfigurationError, match="max_pixels 10000 is beyond the hardware"):
        SafetyLimits(max_pixels=10_000).resolve(RANGES)
    with pytest.raises(ConfigurationError, match="max_lines must be an integer"):
        SafetyLimits(max_lines=12.5).resolve(RANGES)


def test_pixels_must_be_a_multiple_of_the_controllers_step():
    import dataclasses

    lim = SafetyLimits().resolve(dataclasses.replace(RANGES, pixel_step=16))
    lim.check_frame(ScanFrame(pixels=48, lines=5))
    with pytest.raises(ConfigurationError, match="frame pixels 50: .* multiples of 16 .* 48 or 64"):
        lim.check_frame(ScanFrame(pixels=50, lines=5))
    with pytest.raises(ConfigurationError, match="pixel_step 8 is the hardware's to state"):
        SafetyLimits(pixel_step=8).resolve(dataclasses.replace(RANGES, pixel_step=16))
