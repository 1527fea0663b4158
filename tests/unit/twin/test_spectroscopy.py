"""dI/dV over a dangling bond peaks at the configured energy; the tip changes spectra."""

import numpy as np
import pytest

from autoscope.devices.backend import SpectroscopySettings
from autoscope.devices.twin import TipState, TwinSPM

SETTINGS = SpectroscopySettings(start=-1.2, stop=1.2, points=241, sweeps=2)


def _twin(db_energy, tip=None, noise=1.0):
    opts = {
        "db_energy": db_energy,
        "band_bending": 0.0,
        "db_density": 0.004,
        "pair_density": 0.0,
        "vacancy_density": 0.0,
    }
    return TwinSPM(
        "si100_h",
        seed=2,
        drift=0.0,
        creep=0.0,
        hysteresis=0.0,
        noise=noise,
        tip_change_rate=0.0,
        tip=tip,
        sample_options=opts,
    )


def _db(twin):
    d = twin.sample.defects_near(np.array([-60.0, 60.0]), np.array([-60.0, 60.0]))
    assert len(d["x"]), "no dangling bond in the test region"
    return float(d["x"][0]), float(d["y"][0])


@pytest.mark.parametrize("energy", [-0.35, -0.15, 0.25])
def test_didv_peak_at_configured_db_energy(energy):
    twin = _twin(energy)
    x, y = _db(twin)
    s = twin.spectrum(x, y, SETTINGS)
    v = s.axis
    g = s.channels["dIdV"].astype(float)
    gap = (v > twin.sample.valence_edge + 0.1) & (v < twin.sample.conduction_edge - 0.05)
    peak = v[gap][np.argmax(g[gap])]
    assert abs(peak - energy) <= 0.04, peak
    # away from the defect the state is gone
    far = twin.spectrum(x + 4.0, y + 4.0, SETTINGS).channels["dIdV"].astype(float)
    at = np.argmin(np.abs(v - energy))
    assert far[at - 2 : at + 3].mean() < 0.3 * g[at - 2 : at + 3].mean()


def test_spectrum_axis_units_and_current_sign():
    twin = _twin(-0.35)
    s = twin.spectrum(0.0, 0.0, SETTINGS)
    assert (s.axis_name, s.axis_units) == ("bias", "V")
    assert s.axis.shape == (241,) and s.channels["current"].dtype == np.float32
    cur = s.channels["current"]
    assert cur[0] < 0 < cur[-1]  # current follows the sample bias


def test_adsorbate_tip_state_shows_in_spectra_at_minus_its_energy():
    sharp = _twin(-0.35, noise=0.0)
    ads = _twin(-0.35, tip=TipState("adsorbate", contrast=-0.4, dos_peak=0.8), noise=0.0)
    a = sharp.spectrum(3.0, 3.0, SETTINGS).channels["dIdV"].astype(float)
    b = ads.spectrum(3.0, 3.0, SETTINGS).channels["dIdV"].astype(float)
    v = np.linspace(-1.2, 1.2, 241)
    ratio = b / a
    # an occupied-side tip state at +0.8 eV is probed at sample bias -0.8 V
    assert abs(v[np.argmax(ratio)] - (-0.8)) < 0.15
    assert ratio.max() > 1.3 * ratio[v > 0.3].mean()
