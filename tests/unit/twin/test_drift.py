"""Drift moves features between frames by velocity x elapsed instrument time."""

import numpy as np
import pytest

from autoscope.devices.backend import ScanFrame
from autoscope.devices.twin import TwinSPM
from autoscope.errors import ConfigurationError

from .conftest import subpixel_shift

DENSE = {
    "row_amplitude": 0.0,
    "dimer_amplitude": 0.0,
    "db_density": 0.06,
    "vacancy_density": 0.03,
    "pair_density": 0.0,
}


@pytest.mark.parametrize("velocity", [(0.010, 0.004), (-0.004, 0.012)])
def test_drift_shift_between_consecutive_frames(velocity):
    twin = TwinSPM(
        "si100_h",
        seed=5,
        drift=velocity,
        drift_wander=0.0,
        creep=0.0,
        hysteresis=0.0,
        noise=0.3,
        tip_change_rate=0.0,
        sample_options=DENSE,
    )
    frame = ScanFrame(width=16.0, height=16.0, pixels=128, lines=128, line_time=0.25)
    a, la = twin.scan_frame(frame)
    b, lb = twin.scan_frame(frame)
    elapsed = lb["t_start"][0] - la["t_start"][0]
    assert elapsed == pytest.approx(2 * 0.25 * 128)
    di, dj = subpixel_shift(a["topography"][0].astype(float), b["topography"][0].astype(float))
    px = frame.width / frame.pixels
    measured = np.array([dj * px, di * px])  # (x, y) nm
    expected = -np.asarray(velocity) * elapsed  # the sample drifts under the tip
    assert np.linalg.norm(measured - expected) < 0.1 * np.linalg.norm(expected), (
        measured,
        expected,
    )
    # the twin's ground truth agrees with what the images show
    assert twin.truth.drift_velocity() == pytest.approx(velocity)


def test_reported_position_never_contains_drift():
    twin = TwinSPM("si100_h", seed=5, drift=0.02, creep=0.0, hysteresis=0.0, noise=0.0)
    frame = ScanFrame(width=10.0, height=10.0, pixels=32, lines=8, line_time=1.0)
    for i in range(8):
        ld = twin.scan_line(frame, i)
        assert ld.reported == ld.requested
    assert np.hypot(*twin.truth.position_offset()) == pytest.approx(0.02 * twin.time(), rel=0.3)


def test_drift_velocity_wanders_about_its_mean_for_days():
    from autoscope.devices.twin.instrument import Drift

    t = np.arange(0, 48 * 3600, 120.0)
    speeds, walks = [], []
    for seed in range(8):
        v = Drift((0.01, 0.0), wander=0.2, rng=np.random.default_rng(seed)).offset(t)
        speeds.append(np.hypot(*np.gradient(np.stack(v), 120.0, axis=1)))
        w = Drift((0.01, 0.0), wander=0.2, rng=np.random.default_rng(seed), relax=np.inf).offset(t)
        walks.append(np.hypot(*np.gradient(np.stack(w), 120.0, axis=1)))
    speeds, walks = np.array(speeds), np.array(walks)
    # stationary spread ~1.1 x 0.01 nm/s per axis: the second day is like the first
    day1, day2 = speeds[:, : len(t) // 2], speeds[:, len(t) // 2 :]
    assert np.median(day2) < 1.5 * np.median(day1)
    assert speeds.max() < 0.06
    # without the pull back (a plain random walk) the speed keeps growing
    assert np.median(walks[:, len(t) // 2 :]) > 2 * np.median(day2)
    with pytest.raises(ConfigurationError, match="relax must be > 0"):
        Drift((0.01, 0.0), relax=0.0)
