"""The recorded-dataset file has one home, autoscope.io.recorded: round trip, checks, users."""

import h5py
import numpy as np
import pytest

from autoscope.errors import ConfigurationError, DataFormatError, RecordedDatasetFormatError
from autoscope.io.recorded import RecordedDataset, read_recorded_dataset


def _dataset(h=4, w=5, k=6, **kw):
    rng = np.random.default_rng(0)
    spectra = rng.normal(size=(h, w, k)).astype(np.float32)
    spectra[1, 2] = np.nan  # an unmeasured pixel: a NaN row
    base = dict(
        image=rng.normal(size=(h, w)).astype(np.float32),
        spectra=spectra,
        spectral_axis=np.linspace(-1.0, 1.0, k),
        spectral_units="V",
        pixel_size=0.25,
        pixel_units="nm",
        attrs={"signal_name": "dIdV", "bias_V": 0.5},
    )
    base.update(kw)
    return RecordedDataset(**base)


def test_round_trip_keeps_arrays_dtypes_nan_rows_attrs_and_truth(tmp_path):
    ds = _dataset(truth={"loop_area": np.arange(20.0).reshape(4, 5)})
    path = ds.write(tmp_path / "d.h5")
    with h5py.File(path) as f:
        assert set(f) == {"image", "spectra", "spectral_axis", "truth"}
        assert f.attrs["spectral_units"] == "V" and f.attrs["pixel_size"] == 0.25
    back = RecordedDataset.read(path, require_spectra=True)
    for key in ("image", "spectra", "spectral_axis"):
        a, b = getattr(ds, key), getattr(back, key)
        assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    assert np.isnan(back.spectra[1, 2]).all() and np.isfinite(back.spectra[0, 0]).all()
    assert (back.spectral_units, back.pixel_size, back.pixel_units) == ("V", 0.25, "nm")
    assert back.attrs == {"signal_name": "dIdV", "bias_V": 0.5}
    assert type(back.attrs["bias_V"]) is float and type(back.pixel_size) is float
    assert np.array_equal(back.truth["loop_area"], ds.truth["loop_area"])


def test_an_image_only_file_reads_unless_spectra_are_required(tmp_path):
    path = RecordedDataset(np.zeros((3, 3))).write(tmp_path / "img.h5")
    back = read_recorded_dataset(path)
    assert back.spectra is None and back.pixel_size is None and back.truth is None
    needs = r"img\.h5.*lacks 'spectra', 'spectral_axis'"
    with pytest.raises(RecordedDatasetFormatError, match=needs):
        RecordedDataset.read(path, require_spectra=True)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"image": np.zeros(5)}, r"'image' must be \(H, W\), got shape \(5,\)"),
        ({"image": np.array([["a", "b"]])}, "'image' must be numeric, got dtype <U1"),
        ({"spectral_axis": None}, "give both spectra and spectral_axis, or neither"),
        (
            {"spectra": np.zeros((4, 3, 6))},
            r"'spectra' must be \(H, W, K\) with \(H, W\) = \(4, 5\), got \(4, 3, 6\)",
        ),
        ({"spectral_axis": np.zeros(7)}, r"'spectral_axis' must have shape \(6,\), got \(7,\)"),
        ({"spectral_axis": np.array([0, 1, 2, 3, 4, np.nan])}, "'spectral_axis' .*finite.*nan"),
        ({"pixel_size": -0.5}, "pixel_size must be a finite number > 0, got -0.5"),
        ({"pixel_size": "1 nm"}, "pixel_size must be a finite number > 0, got '1 nm'"),
        ({"pixel_units": 3}, "pixel_units must be a string, got 3"),
        ({"attrs": {"pixel_size": 1.0}}, r"attrs \['pixel_size'\] repeat named fields"),
        (
            {"truth": {"domain": np.zeros((5, 4))}},
            r"truth map 'domain' must be \(H, W\) = \(4, 5\), got \(5, 4\)",
        ),
    ],
)
def test_validation_names_the_bad_value(tmp_path, change, message):
    ds = _dataset(**change)
    with pytest.raises(ConfigurationError, match=message):
        ds.validate()
    with pytest.raises(ConfigurationError, match=message):
        ds.write(tmp_path / "bad.h5")
    assert not (tmp_path / "bad.h5").exists()  # nothing written


def test_spectra_are_required_only_when_asked():
    ds = RecordedDataset(np.zeros((2, 2)))
    assert ds.validate() is ds and ds.problems() == []
    with pytest.raises(ConfigurationError, match="no 'spectra' and 'spectral_axis'"):
        ds.validate(require_spectra=True)


def test_malformed_files_are_data_format_errors_naming_the_file(tmp_path):
    missing = tmp_path / "nope.h5"
    with pytest.raises(ConfigurationError, match="nope.h5.*does not exist"):
        RecordedDataset.read(missing)
    text = tmp_path / "text.h5"
    text.write_text("hello")
    with pytest.raises(RecordedDatasetFormatError, match="text.h5.*not an HDF5 file"):
        RecordedDataset.read(text)
    group = tmp_path / "group.h5"
    with h5py.File(group, "w") as f:
        f.create_group("image")
    with pytest.raises(RecordedDatasetFormatError, match="group.h5.*'image' is not a dataset"):
        RecordedDataset.read(group)
    zero_px = tmp_path / "zero_px.h5"
    with h5py.File(zero_px, "w") as f:
        f["image"] = np.zeros((4, 4))
        f["spectra"] = np.zeros((4, 4, 3))
        f["spectral_axis"] = np.zeros(3)
        f.attrs["pixel_size"] = 0.0
    with pytest.raises(RecordedDatasetFormatError, match="zero_px.h5.*pixel_size .* got 0.0") as e:
        RecordedDataset.read(zero_px)
    assert isinstance(e.value, DataFormatError) and not isinstance(e.value, ConfigurationError)


def test_the_twin_and_the_benchmark_ground_truth_go_through_the_io_module(tmp_path):
    from autoscope.devices.twin import make_dataset, read_dataset, write_dataset
    from autoscope.devices.twin.datasets import as_recorded
    from autoscope.studies.groundtruth import load_recorded

    data = make_dataset("stm", size=8, seed=2, points=16)
    path = tmp_path / "twin.h5"
    write_dataset(path, data, truth=True)
    ds = RecordedDataset.read(path, require_spectra=True)
    assert np.array_equal(ds.image, data["image"]) and ds.image.dtype == np.float32
    assert np.array_equal(ds.spectra, data["spectra"])
    assert ds.attrs == {"signal_name": "dIdV", "signal_units": "nS"}
    assert set(ds.truth) == set(data["truth"])
    back = read_dataset(path)
    assert back["pixel_size"] == data["pixel_size"] and back["signal_units"] == "nS"
    truth = load_recorded(path)
    assert truth.image.dtype == float and np.array_equal(truth.image, data["image"])
    assert (truth.pixel_units, truth.spectral_units) == ("nm", "V")
    assert as_recorded(data).truth is None and as_recorded(data, truth=True).truth is not None
