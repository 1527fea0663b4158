"""Au nanoparticles on amorphous carbon: position-dependent plasmons, their decay, HAADF."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import k1

from autoscope.devices.twin.stem.eels import Spectrometer
from autoscope.devices.twin.stem.samples.nanoparticles import (
    METALS,
    Nanoparticles,
    Particle,
    beam_q,
    decay_length,
)
from autoscope.devices.twin.stem.twin import STEMFrame, TwinSTEM
from autoscope.errors import ConfigurationError
from tests.unit.twin_stem.conftest import STILL

MONO = Spectrometer(channels=512, dispersion=0.01, offset=-0.5, zlp_fwhm=0.08, exposure=0.5)


def _lsp_peak(twin: TwinSTEM, x: float, y: float) -> float:
    """Measured LSP energy: the highest channel in 1.2–3.2 eV above the measured ZLP."""
    e, counts = twin.eels_at(x / 10.0, y / 10.0, MONO)
    zlp = e[np.argmax(counts)]
    window = (e - zlp > 1.2) & (e - zlp < 3.2)
    return float(e[window][np.argmax(counts[window])] - zlp)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lsp_energy_at_a_prism_corner_is_below_the_face(seed):
    twin = TwinSTEM("nanoparticles", seed=seed, scan_errors=STILL, current_pa=100)
    prism = next(p for p in twin.sample.particles if p.shape == "prism")
    corner = prism.to_sample(*(prism.vertices()[0] * 0.85))
    face = (prism.x, prism.y)
    e_corner = float(twin.sample.truth_maps(*corner)["lsp_energy"])
    e_face = float(twin.sample.truth_maps(*face)["lsp_energy"])
    assert e_corner < e_face - 0.3
    # the spectrum shows it: the sharp corner mode's peak lies within one channel of the
    # hidden energy; the broad breathing mode (FWHM ~0.3 eV, Au interband damping) within a
    # tenth of its width
    width = {m.energy: m.width for m in twin.sample.modes}
    measured_corner = _lsp_peak(twin, *corner)
    measured_face = _lsp_peak(twin, *face)
    assert abs(measured_corner - e_corner) <= MONO.dispersion + 1e-9
    assert abs(measured_face - e_face) <= 0.1 * width[e_face]
    assert measured_corner < measured_face - 0.3


def test_each_region_is_led_by_its_mode():
    sample = Nanoparticles(seed=0)
    prism, rod, s1, s2 = sample.particles
    names = [m.name for m in sample.modes]

    def lead(x, y):
        return names[int(np.argmax(sample.lsp(np.array([x]), np.array([y]))[:, 0]))]

    mid = prism.vertices()[:2].mean(0)
    assert lead(*prism.to_sample(*(mid * (1 + 10 / np.hypot(*mid))))).startswith("edge")
    assert lead(prism.x, prism.y) == "breathing"
    assert lead(*rod.to_sample(rod.size / 2 + 10, 0.0)) == "longitudinal"
    assert lead(*rod.to_sample(0.0, rod.thickness / 2 + 10)) == "transverse"
    axis = np.array([s2.x - s1.x, s2.y - s1.y]) / math.hypot(s2.x - s1.x, s2.y - s1.y)
    assert lead(*(np.array([s1.x, s1.y]) - axis * (s1.size / 2 + 10))) == "bonding"


def test_loss_probability_falls_off_with_the_documented_length():
    """One sphere's dipole: Γ(b) ∝ K1(ω b / v γ)² far out, so its log slope is
    -(1/L + 1/b) with L = v γ ħ / (2E)."""
    sphere = Nanoparticles(seed=0, particles=[Particle("sphere", 0.0, 0.0, 100.0, 100.0)])
    mode = sphere.modes[0]
    for kv in (300.0, 60.0):
        q = beam_q(kv, mode.energy)
        r = np.array([200.0, 400.0, 800.0, 1600.0])
        g = sphere.lsp(r, np.zeros_like(r), kv)[0]
        assert np.all(np.diff(g) < 0)
        assert g / g[0] == pytest.approx(k1(q * r) ** 2 / k1(q * r[0]) ** 2, rel=0.02)
        b = np.array([3000.0, 3200.0])
        gb = sphere.lsp(b, np.zeros_like(b), kv)[0]
        slope = np.log(gb[1] / gb[0]) / (b[1] - b[0])
        expected = -(1.0 / decay_length(kv, mode.energy) + 1.0 / b.mean())
        assert slope == pytest.approx(expected, rel=0.03)
    assert decay_length(300.0, 2.4) == pytest.approx(506.0, abs=1.0)


def test_corner_mode_falls_with_distance_outside_its_corner():
    sample = Nanoparticles(seed=3)
    prism = sample.particles[0]
    v = prism.vertices()[0]  # on the particle's +u axis
    b = np.array([10.0, 30.0, 60.0, 120.0, 240.0])
    x, y = prism.to_sample(v[0] + b, np.zeros_like(b))
    corner = [k for k, m in enumerate(sample.modes) if m.name.startswith("corner")]
    g = sample.lsp(x, y)[corner].sum(0)
    assert np.all(np.diff(g) < 0)
    assert g[0] > 10 * g[-1]
    # near the particle the fall-off is set by the charges (log potential), far faster than
    # the beam's own exp(-b / L) with L ~ 600 Å at 1.9 eV
    assert g[2] / g[0] < math.exp(-(b[2] - b[0]) / decay_length(300.0, sample.modes[0].energy))


def test_dimer_modes_follow_the_plasmon_ruler():
    sample = Nanoparticles(seed=4)
    e = {m.name: m.energy for m in sample.modes if m.particle == 2}
    single = METALS["Au"].energy(-2 * 1.5)  # Fröhlich: ε_m = -2 ε_d
    assert e["bonding"] < single < e["antibonding"]
    far = Nanoparticles(
        seed=4,
        particles=[Particle("sphere", -60, 0, 90, 90), Particle("sphere", 60, 0, 90, 90)],
    )
    near = Nanoparticles(
        seed=4,
        particles=[Particle("sphere", -50, 0, 90, 90), Particle("sphere", 50, 0, 90, 90)],
    )
    bond = [next(m.energy for m in s.modes if m.name == "bonding") for s in (far, near)]
    assert bond[1] < bond[0] < single  # a smaller gap shifts further to the red


def test_haadf_shows_the_particles_but_not_the_energy_map():
    twin = TwinSTEM("nanoparticles", seed=0, scan_errors=STILL, damage=False)
    assert twin.probe.kv == 300.0
    frame = STEMFrame(fov_nm=65.0, pixels=128, dwell_us=4.0)
    img = twin.scan_frame(frame)["haadf"]
    x, y = frame.commanded_lines(np.arange(frame.pixels))
    truth = twin.sample.truth_maps(x, y)
    metal = truth["particle"] >= 0
    # Z = 79 on a few nm of carbon: a threshold finds the particles
    cut = 0.5 * (img[metal].mean() + img[~metal].mean())
    assert img[metal].mean() > 20 * img[~metal].mean()
    assert np.mean((img > cut) == metal) > 0.95
    # inside the flat prism, pixels led by the corner mode and by the breathing mode have
    # the same HAADF (within the noise), while their plasmon energies differ by > 0.4 eV
    prism = twin.sample.particles[0]
    flat = prism.sdf(x, y) < -prism.thickness / 2
    energies = np.unique(truth["lsp_energy"][flat])
    lo = flat & (truth["lsp_energy"] == energies.min())
    hi = flat & (truth["lsp_energy"] == energies.max())
    assert lo.sum() > 20 and hi.sum() > 20
    assert energies.max() - energies.min() > 0.4
    se = math.hypot(img[lo].std() / math.sqrt(lo.sum()), img[hi].std() / math.sqrt(hi.sum()))
    assert abs(img[lo].mean() - img[hi].mean()) < 3 * se


def test_columns_hold_the_particle_volume():
    d = 80.0
    sample = Nanoparticles(seed=0, particles=[Particle("sphere", 0.0, 0.0, d, d)])
    atoms = sample.atoms.n.sum()
    expected = math.pi / 6 * d**3 * 4 / METALS["Au"].a ** 3
    assert atoms == pytest.approx(expected, rel=0.03)
    assert set(sample.atoms.Z.tolist()) == {79}


def test_silver_plasmons_sit_higher_than_gold():
    one = [Particle("sphere", 0.0, 0.0, 80.0, 80.0)]
    au = Nanoparticles(seed=0, particles=one).modes[0].energy
    ag = Nanoparticles(seed=0, particles=one, metal="Ag").modes[0].energy
    assert 2.3 < au < 2.6 and 3.2 < ag < 3.6


@pytest.mark.parametrize(
    ("make", "word"),
    [
        (lambda: Nanoparticles(metal="Cu"), "'Cu'"),
        (lambda: Particle("cube", 0, 0, 10, 10), "'cube'"),
        (lambda: Particle("rod", 0, 0, 50, 60), "60"),
        (
            lambda: Nanoparticles(
                particles=[Particle("sphere", 0, 0, 50, 50), Particle("sphere", 30, 0, 50, 50)]
            ),
            "overlap",
        ),
    ],
)
def test_bad_particles_are_refused(make, word):
    with pytest.raises(ConfigurationError, match=word):
        make()
