"""HAADF/ADF/BF image formation, counting noise and scan errors of the STEM twin."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from autoscope.devices.twin.stem.imaging import Grid, Renderer, cross_section
from autoscope.devices.twin.stem.probe import Probe
from autoscope.devices.twin.stem.samples.base import Atoms
from autoscope.devices.twin.stem.samples.graphene import Graphene
from autoscope.devices.twin.stem.scan import ScanErrors
from autoscope.devices.twin.stem.twin import STEMFrame, TwinSTEM
from autoscope.errors import ConfigurationError
from tests.unit.twin_stem.conftest import STILL, phase_correlation


def _peak(img: np.ndarray, grid: Grid, x: float, y: float) -> float:
    gx, gy = grid.coords()
    i, j = np.argmin(np.abs(gy - y)), np.argmin(np.abs(gx - x))
    return float(img[i - 3 : i + 4, j - 3 : j + 4].max())


def test_single_si_over_single_c_haadf_contrast():
    """Isolated columns: the linear model gives exactly (14/6)^1.8 = 4.59 at any probe."""
    sample = Graphene(seed=0, hole_radius=0.0)
    atoms = Atoms([-10.0, 10.0], [0.0, 0.0], [6, 14])
    grid = Grid(-20.0, -20.0, 0.1, 400)
    img = Renderer().render(sample, atoms, Probe(60, 30), grid, ("haadf",))["haadf"]
    ratio = _peak(img, grid, 10, 0) / _peak(img, grid, -10, 0)
    assert 4.4 <= ratio <= 5.7
    assert ratio == pytest.approx((14 / 6) ** 1.8, rel=0.01)


def test_in_the_lattice_neighbour_tails_lower_the_raw_si_c_ratio():
    """With a 0.8 Å probe and 1.42 Å bonds the neighbours' tails add to every peak, so the
    raw (vacuum-referenced) Si/C peak ratio in the sheet is below the isolated-atom value."""
    sample = Graphene(seed=3, hole_radius=0.0)
    a = sample.atoms
    si = np.flatnonzero((a.Z == 14) & (np.abs(a.x) < 35) & (np.abs(a.y) < 35))[0]
    c = [k for k in a.near(a.x[si], a.y[si], 1.6) if a.Z[k] == 6]
    assert len(c) == 3
    grid = Grid(a.x[si] - 10, a.y[si] - 10, 0.05, 400)
    img = Renderer().render(sample, a, Probe(60, 30), grid, ("haadf",))["haadf"]
    ratio = grid.sample(img, a.x[[si]], a.y[[si]])[0] / grid.sample(img, a.x[c], a.y[c]).mean()
    assert 2.5 < ratio < (14 / 6) ** 1.8


def test_detector_cross_sections_order_and_bf_darkens_on_atoms():
    z = np.array([6, 14, 79])
    h, a = cross_section("haadf", z), cross_section("adf", z)
    assert h[2] / h[0] > a[2] / a[0]  # HAADF has the stronger Z contrast
    twin = TwinSTEM(seed=1, scan_errors=STILL, damage=False, current_pa=200)
    frame = STEMFrame(fov_nm=2.0, pixels=64, dwell_us=20)
    imgs = twin.scan_frame(frame, ("haadf", "adf", "bf"))
    corr = np.corrcoef(imgs["haadf"].ravel(), imgs["bf"].ravel())[0, 1]
    assert corr < -0.3


def test_snr_follows_the_square_root_of_dose():
    """Noise from the difference of two frames of the same area; SNR ratio = sqrt(16)."""

    def snr(dwell):
        twin = TwinSTEM(seed=2, scan_errors=STILL, damage=False, contamination=(0.0, 1.0))
        frame = STEMFrame(fov_nm=4.0, pixels=128, dwell_us=dwell)
        a = twin.scan_frame(frame)["haadf"]
        b = twin.scan_frame(frame)["haadf"]
        return 0.5 * (a + b).mean() / ((a - b).std() / np.sqrt(2))

    assert snr(16.0) / snr(1.0) == pytest.approx(4.0, rel=0.05)


def test_drift_measured_by_cross_correlation_matches_the_configured_drift():
    v = (1.5, -1.0)  # Å/s
    errors = ScanErrors(
        drift_velocity=v, drift_wander=0.0, creep_gamma=0.0, flyback_amplitude=0.0, line_jitter=0.0
    )
    twin = TwinSTEM(seed=4, scan_errors=errors, damage=False, current_pa=100)
    frame = STEMFrame(fov_nm=8.0, pixels=128, dwell_us=10)
    t0 = twin.clock.now()
    a = twin.scan_frame(frame)["haadf"]
    twin.clock.advance(8.0)
    t1 = twin.clock.now()
    b = twin.scan_frame(frame)["haadf"]
    rows, cols = phase_correlation(a, b)
    pix = frame.pixel_size
    # the sample moves by +drift, so its image moves by -drift
    assert -cols * pix == pytest.approx(v[0] * (t1 - t0), abs=0.3 * pix)
    assert -rows * pix == pytest.approx(v[1] * (t1 - t0), abs=0.3 * pix)


def test_flyback_and_creep_put_the_beam_elsewhere_than_asked():
    errors = ScanErrors(
        drift_velocity=(0.0, 0.0),
        drift_wander=0.0,
        line_jitter=0.0,
        flyback_amplitude=2.0,
        flyback_tau=30e-6,
        creep_gamma=0.02,
    )
    twin = TwinSTEM(seed=5, scan_errors=errors, damage=False)
    t = np.array([0.0, 1e-3])
    dx, _ = twin.scan.offsets(t, 0.0)
    assert dx[0] == pytest.approx(2.0) and abs(dx[1]) < 1e-6
    twin.scan.move(0.0, 100.0, 0.0)
    cx, _ = twin.scan.creep(np.array([10.0]))
    assert cx[0] == pytest.approx(100.0 * 0.02 * 2.0)


def test_dose_map_includes_probe_tails_and_conserves_electrons():
    twin = TwinSTEM(seed=6, damage=False, scan_errors=STILL)
    twin.set_aberrations(C10=-200.0)  # a defocused probe spreads its electrons
    twin.park(0.3, 0.2, 1e-3)
    grid, dose = twin.dose_map()
    electrons = twin.electrons_per_second * 1e-3
    assert dose.sum() * grid.sampling**2 == pytest.approx(electrons, rel=1e-9)
    gx, gy = grid.coords()
    at = grid.sample(dose, np.array([3.0, 3.0 + 3.0]), np.array([2.0, 2.0]))
    assert at[1] > 1e-4 * at[0] > 0


def test_frames_are_deterministic_by_seed_and_clock_advances_by_dwell():
    frame = STEMFrame(fov_nm=3.0, pixels=32, dwell_us=5, flyback_us=40)
    a, b = TwinSTEM(seed=9), TwinSTEM(seed=9)
    assert np.array_equal(a.scan_frame(frame)["haadf"], b.scan_frame(frame)["haadf"])
    assert a.clock.now() == pytest.approx(32 * (40e-6 + 32 * 5e-6))


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"fov_nm": -1.0}, "-1.0"), ({"pixels": 1}, "1"), ({"dwell_us": 0.0}, "0.0")],
)
def test_bad_frames_are_refused(kwargs, word):
    with pytest.raises(ConfigurationError, match=word):
        STEMFrame(**kwargs)


def test_bad_line_and_detector_are_refused():
    twin = TwinSTEM(seed=0)
    with pytest.raises(ConfigurationError, match="99"):
        twin.scan_line(STEMFrame(pixels=8), 99)
    with pytest.raises(ConfigurationError, match="'sed'"):
        twin.scan_line(STEMFrame(pixels=8), 0, ("sed",))


def test_scan_frame_is_line_by_line_scanning_to_the_last_bit():
    """scan_frame works a damage block at a time; the images, damage events, dose, clock and
    true offsets are those of scan_line called line by line."""
    frame = STEMFrame(fov_nm=3.0, pixels=40, dwell_us=5)
    dets = ("haadf", "adf", "bf")
    a = TwinSTEM(seed=3, kv=100, current_pa=5000)
    b = TwinSTEM(seed=3, kv=100, current_pa=5000)
    for _ in range(3):
        whole = a.scan_frame(frame, dets)
        lines = [b.scan_line(frame, i, dets) for i in range(frame.pixels)]
        for d in dets:
            assert np.array_equal(whole[d], np.stack([ln.signals[d] for ln in lines]))
    assert a.truth.events and a.truth.events == b.truth.events
    assert np.array_equal(a.dose, b.dose)
    assert a.clock.now() == b.clock.now()
    assert a.truth.line_offsets == b.truth.line_offsets


def test_grid_sample_is_scipy_bilinear_with_nearest_edges():
    rng = np.random.default_rng(0)
    for grid, shape in ((Grid(-3.0, -2.0, 0.1, 60), (60, 60)), (Grid(0, 0, 0.5, 50, 20), (20, 50))):
        img = rng.random(shape)
        x = rng.uniform(grid.x0 - 2, grid.x0 + grid.n * grid.sampling + 2, 5000)
        y = rng.uniform(grid.y0 - 2, grid.y0 + grid.rows * grid.sampling + 2, 5000)
        ref = ndimage.map_coordinates(
            img,
            [(y - grid.y0) / grid.sampling, (x - grid.x0) / grid.sampling],
            order=1,
            mode="nearest",
        )
        assert np.allclose(grid.sample(img, x, y), ref, rtol=0, atol=1e-12)
