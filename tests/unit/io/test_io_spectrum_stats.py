"""Spectrum statistics on synthetic spectra whose answers are known."""

import numpy as np
import pytest

from autoscope.errors import ConfigurationError
from autoscope.io import spectrum_stats as ss


def _two_peak_spectrum(noise: float = 0.0, seed: int = 0):
    bias = np.linspace(-1.0, 1.0, 401)
    didv = (
        1.0
        + 3.0 * np.exp(-(((bias - 0.35) / 0.05) ** 2))
        + 1.5 * np.exp(-(((bias + 0.6) / 0.05) ** 2))
    )
    current = np.cumsum(didv) * (bias[1] - bias[0])
    current -= np.interp(0.0, bias, current)
    rng = np.random.default_rng(seed)
    return bias, current + rng.normal(0, noise, bias.size), didv + rng.normal(0, noise, bias.size)


def test_noise_level_recovers_white_noise_on_a_smooth_curve():
    bias, current, _ = _two_peak_spectrum()
    assert ss.noise_level(current) < 1e-3
    rng = np.random.default_rng(1)
    assert ss.noise_level(current + rng.normal(0, 0.02, current.size)) == pytest.approx(
        0.02, rel=0.15
    )


def test_numerical_didv_matches_the_derivative():
    bias = np.linspace(-1, 1, 201)
    v, d = ss.numerical_didv(bias, 5.0 * bias**3)
    np.testing.assert_allclose(d[5:-5], 15.0 * v[5:-5] ** 2, atol=0.02)


def test_didv_peaks_found_at_the_configured_biases_most_prominent_first():
    bias, _, didv = _two_peak_spectrum(noise=0.05, seed=2)
    peaks = ss.didv_peaks(bias, didv)
    assert len(peaks) == 2
    assert peaks[0] == pytest.approx(0.35, abs=0.02)
    assert peaks[1] == pytest.approx(-0.6, abs=0.02)
    assert ss.didv_peaks(bias, np.ones_like(bias)) == []


def test_descending_sweeps_give_the_same_answers():
    bias, current, didv = _two_peak_spectrum()
    assert ss.didv_peaks(bias[::-1], didv[::-1]) == pytest.approx(ss.didv_peaks(bias, didv))
    assert ss.bias_asymmetry(bias[::-1], current[::-1]) == pytest.approx(
        ss.bias_asymmetry(bias, current)
    )


def test_bias_asymmetry_sign_and_limits():
    bias = np.linspace(-1, 2, 301)  # range beyond +1 V is ignored
    assert ss.bias_asymmetry(bias, np.where(bias > 0, 1.0, 0.0)) == pytest.approx(1.0, abs=0.02)
    assert ss.bias_asymmetry(bias, np.where(bias < 0, -1.0, 0.0)) == pytest.approx(-1.0, abs=0.02)
    assert ss.bias_asymmetry(bias, bias**2) == pytest.approx(0.0, abs=1e-6)
    assert ss.bias_asymmetry(bias, np.where(bias > 0, 3.0, 1.0)) == pytest.approx(0.5, abs=0.03)
    with pytest.raises(ConfigurationError, match="does not cross zero"):
        ss.bias_asymmetry(np.linspace(0.1, 1, 50), np.ones(50))


def test_spectrum_stats_uses_lock_in_when_given_and_numerical_otherwise():
    bias, current, didv = _two_peak_spectrum(noise=0.002, seed=3)
    lock = ss.spectrum_stats(bias, current, didv)
    num = ss.spectrum_stats(bias, current)
    assert lock["didv_source"] == "lock-in" and num["didv_source"] == "numerical"
    for out in (lock, num):
        assert out["didv_peaks"][0] == pytest.approx(0.35, abs=0.03)
        assert out["zero_bias_current"] == pytest.approx(0.0, abs=0.01)
        assert out["current_noise"] == pytest.approx(0.002, rel=0.3)
        assert out["current_nsr"] == pytest.approx(
            out["current_noise"] / np.mean(np.abs(current)), rel=1e-9
        )
        assert out["points"] == 401
    # lock-in dI/dV: mean |dI/dV| of the synthetic curve is about 1.4, noise 0.002
    assert lock["didv_nsr"] == pytest.approx(0.002 / np.mean(np.abs(didv)), rel=0.4)


def test_bad_input_rejected():
    with pytest.raises(ConfigurationError, match="equal 1-D"):
        ss.spectrum_stats(np.zeros(10), np.zeros(9))
    with pytest.raises(ConfigurationError, match="uniform"):
        ss.didv_peaks(np.r_[np.linspace(0, 1, 10), np.linspace(1.5, 3, 4)], np.ones(14))
    with pytest.raises(ConfigurationError, match="at least 7"):
        ss.numerical_didv(np.arange(5.0), np.arange(5.0))


@pytest.mark.parametrize(
    "names, expected",
    [
        (["Current", "LI Demod 2 X", "LI Demod 1 X", "LI Demod 1 X [bwd]"], "LI Demod 1 X"),
        (["Current", "LIX 1 omega", "LIY 1 omega"], "LIX 1 omega"),
        (["Current", "Z"], None),
    ],
)
def test_find_didv_channel(names, expected):
    assert ss.find_didv_channel(names) == expected


def test_negative_lock_in_output_is_flipped_before_finding_peaks():
    bias, current, didv = _two_peak_spectrum(noise=0.002, seed=4)
    out = ss.spectrum_stats(bias, current, -didv)
    assert out["didv_sign_flipped"] is True
    assert out["didv_peaks"][0] == pytest.approx(0.35, abs=0.03)
    assert ss.spectrum_stats(bias, current, didv)["didv_sign_flipped"] is False
