"""Does a window look like what the classifier was trained on? An out-of-distribution score.

The CNN was trained on twin frames of a few surfaces at 0.04-0.16 nm pixels;
on anything else its p_bad means little. Each window is described by a few
statistics a microscopist would look at, and each is compared with the range
it took on the training distribution (:class:`InputRange`, written beside the
weights as ``*.input-range.json``):

``pixel_size``     log10 of the pixel size along the line (nm); unknown is out of range
``corrugation``    log10 of the window's robust height scale after a plane (nm)
``psd_slope``      slope of the line-wise power spectrum, log-log, 0.02-0.25 cycles/pixel
``noise``          log10 of the pixel noise (second differences) over the corrugation
``disagreement``   spread of the ensemble members' p_bad (standard deviation)

Two checks make the window's OOD score:

- the pixel size against its training range (a box: the CNN was trained at
  0.04-0.16 nm pixels; an unknown pixel size is out of range);
- the other four statistics *together*: the mean distance of the window's
  statistics (each scaled by its training interquartile range) to its
  :data:`K_NEIGHBOURS` nearest training windows, divided by the level that
  :attr:`InputRange.quantile` of the training windows stay below. A real frame
  rarely has one statistic outside the twin's broad ranges, but often an
  unusual combination (a steep spectrum with a small corrugation and a low noise).

The score is the larger of the pixel size's *excess* (distance outside its
range in range widths, negative inside) and the neighbour distance's ratio
minus 1; above :attr:`InputRange.margin` (0) the verdict is ``unknown``, and
the watched plan then relies on :mod:`.rules` alone.

A distance in the CNN's own feature space (its pooled last-layer features,
Mahalanobis to the twin's training windows) was tried and does not tell the
real frames apart: they sit near the middle of the twin's features (see
docs/tip_on_real_images.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoscope.errors import ConfigurationError

FEATURES: tuple[str, ...] = ("pixel_size", "corrugation", "psd_slope", "noise", "disagreement")

JOINT: tuple[str, ...] = ("corrugation", "psd_slope", "noise", "disagreement")
"""The statistics judged together by the nearest-neighbour distance."""

K_NEIGHBOURS = 10

PSD_BAND = (0.02, 0.25)
"""Band of the line-wise PSD slope, in cycles per pixel."""

_MAD = 1.482602218505602


def _plane(z: np.ndarray) -> np.ndarray:
    n, p = z.shape
    yy, xx = np.mgrid[0:n, 0:p]
    a = np.column_stack([np.ones(z.size), xx.ravel() / p, yy.ravel() / n])
    coef, *_ = np.linalg.lstsq(a, z.ravel(), rcond=None)
    return z - (a @ coef).reshape(n, p)


def window_stats(
    trace: np.ndarray, retrace: np.ndarray, pixel_size: float | None
) -> dict[str, float]:
    """The input statistics of one window (all of :data:`FEATURES` but ``disagreement``).

    Parameters
    ----------
    trace, retrace : ndarray, shape ``(N, P)``
        Topography (nm), row 0 scanned first.
    pixel_size : float or None
        nm per pixel along the line; None (unknown) gives ``nan``.
    """
    t = np.asarray(trace, dtype=np.float64)
    r = np.asarray(retrace, dtype=np.float64)
    if t.ndim != 2 or t.shape != r.shape or t.shape[1] < 16:
        raise ConfigurationError(
            f"a window must be two equal 2-D arrays of >= 16 pixels a line; "
            f"got {t.shape}, {r.shape}"
        )
    z = _plane(0.5 * (t + r))
    s = _MAD * float(np.median(np.abs(z - np.median(z))))
    if s <= 0:
        s = float(np.std(z))
    s = max(s, 1e-12)
    p = z.shape[1]
    spec = np.abs(np.fft.rfft((z - z.mean(axis=1, keepdims=True)) * np.hanning(p), axis=1)) ** 2
    f = np.fft.rfftfreq(p)
    sel = (f >= PSD_BAND[0]) & (f <= PSD_BAND[1])
    power = spec.mean(axis=0)[sel]
    slope = (
        float(np.polyfit(np.log10(f[sel]), np.log10(power), 1)[0])
        if sel.sum() >= 3 and np.all(power > 0)
        else float("nan")
    )
    d2 = np.diff(z, n=2, axis=1)
    noise = _MAD * float(np.median(np.abs(d2 - np.median(d2)))) / np.sqrt(6.0)
    px = float(pixel_size) if pixel_size is not None else float("nan")
    return {
        "pixel_size": float(np.log10(px)) if px > 0 else float("nan"),
        "corrugation": float(np.log10(s)),
        "psd_slope": slope,
        "noise": float(np.log10(max(noise, 1e-12) / s)),
    }


def disagreement(member_p_bad: np.ndarray) -> np.ndarray:
    """Spread of the members' p_bad per window: ``m x b`` -> ``b`` (standard deviation)."""
    return np.asarray(member_p_bad, dtype=np.float64).std(axis=0)


@dataclass
class InputRange:
    """What the training windows' statistics looked like.

    Attributes
    ----------
    lo, hi : dict
        ``{feature: bound}``: a low and a high quantile of each statistic over
        the training windows (for the pixel size: its least and largest value).
        The pixel size's range is a check; the others' tell how far out a
        window is.
    reference : ndarray, shape ``(n, len(JOINT))``
        Training windows' :data:`JOINT` statistics, each scaled by ``scale``.
    center, scale : dict
        Median and interquartile range of each :data:`JOINT` statistic.
    level : float
        Neighbour distance that a ``quantile`` share of the training windows
        stay below (each left out of its own neighbours).
    margin : float
        OOD score above which a window is ``unknown``.
    metadata : dict
        How the range was made (command, frames, quantile, weights digest).
    """

    lo: dict[str, float]
    hi: dict[str, float]
    reference: np.ndarray
    center: dict[str, float]
    scale: dict[str, float]
    level: float
    margin: float = 0.0
    metadata: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [k for k in FEATURES if k not in self.lo or k not in self.hi]
        missing += [k for k in JOINT if k not in self.center or k not in self.scale]
        if missing:
            raise ConfigurationError(f"input range lacks features {sorted(set(missing))}")
        bad = [k for k in FEATURES if not self.hi[k] > self.lo[k]]
        bad += [k for k in JOINT if not self.scale[k] > 0]
        if bad:
            raise ConfigurationError(f"input range has an empty range for {bad}")
        self.reference = np.asarray(self.reference, dtype=np.float64)
        if self.reference.ndim != 2 or self.reference.shape[1] != len(JOINT):
            raise ConfigurationError(
                f"reference must have shape (n, {len(JOINT)}); got {self.reference.shape}"
            )
        if self.reference.shape[0] <= K_NEIGHBOURS or not self.level > 0:
            raise ConfigurationError(
                f"reference needs more than {K_NEIGHBOURS} windows and a level > 0; "
                f"got {self.reference.shape[0]} and {self.level}"
            )

    @classmethod
    def from_stats(
        cls,
        rows: list[dict[str, float]],
        quantile: float = 0.995,
        max_reference: int = 1500,
        seed: int = 0,
        **meta,
    ) -> InputRange:
        """The range of training windows ``rows`` (dicts of :data:`FEATURES`)."""
        if len(rows) <= K_NEIGHBOURS:
            raise ConfigurationError(
                f"need more than {K_NEIGHBOURS} training windows for an input range; "
                f"got {len(rows)}"
            )
        if not 0.5 < quantile < 1:
            raise ConfigurationError(f"quantile must lie in (0.5, 1); got {quantile}")
        lo, hi, center, scale = {}, {}, {}, {}
        q = 1 - quantile
        for k in FEATURES:
            v = np.array([r[k] for r in rows], dtype=np.float64)
            v = v[np.isfinite(v)]
            if v.size == 0:
                raise ConfigurationError(f"feature {k} is nan in every training window")
            # the pixel size is a setting, drawn over a known range: all of it counts
            qk = 0.0 if k == "pixel_size" else q
            lo[k], hi[k] = (float(x) for x in np.quantile(v, [qk, 1 - qk]))
            hi[k] = max(hi[k], lo[k] + 1e-6)
            if k in JOINT:
                center[k] = float(np.median(v))
                q1, q3 = np.quantile(v, [0.25, 0.75])
                scale[k] = float(max(q3 - q1, 1e-6))
        x = np.array([[r[k] for k in JOINT] for r in rows], dtype=np.float64)
        x = x[np.all(np.isfinite(x), axis=1)]
        x = (x - [center[k] for k in JOINT]) / [scale[k] for k in JOINT]
        if len(x) > max_reference:
            x = x[np.random.default_rng(seed).choice(len(x), max_reference, replace=False)]
        d = _knn_distance(x, x, leave_one_out=True)
        level = float(np.quantile(d, quantile))
        meta = {"quantile": quantile, "windows": len(rows), "reference": len(x), **meta}
        return cls(lo, hi, x, center, scale, level, 0.0, meta)

    def _scaled(self, stats: dict[str, float]) -> np.ndarray:
        return np.array(
            [(stats.get(k, np.nan) - self.center[k]) / self.scale[k] for k in JOINT], ndmin=2
        )

    def excess(self, stats: dict[str, float]) -> dict[str, float]:
        """Per feature: distance outside ``[lo, hi]`` in widths (negative inside; nan: inf)."""
        out = {}
        for k in FEATURES:
            v = stats.get(k, float("nan"))
            if not np.isfinite(v):
                out[k] = float("inf")
                continue
            w = self.hi[k] - self.lo[k]
            out[k] = float(max(self.lo[k] - v, v - self.hi[k]) / w)
        return out

    def score(self, stats: dict[str, float], ignore: tuple[str, ...] = ()) -> tuple[float, str]:
        """``(OOD score, why)``: the larger of the pixel size's excess and the neighbour ratio - 1.

        ``why`` names the pixel size, or the :data:`JOINT` statistic furthest
        outside its range when the neighbour distance decides. ``ignore``
        may hold ``"pixel_size"`` (to judge files of unknown pixel size on
        their statistics alone) or ``"joint"``.
        """
        ex = self.excess(stats)
        parts = {}
        if "pixel_size" not in ignore:
            parts["pixel_size"] = ex["pixel_size"]
        if "joint" not in ignore:
            z = self._scaled(stats)
            joint = (
                float(_knn_distance(z, self.reference)[0]) / self.level - 1.0
                if np.all(np.isfinite(z))
                else float("inf")
            )
            parts[max(JOINT, key=ex.get)] = joint
        if not parts:
            raise ConfigurationError("score: nothing left to judge after ignore")
        why = max(parts, key=parts.get)
        return parts[why], why

    def to_json(self) -> dict:
        return {
            "lo": self.lo,
            "hi": self.hi,
            "center": self.center,
            "scale": self.scale,
            "level": self.level,
            "margin": self.margin,
            "joint": list(JOINT),
            "reference": np.round(self.reference, 4).tolist(),
            "metadata": self.metadata,
        }

    def save(self, path: str | Path) -> Path:
        """Write the range as JSON to ``path``."""
        path = Path(path)
        path.write_text(json.dumps(self.to_json(), separators=(",", ":")) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> InputRange:
        """Read a range written by :meth:`save`.

        Raises
        ------
        ConfigurationError
            If the file is missing or not a range of these features.
        """
        path = Path(path)
        try:
            blob = json.loads(path.read_text())
            if blob.get("joint") != list(JOINT):
                raise ValueError(f"joint features {blob.get('joint')}, expected {list(JOINT)}")
            return cls(
                blob["lo"],
                blob["hi"],
                np.asarray(blob["reference"], dtype=np.float64),
                blob["center"],
                blob["scale"],
                float(blob["level"]),
                float(blob["margin"]),
                blob.get("metadata", {}),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ConfigurationError(f"cannot read an input range from {path}: {exc}") from None


def _knn_distance(x: np.ndarray, ref: np.ndarray, leave_one_out: bool = False) -> np.ndarray:
    """Mean Euclidean distance of each row of ``x`` to its nearest rows of ``ref``."""
    d = np.sqrt(((x[:, None, :] - ref[None, :, :]) ** 2).sum(axis=2))
    if leave_one_out:
        np.fill_diagonal(d, np.inf)
    k = min(K_NEIGHBOURS, ref.shape[0] - int(leave_one_out))
    return np.sort(np.partition(d, k - 1, axis=1)[:, :k], axis=1).mean(axis=1)


def range_path(weights: str | Path) -> Path:
    """Where the input range of a weights file lives: ``X.weights.pt`` -> ``X.input-range.json``."""
    weights = Path(weights)
    name = weights.name
    stem = name[: -len(".weights.pt")] if name.endswith(".weights.pt") else weights.stem
    return weights.with_name(stem + ".input-range.json")
