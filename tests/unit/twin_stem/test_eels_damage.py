"""EELS edges and zero-loss drift; knock-on counts and dopant hops; twin purity."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from autoscope.devices.twin.stem import damage as dmg
from autoscope.devices.twin.stem.eels import Spectrometer, acquire
from autoscope.devices.twin.stem.samples.base import Edge, LocalSpectrum
from autoscope.devices.twin.stem.twin import STEMFrame, TwinSTEM
from autoscope.errors import ConfigurationError
from tests.unit.twin_stem.conftest import STILL

EDGES = [
    ("C", 284.0, "K", 0.0),
    ("N", 401.0, "K", 0.0),
    ("O", 532.0, "K", 0.0),
    ("Ti", 456.0, "L23", 5.6),
    ("Fe", 708.0, "L23", 13.1),
]


@pytest.mark.parametrize(("el", "e0", "shape", "split"), EDGES)
def test_edge_onset_within_one_channel(el, e0, shape, split):
    spec = Spectrometer(channels=2048, dispersion=1.0, offset=-20.0)
    _, expected = acquire(
        LocalSpectrum(0.3, [], [Edge(el, e0, 1.0, shape, split)]), spec, 100.0, 0.0, None
    )
    e = spec.axis()
    window = (e[1:] > e0 - 15) & (e[1:] < e0 + 15)
    k = int(np.argmax(np.where(window, np.diff(expected), -np.inf)))
    steepest = 0.5 * (e[k] + e[k + 1])
    assert abs(steepest - e0) <= spec.dispersion


def test_zero_loss_peak_follows_the_energy_drift_and_counts_are_poisson():
    twin = TwinSTEM(seed=1, scan_errors=STILL, damage=False)
    spec = Spectrometer(
        channels=512, dispersion=0.05, offset=-5.0, energy_drift=0.1, read_noise=0.0
    )
    e, a = twin.eels_at(0.5, 0.5, spec)
    twin.clock.advance(20.0)
    _, b = twin.eels_at(0.5, 0.5, spec)
    shift = e[np.argmax(b)] - e[np.argmax(a)]
    assert shift == pytest.approx(0.1 * 20.0, abs=0.15)
    assert np.allclose(a, np.round(a))  # whole electrons at gain 1


def test_graphene_spectrum_shows_the_c_k_edge_and_hidden_si_state():
    twin = TwinSTEM(seed=2, scan_errors=STILL, damage=False)
    a = twin.sample.atoms
    k = int(np.flatnonzero(a.Z == 14)[0])
    local = twin.sample.local_spectrum(a.x[k], a.y[k])
    onsets = {edge.element: edge.onset for edge in local.edges}
    coord = twin.sample.si_coordination[int(a.id[k])]
    assert onsets["Si"] == {3: 99.5, 4: 101.0}[coord]
    assert abs(onsets["C"] - 284.0) < 1.5


def test_knock_on_is_zero_for_pristine_graphene_at_60kv_and_not_at_100kv():
    assert dmg.knock_on_barn(60, 6, 21.1) < 1e-6
    assert 0.01 < dmg.knock_on_barn(100, 6, 21.1) < 1.0
    # without thermal motion the average is the bare McKinley–Feshbach value
    bare = float(dmg.mckinley_feshbach(200, 6, dmg.max_transfer(200, 12.011), 21.1))
    assert dmg.knock_on_barn(200, 6, 21.1, temperature=1e-6) == pytest.approx(bare, rel=1e-6)


def test_sputtered_atoms_after_a_known_dose_match_the_cross_section():
    twin = TwinSTEM(
        seed=3,
        kv=100,
        scan_errors=STILL,
        contamination=(0.0, 1.0),
        current_pa=1000.0,
        damage_block=64,
    )
    a = twin.sample.atoms.copy()
    sigma = twin.cross_sections()["knock_on"]
    frame = STEMFrame(fov_nm=10.0, pixels=64, dwell_us=3000.0)
    twin.scan_frame(frame)
    grid, dose = twin.dose_map()
    d = grid.sample(dose, a.x, a.y)
    expected = float(np.sum(1 - np.exp(-sigma * dmg.BARN * d)))
    observed = twin.truth.count("sputter")
    assert expected > 30
    assert abs(observed - expected) < 3 * np.sqrt(expected)
    assert len(twin.sample.atoms) == len(a) - observed


def test_parked_beam_makes_a_si_dopant_hop():
    twin = TwinSTEM(seed=4, scan_errors=STILL, contamination=(0.0, 1.0), current_pa=1000.0)
    a = twin.sample.atoms
    k = int(np.flatnonzero((a.Z == 14) & (np.abs(a.x) < 40) & (np.abs(a.y) < 40))[0])
    si_id = int(a.id[k])
    x0, y0 = a.x[k], a.y[k]
    twin.park(x0 / 10, y0 / 10, 3.0)
    hops = [e for e in twin.truth.events if e.kind == "hop" and e.atom_id == si_id]
    assert hops
    j = int(np.flatnonzero(twin.sample.atoms.id == si_id)[0])
    assert np.hypot(twin.sample.atoms.x[j] - x0, twin.sample.atoms.y[j] - y0) > 1.0


def test_contamination_builds_up_at_high_dose():
    twin = TwinSTEM(seed=5, scan_errors=STILL, damage=False, current_pa=1000.0)
    twin.park(0.0, 0.0, 2.0)
    assert twin.contamination().max() > 0.5 * twin.c_max


def test_bad_spectrometer_settings_are_refused():
    with pytest.raises(ConfigurationError, match="-0.1"):
        Spectrometer(dispersion=-0.1)


def test_importing_the_stem_twin_loads_no_ophyd_bluesky_or_tiled():
    code = (
        "import sys\n"
        "from autoscope.devices.twin.stem.twin import TwinSTEM, STEMFrame\n"
        "TwinSTEM(seed=0).scan_frame(STEMFrame(pixels=8))\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('ophyd', 'bluesky', 'tiled', 'databroker'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
