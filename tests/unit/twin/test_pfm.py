"""PFM loops: coercive bias near a wall differs from the interior as configured."""

import numpy as np
import pytest

from autoscope.devices.backend import ScanFrame, SpectroscopySettings
from autoscope.devices.twin import TwinSPM
from autoscope.devices.twin.pfm import branch_masks, triangle_waveform
from autoscope.devices.twin.samples.pfm_film import A_DOMAIN

SETTINGS = SpectroscopySettings(start=-3.0, stop=3.0, points=240, settle=0.002, integration=0.01)
OPTS = {
    "coercive": 1.2,
    "wall_coercive_factor": 0.5,
    "wall_length": 40.0,
    "coercive_hidden": 0.0,
    "imprint_hidden": 0.0,
    "imprint": 0.1,
}


def _twin(**kw):
    opts = dict(OPTS)
    opts.update(kw)
    return TwinSPM(
        "pfm_film",
        seed=4,
        drift=0.0,
        creep=0.0,
        hysteresis=0.0,
        noise=1.0,
        tip_change_rate=0.0,
        sample_options=opts,
    )


def _coercive(v, r):
    """(V-, V+) where the descending / ascending branch crosses its midline."""
    asc, _ = branch_masks(v)
    out = []
    for sel in (~asc, asc):
        vv, rr = v[sel], r[sel]
        mid = 0.5 * (rr.max() + rr.min())
        order = np.argsort(vv)
        vv, rr = vv[order], rr[order]
        k = np.nonzero(np.diff(np.sign(rr - mid)))[0][0]
        out.append(vv[k] + (mid - rr[k]) * (vv[k + 1] - vv[k]) / (rr[k + 1] - rr[k]))
    return tuple(out)


def _points(twin):
    g = np.linspace(-3000, 3000, 301)
    x, y = np.meshgrid(g, g)
    st = twin.sample.structure(x, y)
    c = st["domain"] != A_DOMAIN
    wall = c & (np.abs(st["d180"]) < 1.5) & (-st["da"] > 200)
    inner = c & (st["wall_distance"] > 220)
    assert wall.any() and inner.any()
    return (x[wall][0], y[wall][0]), (x[inner][0], y[inner][0])


@pytest.mark.parametrize("factor", [0.5, 0.75])
def test_coercive_bias_near_wall_differs_as_configured(factor):
    twin = _twin(wall_coercive_factor=factor)
    wall, inner = _points(twin)
    res = {}
    for name, (x, y) in (("wall", wall), ("inner", inner)):
        s = twin.spectrum(x, y, SETTINGS)
        vm, vp = _coercive(s.axis, s.channels["piezoresponse"].astype(float))
        res[name] = (vp - vm) / 2
        assert (vp + vm) / 2 == pytest.approx(0.1, abs=0.12)  # imprint
    assert res["inner"] == pytest.approx(1.2, abs=0.08)
    assert res["wall"] == pytest.approx(1.2 * factor, abs=0.08)


def test_waveform_is_triangle_0_stop_start_0():
    v = triangle_waveform(-2.0, 3.0, 100)
    assert v[0] == pytest.approx(0, abs=0.2) and v[-1] == pytest.approx(0, abs=0.2)
    assert v.max() == pytest.approx(3.0, abs=0.1) and v.min() == pytest.approx(-2.0, abs=0.1)
    assert np.argmax(v) < np.argmin(v)


def test_pfm_image_channels_show_domains_and_walls():
    twin = _twin()
    frame = ScanFrame(width=3000, height=3000, pixels=96, lines=24, line_time=0.2)
    ch, _ = twin.scan_frame(frame)
    amp = ch["amplitude"][0].astype(float)
    phase = ch["phase"][0].astype(float)
    # c+ domains read ~12 deg, c- domains ~-168 deg: two clusters of phase
    assert ((np.abs(phase - 12) < 30).mean() > 0.1) and ((np.abs(phase + 168) < 30).mean() > 0.1)
    x, y = zip(*(frame.nominal_xy(i) for i in range(frame.lines)))
    wd = twin.sample.structure(np.array(x), np.array(y))["wall_distance"]
    c = twin.sample.structure(np.array(x), np.array(y))["domain"] != A_DOMAIN
    assert amp[c & (wd < 10)].mean() < 0.6 * amp[c & (wd > 100)].mean()
