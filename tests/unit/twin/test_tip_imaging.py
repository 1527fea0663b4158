"""A multi-apex tip images every feature once per apex, as a soft maximum."""

import numpy as np
from scipy.ndimage import maximum_filter

from autoscope.devices.backend import ScanFrame
from autoscope.devices.twin import TipState, TwinSPM
from autoscope.devices.twin.imaging import STM_KAPPA

from .conftest import QUIET

FLAT = {
    "row_amplitude": 0.0,
    "dimer_amplitude": 0.0,
    "db_density": 0.004,
    "pair_density": 0.0,
    "vacancy_density": 0.0,
    "terrace_width": 1e4,
}


def _isolated_db(twin, clear=4.0):
    d = twin.sample.defects_near(np.array([-200.0, 200.0]), np.array([-200.0, 200.0]))
    for x, y in zip(d["x"], d["y"]):
        r = np.hypot(d["x"] - x, d["y"] - y)
        if (r < clear).sum() == 1 and abs(x) < 150 and abs(y) < 150:
            return float(x), float(y)
    raise AssertionError("no isolated dangling bond in the test region")


def _image(tip, center, seed=3):
    twin = TwinSPM("si100_h", seed=seed, tip=tip, sample_options=FLAT, **QUIET)
    frame = ScanFrame(
        center_x=center[0],
        center_y=center[1],
        width=6.0,
        height=6.0,
        pixels=120,
        lines=120,
        line_time=0.1,
    )
    ch, _ = twin.scan_frame(frame)
    return ch["topography"][0].astype(float), frame


def _peaks(img, n):
    m = (img == maximum_filter(img, size=9)) & (img > np.median(img) + 0.02)
    ii, jj = np.nonzero(m)
    out = []
    for k in np.argsort(img[ii, jj])[::-1]:
        if all(np.hypot(ii[k] - a, jj[k] - b) > 3 for a, b, _ in out):  # merge plateaus
            out.append((ii[k], jj[k], img[ii[k], jj[k]]))
    return out[:n]


def test_two_apex_tip_duplicates_defect_at_apex_offset():
    probe = TwinSPM("si100_h", seed=3, sample_options=FLAT, **QUIET)
    center = _isolated_db(probe)
    d = np.array([1.5, 0.9])  # nm, second apex offset
    w = 0.6
    tip = TipState("multi", apices=((0.0, 0.0, 1.0), (d[0], d[1], w)), radius=0.08)
    img, frame = _image(tip, center)
    px = frame.width / frame.pixels
    (i0, j0, h0), (i1, j1, h1) = _peaks(img, 2)
    # the copy from the second apex appears where that apex sits over the defect: at -d
    shift = np.array([(j1 - j0) * px, (i1 - i0) * px])
    assert np.allclose(shift, -d, atol=1.5 * px), shift
    # soft maximum: the copy is lower by ln(w) / 2 kappa, not scaled by w as a sum would be
    sharp, _ = _image(TipState("sharp", radius=0.08), center)
    base = np.median(sharp)
    expected_drop = -np.log(w) / (2 * STM_KAPPA)
    assert abs((h0 - h1) - expected_drop) < 0.3 * expected_drop
    assert (h1 - base) > 0.8 * (h0 - base)  # a weighted sum would give about w * (h0 - base)


def test_single_apex_images_defect_once():
    probe = TwinSPM("si100_h", seed=3, sample_options=FLAT, **QUIET)
    center = _isolated_db(probe)
    img, _ = _image(TipState("sharp", radius=0.08), center)
    peaks = _peaks(img, 3)
    assert len(peaks) == 1
