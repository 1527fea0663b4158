"""``autoscope tip classify``: judge the tip from recorded images, as the watched plan would.

    autoscope tip classify FILE... [--pixel-size NM] [--kind topograph|imprint]
                                   [--lines] [--json OUT] [--bin K] [--weights W]

Files: Nanonis ``.sxm`` (channel Z, forward as trace and backward as retrace,
rows put back in the order they were scanned), shape-prefixed float64 ``.dat``
images (SPIEPy's demo topographs, :mod:`autoscope.io.rawimage`) and ``.npy``
height arrays in metres, ``H x W``, row 0 scanned first (no retrace: the
trace is used twice, and the trace/retrace rule stays silent).

A topograph is judged by the code the watched plan runs
(:mod:`autoscope.agents.tip.watch`): the rolling classifier's windows with
their OOD scores, summarized as the plan summarizes a check image
(:func:`~autoscope.agents.tip.rolling.summarize`,
:func:`~autoscope.agents.tip.watch.frame_verdict`), and with ``--lines`` the
frame fed line by line through the plan's :class:`~autoscope.agents.tip.watch.LineWatcher`
(surface rules, classifier, OOD gate, detector), listing every alarm it would
raise and the rule that raised it (the watcher starting over after each, as
after a recovery). An imprint is judged by :mod:`autoscope.agents.tip.imprint`
(verdict ``good``, ``multi``, ``blunt`` or ``unknown``; its record's ``p_bad``
is null and its ``ood`` the rule's own, above 1 meaning unknown).

The verdict is ``good``, ``unknown`` (outside what the classifier knows: a
pixel size outside its training range, or one not stated, is unknown) or the
name of a bad class. ``--bin K`` averages K x K pixel blocks first (lines
and pixels), for frames finer than the classifier's training range
(0.04-0.16 nm pixels): the real-frame benchmark judges the 0.0098 nm TiSe2
frame at ``--bin 8``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autoscope.agents.tip.imprint import classify_imprint
from autoscope.agents.tip.rolling import summarize
from autoscope.agents.tip.watch import CHECK_LEVEL, frame_verdict, image_verdicts, watch_image
from autoscope.agents.tip.weights import TipClassifier
from autoscope.errors import ConfigurationError
from autoscope.io.rawimage import read_raw_image
from autoscope.io.sxm import read_sxm

KINDS = ("topograph", "imprint")
EXTENSIONS = (".sxm", ".dat", ".npy")


@dataclass
class Frame:
    """One recorded image in scan order (row 0 first), heights in nm."""

    file: str
    trace: np.ndarray
    retrace: np.ndarray
    pixel_size: float | None
    note: str


def read_frame(path: str | Path, pixel_size: float | None = None) -> Frame:
    """Read one image file as trace and retrace in scan order, in nm.

    ``pixel_size`` (nm) overrides the file's (``.npy`` and ``.dat`` files state none).

    Raises
    ------
    ConfigurationError
        For a missing file, an unknown extension, a ``.npy`` that is not a 2-D
        array of numbers, or a non-positive pixel size.
    DataFormatError
        For a malformed vendor file (the reader's error, naming the file).
    """
    p = Path(path)
    if pixel_size is not None and not (math.isfinite(pixel_size) and pixel_size > 0):
        raise ConfigurationError(f"--pixel-size must be a positive number of nm, got {pixel_size}")
    ext = p.suffix.lower()
    if ext not in EXTENSIONS:
        raise ConfigurationError(
            f"{p}: unknown extension {p.suffix or '(none)'!r}; expected one of {EXTENSIONS}"
        )
    if not p.is_file():
        raise ConfigurationError(f"{p}: no such file")
    if ext == ".sxm":
        im = read_sxm(p)
        trace = im.image("Z", "forward").astype(np.float64)
        try:
            retrace = im.image("Z", "backward").astype(np.float64)
            note = ""
        except ConfigurationError:
            retrace, note = trace, "no backward Z image: the trace is used twice"
        if im.scan_direction == "down":  # the reader puts the lowest y first
            trace, retrace = trace[::-1], retrace[::-1]
        scanned = np.all(np.isfinite(trace) & np.isfinite(retrace), axis=1)
        n = int(np.argmin(scanned)) if not scanned.all() else trace.shape[0]
        if n < trace.shape[0]:
            trace, retrace = trace[:n], retrace[:n]
            note = (note + "; " if note else "") + f"aborted frame: {n} lines scanned"
        px = im.pixel_size[0] if pixel_size is None else pixel_size
        return Frame(str(p), trace, retrace, px, note)
    if ext == ".dat":
        trace = read_raw_image(p)
    else:
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise ConfigurationError(f"{p}: not a .npy array file ({exc})") from None
        if arr.ndim != 2 or not np.issubdtype(arr.dtype, np.number) or min(arr.shape) < 8:
            raise ConfigurationError(
                f"{p}: expected a 2-D array of heights (H x W, at least 8 x 8), "
                f"got shape {arr.shape} of {arr.dtype}"
            )
        trace = arr.astype(np.float64) * 1e9  # metres -> nm
    if not np.all(np.isfinite(trace)):
        raise ConfigurationError(f"{p}: the image holds NaN or infinite heights")
    note = "no retrace: the trace is used twice"
    if pixel_size is None:
        note += "; pixel size not stated (give --pixel-size)"
    return Frame(str(p), trace, trace, pixel_size, note)


def bin_frame(frame: Frame, k: int) -> Frame:
    """``frame`` with ``k x k`` blocks of pixels averaged (lines and pixels); ``k = 1``: as is."""
    if not isinstance(k, int) or k < 1:
        raise ConfigurationError(f"--bin must be a whole number >= 1, got {k!r}")
    if k == 1:
        return frame

    def block(z):
        h, w = (z.shape[0] // k) * k, (z.shape[1] // k) * k
        if h == 0 or w == 0:
            raise ConfigurationError(f"{frame.file}: {z.shape} is smaller than --bin {k}")
        return z[:h, :w].reshape(h // k, k, w // k, k).mean(axis=(1, 3))

    px = None if frame.pixel_size is None else frame.pixel_size * k
    note = (frame.note + "; " if frame.note else "") + f"{k} x {k} pixel blocks averaged"
    return Frame(frame.file, block(frame.trace), block(frame.retrace), px, note)


def judge_topograph(
    clf: TipClassifier, frame: Frame, lines: bool = False, check_level: float = CHECK_LEVEL
) -> dict:
    """The record of one topograph: verdict, mean p_bad, OOD score, alarms (``lines``)."""
    n = frame.trace.shape[0]
    if n < clf.n_lines:
        raise ConfigurationError(
            f"{frame.file}: {n} lines, fewer than the classifier's window of {clf.n_lines}"
        )
    if frame.trace.shape[1] < 16:
        raise ConfigurationError(f"{frame.file}: {frame.trace.shape[1]} pixels per line, need 16")
    alarms = []
    if lines:
        steps, found = watch_image(clf, frame.trace, frame.retrace, frame.pixel_size)
        verdicts = [s.verdict for s in steps]
        alarms = [{"line": a.line, "rule": a.rule, "state": a.state, "why": a.why} for a in found]
    else:
        verdicts = image_verdicts(clf, frame.trace, frame.retrace, frame.pixel_size)
    summary = summarize([v for v in verdicts if v is not None])
    return {
        "file": frame.file,
        "kind": "topograph",
        "verdict": frame_verdict(summary, check_level),
        "p_bad": summary.p_bad,
        "ood": summary.ood,
        "unknown_share": float(np.mean([v.unknown for v in verdicts if v is not None])),
        "alarms": alarms,
        "lines": n,
        "pixels": int(frame.trace.shape[1]),
        "pixel_size": frame.pixel_size,
        "note": frame.note,
    }


def judge_imprint(frame: Frame) -> dict:
    """The record of one imprint image (see :mod:`autoscope.agents.tip.imprint`)."""
    if frame.pixel_size is None:
        raise ConfigurationError(
            f"{frame.file}: an imprint needs its pixel size; give --pixel-size"
        )
    res = classify_imprint(frame.trace, frame.pixel_size)
    return {
        "file": frame.file,
        "kind": "imprint",
        "verdict": res.verdict,
        "p_bad": None,
        "ood": res.ood,
        "alarms": [],
        "lobes": res.lobes,
        "width_nm": res.width,
        "elongation": res.elongation,
        "contrast": res.contrast,
        "why": res.why,
        "lines": int(frame.trace.shape[0]),
        "pixels": int(frame.trace.shape[1]),
        "pixel_size": frame.pixel_size,
        "note": frame.note,
    }


def _clean(value):
    """JSON has no NaN: a number that is not finite becomes null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def format_record(rec: dict, lines: bool) -> list[str]:
    """The lines printed for one record."""
    px = rec["pixel_size"]
    where = f"{rec['lines']} lines x {rec['pixels']} px, " + (
        f"{px:.4g} nm/px" if px is not None else "pixel size unknown"
    )
    if rec["kind"] == "imprint":
        out = [
            f"{rec['file']}: {rec['verdict']}  (imprint: {rec['why']}; OOD {rec['ood']:.2f}; "
            f"{where})"
        ]
    else:
        out = [
            f"{rec['file']}: {rec['verdict']}  p_bad {rec['p_bad']:.2f}  OOD {rec['ood']:.2f} "
            f"({rec['unknown_share']:.0%} of windows unknown; {where})"
        ]
    if rec.get("note"):
        out.append(f"  note: {rec['note']}")
    if lines and rec["kind"] == "topograph":
        if not rec["alarms"]:
            out.append("  no alarm")
        for a in rec["alarms"]:
            out.append(f"  alarm at line {a['line']}: {a['rule']} ({a['state']}; {a['why']})")
    return out


def run(
    files: list[str],
    kind: str = "topograph",
    pixel_size: float | None = None,
    lines: bool = False,
    weights: str | None = None,
    block: int = 1,
) -> list[dict]:
    """Judge every file; returns the records. Every file is read (and checked) first."""
    if kind not in KINDS:
        raise ConfigurationError(f"--kind must be one of {KINDS}, got {kind!r}")
    if not files:
        raise ConfigurationError("name at least one file")
    frames = [bin_frame(read_frame(f, pixel_size), block) for f in files]
    if kind == "imprint":
        return [judge_imprint(f) for f in frames]
    clf = TipClassifier.load(weights)
    return [judge_topograph(clf, f, lines) for f in frames]


def main(args) -> int:
    """Run ``autoscope tip classify``; returns the exit status."""
    records = run(args.files, args.kind, args.pixel_size, args.lines, args.weights, args.bin)
    for rec in records:
        print("\n".join(format_record(rec, args.lines)))
    if args.json is not None:
        keep = ("file", "verdict", "p_bad", "ood", "alarms")
        out = [
            {k: rec[k] for k in keep}
            | {"alarms": [{"line": a["line"], "rule": a["rule"]} for a in rec["alarms"]]}
            for rec in records
        ]
        Path(args.json).write_text(json.dumps(_clean(out), indent=1) + "\n")
        print(f"wrote {args.json}")
    return 0


def add_arguments(parser) -> None:
    """The arguments of ``autoscope tip classify``."""
    parser.add_argument("files", nargs="+", metavar="FILE", help=".sxm, .dat (raw image) or .npy")
    parser.add_argument(
        "--pixel-size",
        type=float,
        default=None,
        metavar="NM",
        help="nm per pixel along a line (overrides the file's; .npy and .dat state none)",
    )
    parser.add_argument("--kind", choices=KINDS, default="topograph", help="what the files show")
    parser.add_argument(
        "--lines",
        action="store_true",
        help="feed each frame line by line through the watched plan's detector; list alarms",
    )
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write records")
    parser.add_argument(
        "--bin",
        type=int,
        default=1,
        metavar="K",
        help="average K x K pixel blocks first (default 1: as recorded)",
    )
    parser.add_argument(
        "--weights", default=None, help="classifier weights (default: the watcher's default)"
    )


__all__ = ["Frame", "read_frame", "bin_frame", "judge_topograph", "judge_imprint", "run", "main"]
