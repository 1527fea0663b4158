"""The Nanonis .dat reader on text built here and through our writer."""

import numpy as np
import pytest

from autoscope.errors import ConfigurationError
from autoscope.io.dat import DatFormatError, parse_dat, read_dat, split_column, write_dat

_HANDMADE = (
    "Experiment\tbias spectroscopy\t\n"
    "Date\t14.09.2017 10:37:39\t\n"
    "X (m)\t33.767E-9\t\n"
    "Y (m)\t-2.5E-9\t\n"
    "Lock-in>Amplitude\t2E-3\t\n"
    "Bias Spectroscopy>Channels\tCurrent (A);LIX 1 omega (A)\t\n"
    "\n"
    "[DATA]\n"
    "Bias calc (V)\tCurrent (A)\tLIX 1 omega (A)\tCurrent [bwd] (A)\tCurrent (A) [filt]\n"
    "-1.0E-1\t-100.0E-12\t1.0E-12\t-99.0E-12\t-100.5E-12\n"
    "0.0E+0\t0.0E+0\t2.0E-12\t1.0E-12\t0.0E+0\n"
    "1.0E-1\t120.0E-12\t3.0E-12\t121.0E-12\t119.5E-12\n"
)


def test_handmade_text_parsed_into_project_units():
    spec = parse_dat(_HANDMADE, "iv.dat")
    assert spec.experiment == "bias spectroscopy"
    assert (spec.axis_name, spec.axis_units) == ("Bias calc", "V")
    np.testing.assert_allclose(spec.axis, [-0.1, 0.0, 0.1])
    assert list(spec.channels) == ["Current", "LIX 1 omega", "Current [bwd]", "Current [filt]"]
    np.testing.assert_allclose(spec.channel("Current"), [-100.0, 0.0, 120.0])
    assert spec.channels["Current"][1] == "pA"
    np.testing.assert_allclose(spec.channel("Current [bwd]"), [-99.0, 1.0, 121.0])
    np.testing.assert_allclose(spec.channel("Current [filt]"), [-100.5, 0.0, 119.5])
    assert spec.position == pytest.approx((33.767, -2.5))
    assert spec.header_float("Lock-in>Amplitude") == pytest.approx(2e-3)
    assert spec.header_float("Absent>Key", 7.0) == 7.0
    assert spec.header["Bias Spectroscopy>Channels"] == "Current (A);LIX 1 omega (A)"


@pytest.mark.parametrize(
    "title, expected",
    [
        ("Current (A)", ("Current", "A")),
        ("Current [bwd] (A)", ("Current [bwd]", "A")),
        ("Current (A) [bwd] [filt]", ("Current [bwd] [filt]", "A")),
        ("Z rel (m)", ("Z rel", "m")),
        ("Index", ("Index", "")),
    ],
)
def test_column_titles_split_into_name_and_unit(title, expected):
    assert split_column(title) == expected


@pytest.mark.parametrize(
    "text, message",
    [
        (_HANDMADE.replace("[DATA]", "[DATUM]"), "no \\[DATA\\] line"),
        (_HANDMADE.replace("1.0E-1\t120.0E-12", "1.0E-1\tabc"), "line 12: not a number"),
        (_HANDMADE.replace("0.0E+0\t0.0E+0\t2.0E-12", "0.0E+0\t2.0E-12"), "line 11 has 4 values"),
        (_HANDMADE.split("[DATA]")[0] + "[DATA]\n", "no column names"),
        (_HANDMADE.split("-1.0E-1")[0], "holds no rows"),
    ],
)
def test_malformed_text_raises_naming_file_and_line(text, message):
    with pytest.raises(DatFormatError, match=message) as info:
        parse_dat(text, "bad.dat")
    assert "bad.dat" in str(info.value)


def test_writer_round_trip(tmp_path):
    bias = np.linspace(-1.0, 1.0, 51)
    current = 10.0 * np.sinh(2.0 * bias)
    didv = 20.0 * np.cosh(2.0 * bias)
    path = write_dat(
        tmp_path / "twin.dat",
        bias,
        {"Current": (current, "pA"), "LI Demod 1 X": (didv, "pA"), "Z": (np.full(51, 0.5), "nm")},
        position=(12.0, -3.0),
        header={"Lock-in>Amplitude": "1E-2"},
    )
    spec = read_dat(path)
    np.testing.assert_allclose(spec.axis, bias, rtol=1e-7)
    np.testing.assert_allclose(spec.channel("Current"), current, rtol=1e-7)
    np.testing.assert_allclose(spec.channel("LI Demod 1 X"), didv, rtol=1e-7)
    np.testing.assert_allclose(spec.channel("Z"), 0.5, rtol=1e-7)
    assert spec.channels["Z"][1] == "nm"
    assert spec.position == pytest.approx((12.0, -3.0))
    assert spec.header_float("Lock-in>Amplitude") == pytest.approx(0.01)
    assert "Current (A)" in path.read_text(encoding="latin-1")


def test_writer_and_channel_lookup_errors(tmp_path):
    with pytest.raises(ConfigurationError, match="channel 'I' has shape \\(3,\\)"):
        write_dat(tmp_path / "x.dat", np.zeros(4), {"I": (np.zeros(3), "pA")})
    spec = parse_dat(_HANDMADE, "iv.dat")
    with pytest.raises(ConfigurationError, match="no channel 'dIdV'"):
        spec.channel("dIdV")
