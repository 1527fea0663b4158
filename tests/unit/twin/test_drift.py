"""Drift moves features between frames by velocity x elapsed instrument time."""

import numpy as np
import pytest
from autoscope.devices.backend import ScanFrame
from autoscope.devices.twin import TwinSPM

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
