"""LaAlO3/SrTiO3 [001]: hidden oxygen vacancies shift the Ti L2,3 edge and weaken the O K
pre-peak; the HAADF image shows the columns but not the vacancies."""

from __future__ import annotations

import numpy as np
import pytest

from autoscope.devices.twin.stem.eels import Spectrometer, acquire
from autoscope.devices.twin.stem.samples.oxide import A_STO, CF_TI4, Oxide
from autoscope.devices.twin.stem.twin import STEMFrame, TwinSTEM
from autoscope.errors import ConfigurationError
from tests.unit.twin_stem.conftest import STILL

SPEC = Spectrometer(channels=1536, dispersion=0.1, offset=420.0, exposure=1.0, energy_drift=0.0)
DEPTHS = (2.0, 20.0, 60.0)  # Å below the interface


def _b_site_below(sample: Oxide, depth: float) -> tuple[float, float]:
    """A Ti-O column about ``depth`` Å below the interface (Å)."""
    return A_STO / 2, (np.floor((sample.interface_y - depth) / A_STO) + 0.5) * A_STO


@pytest.fixture(scope="module")
def spectra():
    twin = TwinSTEM("oxide", seed=0, scan_errors=STILL, current_pa=1000.0)
    out = []
    for depth in DEPTHS:
        x, y = _b_site_below(twin.sample, depth)
        e, counts = twin.eels_at(x / 10.0, y / 10.0, SPEC)
        out.append((e, counts, twin.sample.truth_maps(x, y)))
    return out


def test_ti_l_onset_within_one_channel_of_the_truth(spectra):
    """The first white line (L3 t2g) sits 1 eV above the onset (eels.edge_shape)."""
    measured = []
    for e, counts, truth in spectra:
        window = (e > 450.0) & (e < 460.5)
        onset = e[window][np.argmax(counts[window])] - 1.0
        assert abs(onset - float(truth["ti_l_onset"])) <= SPEC.dispersion + 1e-9
        measured.append(onset)
    # more vacancies near the interface: more Ti3+, a lower onset
    assert measured[0] < measured[-1]
    assert spectra[0][2]["ti3_fraction"] > spectra[-1][2]["ti3_fraction"]


def test_o_k_prepeak_weakens_where_vacancies_gather(spectra):
    ratios, truths = [], []
    for e, counts, truth in spectra:
        pre = counts[(e > 530.4) & (e < 531.4)].sum()  # pre-peak at 531 eV
        main = counts[(e > 534.0) & (e < 540.0)].sum()  # the edge above it
        ratios.append(pre / main)
        truths.append(float(truth["o_k_prepeak"]))
    assert np.all(np.diff(truths) > 0)
    assert np.all(np.diff(ratios) > 0)


def test_ti_crystal_field_splitting_shows_in_the_l3_white_lines():
    sample = Oxide(seed=1)
    x, y = _b_site_below(sample, 80.0)
    spec = Spectrometer(channels=750, dispersion=0.02, offset=450.0, zlp_fwhm=0.1)
    _, expected = acquire(sample.local_spectrum(x, y), spec, 1000.0, 0.0, None)
    truth = sample.truth_maps(x, y)
    onset = float(truth["ti_l_onset"])
    cf = CF_TI4 * (1 - 0.4 * float(truth["ti3_fraction"]))
    e = spec.axis()

    def peak(lo, hi):
        w = (e > lo) & (e < hi)
        return e[w][np.argmax(expected[w])]

    peak1 = peak(onset + 0.5, onset + 1.5)  # L3 t2g
    peak2 = peak(onset + 0.4 + cf, onset + 1.6 + cf)  # L3 eg
    assert peak2 - peak1 == pytest.approx(cf, abs=2 * spec.dispersion)


def test_vacancies_gather_at_the_interface_and_empty_o_columns():
    sample = Oxide(seed=2)
    a = sample.atoms
    o = a.Z == 8
    n_full = int(round(sample.thickness / A_STO))
    d = sample.interface_y - a.y
    near, far = o & (d > 0) & (d < 10), o & (d > 60)
    missing = n_full - a.n
    # realised O counts follow the hidden density (binomial mean, within 4 standard errors)
    for sel in (near, far):
        delta = sample.vacancy_density(a.x[sel], a.y[sel])
        se = np.sqrt(np.sum(n_full * delta * (1 - delta)))
        assert abs(missing[sel].sum() - np.sum(n_full * delta)) < 4 * se
    assert missing[near].mean() > 3 * missing[far].mean()
    assert np.all(sample.vacancy_density(a.x[o & (d < 0)], a.y[o & (d < 0)]) == 0)


def test_haadf_shows_the_columns_but_not_the_vacancies():
    twin = TwinSTEM("oxide", seed=0, scan_errors=STILL, damage=False)
    assert twin.probe.kv == 200.0
    frame = STEMFrame(fov_nm=6.0, pixels=192, dwell_us=4.0)
    img = twin.scan_frame(frame)["haadf"]
    x, y = frame.commanded_lines(np.arange(frame.pixels))
    sample = twin.sample
    # columns: A site (Sr) > B site (Ti + O) > pure O, at pixels nearest each kind of site
    u = np.mod(x / A_STO + 0.5, 1.0) - 0.5  # 0 on A-site columns, ±0.5 on B sites
    v = np.mod(y / A_STO + 0.5, 1.0) - 0.5
    sto = y < sample.interface_y - A_STO
    r = 0.06
    a_site = sto & (np.abs(u) < r) & (np.abs(v) < r)
    b_site = sto & (np.abs(np.abs(u) - 0.5) < r) & (np.abs(np.abs(v) - 0.5) < r)
    o_site = sto & (np.abs(np.abs(u) - 0.5) < r) & (np.abs(v) < r)
    assert img[a_site].mean() > 1.15 * img[b_site].mean() > 1.15 * img[o_site].mean()
    # cell averages: LaAlO3 (La, Z = 57) brighter than SrTiO3, vacancy density invisible
    cell = np.floor(x / A_STO).astype(int) * 10_000 + np.floor(y / A_STO).astype(int)
    keys, inv = np.unique(cell.ravel(), return_inverse=True)
    count = np.bincount(inv)
    mean = np.bincount(inv, img.ravel()) / count
    cy = np.bincount(inv, y.ravel()) / count
    delta = np.bincount(inv, sample.vacancy_density(x, y).ravel()) / count
    whole = count >= 0.9 * count.max()
    in_sto = whole & (cy < sample.interface_y - A_STO)
    in_lao = whole & (cy > sample.interface_y + A_STO)
    assert mean[in_lao].mean() > 1.05 * mean[in_sto].mean()
    assert delta[in_sto].max() > 3 * delta[in_sto].min()
    assert abs(np.corrcoef(mean[in_sto], delta[in_sto])[0, 1]) < 0.3


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [({"thickness": 2.0}, "2.0"), ({"interface_vacancies": 0.7}, "0.7"), ({"decay": 0.0}, "0.0")],
)
def test_bad_oxide_settings_are_refused(kwargs, word):
    with pytest.raises(ConfigurationError, match=word):
        Oxide(**kwargs)
