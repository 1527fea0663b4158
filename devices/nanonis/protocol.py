"""The Nanonis TCP wire format: headers, big-endian arguments, the error trailer.

Written from the public description of the Nanonis TCP programming interface
(SPECS); no code of other clients is used. Every message is

- a 40-byte header: the command name (ASCII, zero-padded to 32 bytes), the
  body size (int32), the send-response flag (uint16; 1 asks for an answer)
  and 2 zero bytes;
- a body of big-endian arguments.

An answer repeats the command name in its header; its body holds the
command's return values followed by the error trailer: error status
(uint32, 0 is success), description size (int32) and the description.

Argument types are spelled as codes (:data:`SCALARS`): ``i`` int32, ``I``
uint32, ``h`` int16, ``H`` uint16, ``f`` float32, ``d`` float64; and, sized by
the value(s) of the argument just before them, ``s`` a string (bytes),
``f*``/``i*`` a 1-D array, ``f**`` a 2-D float32 array (rows, columns: the
two arguments before it), ``S*`` an array of strings, each prefixed by its
int32 length (the count is the argument before it, whose own predecessor is
the total size in bytes, as the interface states it).

:data:`COMMANDS` lists what autoscope uses: per command the argument codes
and the return codes (trailer excluded). Units are the controller's (SI: m,
A, V, s).
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from autoscope.errors import ConfigurationError, DataFormatError

__all__ = [
    "HEADER_SIZE",
    "NAME_SIZE",
    "COMMANDS",
    "Header",
    "encode_header",
    "decode_header",
    "pack",
    "unpack",
    "encode_request",
    "encode_response",
    "decode_response",
    "string_array_size",
]

HEADER_SIZE = 40
NAME_SIZE = 32
_HEADER = struct.Struct(">32siHH")
SCALARS = {"i": ">i4", "I": ">u4", "h": ">i2", "H": ">u2", "f": ">f4", "d": ">f8"}
_SIZED = {"s", "f*", "i*", "f**", "S*"}

#: command name -> (argument codes, return codes); returns exclude the error trailer.
COMMANDS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "Bias.Set": (("f",), ()),
    "Bias.Get": ((), ("f",)),
    # wait until done (I), width s (f), bias V (f), Z-controller on hold (H), mode (H)
    "Bias.Pulse": (("I", "f", "f", "H", "H"), ()),
    "ZCtrl.SetpntSet": (("f",), ()),
    "ZCtrl.SetpntGet": ((), ("f",)),
    "ZCtrl.OnOffSet": (("I",), ()),
    "ZCtrl.OnOffGet": ((), ("I",)),
    # x m, y m, wait end of move (I)
    "FolMe.XYPosSet": (("d", "d", "I"), ()),
    # wait for newest data (I) -> x m, y m
    "FolMe.XYPosGet": (("I",), ("d", "d")),
    # centre x, y (m), width, height (m), angle (deg, clockwise)
    "Scan.FrameSet": (("f", "f", "f", "f", "f"), ()),
    "Scan.FrameGet": ((), ("f", "f", "f", "f", "f")),
    # number of channels, channel indexes, pixels, lines
    "Scan.BufferSet": (("i", "i*", "i", "i"), ()),
    "Scan.BufferGet": ((), ("i", "i*", "i", "i")),
    # forward / backward speed (m/s), forward / backward time per line (s),
    # keep constant (H: 0 no change, 1 speed, 2 time per line), speed ratio
    "Scan.SpeedSet": (("f", "f", "f", "f", "H", "f"), ()),
    # action (H: 0 start, 1 stop, 2 pause, 3 resume), direction (I: 0 down, 1 up)
    "Scan.Action": (("H", "I"), ()),
    "Scan.StatusGet": ((), ("I",)),
    # timeout ms (i; -1 forever) -> timed out (I), file path size, file path
    "Scan.WaitEndOfScan": (("i",), ("I", "I", "s")),
    # channel index (I), direction (I: 1 forward, 0 backward) ->
    # name size, name, rows, columns, data, scan direction up (I)
    "Scan.FrameDataGrab": (("I", "I"), ("i", "s", "i", "i", "f**", "I")),
    # names size (bytes), count, names
    "Signals.NamesGet": ((), ("i", "i", "S*")),
    "BiasSpectr.Open": ((), ()),
    # save all (H), sweeps (i), backward sweep (H), points (i), z offset m (f),
    # autosave (H), show save dialog (H)
    "BiasSpectr.PropsSet": (("H", "i", "H", "i", "f", "H", "H"), ()),
    # start V, end V
    "BiasSpectr.LimitsSet": (("f", "f"), ()),
    # z averaging, z offset (m), initial settling, max slew rate (V/s), settling,
    # integration, end settling, z control time (s)
    "BiasSpectr.TimingSet": (("f", "f", "f", "f", "f", "f", "f", "f"), ()),
    # number of channels, channel indexes
    "BiasSpectr.ChsSet": (("i", "i*"), ()),
    # get data (I), base name size, base name ->
    # names size, names count, names, rows, columns, data, parameter count, parameters
    "BiasSpectr.Start": (("I", "i", "s"), ("i", "i", "S*", "i", "i", "f**", "i", "f*")),
    # modulator (i), amplitude V (f)
    "LockIn.ModAmpSet": (("i", "f"), ()),
    # modulator (i), frequency Hz (d)
    "LockIn.ModPhasFreqSet": (("i", "d"), ()),
    # switch-off delay s, change bias (I), bias V, tip lift m (negative: into the
    # surface), lift time 1 s, bias lift V, bias settling s, lift height m,
    # lift time 2 s, end wait s, restore feedback (I)
    "TipShaper.PropsSet": (("f", "I", "f", "f", "f", "f", "f", "f", "f", "f", "I"), ()),
    # wait until finished (I), timeout ms (i)
    "TipShaper.Start": (("I", "i"), ()),
}


@dataclass(frozen=True)
class Header:
    """A decoded message header."""

    command: str
    body_size: int
    send_response: bool


def encode_header(command: str, body_size: int, send_response: bool = True) -> bytes:
    """The 40-byte header of ``command`` with a body of ``body_size`` bytes."""
    name = command.encode("ascii")
    if len(name) > NAME_SIZE or not name:
        raise ConfigurationError(f"command name {command!r} must be 1..{NAME_SIZE} ASCII bytes")
    if body_size < 0:
        raise ConfigurationError(f"body size {body_size!r} must be >= 0")
    return _HEADER.pack(name.ljust(NAME_SIZE, b"\0"), body_size, 1 if send_response else 0, 0)


def decode_header(data: bytes) -> Header:
    """Decode a 40-byte header; a malformed one raises DataFormatError."""
    if len(data) != HEADER_SIZE:
        raise DataFormatError(f"a Nanonis header is {HEADER_SIZE} bytes, got {len(data)}")
    name, size, flag, pad = _HEADER.unpack(data)
    command = name.rstrip(b"\0")
    try:
        text = command.decode("ascii")
    except UnicodeDecodeError:
        raise DataFormatError(f"header command name {command!r} is not ASCII") from None
    if not text or b"\0" in command or size < 0 or flag > 1:
        raise DataFormatError(
            f"malformed Nanonis header (command {command!r}, size {size}, flag {flag})"
        )
    return Header(text, size, bool(flag))


def string_array_size(strings: Sequence[str]) -> int:
    """Bytes of a string array on the wire (each string with its int32 length)."""
    return sum(4 + len(s.encode("utf-8")) for s in strings)


def pack(codes: Sequence[str], values: Sequence) -> bytes:
    """Big-endian bytes of ``values`` typed by ``codes`` (sizes are checked, not derived)."""
    if len(codes) != len(values):
        raise ConfigurationError(f"{len(values)} values given for the {len(codes)} codes {codes}")
    out = []
    for k, (code, value) in enumerate(zip(codes, values)):
        if code in SCALARS:
            out.append(np.array(value, dtype=SCALARS[code]).tobytes())
            continue
        if code not in _SIZED or k == 0:
            raise ConfigurationError(f"unknown or unsized argument code {code!r} in {codes}")
        size = int(values[k - 1])
        if code == "s":
            raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            if len(raw) != size:
                raise ConfigurationError(f"string {value!r} is {len(raw)} bytes, size says {size}")
            out.append(raw)
        elif code in ("f*", "i*"):
            arr = np.asarray(value, dtype=">f4" if code == "f*" else ">i4")
            if arr.shape != (size,):
                raise ConfigurationError(f"array of shape {arr.shape} given, size says {size}")
            out.append(arr.tobytes())
        elif code == "f**":
            shape = (int(values[k - 2]), size)
            arr = np.asarray(value, dtype=">f4")
            if arr.shape != shape:
                raise ConfigurationError(f"2-D array of shape {arr.shape} given, sizes say {shape}")
            out.append(arr.tobytes())
        else:  # "S*"
            if len(value) != size:
                raise ConfigurationError(f"{len(value)} strings given, count says {size}")
            for s in value:
                raw = s.encode("utf-8")
                out.append(struct.pack(">i", len(raw)) + raw)
    return b"".join(out)


def unpack(codes: Sequence[str], body: bytes, offset: int = 0) -> tuple[list, int]:
    """Decode ``codes`` from ``body`` at ``offset``; returns (values, new offset).

    Strings come back as ``str``, arrays as native-endian numpy arrays.
    Raises DataFormatError when the body is too short or a size is negative.
    """
    values: list = []
    pos = offset

    def take(n: int, what: str) -> bytes:
        nonlocal pos
        if n < 0 or pos + n > len(body):
            raise DataFormatError(
                f"Nanonis body of {len(body)} bytes ends before {what} ({n} bytes at {pos})"
            )
        chunk = body[pos : pos + n]
        pos += n
        return chunk

    for code in codes:
        if code in SCALARS:
            dt = np.dtype(SCALARS[code])
            v = np.frombuffer(take(dt.itemsize, code), dtype=dt)[0]
            values.append(float(v) if code in ("f", "d") else int(v))
        elif code == "s":
            values.append(take(int(values[-1]), "a string").decode("utf-8", "replace"))
        elif code in ("f*", "i*"):
            n = int(values[-1])
            raw = take(4 * n, f"an array of {n}")
            values.append(
                np.frombuffer(raw, dtype=">f4" if code == "f*" else ">i4").astype(
                    np.float32 if code == "f*" else np.int32
                )
            )
        elif code == "f**":
            rows, cols = int(values[-2]), int(values[-1])
            if rows < 0 or cols < 0:
                raise DataFormatError(f"2-D array of negative shape ({rows}, {cols})")
            raw = take(4 * rows * cols, f"a {rows} x {cols} array")
            values.append(np.frombuffer(raw, dtype=">f4").astype(np.float32).reshape(rows, cols))
        elif code == "S*":
            strings = []
            for _ in range(int(values[-1])):
                (n,) = struct.unpack(">i", take(4, "a string size"))
                strings.append(take(n, "a string").decode("utf-8", "replace"))
            values.append(strings)
        else:
            raise ConfigurationError(f"unknown argument code {code!r}")
    return values, pos


def _codes(command: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    try:
        return COMMANDS[command]
    except KeyError:
        raise ConfigurationError(
            f"unknown Nanonis command {command!r}; known: {sorted(COMMANDS)}"
        ) from None


def encode_request(command: str, args: Sequence = (), send_response: bool = True) -> bytes:
    """Header and body of a request for ``command`` with ``args``."""
    body = pack(_codes(command)[0], args)
    return encode_header(command, len(body), send_response) + body


def encode_response(
    command: str, values: Sequence = (), status: int = 0, message: str = ""
) -> bytes:
    """Header and body of an answer: ``values`` then the error trailer."""
    raw = message.encode("utf-8")
    body = pack(_codes(command)[1], values) + struct.pack(">Ii", status, len(raw)) + raw
    return encode_header(command, len(body), False) + body


def decode_response(command: str, body: bytes) -> tuple[list, int, str]:
    """Return values, error status and error message of an answer's body.

    When the status is non-zero the controller may have sent no values; then
    the values are ``[]`` and only the trailer is read from the end.
    """
    returns = _codes(command)[1]
    try:
        values, pos = unpack(returns, body)
        (status, size), pos = unpack(("I", "i"), body, pos)
        message = body[pos : pos + size].decode("utf-8", "replace") if size >= 0 else ""
        if size < 0 or pos + size != len(body):
            raise DataFormatError(
                f"answer to {command} has {len(body) - pos} trailer bytes, the trailer says {size}"
            )
        return values, status, message
    except DataFormatError:
        if len(body) >= 8:  # an error answer without return values: trailer only
            status, size = struct.unpack(">Ii", body[:8])
            if status != 0 and size == len(body) - 8:
                return [], status, body[8:].decode("utf-8", "replace")
        raise
