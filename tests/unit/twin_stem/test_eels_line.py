"""The spectrum-image line path (``TwinSTEM.eels_line``, ``eels.acquire_many``) against the
per-spectrum path it replaces: the same expected counts, times, positions and electrons."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autoscope.devices.twin.stem.eels import Spectrometer, acquire, acquire_many, fraction_many
from autoscope.devices.twin.stem.samples.base import Edge, LocalSpectrum, Peak
from autoscope.devices.twin.stem.twin import TwinSTEM
from autoscope.errors import ConfigurationError


def _reference(twin: TwinSTEM, x, y, spec):
    """What eels_at computes for each position in turn, without the noise."""
    out = []
    for xj, yj in zip(x, y):
        t = twin.clock.now()
        xy = twin._true_xy(xj, yj, t + spec.exposure / 2)
        local = twin.sample.local_spectrum(*xy, kv=twin.probe.kv)
        zlp = spec.energy_drift * t + 0.03 * math.sin(2 * math.pi * t / 60.0)
        out.append(acquire(local, spec, twin.current_pa, zlp, None)[1])
        twin._park(xj, yj, spec.exposure)
        twin.clock.advance(1e-3)
    return np.array(out)


def _close(got, ref):
    """Within 1e-7 of the spectrum's largest channel and 1e-5 of each channel."""
    tol = 1e-7 * ref.max(1, keepdims=True) + 1e-5 * np.abs(ref)
    assert np.all(np.abs(got - ref) <= tol), float(np.max(np.abs(got - ref) / tol))


@pytest.mark.parametrize(
    ("sample", "channels", "dispersion", "offset"),
    [
        ("nanoparticles", 256, 0.02, -1.0),
        ("graphene", 1024, 0.25, -10.0),
        ("oxide", 512, 1.0, 50.0),
    ],
)
def test_a_line_gives_the_expected_counts_times_and_electrons_of_spectra_one_by_one(
    sample, channels, dispersion, offset
):
    spec = Spectrometer(channels=channels, dispersion=dispersion, offset=offset, exposure=0.05)
    one = TwinSTEM(sample, seed=1, damage=False)
    line = TwinSTEM(sample, seed=1, damage=False)
    x, y = np.linspace(-1.5, 1.5, 8), np.full(8, 0.4)
    ref = _reference(one, x, y, spec)
    n_e = line.electrons_per_second * spec.exposure
    counts = line.eels_line(x, y, spec)
    assert line.clock.now() == one.clock.now()
    assert line.scan.moves == one.scan.moves
    assert line.truth.electrons == one.truth.electrons == pytest.approx(8 * n_e)
    assert line.dose_map()[1].sum() == pytest.approx(one.dose_map()[1].sum(), rel=1e-9)
    # the expected counts, through the same positions and zero-loss energies
    again = TwinSTEM(sample, seed=1, damage=False)
    got = []
    for xj, yj in zip(x, y):  # acquire_many of the same local spectra as eels_at's
        t = again.clock.now()
        xy = again._true_xy(xj, yj, t + spec.exposure / 2)
        local = again.sample.local_spectrum(*xy, kv=again.probe.kv)
        zlp = spec.energy_drift * t + 0.03 * math.sin(2 * math.pi * t / 60.0)
        got.append((local, zlp))
        again._park(xj, yj, spec.exposure)
        again.clock.advance(1e-3)
    expected = acquire_many([g[0] for g in got], spec, one.current_pa, [g[1] for g in got], None)[1]
    _close(expected, ref)
    # counting noise: Poisson about the expected counts (read noise 1 count rms)
    z = (counts - ref) / np.sqrt(ref + spec.read_noise**2)
    assert abs(z.mean()) < 5 / math.sqrt(z.size)
    assert z.std() == pytest.approx(1.0, abs=0.1)


def test_shapes_that_start_at_a_threshold_are_cut_where_each_spectrum_s_own_zero_loss_is():
    # zero-loss energies on both sides of the lattice nodes and cuts, shared and own shapes
    spec = Spectrometer(channels=600, dispersion=0.01, offset=-1.0, zlp_fwhm=0.3)
    local = LocalSpectrum(
        0.4,
        [Peak("lsp", 2.0, 0.3, 1e-3), Peak("bulk", 15.0, 5.0, 0.1)],
        [Edge("Si", 3.5, 2.0, "L23", split=0.6, prepeak=-0.5, prepeak_height=0.4)],
    )
    other = LocalSpectrum(0.2, [Peak("lsp", 2.1, 0.2, 2e-3)], [])
    z = np.array([0.0, 0.0031, -0.0049, 0.0153, 0.0007, 0.0244, -0.012])
    locals_ = [local] * 6 + [other]
    got = acquire_many(locals_, spec, 30.0, z, None)[1]
    ref = np.array([acquire(loc, spec, 30.0, zj, None)[1] for loc, zj in zip(locals_, z)])
    _close(got, ref)


def test_the_line_path_is_deterministic_and_refuses_mismatched_energies():
    spec = Spectrometer(channels=128, dispersion=0.05)
    x, y = np.linspace(0, 1, 5), np.zeros(5)
    a = TwinSTEM("nanoparticles", seed=3).eels_line(x, y, spec)
    b = TwinSTEM("nanoparticles", seed=3).eels_line(x, y, spec)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigurationError, match="2 local spectra need 2 zero-loss energies"):
        fraction_many([LocalSpectrum(0.1)] * 2, spec, [0.0])


def test_a_table_of_local_spectra_gives_the_list_s_fractions_bit_for_bit():
    # positions on particles, on carbon and off the film (no C K edge there), a single
    # spectrum and a duplicated key (two peaks of one energy and width in each spectrum)
    from autoscope.devices.twin.stem.samples import make_sample
    from autoscope.devices.twin.stem.samples.base import LocalSpectra

    sample = make_sample("nanoparticles", seed=1)
    spec = Spectrometer(channels=512, dispersion=0.1, offset=-2.0)
    rng = np.random.default_rng(4)
    x, y = rng.uniform(-400, 400, 24), rng.uniform(-400, 400, 24)
    z = rng.normal(0.0, 0.02, 24)
    for n in (24, 1):
        table = sample.local_spectra_table(x[:n], y[:n], 300.0)
        assert isinstance(table, LocalSpectra) and len(table) == n
        listed = [table.spectrum(j) for j in range(n)]
        np.testing.assert_array_equal(
            fraction_many(table, spec, z[:n]), fraction_many(listed, spec, z[:n])
        )
    peak = Peak("lsp", 2.0, 0.3, 0.0)
    s = np.array([1e-3, 0.0, 2e-3])
    table = LocalSpectra(np.array([0.3, 0.2, 0.1]), [(peak, s), (peak, s[::-1].copy())])
    listed = [table.spectrum(j) for j in range(3)]
    np.testing.assert_array_equal(
        fraction_many(table, spec, z[:3]), fraction_many(listed, spec, z[:3])
    )


def test_chunked_counting_noise_depends_on_the_seed_not_on_the_threads():
    from autoscope.devices.twin.stem.eels import NOISE_CHUNK, counting_noise

    spec = Spectrometer(channels=256, read_noise=1.0)
    lam = np.linspace(0.05, 400.0, 3 * NOISE_CHUNK * 256).reshape(-1, 256)  # 3 chunks
    drawn = [counting_noise(lam, spec, np.random.default_rng(7), t) for t in (1, 2, 3)]
    np.testing.assert_array_equal(drawn[0], drawn[1])
    np.testing.assert_array_equal(drawn[0], drawn[2])
    single = counting_noise(lam, spec, np.random.default_rng(7), 0)
    assert not np.array_equal(single, drawn[0])
    # the counting statistics: (counts - λ) has mean 0 and variance λ + read noise²
    z = (drawn[0] - lam) / np.sqrt(lam + 1.0)
    assert abs(z.mean()) < 5 / np.sqrt(z.size) and abs(z.var() - 1.0) < 0.05
    a = TwinSTEM("nanoparticles", seed=3, noise_threads=1).eels_line([0.0, 0.5], [0.0, 0.0])
    b = TwinSTEM("nanoparticles", seed=3, noise_threads=2).eels_line([0.0, 0.5], [0.0, 0.0])
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ConfigurationError, match="noise_threads -1 must be an integer"):
        TwinSTEM("nanoparticles", noise_threads=-1)
