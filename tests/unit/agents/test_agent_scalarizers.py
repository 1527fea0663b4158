"""Scalarizers: known answers on constructed spectra, and bad spectra flagged, never used."""

import numpy as np
import pytest

from autoscope.agents.scalarizers import (
    InvalidSpectrumWarning,
    check_spectra,
    get_scalarizer,
    loop_area,
    register_scalarizer,
)
from autoscope.errors import AutoscopeWarning, ConfigurationError


def triangle_waveform(vmax=2.0, points=200):
    """0 -> +vmax -> -vmax -> 0, as a PFM switching waveform."""
    q = points // 4
    return np.concatenate(
        [
            np.linspace(0, vmax, q, endpoint=False),
            np.linspace(vmax, -vmax, 2 * q, endpoint=False),
            np.linspace(-vmax, 0, points - 3 * q),
        ]
    )


def square_loop(v, coercive, height):
    """A rectangular hysteresis loop: up branch switches at +coercive, down branch at -coercive."""
    r = np.empty_like(v)
    state = -height
    for i in range(len(v)):
        if v[i] >= coercive:
            state = height
        elif v[i] <= -coercive:
            state = -height
        r[i] = state
    return r


def test_loop_area_of_a_rectangular_loop():
    v = triangle_waveform(2.0, 4000)
    r = square_loop(v, coercive=1.0, height=0.5)
    # rectangle 2*coercive wide, 2*height tall
    assert loop_area(r, v) == pytest.approx(2.0 * 1.0, rel=0.01)
    wider = loop_area(square_loop(v, 1.5, 0.5), v)
    assert wider == pytest.approx(3.0, rel=0.01)
    # no hysteresis, no area
    assert loop_area(0.3 * v, v) == pytest.approx(0.0, abs=1e-9)


def test_band_integral_window():
    axis = np.linspace(-2, 2, 401)
    s = get_scalarizer("band_integral:-1:1")
    assert s(1.0 + axis, axis) == pytest.approx(2.0, rel=1e-6)
    assert s(axis**2, axis) == pytest.approx(2 / 3, rel=1e-3)
    # reversed axis (sweep from + to -) gives the same integral
    assert s((1.0 + axis)[::-1], axis[::-1]) == pytest.approx(2.0, rel=1e-6)


def test_band_integral_bad_arguments_are_named():
    with pytest.raises(ConfigurationError, match="LO:HI"):
        get_scalarizer("band_integral:1")
    with pytest.raises(ConfigurationError, match="numbers"):
        get_scalarizer("band_integral:a:b")
    with pytest.raises(ConfigurationError, match="LO must be below HI"):
        get_scalarizer("band_integral:2:1")
    axis = np.linspace(-1, 1, 50)
    with pytest.raises(ConfigurationError, match="5:6"):
        get_scalarizer("band_integral:5:6")(axis, axis)
    with pytest.raises(ConfigurationError, match="unknown scalarizer 'nope'"):
        get_scalarizer("nope")


def test_peak_position_is_sub_sample_and_robust_to_noise():
    rng = np.random.default_rng(0)
    axis = np.linspace(-1, 1, 81)  # 0.025 V spacing
    true = 0.3131
    errors_fit, errors_argmax = [], []
    s = get_scalarizer("peak_position")
    for _ in range(100):
        y = np.exp(-((axis - true) ** 2) / (2 * 0.15**2)) + 0.2 * rng.standard_normal(axis.size)
        errors_fit.append(abs(s(y, axis) - true))
        errors_argmax.append(abs(axis[np.argmax(y)] - true))
    assert np.median(errors_fit) < 0.02
    assert np.median(errors_fit) < 0.5 * np.median(errors_argmax)
    assert np.percentile(errors_fit, 90) < 0.6 * np.percentile(errors_argmax, 90)


def test_peak_prominence_ranks_peaks():
    axis = np.linspace(-1, 1, 101)
    s = get_scalarizer("peak_prominence")
    small = 0.2 * np.exp(-(axis**2) / 0.02) + 0.1 * axis
    big = 1.0 * np.exp(-(axis**2) / 0.02) + 0.1 * axis
    assert s(big, axis) > 3 * s(small, axis) > 0
    assert s(axis, axis) == 0.0  # monotonic: no peak


def test_bad_spectra_are_flagged_and_left_out_with_a_warning():
    axis = np.linspace(-1, 1, 50)
    good = np.sin(3 * axis) + 0.1 * axis**2
    spectra = np.stack([good, good.copy(), good.copy(), good.copy(), good.copy()])
    spectra[1, 10] = np.nan
    spectra[2, 20] = np.inf
    spectra[3, 5:12] = spectra[3].max() + 1.0  # clipped at the top: flat run at the maximum
    s = get_scalarizer("band_integral:-0.5:0.5")
    with pytest.warns(InvalidSpectrumWarning, match="3 of 5 spectra") as rec:
        out = s.apply(spectra, axis)
    assert issubclass(rec[0].category, AutoscopeWarning)
    assert np.isfinite(out[[0, 4]]).all() and out[0] == out[4]
    assert np.isnan(out[1:4]).all()
    assert s.last_reasons == {"nan": 1, "inf": 1, "saturated": 1}


def test_saturation_limit():
    axis = np.linspace(-1, 1, 20)
    spectra = np.stack([0.5 * axis, 10.0 * axis])
    valid, reason = check_spectra(spectra, saturation=5.0)
    assert valid.tolist() == [True, False]
    assert reason[1] == "saturated"


def test_callable_and_registered_scalarizers():
    axis = np.linspace(0, 1, 11)
    s = get_scalarizer(lambda y, a: float(y.max() - y.min()))
    assert s(2 * axis, axis) == pytest.approx(2.0)

    def mean_signal(y, a, scale):
        return float(np.mean(y) * scale)

    register_scalarizer("mean_signal_test", mean_signal)
    assert get_scalarizer("mean_signal_test:3")(axis, axis) == pytest.approx(1.5)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ConfigurationError, match="do not match"):
        get_scalarizer("loop_area").apply(np.zeros((3, 10)), np.zeros(9))
