"""The probe: relativistic wavelength, aperture-limited size, aberration limit, defocus."""

from __future__ import annotations

import pytest

from autoscope.devices.twin.stem.probe import Aberrations, Probe, d50, fwhm, wavelength
from autoscope.errors import ConfigurationError


@pytest.mark.parametrize(("kv", "pm"), [(60, 4.866), (200, 2.508), (300, 1.969)])
def test_wavelength_matches_tables(kv, pm):
    assert wavelength(kv) * 100 == pytest.approx(pm, abs=0.001)


def test_fwhm_shrinks_with_aperture_as_lambda_over_alpha():
    sizes = [fwhm(Probe(60, a).intensity(512, 0.05), 0.05) for a in (10, 20, 30)]
    assert sizes[0] > sizes[1] > sizes[2]
    # diffraction limit: FWHM of an Airy disc is 0.514 λ/α
    assert sizes[0] == pytest.approx(0.514 * wavelength(60) / 0.010, rel=0.05)


def test_uncorrected_probe_has_an_optimum_aperture():
    ab = Aberrations(C30=1.2e7)  # Cs 1.2 mm, no defocus
    d = {a: d50(Probe(200, a, ab).intensity(512, 0.05), 0.05) for a in (3, 6, 16)}
    assert d[6] < d[3]  # diffraction-limited below the optimum
    assert d[16] > 2 * d[6]  # aberration-limited above it


def test_defocus_broadens_a_corrected_probe():
    p = Probe(60, 30)
    sharp = fwhm(p.intensity(512, 0.05), 0.05)
    assert fwhm(p.with_aberrations(C10=-100.0).intensity(512, 0.05), 0.05) > 2 * sharp


def test_astigmatism_elongates_the_probe():
    # at a line focus (C10 = -C12) the spot is a line along one axis
    i = Probe(60, 30, Aberrations(C10=-30.0, C12=30.0)).intensity(256, 0.05)
    along_x, along_y = ((v > 0.5 * v.max()).sum() for v in (i.sum(0), i.sum(1)))
    assert max(along_x, along_y) > 1.5 * min(along_x, along_y)


def test_ft_intensity_is_unity_at_zero_frequency():
    ft = Probe(60, 30).ft_intensity([0.0, 0.5], [0.0])
    assert ft[0, 0].real == pytest.approx(1.0)
    assert abs(ft[0, 1]) < 1.0


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"kv": -5}, "-5"), ({"convergence_mrad": 0}, "0"), ({"source_size": -1}, "-1")],
)
def test_bad_probe_settings_are_refused(kwargs, word):
    with pytest.raises(ConfigurationError, match=word):
        Probe(**kwargs)


def test_coarse_sampling_and_unknown_aberration_are_refused():
    with pytest.raises(ConfigurationError, match="too coarse"):
        Probe(60, 30).intensity(64, 1.0)
    with pytest.raises(ConfigurationError, match="C99"):
        Probe().with_aberrations(C99=1.0)
