"""The wire format, and one suite of protocol assertions for the fake and a real controller."""

import struct

import numpy as np
import pytest

from autoscope.devices.nanonis import protocol
from autoscope.devices.nanonis.client import NanonisClient
from autoscope.errors import ConfigurationError, DataFormatError, NanonisError


def test_header_is_40_big_endian_bytes():
    msg = protocol.encode_request("Bias.Set", [1.5])
    assert len(msg) == 40 + 4
    assert msg[:32] == b"Bias.Set".ljust(32, b"\0")
    assert msg[32:36] == b"\x00\x00\x00\x04"  # body size, int32 big-endian
    assert msg[36:38] == b"\x00\x01"  # send-response flag
    assert msg[38:40] == b"\x00\x00"
    assert msg[40:] == struct.pack(">f", 1.5)
    header = protocol.decode_header(msg[:40])
    assert header == protocol.Header("Bias.Set", 4, True)


def test_arguments_round_trip_big_endian():
    codes = ("i", "i*", "i", "i")
    raw = protocol.pack(codes, [2, [30, 0], 64, 8])
    assert raw == struct.pack(">iiiii", 2, 30, 0, 64, 8)
    values, end = protocol.unpack(codes, raw)
    assert end == len(raw) and values[0] == 2 and values[2:] == [64, 8]
    np.testing.assert_array_equal(values[1], [30, 0])
    grid = np.arange(6, dtype=np.float32).reshape(2, 3)
    codes = ("i", "s", "i", "i", "f**", "I")
    raw = protocol.pack(codes, [1, "Z", 2, 3, grid, 1])
    values, _ = protocol.unpack(codes, raw)
    assert values[1] == "Z" and values[5] == 1
    np.testing.assert_array_equal(values[4], grid)
    names = ["Bias calc (V)", "Current (A)"]
    raw = protocol.pack(("i", "i", "S*"), [protocol.string_array_size(names), 2, names])
    assert protocol.unpack(("i", "i", "S*"), raw)[0][2] == names


def test_answers_carry_the_error_trailer():
    ok = protocol.encode_response("Bias.Get", [0.25])
    body = ok[40:]
    assert body == struct.pack(">fIi", 0.25, 0, 0)
    assert protocol.decode_response("Bias.Get", body) == ([0.25], 0, "")
    bad = protocol.encode_response("Bias.Set", [], status=3, message="out of range")
    assert protocol.decode_response("Bias.Set", bad[40:]) == ([], 3, "out of range")
    trailer_only = struct.pack(">Ii", 7, 4) + b"busy"  # an error answer without its values
    assert protocol.decode_response("Bias.Get", trailer_only) == ([], 7, "busy")


def test_malformed_input_is_refused_with_the_value_named():
    with pytest.raises(ConfigurationError, match="'No.Such'"):
        protocol.encode_request("No.Such")
    with pytest.raises(ConfigurationError, match="size says 3"):
        protocol.pack(("i", "i*"), [3, [1, 2]])
    with pytest.raises(DataFormatError, match="ends before"):
        protocol.unpack(("f", "d"), b"\0\0\0\0\0")
    with pytest.raises(DataFormatError, match="40 bytes, got 12"):
        protocol.decode_header(b"\0" * 12)
    with pytest.raises(ConfigurationError, match="port 70000"):
        NanonisClient("127.0.0.1", 70000)


# ---- the suite a lab runs on its controller (target "real" needs AUTOSCOPE_NANONIS_HOST)


def test_bias_and_setpoint_round_trip(target):
    backend, _ = target
    bias, setpoint = backend.get_bias(), backend.get_setpoint()
    try:
        backend.set_bias(bias + 0.05 if bias < 0 else bias - 0.05)
        assert backend.get_bias() == pytest.approx(bias + (0.05 if bias < 0 else -0.05), abs=1e-5)
        backend.set_setpoint(setpoint * 1.1)
        assert backend.get_setpoint() == pytest.approx(setpoint * 1.1, rel=1e-5)
    finally:
        backend.set_bias(bias)
        backend.set_setpoint(setpoint)
    assert isinstance(backend.get_feedback(), bool)
    x, y = backend.get_position()
    assert np.isfinite(x) and np.isfinite(y)


def test_signals_and_buffer_read_back_with_pixels_coerced(target):
    backend, _ = target
    client = backend.client
    idx = [backend.signal_index(s) for s in backend.signal_names["image"].values()]
    n, old_idx, old_pixels, old_lines = client.call("Scan.BufferGet")
    try:
        client.call("Scan.BufferSet", 2, idx, 100, 8)
        n, got, pixels, lines = client.call("Scan.BufferGet")
        assert n == 2 and sorted(got) == sorted(idx)
        assert pixels % 16 == 0 and abs(pixels - 100) <= 8 and lines == 8
    finally:
        client.call("Scan.BufferSet", int(n), list(old_idx), old_pixels, old_lines)


def test_a_bad_argument_comes_back_as_an_error_with_the_controller_message(target):
    backend, _ = target
    with pytest.raises(NanonisError) as info:
        backend.client.call("Scan.FrameDataGrab", 4000, 1)  # no such channel
    assert info.value.command == "Scan.FrameDataGrab" and info.value.status != 0
    assert info.value.controller_message and info.value.controller_message in str(info.value)
    assert backend.get_bias() == pytest.approx(backend.get_bias())  # still in step afterwards
