"""Instrument imperfections of the SPM twin: drift, creep, hysteresis, feedback, noise.

Each piece is a small, seeded object that works on whole arrays of sample
times, so a scan line costs a handful of array operations.

- :class:`Drift`: thermal drift, a velocity (nm/s) that wanders slowly; the
  offset is a pure function of instrument time.
- :class:`Creep`: piezo creep after each move of the scanner's working point,
  ``dL(t) = dL0 (1 + gamma log10(t / 0.1 s))``.
- :func:`hysteresis_offset`: the lag of a piezo sweeping up versus down.
- :func:`pi_track`: a discrete PI z-feedback that follows a target profile
  (so trace and retrace differ).
- :class:`NoiseSource`: white + 1/f (a bank of Ornstein-Uhlenbeck processes
  with log-spaced time constants) + mains pick-up, continuous across calls.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from autoscope.errors import ConfigurationError


class Drift:
    """Thermal drift of the sample relative to the tip.

    Parameters
    ----------
    velocity : tuple of float
        Initial drift velocity ``(vx, vy)``, nm/s (0.001-0.04 nm/s is typical).
    wander : float
        Standard deviation of the velocity change per knot, relative to the
        initial speed (0: constant velocity).
    knot : float
        Spacing (s) of the velocity knots between which it is linear.
    rng : numpy.random.Generator
        Generator of the wander.
    relax : float
        Time (s) over which the velocity returns to ``velocity`` (an
        Ornstein-Uhlenbeck process: each knot pulls it back by
        ``1 - exp(-knot / relax)``). Thermal drift of an instrument at
        equilibrium wanders about its mean, it does not grow without bound: as
        a plain random walk (``relax=inf``) the default wander took the drift
        speed from 0.01 to 0.05-0.15 nm/s after two days. With the default
        (2 h), the speed's spread settles at ``wander / sqrt(1 - exp(-2 knot /
        relax))`` ~ 1.1 times the initial speed per axis for the defaults.
    """

    def __init__(
        self,
        velocity,
        wander: float = 0.0,
        knot: float = 120.0,
        rng: np.random.Generator | None = None,
        relax: float = 7200.0,
    ) -> None:
        if not relax > 0:
            raise ConfigurationError(f"relax must be > 0 s (inf: no return); got {relax}")
        self.v0 = np.asarray(velocity, float).reshape(2)
        self.wander = float(wander)
        self.knot = float(knot)
        self.relax = float(relax)
        self.rng = rng if rng is not None else np.random.default_rng(0)
        # velocity and offset at knot k, rows 0 .. _n - 1 in use (arrays grown by doubling:
        # 32 bytes a knot, about 46 kB for two days of 120 s knots)
        self._v = np.zeros((64, 2))
        self._x = np.zeros((64, 2))
        self._v[0] = self.v0
        self._n = 1

    def _extend(self, k: int) -> None:
        if self._n > k + 1:
            return
        if k + 2 > len(self._v):
            size = max(2 * len(self._v), k + 2)
            self._v = np.resize(self._v, (size, 2))
            self._x = np.resize(self._x, (size, 2))
        scale = self.wander * max(np.hypot(*self.v0), 1e-6)
        keep = float(np.exp(-self.knot / self.relax))
        while self._n <= k + 1:
            v_prev, x_prev = self._v[self._n - 1], self._x[self._n - 1]
            v_new = (
                self.v0 + keep * (v_prev - self.v0) + scale * self.rng.standard_normal(2)
                if self.wander
                else v_prev
            )
            self._x[self._n] = x_prev + 0.5 * (v_prev + v_new) * self.knot
            self._v[self._n] = v_new
            self._n += 1

    def offset(self, t) -> tuple[np.ndarray, np.ndarray]:
        """Drift offset ``(dx, dy)`` (nm) at instrument times ``t`` (>= 0)."""
        t = np.maximum(np.asarray(t, float), 0.0)
        k = np.floor(t / self.knot).astype(int)
        self._extend(int(k.max(initial=0)))
        v = self._v
        x = self._x
        f = (t - k * self.knot)[..., None]
        vk, vk1 = v[k], v[k + 1]
        vt = vk + (vk1 - vk) * f / self.knot
        off = x[k] + 0.5 * (vk + vt) * f
        return off[..., 0], off[..., 1]

    def velocity(self, t: float) -> np.ndarray:
        """Drift velocity (nm/s) at instrument time ``t``."""
        a = self.offset(np.array([t - 0.5, t + 0.5]))
        return np.array([a[0][1] - a[0][0], a[1][1] - a[1][0]])


class Creep:
    """Logarithmic piezo creep after moves of the scanner's working point.

    A move by ``d`` at time ``t_i`` keeps extending by
    ``d * gamma * log10((t - t_i) / t0)`` for ``t - t_i > t0``.
    The oldest moves beyond ``max_moves`` are frozen at their current
    contribution (their further growth is tiny).
    """

    def __init__(self, gamma: float = 0.015, t0: float = 0.1, max_moves: int = 64) -> None:
        if not 0 <= gamma < 1:
            raise ConfigurationError(f"creep gamma {gamma!r} must be in [0, 1)")
        self.gamma = float(gamma)
        self.t0 = float(t0)
        self.max_moves = int(max_moves)
        self._t = np.empty(0)
        self._d = np.empty((0, 2))
        self._frozen = np.zeros(2)

    def record(self, t: float, dx: float, dy: float) -> None:
        """Register a move of ``(dx, dy)`` nm that ended at instrument time ``t``."""
        if self.gamma == 0 or (dx == 0 and dy == 0):
            return
        self._t = np.append(self._t, t)
        self._d = np.vstack([self._d, [dx, dy]])
        if len(self._t) > self.max_moves:
            fx, fy = self._part(np.array([t]), slice(0, 1))
            self._frozen += [fx[0], fy[0]]
            self._t, self._d = self._t[1:], self._d[1:]

    def _part(self, t, sel):
        lag = np.maximum(t[..., None] - self._t[sel], self.t0)
        w = self.gamma * np.log10(lag / self.t0)
        return w @ self._d[sel, 0], w @ self._d[sel, 1]

    def offset(self, t) -> tuple[np.ndarray, np.ndarray]:
        """Creep offset ``(dx, dy)`` (nm) at instrument times ``t``."""
        t = np.asarray(t, float)
        if len(self._t) == 0:
            return np.full(t.shape, self._frozen[0]), np.full(t.shape, self._frozen[1])
        ox, oy = self._part(t, slice(None))
        return ox + self._frozen[0], oy + self._frozen[1]


def hysteresis_offset(u, half_range: float, fraction: float, ascending) -> np.ndarray:
    """Position error (nm) of a piezo sweeping over ``[-half_range, half_range]``.

    ``u`` is the commanded position relative to the sweep centre scaled to
    ``[-1, 1]``. The loop is parabolic: zero at the turning points, largest
    (``fraction * half_range``) at the centre, lagging behind the command in
    the direction of motion, so the two sweep directions differ by
    ``2 * fraction * half_range`` at most.
    """
    u = np.clip(np.asarray(u, float), -1, 1)
    lag = fraction * half_range * (1 - u * u)
    return np.where(ascending, -lag, lag)


def hysteresis_xy(frame, index: int, fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """Hysteresis error (nm, sample frame) of every sample of a raster line, trace then retrace.

    Fast axis: the loop of :func:`hysteresis_offset` in both sweep directions;
    slow axis: the upward sweep of the frame. Both rotated by the frame angle.
    """
    p = frame.pixels
    u = (np.arange(p) + 0.5) / p * 2 - 1
    u = np.concatenate([u, u[::-1]])
    du = hysteresis_offset(u, frame.width / 2, fraction, np.arange(2 * p) < p)
    dv = hysteresis_offset((index + 0.5) / frame.lines * 2 - 1, frame.height / 2, fraction, True)
    a = np.deg2rad(frame.angle)
    return du * np.cos(a) - dv * np.sin(a), du * np.sin(a) + dv * np.cos(a)


def pi_gains(dt: float, tau: float, proportional: float = 0.3) -> tuple[float, float]:
    """Integral and proportional gains of a discrete PI loop with closed-loop time ``tau``."""
    ki = 1.0 - np.exp(-dt / max(tau, 1e-9))
    # the proportional part fades as the loop gets as fast as the sampling (no ringing)
    return float(ki), float(proportional * ki * (1.0 - ki))


def pi_track(target: np.ndarray, ki: float, kp: float, start: float | None = None) -> np.ndarray:
    """Output of a PI z-feedback that follows ``target`` sample by sample.

    Velocity-form PI on the error ``e = target - z`` (one sample of loop delay)::

        z[n] = z[n-1] + (kp + ki) e[n-1] - kp e[n-2]

    which is the linear filter ``b = [0, kp+ki, -kp]``, ``a = [1, kp+ki-1, -kp]``
    (unit DC gain), started settled at ``start`` (default ``target[0]``).
    """
    target = np.asarray(target, float)
    b = np.array([0.0, kp + ki, -kp])
    a = np.array([1.0, kp + ki - 1.0, -kp])
    z0 = target[0] if start is None else float(start)
    # settled at z0 (input = output = z0 for all past samples), direct form II transposed
    zi = np.array([(b[1] - a[1]) * z0 + (b[2] - a[2]) * z0, (b[2] - a[2]) * z0])
    out, _ = lfilter(b, a, target, zi=zi)
    return out


def low_pass(signal: np.ndarray, dt: float, tau: float) -> np.ndarray:
    """First-order low-pass (lock-in output filter) along the last axis, started settled."""
    if tau <= 0:
        return np.asarray(signal)
    a = np.exp(-dt / tau)
    x = np.asarray(signal)
    zi = np.array([a * x[0]])
    out, _ = lfilter([1 - a], [1, -a], x, zi=zi)
    return out


class NoiseSource:
    """One noisy channel: white + 1/f + mains, continuous in instrument time.

    Parameters
    ----------
    rng : numpy.random.Generator
        Generator of this channel.
    white : float
        Standard deviation per sample of the white part (units of the channel).
    flicker : float
        Standard deviation of each of the 1/f processes (one per decade of
        time constant from 1 ms to 1000 s), so the total 1/f variance is
        ``7 * flicker**2``.
    mains : float
        Amplitude of the mains pick-up (fundamental; third harmonic a third of it).
    mains_frequency : float
        50 or 60 Hz.
    exponent : float
        ``alpha`` of the correlated part's power spectrum ``S(f) ~ f**-alpha``
        between 1/(2 pi 1000 s) and 1/(2 pi 1 ms), 0 to 4 (default 1: 1/f).
        The process of time constant ``tau`` has standard deviation
        ``flicker * (tau / 1 s) ** ((alpha - 1) / 2)``, so the spectrum near
        1 Hz keeps its level whatever ``alpha``; above 2 each process is two
        Ornstein-Uhlenbeck filters in series (a spectrum falling as ``f**-4``
        above its corner), which a single one (``f**-2``) could not give.
    """

    TAUS = np.logspace(-3, 3, 7)

    def __init__(
        self,
        rng: np.random.Generator,
        white: float = 0.0,
        flicker: float = 0.0,
        mains: float = 0.0,
        mains_frequency: float = 50.0,
        exponent: float = 1.0,
    ) -> None:
        if not 0.0 <= float(exponent) <= 4.0:
            raise ConfigurationError(f"noise exponent {exponent!r} must be in [0, 4]")
        self.rng = rng
        self.white = float(white)
        self.flicker = float(flicker)
        self.mains = float(mains)
        self.f_mains = float(mains_frequency)
        self.exponent = float(exponent)
        self._sigmas = self.flicker * self.TAUS ** ((self.exponent - 1.0) / 2.0)
        self._two_pole = self.exponent > 2.0
        self._phase = rng.uniform(0, 2 * np.pi, 2)
        self._state = self._sigmas * rng.standard_normal(len(self.TAUS))
        # second pole of each process (used when exponent > 2), unit-variance inner state
        self._inner = rng.standard_normal(len(self.TAUS)) if self._two_pole else None
        self._t_last = 0.0

    def sample(self, t0: float, dt: float, n: int) -> np.ndarray:
        """Noise at the ``n`` times ``t0 + (k + 0.5) dt``; later calls continue the 1/f state."""
        t = t0 + (np.arange(n) + 0.5) * dt
        out = np.zeros(n)
        if self.white:
            out += self.white * self.rng.standard_normal(n)
        if self.flicker and self._two_pole:
            out += self._two_pole_sample(t, dt, n)
        elif self.flicker:
            gap = max(t[0] - self._t_last, 0.0)
            for j, tau in enumerate(self.TAUS):
                sig = self._sigmas[j]
                a0 = np.exp(-gap / tau)
                first = a0 * self._state[j] + np.sqrt(1 - a0 * a0) * sig * (
                    self.rng.standard_normal()
                )
                a = np.exp(-dt / tau)
                e = self.rng.standard_normal(n - 1) * np.sqrt(1 - a * a) * sig
                rest, _ = lfilter([1.0], [1.0, -a], e, zi=np.array([a * first]))
                out[0] += first
                out[1:] += rest
                self._state[j] = rest[-1] if n > 1 else first
            self._t_last = t[-1]
        if self.mains:
            w = 2 * np.pi * self.f_mains
            out += self.mains * np.sin(w * t + self._phase[0])
            out += self.mains / 3 * np.sin(3 * w * t + self._phase[1])
        return out

    def _two_pole_sample(self, t: np.ndarray, dt: float, n: int) -> np.ndarray:
        """The correlated part for ``exponent > 2``: per time constant, white noise through
        two equal first-order filters, scaled to the process's standard deviation.

        Over a gap since the last call both stages relax towards fresh draws of
        their stationary law (variance kept, correlation across the gap shortened).
        """
        gap = max(t[0] - self._t_last, 0.0)
        out = np.zeros(n)
        for j, tau in enumerate(self.TAUS):
            a0 = np.exp(-gap / tau)
            c0 = np.sqrt(1 - a0 * a0)
            u0 = a0 * self._inner[j] + c0 * self.rng.standard_normal()
            w0 = a0 * self._state[j] / self._sigmas[j] + c0 * self.rng.standard_normal()
            a = np.exp(-dt / tau)
            c = (1 - a * a) / np.sqrt(1 + a * a)  # unit variance out for unit-variance AR(1) in
            u, w = np.empty(n), np.empty(n)
            u[0], w[0] = u0, w0
            if n > 1:
                e = self.rng.standard_normal(n - 1) * np.sqrt(1 - a * a)
                u[1:], _ = lfilter([1.0], [1.0, -a], e, zi=np.array([a * u0]))
                w[1:], _ = lfilter([c], [1.0, -a], u[1:], zi=np.array([a * w0]))
            out += self._sigmas[j] * w
            self._inner[j] = u[-1]
            self._state[j] = self._sigmas[j] * w[-1]
        self._t_last = t[-1]
        return out
