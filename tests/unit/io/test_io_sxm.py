"""The .sxm reader on files built here (bytes by hand and our writer) and on real files."""

import numpy as np
import pytest

from autoscope.errors import ConfigurationError
from autoscope.io.sxm import SxmFormatError, parse_sxm, read_sxm, write_sxm


def _handmade_sxm(direction: str = "up") -> bytes:
    """A 3-line x 4-pixel file with Z (both directions) and Current (forward only),
    written byte by byte as Nanonis stores it (SI units, big-endian float32)."""
    header = (
        ":NANONIS_VERSION:\n2\n"
        ":SCANIT_TYPE:\n              FLOAT            MSBFIRST\n"
        ":SCAN_PIXELS:\n         4         3\n"
        ":SCAN_TIME:\n  1.000E+0  2.000E+0\n"
        ":SCAN_RANGE:\n  8.000000E-9  6.000000E-9\n"
        ":SCAN_OFFSET:\n  1.000000E-8  -2.000000E-8\n"
        ":SCAN_ANGLE:\n  3.000E+1\n"
        f":SCAN_DIR:\n{direction}\n"
        ":BIAS:\n  -5.000E-1\n"
        ":Z-CONTROLLER:\n\tName\ton\tSetpoint\tP-gain\tI-gain\tT-const\n"
        "\tlog Current\t1\t2.000E-11 A\t1E-12 m\t1E-8 m/s\t1E-4 s\n"
        ":DATA_INFO:\n\tChannel\tName\tUnit\tDirection\tCalibration\tOffset\n"
        "\t14\tZ\tm\tboth\t1.0E-9\t0.0E+0\n"
        "\t0\tCurrent\tA\tforward\t1.0E-9\t0.0E+0\n\n"
        ":SCANIT_END:\n\n\n"
    ).encode("latin-1")
    # stored order: rows in acquisition order, backward rows right-to-left
    z_fwd = np.arange(12, dtype=np.float64).reshape(3, 4) * 1e-10  # m
    z_bwd_as_acquired = (np.arange(12, dtype=np.float64).reshape(3, 4) * 1e-10 + 1e-11)[:, ::-1]
    cur = np.full((3, 4), 2e-11)  # A
    data = b"".join(a.astype(">f4").tobytes() for a in (z_fwd, z_bwd_as_acquired, cur))
    return header + b"\x1a\x04" + data


def test_handmade_bytes_read_in_project_units_and_orientation():
    img = parse_sxm(_handmade_sxm("up"), "handmade.sxm")
    assert (img.pixels, img.lines) == (4, 3)
    assert img.scan_size == pytest.approx((8.0, 6.0))
    assert img.pixel_size == pytest.approx((2.0, 2.0))
    assert img.center == pytest.approx((10.0, -20.0))
    assert img.angle == pytest.approx(30.0)
    assert img.bias == pytest.approx(-0.5)
    assert img.setpoint == pytest.approx(20.0) and img.setpoint_units == "pA"
    assert img.line_time == pytest.approx((1.0, 2.0))
    assert img.units == {"Z": "nm", "Current": "pA"}
    assert set(img.channels["Z"]) == {"forward", "backward"}
    assert set(img.channels["Current"]) == {"forward"}
    z = img.image("Z")
    assert z.dtype == np.float32 and z.shape == (3, 4)
    np.testing.assert_allclose(z, np.arange(12).reshape(3, 4) * 0.1, rtol=1e-6)
    # backward flipped back to increasing x: equals forward + 0.01 nm pixel by pixel
    np.testing.assert_allclose(img.image("Z", "backward") - z, 0.01, atol=1e-6)
    np.testing.assert_allclose(img.image("Current"), 20.0, rtol=1e-6)


def test_down_scan_rows_flipped_to_lowest_y_first():
    up = parse_sxm(_handmade_sxm("up"), "up.sxm").image("Z")
    down = parse_sxm(_handmade_sxm("down"), "down.sxm").image("Z")
    np.testing.assert_array_equal(down, up[::-1])


def test_missing_channel_and_direction_errors_list_what_exists():
    img = parse_sxm(_handmade_sxm(), "h.sxm")
    with pytest.raises(ConfigurationError, match=r"h\.sxm.*'Phase'.*\['Current', 'Z'\]"):
        img.image("Phase")
    with pytest.raises(ConfigurationError, match="no 'backward' image"):
        img.image("Current", "backward")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b.replace(b":SCANIT_END:", b":SCANIT_XXX:"), "no :SCANIT_END:"),
        (lambda b: b.replace(b"\x1a\x04", b"\x00\x00"), "data marker"),
        (
            lambda b: b[:-8],
            r"holds 136 bytes but 2 channel\(s\) \(3 images of 3x4 float32\) need 144",
        ),
        (lambda b: b.replace(b":SCAN_PIXELS:", b":SCAN_PIXELZ:"), "no :SCAN_PIXELS:"),
        (lambda b: b.replace(b"MSBFIRST", b"MSBLAST"), "unsupported :SCANIT_TYPE:"),
        (lambda b: b.replace(b"\tboth\t", b"\tsideways\t"), "direction 'sideways'"),
        (lambda b: b.replace(b"8.000000E-9", b"eight"), "SCAN_RANGE: is not numeric"),
    ],
)
def test_malformed_files_raise_naming_the_file_and_problem(mutate, message):
    with pytest.raises(SxmFormatError, match=message) as info:
        parse_sxm(mutate(_handmade_sxm()), "broken.sxm")
    assert "broken.sxm" in str(info.value)


def test_writer_round_trip_through_a_file(tmp_path):
    rng = np.random.default_rng(3)
    fwd = rng.normal(size=(5, 7)).astype(np.float32)
    bwd = (fwd + 0.25).astype(np.float32)
    cur = rng.normal(100.0, 2.0, size=(5, 7)).astype(np.float32)
    for direction in ("up", "down"):
        path = write_sxm(
            tmp_path / f"twin_{direction}.sxm",
            {"Z": (fwd, bwd), "Current": (cur, None)},
            {"Z": "nm", "Current": "pA"},
            scan_size=(14.0, 10.0),
            center=(3.0, 4.0),
            bias=1.5,
            setpoint=50.0,
            scan_direction=direction,
            line_time=(0.5, 0.5),
            extra_header={"Comment": "made by a test"},
        )
        img = read_sxm(path)
        np.testing.assert_allclose(img.image("Z"), fwd, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(img.image("Z", "backward"), bwd, rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(img.image("Current"), cur, rtol=1e-6)
        assert img.scan_direction == direction
        assert img.pixel_size == pytest.approx((2.0, 2.0))
        assert img.center == pytest.approx((3.0, 4.0))
        assert img.setpoint == pytest.approx(50.0) and img.setpoint_units == "pA"
        assert img.header["Comment"] == "made by a test"
        assert img.header["Z-Controller>Setpoint unit"] == "A"


def test_writer_rejects_bad_input(tmp_path):
    z = np.zeros((4, 4))
    with pytest.raises(ConfigurationError, match="no unit given for channel 'Z'"):
        write_sxm(tmp_path / "a.sxm", {"Z": (z, None)}, {}, (1.0, 1.0))
    with pytest.raises(ConfigurationError, match=r"shape \(4, 5\) differs"):
        write_sxm(tmp_path / "a.sxm", {"Z": (z, np.zeros((4, 5)))}, {"Z": "nm"}, (1.0, 1.0))
    with pytest.raises(ConfigurationError, match="scan_direction"):
        write_sxm(
            tmp_path / "a.sxm", {"Z": (z, None)}, {"Z": "nm"}, (1.0, 1.0), scan_direction="left"
        )


def test_read_missing_file_raises():
    with pytest.raises(FileNotFoundError):
        read_sxm("/nonexistent/dir/none.sxm")
