"""The twin's further STM surfaces: Cu(111), Ag(111), graphite, TiSe2 and TaS2.

Each test reads a property off the rendered height that a wrong sample would
not have: the lattice period and orientation from the FFT, the sublattice
asymmetry of graphite, the CDW superlattice's period and rotation, the
surface state's standing-wave period next to a step (against the literature
Fermi wavevectors, not the module's constants).
"""

import numpy as np
import pytest

from autoscope.devices.twin import TwinSPM
from autoscope.devices.twin.samples import SAMPLE_NAMES, make_sample
from autoscope.devices.twin.samples.graphite import CC_BOND
from autoscope.errors import ConfigurationError

SHARP = 0.08  # nm, the twin's sharp STM tip radius
L, N = 16.0, 320  # nm and pixels of the test grid (0.05 nm pixels, 1/16 nm^-1 bins)


def spectrum(name, blur=SHARP, **options):
    """Power spectrum of the height over an L x L patch (away from the origin), and its axes."""
    s = make_sample(name, seed=3, **options)
    xs = 70.0 + np.arange(N) * L / N
    x, y = np.meshgrid(xs, xs + 23.0)
    z = s.height(x, y, blur=blur)
    z = z - z.mean()
    p = np.abs(np.fft.fft2(z * np.outer(np.hanning(N), np.hanning(N)))) ** 2
    f = np.fft.fftfreq(N, L / N)
    fx, fy = np.meshgrid(f, f)
    return p, np.hypot(fx, fy), np.degrees(np.arctan2(fy, fx))


def strongest(p, fr, ang, lo, hi):
    """Radial frequency and angle (mod 60) of the strongest peak with lo < |f| < hi."""
    q = np.where((fr > lo) & (fr < hi), p, 0.0)
    k = int(np.argmax(q))
    return float(fr.ravel()[k]), float(ang.ravel()[k] % 60.0)


def hex_frequency(a):
    """Radial frequency (1/nm) of a hexagonal lattice's first shell, lattice constant a."""
    return 2.0 / (np.sqrt(3.0) * a)


BIN = 1.0 / L


@pytest.mark.parametrize(
    "name, lattice",
    [("cu111", 0.2556), ("ag111", 0.2889), ("graphite", 0.246), ("tise2", 0.354), ("tas2", 0.336)],
)
def test_the_atomic_lattice_has_the_material_s_period(name, lattice):
    p, fr, ang = spectrum(name)
    f0 = hex_frequency(lattice)
    f, _ = strongest(p, fr, ang, 0.8 * f0, 1.25 * f0)
    assert abs(f - f0) <= 1.5 * BIN, (name, f, f0)
    # and the lattice is a lattice: its peak stands far above the band's median
    band = (fr > 0.8 * f0) & (fr < 1.25 * f0)
    assert p[band].max() > 100 * np.median(p[band])


def test_the_metals_differ_in_lattice_constant():
    fc, _ = strongest(*spectrum("cu111"), 3.0, 6.0)
    fa, _ = strongest(*spectrum("ag111"), 3.0, 6.0)
    assert fc / fa == pytest.approx(0.2889 / 0.2556, abs=2 * BIN / fa)


def test_tise2_has_a_2x2_superlattice_on_its_atoms():
    p, fr, ang = spectrum("tise2")
    f_atoms, a_atoms = strongest(p, fr, ang, 2.8, 4.0)
    f_cdw, a_cdw = strongest(p, fr, ang, 1.0, 2.4)
    assert f_cdw == pytest.approx(f_atoms / 2, abs=1.5 * BIN)
    assert min(abs(a_cdw - a_atoms), 60 - abs(a_cdw - a_atoms)) < 3.0


def test_tas2_has_a_sqrt13_superlattice_turned_by_13_9_degrees():
    p, fr, ang = spectrum("tas2")
    f_atoms, a_atoms = strongest(p, fr, ang, 2.8, 4.0)
    f_cdw, a_cdw = strongest(p, fr, ang, 0.6, 1.5)
    assert f_cdw == pytest.approx(hex_frequency(0.336 * np.sqrt(13)), abs=1.5 * BIN)
    turn = (a_cdw - a_atoms) % 60.0
    assert min(abs(turn - 13.9), abs(turn - (60 - 13.9))) < 3.0
    # the CDW, not the atoms, is the strong contrast of TaS2
    assert p[(fr > 0.6) & (fr < 1.5)].max() > 10 * p[(fr > 2.8) & (fr < 4.0)].max()


def lattice_height(name, x, y, **options):
    """Height with the sample's steps and defects taken out (the same sample, lattice off)."""
    on = make_sample(name, seed=3, **options)
    off = make_sample(name, seed=3, **{**options, "atomic_amplitude": 1e-12})
    return on.height(x, y, blur=SHARP) - off.height(x, y, blur=SHARP)


def test_graphite_shows_its_beta_sites_brighter_than_its_alpha_sites():
    s = make_sample("graphite", seed=3)
    t = np.deg2rad(s._angle + 90.0)
    x = np.array([0.0, CC_BOND * np.cos(t)])  # a beta site and the alpha site beside it
    y = np.array([0.0, CC_BOND * np.sin(t)])
    z = lattice_height("graphite", x, y, defect_density=0.0)
    assert z[0] - z[1] > 0.02  # nm: the triangular lattice of STM images of HOPG
    z1 = lattice_height("graphite", x, y, defect_density=0.0, alpha_weight=1.0)
    assert z1[0] == pytest.approx(z1[1], abs=1e-9)  # the full honeycomb: both sites alike
    assert z1[0] < z[0]


def test_a_blunt_tip_loses_the_atoms_but_not_the_tas2_cdw_at_a_middle_radius():
    sharp, fr, _ = spectrum("graphite")
    blunt, _, _ = spectrum("graphite", blur=0.5)
    band = (fr > 4.0) & (fr < 5.5)
    assert blunt[band].max() < 1e-6 * sharp[band].max()
    mid, _, _ = spectrum("tas2", blur=0.2)
    cdw = (fr > 0.6) & (fr < 1.5)
    atoms = (fr > 2.8) & (fr < 4.0)
    assert mid[cdw].max() > 1e4 * mid[atoms].max()


@pytest.mark.parametrize("name, k_fermi", [("cu111", 2.2), ("ag111", 0.83)])
def test_steps_carry_standing_waves_of_half_the_fermi_wavelength(name, k_fermi):
    """Literature k_F: Cu(111) 2.2 nm^-1 (lambda_F/2 = 1.4 nm), Ag(111) 0.83 (3.8 nm)."""
    opts = {"island_density": 0.0, "adatom_density": 0.0, "atomic_amplitude": 0.0}
    waves = make_sample(name, seed=3, **opts)
    flat = make_sample(name, seed=3, wave_amplitude=0.0, **opts)
    # a line across the steps; the ripple is the difference of the two renderings
    u = np.deg2rad(waves.step_angle)
    t = np.linspace(0.0, 80.0, 16001)
    x, y = 5.0 + t * np.cos(u), 7.0 + t * np.sin(u)
    ripple = waves.height(x, y, blur=SHARP, bias=0.0) - flat.height(x, y, blur=SHARP, bias=0.0)
    d = waves.truth_maps(x, y)["edge_distance"]
    near = (d > 1.0) & (d < 12.0)
    top = (ripple[1:-1] > ripple[:-2]) & (ripple[1:-1] > ripple[2:]) & near[1:-1]
    dd = np.sort(d[1:-1][top])
    spacing = np.diff(dd)
    spacing = spacing[spacing > 0.3]  # maxima on both sides of an edge repeat their distance
    assert np.median(spacing) == pytest.approx(np.pi / k_fermi, rel=0.06)


def test_every_new_surface_scans_in_the_twin_with_spectra():
    for name in ("cu111", "ag111", "graphite", "tise2", "tas2"):
        assert name in SAMPLE_NAMES
        twin = TwinSPM(name, seed=1)
        assert twin.sample.name == name and twin.mode == "stm"
        rho = twin.sample.ldos(np.zeros(2), np.zeros(2), np.linspace(-0.5, 0.5, 11))
        assert rho.shape == (2, 11) and np.all(rho > 0)


@pytest.mark.parametrize(
    "name, options, word",
    [
        ("cu111", {"terrace_width": 0.0}, "terrace_width"),
        ("cu111", {"island_density": -1.0}, "island_density"),
        ("graphite", {"alpha_weight": 1.5}, "alpha_weight"),
        ("tise2", {"cdw_scale": -0.1}, "cdw_scale"),
    ],
)
def test_bad_sample_parameters_are_refused_by_name(name, options, word):
    with pytest.raises(ConfigurationError, match=word):
        make_sample(name, **options)
