"""The Nanonis .3ds grid reader on files our writer makes: whole, stopped early, corrupt."""

import warnings

import numpy as np
import pytest

from autoscope.errors import (
    ConfigurationError,
    DataFormatError,
    Grid3dsFormatError,
    IncompleteGridWarning,
)
from autoscope.io.grid3ds import grid3ds_to_recorded, parse_3ds, read_3ds, write_3ds
from autoscope.io.recorded import RecordedDataset

NX = NY = 32
K = 16


def _grid(nx=NX, ny=NY, k=K, seed=0):
    """Channels (nm/pA/V units) and parameters of an ``ny x nx`` grid, no value exactly zero."""
    rng = np.random.default_rng(seed)
    current = rng.uniform(1.0, 50.0, (ny, nx, k))  # pA
    didv = rng.uniform(0.5, 2.0, (ny, nx, k))  # unitless lock-in signal, here in V
    rows, cols = np.mgrid[0:ny, 0:nx]
    params = {
        "X": 100.0 + (cols + 0.5) * 0.5,  # nm
        "Y": -50.0 + (rows + 0.5) * 0.5,
        "Z": rng.uniform(-2.0, 2.0, (ny, nx)) + 10.0,
    }
    return {"Current": current, "LI Demod 1 X": didv}, params


def _write(path, points_written=None, nx=NX, ny=NY, **kw):
    channels, params = _grid(nx, ny)
    units = {"Current": "pA", "LI Demod 1 X": "V", "X": "nm", "Y": "nm", "Z": "nm"}
    write_3ds(
        path,
        channels,
        units,
        sweep=(-1.0, 1.0),
        size=(nx * 0.5, ny * 0.5),
        parameters=params,
        center=(108.0, -42.0),
        angle=15.0,
        points_written=points_written,
        extra_header={"User": "tester", "Comment": '"grid for a test"'},
        **kw,
    )
    return channels, params


def _header_and_data(path):
    raw = path.read_bytes()
    end = raw.index(b":HEADER_END:\r\n") + len(b":HEADER_END:\r\n")
    return raw[:end].decode("latin-1"), raw[end:]


def test_full_grid_round_trip_keeps_geometry_units_values_and_header(tmp_path):
    path = tmp_path / "grid.3ds"
    channels, params = _write(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a whole grid warns nothing
        g = read_3ds(path)
    assert (g.nx, g.ny, g.n_points, g.n_measured) == (32, 32, 1024, 1024)
    assert g.measured.all() and g.measured.shape == (32, 32)
    assert g.center == pytest.approx((108.0, -42.0)) and g.size == pytest.approx((16.0, 16.0))
    assert g.angle == pytest.approx(15.0) and g.pixel_size == pytest.approx((0.5, 0.5))
    assert (g.sweep_signal, g.sweep_units) == ("Bias", "V")
    assert g.sweep == pytest.approx(np.linspace(-1.0, 1.0, K))
    assert g.units == {"Current": "pA", "LI Demod 1 X": "V"}
    assert g.parameter_units == {
        "Sweep Start": "V",
        "Sweep End": "V",
        "X": "nm",
        "Y": "nm",
        "Z": "nm",
    }
    for name, arr in channels.items():
        assert g.channel(name).shape == (32, 32, K) and g.channel(name).dtype == np.float32
        np.testing.assert_allclose(g.channel(name), arr, rtol=1e-6)
    for name, arr in params.items():
        np.testing.assert_allclose(g.parameter(name), arr, rtol=1e-6)
    np.testing.assert_allclose(g.parameter("Sweep End"), 1.0)
    assert g.header["User"] == "tester" and g.header["Comment"] == "grid for a test"
    assert g.header["Experiment"] == "Grid Spectroscopy"
    with pytest.raises(ConfigurationError, match=r"no channel 'dI/dV'; it has \['Current'"):
        g.channel("dI/dV")
    with pytest.raises(ConfigurationError, match="no parameter 'Height'"):
        g.parameter("Height")


def test_data_are_big_endian_float32_in_si_units_point_after_point(tmp_path):
    path = tmp_path / "grid.3ds"
    channels, params = _write(path, nx=3, ny=2)
    header, data = _header_and_data(path)
    assert "# Parameters (4 byte)=5\r\n" in header and f"Points={K}\r\n" in header
    assert f"Experiment size (bytes)={2 * K * 4}\r\n" in header
    assert 'Channels="Current (A);LI Demod 1 X (V)"' in header
    per_point = 5 + 2 * K
    assert len(data) == 6 * per_point * 4
    big = np.frombuffer(data, dtype=">f4").reshape(6, per_point)
    # point (row 0, col 1): sweep start/end, X, Y, Z in m, then Current in A, then LI
    p = big[1]
    assert p[:2] == pytest.approx([-1.0, 1.0])
    assert p[2] == pytest.approx(params["X"][0, 1] * 1e-9)
    assert p[5 : 5 + K] == pytest.approx(channels["Current"][0, 1] * 1e-12, rel=1e-6)
    assert p[5 + K :] == pytest.approx(channels["LI Demod 1 X"][0, 1], rel=1e-6)
    # the same bytes read little-endian are nonsense: the reader must not do that
    little = np.frombuffer(data, dtype="<f4").reshape(6, per_point)
    assert not np.allclose(little[1, :2], [-1.0, 1.0])
    # the reader's values are the big-endian ones
    g = read_3ds(path)
    assert g.parameter("X")[0, 1] == pytest.approx(float(big[1, 2]) * 1e9)


def test_grid_stopped_after_88_points_marks_936_missing_with_nan_and_a_warning(tmp_path):
    path = tmp_path / "stopped.3ds"
    channels, params = _write(path, points_written=88)
    with pytest.warns(IncompleteGridWarning) as record:
        g = read_3ds(path)
    assert len(record) == 1
    message = str(record[0].message)
    assert "grid declares 1024 points, file holds 88; 936 marked missing" in message
    assert str(path) in message
    assert g.n_measured == 88 and g.measured.sum() == 88
    flat = g.measured.ravel()
    assert flat[:88].all() and not flat[88:].any()
    # measured points carry their data; missing ones are NaN everywhere, never zeros
    cur = g.channel("Current").reshape(1024, K)
    np.testing.assert_allclose(cur[:88], channels["Current"].reshape(1024, K)[:88], rtol=1e-6)
    assert np.isnan(cur[88:]).all()
    for name in g.parameters:
        assert np.isnan(g.parameter(name).ravel()[88:]).all()
        assert np.isfinite(g.parameter(name).ravel()[:88]).all()
    assert not (g.channel("LI Demod 1 X") == 0).any()
    assert g.sweep == pytest.approx(np.linspace(-1.0, 1.0, K))


def test_a_cut_inside_a_point_drops_that_point(tmp_path):
    path = tmp_path / "cut.3ds"
    channels, _ = _write(path, points_written=89)
    raw = path.read_bytes()
    per_point_bytes = (5 + 2 * K) * 4
    path.write_bytes(raw[: len(raw) - per_point_bytes + 37])  # 88 points and 37 bytes
    with pytest.warns(IncompleteGridWarning, match="file holds 88; 936 marked missing") as rec:
        g = read_3ds(path)
    assert "point 89 cut short after 37 bytes" in str(rec[0].message)
    assert g.n_measured == 88 and not g.measured.ravel()[88]
    assert np.isnan(g.channel("Current").reshape(1024, K)[88]).all()
    np.testing.assert_allclose(
        g.channel("Current").reshape(1024, K)[87], channels["Current"].reshape(1024, K)[87], 1e-6
    )


def test_points_stored_as_zeros_are_missing_not_data(tmp_path):
    path = tmp_path / "zeros.3ds"
    _write(path, nx=4, ny=4, points_written=6)
    raw = path.read_bytes()
    per_point_bytes = (5 + 2 * K) * 4
    path.write_bytes(raw + bytes(10 * per_point_bytes))  # the rest preallocated as zeros
    with pytest.warns(IncompleteGridWarning, match="declares 16 points, file holds 6; 10 marked"):
        g = read_3ds(path)
    assert g.n_measured == 6 and np.isnan(g.channel("Current").reshape(16, K)[6:]).all()


def _corrupt(path, old, new):
    raw = path.read_bytes()
    assert old.encode() in raw
    path.write_bytes(raw.replace(old.encode(), new.encode(), 1))


@pytest.mark.parametrize(
    "old, new, message",
    [
        (":HEADER_END:", ":HEADER_GONE:", "no :HEADER_END: line"),
        ('Grid dim="4 x 4"\r\n', "", "header lacks 'Grid dim'"),
        ('Grid dim="4 x 4"', 'Grid dim="4 by 4"', "'Grid dim' must be 'NX x NY'"),
        ("Points=16", "Points=sixteen", "'Points' must be an integer, got 'sixteen'"),
        ("Points=16", "Points=15", r"'Experiment size \(bytes\)' is 128 but 2 channel"),
        ("# Parameters (4 byte)=5", "# Parameters (4 byte)=6", "name 2 \\+ 3"),
        ('Channels="Current (A);LI Demod 1 X (V)"', 'Channels="Current (A)"', "1 channel"),
        ('Channels="Current (A);LI Demod 1 X (V)"', 'Channels="Current (A);Current (A)"', "twice"),
        ("Grid settings=", "Grid settings=1;2;", "'Grid settings' must be five numbers"),
        ("Filetype=Linear", "Filetype Linear", "header line 3 is not key=value"),
    ],
)
def test_corrupt_headers_raise_a_data_format_error_naming_file_and_fault(
    tmp_path, old, new, message
):
    path = tmp_path / "bad.3ds"
    _write(path, nx=4, ny=4)
    _corrupt(path, old, new)
    with pytest.raises(Grid3dsFormatError, match=message) as info:
        read_3ds(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, DataFormatError) and not isinstance(info.value, ValueError)


def test_more_data_than_the_grid_holds_and_no_data_are_refused(tmp_path):
    path = tmp_path / "long.3ds"
    _write(path, nx=2, ny=2)
    path.write_bytes(path.read_bytes() + b"\x00" * 8)
    with pytest.raises(Grid3dsFormatError, match="more than the 592 that 2 x 2 points"):
        read_3ds(path)
    empty = tmp_path / "empty.3ds"
    _write(empty, nx=2, ny=2, points_written=0)
    with pytest.raises(Grid3dsFormatError, match="declares 4 points but the file holds no"):
        read_3ds(empty)
    with pytest.raises(ConfigurationError, match="does not exist"):
        read_3ds(tmp_path / "nope.3ds")


def test_writer_refuses_bad_input():
    good = {"Current": np.ones((2, 2, 3))}
    with pytest.raises(ConfigurationError, match="at least one channel"):
        write_3ds("x.3ds", {}, {}, (0, 1), (1, 1))
    with pytest.raises(ConfigurationError, match="no unit given for 'Current'"):
        write_3ds("x.3ds", good, {}, (0, 1), (1, 1))
    with pytest.raises(ConfigurationError, match=r"points_written must be in 0..4, got 5"):
        write_3ds("x.3ds", good, {"Current": "pA"}, (0, 1), (1, 1), points_written=5)


def test_parse_names_the_source_given(tmp_path):
    path = tmp_path / "g.3ds"
    _write(path, nx=2, ny=2)
    g = parse_3ds(path.read_bytes(), "archive.zip!g.3ds")
    assert g.source == "archive.zip!g.3ds" and g.n_measured == 4


def test_conversion_to_a_recorded_dataset_keeps_missing_points_as_nan(tmp_path):
    path = tmp_path / "stopped.3ds"
    channels, params = _write(path, points_written=88)
    with pytest.warns(IncompleteGridWarning):
        grid = read_3ds(path)
    out = grid3ds_to_recorded(grid, tmp_path / "z.h5", channel="LI Demod 1 X", overview="Z")
    ds = RecordedDataset.read(out, require_spectra=True)
    assert ds.spectra.shape == (32, 32, K) and ds.image.shape == (32, 32)
    assert ds.spectral_units == "V" and ds.pixel_size == pytest.approx(0.5)
    assert ds.pixel_units == "nm"
    np.testing.assert_allclose(ds.spectral_axis, np.linspace(-1.0, 1.0, K))
    flat_s, flat_i = ds.spectra.reshape(1024, K), ds.image.ravel()
    np.testing.assert_allclose(flat_s[:88], channels["LI Demod 1 X"].reshape(1024, K)[:88], 1e-6)
    np.testing.assert_allclose(flat_i[:88], params["Z"].ravel()[:88], rtol=1e-6)
    assert np.isnan(flat_s[88:]).all() and np.isnan(flat_i[88:]).all()
    assert ds.attrs["n_measured"] == 88 and ds.attrs["n_missing"] == 936
    assert ds.attrs["overview"] == "Z" and ds.attrs["image_units"] == "nm"
    # the mean of the chosen channel as the overview, straight from the file
    with pytest.warns(IncompleteGridWarning):
        out = grid3ds_to_recorded(path, tmp_path / "m.h5", channel="Current")
    ds = RecordedDataset.read(out, require_spectra=True)
    expect = channels["Current"].reshape(1024, K)[:88].mean(axis=1)
    np.testing.assert_allclose(ds.image.ravel()[:88], expect, rtol=1e-5)
    assert np.isnan(ds.image.ravel()[88:]).all() and ds.attrs["image_units"] == "pA"
    with pytest.raises(ConfigurationError, match="overview 'Height' is neither"):
        grid3ds_to_recorded(grid, tmp_path / "x.h5", channel="Current", overview="Height")
    with pytest.raises(ConfigurationError, match="no channel 'dIdV'"):
        grid3ds_to_recorded(grid, tmp_path / "x.h5", channel="dIdV")
