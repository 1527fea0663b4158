"""Finding real files in installed distributions and in archives; the real files themselves.

The archive tests build a wheel (zip) and an sdist (tar.gz) here, holding
files written by our own writers. The tests on the real files run when the
distributions are installed or downloaded (``python docs/scripts/compare_real_data.py
--download`` puts them in the user cache) and skip with the reason otherwise.
"""

import tarfile
import zipfile

import numpy as np
import pytest

from autoscope.errors import ConfigurationError
from autoscope.io import realdata
from autoscope.io.dat import NanonisSpectrum, write_dat
from autoscope.io.rawimage import RawImageFormatError, parse_raw_image, write_raw_image
from autoscope.io.recorded import read_recorded_dataset, sxm_to_recorded, write_recorded_dataset
from autoscope.io.sxm import SxmImage, write_sxm

_PKG = "autoscope-test-nonexistent-dist"  # never installed, so only archives are searched


def test_locate_finds_a_member_in_a_wheel_and_an_sdist(tmp_path):
    z = np.arange(12, dtype=np.float32).reshape(3, 4)
    sxm = write_sxm(tmp_path / "a.sxm", {"Z": (z, z)}, {"Z": "nm"}, (4.0, 3.0))
    dat = write_dat(tmp_path / "b.dat", np.linspace(-1, 1, 9), {"Current": (np.ones(9), "pA")})
    archives = tmp_path / "archives"
    archives.mkdir()
    wheel = archives / "autoscope_test_nonexistent_dist-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.write(sxm, "pkg/data/a.sxm")
    with tarfile.open(archives / "autoscope_test_nonexistent_dist-1.0.tar.gz", "w:gz") as tar:
        tar.add(dat, "autoscope_test_nonexistent_dist-1.0/tests/data/b.dat")

    in_wheel = realdata.RealFile("w", _PKG, "pkg/data/a.sxm", "sxm", "test image")
    img = realdata.load(in_wheel, [archives])
    assert isinstance(img, SxmImage)
    np.testing.assert_allclose(img.image("Z"), z)
    assert img.source.endswith(".whl!pkg/data/a.sxm")

    in_sdist = realdata.RealFile("s", _PKG, "tests/data/b.dat", "dat", "test", sdist_only=True)
    spec = realdata.load(in_sdist, [archives])
    assert isinstance(spec, NanonisSpectrum)
    np.testing.assert_allclose(spec.channel("Current"), 1.0)


def test_missing_file_error_says_how_to_get_it(tmp_path):
    real = realdata.RealFile("x", _PKG, "nothing/here.sxm", "sxm", "none")
    with pytest.raises(FileNotFoundError, match="pip install --no-deps " + _PKG):
        realdata.locate(real, [tmp_path])
    sdist = realdata.RealFile("y", _PKG, "t/a.dat", "dat", "none", sdist_only=True)
    with pytest.raises(FileNotFoundError, match="--no-binary :all:"):
        realdata.locate(sdist, [tmp_path])
    with pytest.raises(ConfigurationError, match="no known real file 'nope'"):
        realdata.known_file("nope")


def test_default_archive_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("AUTOSCOPE_REALDATA_DIR", str(tmp_path))
    assert realdata.default_archive_dir() == tmp_path


def test_raw_image_round_trip_and_errors(tmp_path):
    z = np.random.default_rng(0).normal(size=(5, 6))
    p = write_raw_image(tmp_path / "r.dat", z)
    np.testing.assert_allclose(parse_raw_image(p.read_bytes()), z, rtol=1e-12)
    with pytest.raises(RawImageFormatError, match=r"5x6 needs 240 data bytes, the file has 232"):
        parse_raw_image(p.read_bytes()[:-8], "cut.dat")
    with pytest.raises(RawImageFormatError, match="shorter than the 8-byte shape"):
        parse_raw_image(b"\x01\x00", "tiny.dat")


def test_recorded_dataset_round_trip_and_sxm_conversion(tmp_path):
    rng = np.random.default_rng(1)
    img = rng.normal(size=(4, 5))
    spectra = rng.normal(size=(4, 5, 7))
    axis = np.linspace(-1, 1, 7)
    p = write_recorded_dataset(
        tmp_path / "d.h5",
        img,
        spectra,
        axis,
        spectral_units="V",
        pixel_size=0.2,
        attrs={"source": "test"},
    )
    d = read_recorded_dataset(p)
    np.testing.assert_array_equal(d.image, img)
    np.testing.assert_array_equal(d.spectra, spectra)
    np.testing.assert_array_equal(d.spectral_axis, axis)
    assert (d.spectral_units, d.pixel_size, d.pixel_units) == ("V", 0.2, "nm")
    assert d.attrs["source"] == "test"
    with pytest.raises(ConfigurationError, match="both spectra and spectral_axis"):
        write_recorded_dataset(tmp_path / "e.h5", img, spectra)
    with pytest.raises(ConfigurationError, match=r"must be \(H, W, K\)"):
        write_recorded_dataset(tmp_path / "e.h5", img, spectra[:, :3], axis)

    z = rng.normal(size=(8, 8)).astype(np.float32)
    sxm = write_sxm(
        tmp_path / "t.sxm", {"Z": (z, z)}, {"Z": "nm"}, (4.0, 4.0), bias=0.5, setpoint=100.0
    )
    out = read_recorded_dataset(sxm_to_recorded(sxm, tmp_path / "t.h5"))
    np.testing.assert_allclose(out.image, z)
    assert out.spectra is None and out.pixel_size == pytest.approx(0.5)
    assert out.attrs["bias_V"] == pytest.approx(0.5) and out.attrs["image_units"] == "nm"
    rect = write_sxm(tmp_path / "r.sxm", {"Z": (z, None)}, {"Z": "nm"}, (4.0, 8.0))
    with pytest.raises(ConfigurationError, match="not square"):
        sxm_to_recorded(rect, tmp_path / "r.h5")


def _load_or_skip(real):
    try:
        return realdata.load(real)
    except FileNotFoundError as exc:
        pytest.skip(f"real file not available: {exc}")


@pytest.mark.parametrize(
    "real", [f for f in realdata.KNOWN_FILES if f.kind == "sxm"], ids=lambda f: f.key
)
def test_real_sxm_files_read(real):
    img = _load_or_skip(real)
    assert img.units["Z"] == "nm" and img.units["Current"] == "pA"
    for dirs in img.channels.values():
        for arr in dirs.values():
            assert arr.shape == (img.lines, img.pixels) and np.isfinite(arr).all()
    assert 1.0 <= img.scan_size[0] <= 10.0  # nm: these are 2-5 nm frames
    assert img.setpoint_units == "pA" and 10.0 <= abs(img.setpoint) <= 200.0


@pytest.mark.parametrize(
    "real", [f for f in realdata.KNOWN_FILES if f.kind == "dat"], ids=lambda f: f.key
)
def test_real_dat_files_read(real):
    spec = _load_or_skip(real)
    assert spec.experiment == "bias spectroscopy"
    assert spec.axis_units == "V" and spec.channels["Current"][1] == "pA"
    assert np.all(np.diff(spec.axis) > 0)
    current = spec.channel("Current")
    assert np.isfinite(current).all() and np.ptp(current) > 0
    # currents of an STM are pA to nA
    assert 0.1 < np.max(np.abs(current)) < 1e5


@pytest.mark.parametrize(
    "real", [f for f in realdata.KNOWN_FILES if f.kind == "raw"], ids=lambda f: f.key
)
def test_real_raw_images_read(real):
    z = _load_or_skip(real)
    assert z.shape in {(256, 256), (512, 512)}
    assert 0.1 < np.ptp(z) < 10.0  # nm
