"""Creep, hysteresis, feedback lag and noise with numbers."""

import numpy as np
import pytest

from autoscope.devices.backend import ScanFrame
from autoscope.devices.twin import TwinSPM
from autoscope.devices.twin.instrument import Creep, NoiseSource, hysteresis_offset, pi_track


def test_creep_follows_log_law():
    c = Creep(gamma=0.02)
    c.record(10.0, 100.0, 0.0)
    t = 10.0 + np.array([0.1, 1.0, 10.0, 100.0])
    dx, dy = c.offset(t)
    assert np.allclose(dx, 100.0 * 0.02 * np.log10((t - 10.0) / 0.1))
    assert np.allclose(dy, 0.0)


def test_creep_after_frame_move_shifts_image_of_the_twin():
    tw = TwinSPM(
        "si100_h", seed=0, drift=0.0, creep=0.02, hysteresis=0.0, noise=0.0, tip_change_rate=0.0
    )
    frame = ScanFrame(center_x=200.0, width=10, height=10, pixels=32, lines=4, line_time=1.0)
    tw.scan_line(frame, 0)
    ox, _ = tw.truth.creep_offset()
    assert ox == pytest.approx(200.0 * 0.02 * np.log10(2.0 / 0.1), rel=1e-6)
    assert tw.truth.lines[-1].mean_offset[0] == pytest.approx(
        np.mean(200.0 * 0.02 * np.log10(np.maximum((np.arange(64) + 0.5) / 32, 0.1) / 0.1)),
        rel=1e-3,
    )


def test_hysteresis_loop_width():
    u = np.linspace(-1, 1, 101)
    up = hysteresis_offset(u, 10.0, 0.05, True)
    down = hysteresis_offset(u, 10.0, 0.05, False)
    assert (down - up).max() == pytest.approx(2 * 0.05 * 10.0)
    assert (down - up)[0] == pytest.approx(0) and (down - up)[-1] == pytest.approx(0)


def test_feedback_lag_makes_trace_and_retrace_differ_at_a_step():
    target = np.r_[np.zeros(50), np.ones(50)]
    z = pi_track(target, ki=0.2, kp=0.06)
    assert z[49] == pytest.approx(0) and 0.1 < z[51] < 0.6 and z[-1] == pytest.approx(1, abs=1e-3)
    flat = {"row_amplitude": 0.0, "dimer_amplitude": 0.0, "terrace_width": 15.0}
    frame = ScanFrame(width=40, height=40, pixels=256, lines=1, line_time=0.5)
    diffs = {}
    for tau in (0.02, 1e-6):
        tw = TwinSPM(
            "si100_h",
            seed=0,
            drift=0.0,
            creep=0.0,
            hysteresis=0.0,
            noise=0.0,
            tip_change_rate=0.0,
            feedback_tau=tau,
            sample_options=flat,
        )
        tr, re = tw.scan_line(frame, 0).channels["topography"]
        diffs[tau] = np.abs(tr - re).mean()
    assert diffs[0.02] > 0.005  # the slow loop lags behind every edge, the other way back
    assert diffs[1e-6] < 0.3 * diffs[0.02]


def test_noise_has_flicker_and_mains():
    src = NoiseSource(np.random.default_rng(0), white=0.0, flicker=1.0, mains=0.0)
    x = src.sample(0.0, 0.001, 2**16)
    f = np.fft.rfftfreq(x.size, 0.001)[1:]
    p = np.abs(np.fft.rfft(x))[1:] ** 2
    band = (f > 0.1) & (f < 100)
    slope = np.polyfit(np.log10(f[band]), np.log10(p[band]), 1)[0]
    assert -1.4 < slope < -0.6
    m = NoiseSource(np.random.default_rng(0), mains=1.0, mains_frequency=50.0).sample(0, 1e-3, 1000)
    spec = np.abs(np.fft.rfft(m))
    assert np.argmax(spec) == 50  # 50 Hz over a 1 s record
