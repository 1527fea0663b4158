"""autoscope.studies.twin_vs_real (docs/scripts/compare_real_data.py) on archives built here.

A wheel named like pynxtools-stm's is built in the test, holding a small
.sxm image and a .dat spectrum written by our own writers at the paths of the
real files; the script must read them, scan the twin over the same frame,
and write the page and both figures. Files it cannot find are listed, not fatal.
"""

import importlib.metadata as md
import zipfile

import numpy as np
import pytest

from autoscope.io import realdata
from autoscope.io.dat import write_dat
from autoscope.io.sxm import write_sxm
from autoscope.studies import twin_vs_real


def test_script_compares_files_from_an_archive_and_lists_missing_ones(tmp_path, monkeypatch):
    try:
        md.distribution("pynxtools-stm")
        pytest.skip("pynxtools-stm is installed; its real files would be used instead")
    except md.PackageNotFoundError:
        pass
    monkeypatch.setenv("AUTOSCOPE_REALDATA_DIR", str(tmp_path / "unused"))
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:32, :32]
    z = (0.02 * np.sin(2 * np.pi * xx / 8) + rng.normal(0, 0.001, (32, 32))).astype(np.float32)
    sxm = write_sxm(
        tmp_path / "a.sxm",
        {"Z": (z, np.roll(z, -1, axis=1)), "Current": (np.full_like(z, 100.0), None)},
        {"Z": "nm", "Current": "pA"},
        (5.0, 5.0),
        bias=0.5,
        setpoint=100.0,
        line_time=(0.1, 0.1),
    )
    bias = np.linspace(-0.3, 0.3, 64)
    dat = write_dat(
        tmp_path / "b.dat",
        bias,
        {
            "Current": (100 * bias + rng.normal(0, 0.5, 64), "pA"),
            "LI Demod 1 X": (np.full(64, 1.0) + rng.normal(0, 0.01, 64), "pA"),
        },
        header={"Bias>Bias (V)": "100E-3", "Lock-in>Amplitude": "2E-3"},
    )
    archives = tmp_path / "archives"
    archives.mkdir()
    with zipfile.ZipFile(archives / "pynxtools_stm-0.0-py3-none-any.whl", "w") as zf:
        zf.write(sxm, realdata.known_file("tise2_sxm").member)
        zf.write(dat, realdata.known_file("au111_sts").member)

    out = tmp_path / "page.md"
    assert (
        twin_vs_real.main(
            ["--archives", str(archives), "--out", str(out), "--figures", str(tmp_path / "fig")]
        )
        == 0
    )
    text = out.read_text()
    assert "| real: STM_nanonis_generic_5e.sxm | Z | 5 nm, 32 px | nm |" in text
    assert "| twin: si100_h | topography | 5 nm, 32 px | nm |" in text
    assert "| real: STS_nanonis_generic_5e_1.dat | -0.3..0.3 V, 64 pts" in text
    assert "skipped au_mica_sxm" in text  # not in the archive: listed, not fatal
    for name in ("twin_vs_real_images.png", "twin_vs_real_spectra.png"):
        png = tmp_path / "fig" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size < 500_000
