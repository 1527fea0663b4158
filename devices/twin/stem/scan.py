"""Where the beam really is: drift, stage creep, flyback settling and line jitter.

Positions in Å, times in s. Every term is a pure function of instrument time (and of a
seeded generator for the per-line jitter), so a twin run twice with one seed is the same.

- Drift: ``v·t`` plus a slow wander (two sinusoids of 20 % of ``|v|``, periods 300/170 s).
- Creep after each move of the scan centre or probe by ``Δ``:
  ``Δ·γ·log10(max(t - t_move, 0.1 s) / 0.1 s)`` (the stage keeps going the way it moved).
- Flyback: after each line start the fast axis lags (towards the end it flew back from)
  by ``A exp(-(t - t_line) / τ)`` (``A`` Å, ``τ`` s): the first pixels are stretched.
- Line jitter: a random offset per line (normal, σ Å in x and y): vibration and mains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoscope.errors import ConfigurationError


@dataclass(frozen=True)
class ScanErrors:
    """Magnitudes of the scan errors (set a field to 0 to switch it off)."""

    drift_velocity: tuple[float, float] = (0.1, 0.05)  # Å/s
    drift_wander: float = 0.2  # fraction of |v|
    creep_gamma: float = 0.015
    flyback_amplitude: float = 1.5  # Å
    flyback_tau: float = 30e-6  # s
    line_jitter: float = 0.08  # Å rms per line

    def __post_init__(self) -> None:
        for name in ("drift_wander", "creep_gamma", "flyback_amplitude", "flyback_tau"):
            v = getattr(self, name)
            if not v >= 0:
                raise ConfigurationError(f"scan error {name}={v!r} must be >= 0")
        if not self.line_jitter >= 0:
            raise ConfigurationError(f"line jitter {self.line_jitter!r} Å must be >= 0")


class ScanModel:
    """True beam position for commanded positions and times."""

    def __init__(self, errors: ScanErrors, seed: int) -> None:
        self.errors = errors
        self.rng = np.random.default_rng((seed, 77))
        self.moves: list[tuple[float, float, float]] = []  # (t, dx, dy) Å

    def move(self, t: float, dx: float, dy: float) -> None:
        """Record a move of the working point by ``(dx, dy)`` Å at time ``t``."""
        if dx or dy:
            self.moves.append((float(t), float(dx), float(dy)))

    def drift(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """True drift offset (Å) at times ``t``."""
        t = np.asarray(t, float)
        vx, vy = self.errors.drift_velocity
        w = self.errors.drift_wander * np.hypot(vx, vy)
        wx = w * 300 / (2 * np.pi) * np.sin(2 * np.pi * t / 300.0)
        wy = w * 170 / (2 * np.pi) * (1 - np.cos(2 * np.pi * t / 170.0))
        return vx * t + wx, vy * t + wy

    def creep(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        t = np.asarray(t, float)
        cx = np.zeros(t.shape)
        cy = np.zeros(t.shape)
        g = self.errors.creep_gamma
        for tm, dx, dy in self.moves[-20:]:
            f = g * np.log10(np.maximum(t - tm, 0.1) / 0.1)
            cx += dx * f
            cy += dy * f
        return cx, cy

    def creep_before(self, t: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`creep` at each time ``t[j]`` as it was when only the moves before index
        ``ends[j]`` of :attr:`moves` had been made (the last 20 of them, as :meth:`creep`)."""
        t = np.asarray(t, float)
        ends = np.asarray(ends, int)
        if not self.moves:
            return np.zeros(t.shape), np.zeros(t.shape)
        m = np.asarray(self.moves, float)
        idx = ends[:, None] - 20 + np.arange(20)[None, :]
        ok = idx >= 0
        idx = idx.clip(0, len(m) - 1)
        g = self.errors.creep_gamma
        f = np.where(ok, g * np.log10(np.maximum(t[:, None] - m[idx, 0], 0.1) / 0.1), 0.0)
        return (m[idx, 1] * f).sum(1), (m[idx, 2] * f).sum(1)

    def offsets(self, t: np.ndarray, t_line: float | None) -> tuple[np.ndarray, np.ndarray]:
        """True minus commanded position (Å) at times ``t``; ``t_line``: start of the line
        (flyback and one draw of jitter), or None for a parked beam."""
        dx, dy = self.drift(t)
        cx, cy = self.creep(t)
        dx, dy = dx + cx, dy + cy
        if t_line is not None:
            e = self.errors
            if e.flyback_amplitude and e.flyback_tau:
                dx = dx + e.flyback_amplitude * np.exp(-(np.asarray(t) - t_line) / e.flyback_tau)
            j = self.rng.normal(0.0, 1.0, 2) * e.line_jitter
            dx, dy = dx + j[0], dy + j[1]
        return dx, dy

    def offsets_lines(
        self, t: np.ndarray, t_line: np.ndarray, since_line: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`offsets` of several lines at once: ``t`` of shape ``(lines, pixels)``, one
        start time per line; the same jitter draws as one call per line.

        ``since_line`` (shape ``(pixels,)``): the time of each pixel after its line's start,
        the same for every line (a raster). Then the drift's wander is evaluated per line and
        per pixel and combined by the angle-addition formulas, and the flyback once per pixel,
        instead of a sine, a cosine and an exponential for every pixel: equal to the direct
        evaluation to rounding (~1e-16 Å), and the same whether lines come one or many at a
        time."""
        t = np.asarray(t, float)
        t_line = np.asarray(t_line, float)[:, None]
        e = self.errors
        if since_line is None:
            dx, dy = self.drift(t)
            fly = (t - t_line) if e.flyback_amplitude and e.flyback_tau else None
        else:
            dx, dy = self._drift_raster(t_line, np.asarray(since_line, float)[None, :])
            fly = np.asarray(since_line, float)[None, :]
        if self.moves:
            cx, cy = self.creep(t)
            dx, dy = dx + cx, dy + cy
        if e.flyback_amplitude and e.flyback_tau:
            dx = dx + e.flyback_amplitude * np.exp(-fly / e.flyback_tau)
        j = self.rng.normal(0.0, 1.0, (t.shape[0], 2)) * e.line_jitter
        return dx + j[:, :1], dy + j[:, 1:]

    def _drift_raster(self, t0: np.ndarray, s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`drift` at ``t0 + s`` (``t0`` a column, ``s`` a row) by angle addition."""
        vx, vy = self.errors.drift_velocity
        w = self.errors.drift_wander * np.hypot(vx, vy)
        t = t0 + s
        if not w:
            return vx * t, vy * t
        a, b = 2 * np.pi / 300.0, 2 * np.pi / 170.0
        sx = np.sin(a * t0) * np.cos(a * s) + np.cos(a * t0) * np.sin(a * s)
        cy = np.cos(b * t0) * np.cos(b * s) - np.sin(b * t0) * np.sin(b * s)
        wx = w * 300 / (2 * np.pi) * sx
        wy = w * 170 / (2 * np.pi) * (1 - cy)
        return vx * t + wx, vy * t + wy
