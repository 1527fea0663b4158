"""What one scan line looks like: tip convolution, telegraph noise, feedback, channels.

The functions here take the true tip positions of every sample of a line
(trace then retrace, in scan order) and return the measured channels in scan
order; :class:`~autoscope.devices.twin.twin.TwinSPM` splits them into trace
and retrace.
"""

from __future__ import annotations

import numpy as np

from autoscope.devices.twin.instrument import NoiseSource, low_pass, pi_gains, pi_track
from autoscope.devices.twin.spectroscopy import kappa
from autoscope.devices.twin.tip import TipState
from autoscope.errors import ConfigurationError

DEFAULT_NOISE_SLOPE = -1.0
"""Slope of the STM twin's gap-noise power spectrum by default: 1/f, as before the parameter
existed. docs/twin_vs_real.md compares both: with 1/f a 5 nm, 512 px twin frame's radially
averaged PSD slope is -2.3 (Au(111)) / -2.7 (Si(100)-H), with ``noise_slope=-2`` -3.0 / -3.2,
against -3.7 to -5.3 for real Z channels. Steeper gap noise does not steepen the image
further (its slow wander becomes line offsets, which flatten the radial average); the white
floors and the surfaces' own structure set the rest. The tip classifier's training frames
draw the slope from -3 to -1 (studies/tip/pipeline.py)."""
NOISE_SLOPE_RANGE = (-3.0, 0.0)

STM_KAPPA = float(kappa(4.5))  # nm^-1, current decay constant of a 4.5 eV barrier
PFM_KAPPA = 2.0  # nm^-1, sharpness of the soft maximum for a contact tip


def apparent_height(sample, x, y, tip: TipState, bias: float, kappa_: float) -> np.ndarray:
    """Constant-current (or contact) height seen by ``tip``: a soft maximum over its apices.

    ``z = (1 / 2 kappa) ln sum_i w_i exp(2 kappa h(x + d_i))`` -- each apex
    carries its share of the current, so the image is the upper envelope of
    shifted copies, not their sum.
    """
    offs = tip.offsets
    hs = [
        sample.height(x + dx, y + dy, blur=tip.radius, bias=bias, contrast=tip.contrast)
        for dx, dy, _ in offs
    ]
    if len(hs) == 1:
        return hs[0]
    h = np.stack(hs)
    w = offs[:, 2][:, None]
    top = h.max(0)
    return top + np.log((w * np.exp(2 * kappa_ * (h - top))).sum(0)) / (2 * kappa_)


def pfm_response(sample, x, y, tip: TipState) -> np.ndarray:
    """Complex vertical PFM response through ``tip``: apex-weighted mean of the local response."""
    offs = tip.offsets
    r = sum(w * sample.response(x + dx, y + dy, blur=tip.radius) for dx, dy, w in offs)
    r = r / offs[:, 2].sum()
    if tip.kind == "adsorbate":  # contaminated tip: weaker electromechanical coupling
        r = r * 0.5
    return r


def pfm_height_and_response(sample, x, y, tip: TipState) -> tuple[np.ndarray, np.ndarray]:
    """Contact height (soft maximum over apices) and complex response (apex mean) at once."""
    offs = tip.offsets
    hs, rs = [], []
    for dx, dy, _ in offs:
        h, r = sample.height_and_response(x + dx, y + dy, blur=tip.radius)
        hs.append(h)
        rs.append(r)
    w = offs[:, 2][:, None]
    r = (w * np.stack(rs)).sum(0) / w.sum()
    if tip.kind == "adsorbate":
        r = r * 0.5
    h = np.stack(hs)
    top = h.max(0)
    h = top + np.log((w * np.exp(2 * PFM_KAPPA * (h - top))).sum(0)) / (2 * PFM_KAPPA)
    return h, r


def noise_exponent(noise_slope: float) -> float:
    """Exponent ``alpha`` of :class:`NoiseSource` (``S(f) ~ f**-alpha``) for a spectrum slope.

    Raises ConfigurationError naming the value when it is outside
    :data:`NOISE_SLOPE_RANGE`.
    """
    lo, hi = NOISE_SLOPE_RANGE
    s = float(noise_slope)
    if not lo <= s <= hi:
        raise ConfigurationError(f"noise_slope={noise_slope!r} must be in [{lo}, {hi}]")
    return -s


def telegraph(
    rng: np.random.Generator, tip: TipState, t0: float, dt: float, n: int, state0: int
) -> tuple[np.ndarray, int]:
    """Two-level switching of an unstable tip at ``n`` sample times: (levels 0/1, final level)."""
    if tip.telegraph_rate <= 0 or n == 0:
        return np.zeros(n), state0
    k = rng.poisson(tip.telegraph_rate * n * dt)
    flips = np.sort(rng.integers(0, n, k))
    counts = np.searchsorted(flips, np.arange(n), side="right")
    levels = (state0 + counts) % 2
    return levels.astype(float), int(levels[-1])


class LineSynth:
    """Renders the channels of scan lines for one twin (keeps feedback and noise state).

    Parameters
    ----------
    mode : str
        ``"stm"`` or ``"pfm"``.
    rng : numpy.random.Generator
        Generator of telegraph and noise draws.
    noise : float
        Overall noise scale (0 switches every noise source off).
    feedback_tau : float
        Closed-loop time constant of the z feedback, s.
    mains_frequency : float
        Mains frequency, Hz.
    noise_slope : float
        STM: log-log slope of the gap noise's power spectrum, ``S(f) ~ f **
        noise_slope`` (-3 to 0; what a line of a noise-only image shows along
        the fast axis). The default (:data:`DEFAULT_NOISE_SLOPE`) is -1, 1/f;
        -2 puts more of the power at low frequencies (drift- and creep-like
        wander) and brings the images closer to real Z channels.
    """

    def __init__(
        self,
        mode: str,
        rng: np.random.Generator,
        noise: float = 1.0,
        feedback_tau: float = 0.004,
        mains_frequency: float = 50.0,
        lockin_tau: float = 0.002,
        noise_slope: float = DEFAULT_NOISE_SLOPE,
    ) -> None:
        self.mode = mode
        self.rng = rng
        self.feedback_tau = float(feedback_tau)
        self.lockin_tau = float(lockin_tau)
        self.telegraph_state = 0
        n = float(noise)
        self.adc = 0.0
        if mode == "stm":
            # relative current noise of the preamplifier (white) and mains pick-up; it enters
            # the loop as an error, so the topography sees it low-passed by the feedback
            self.i_noise = NoiseSource(
                rng, white=0.02 * n, mains=0.005 * n, mains_frequency=mains_frequency
            )
            # mechanical tip-sample gap noise (nm): 1/f, vibration at mains, a little white
            self.gap_noise = NoiseSource(
                rng,
                white=0.0003 * n,
                flicker=0.0005 * n,
                mains=0.0004 * n,
                mains_frequency=mains_frequency,
                exponent=noise_exponent(noise_slope),
            )
            self.adc = 0.0001 * n  # nm, read-out of the z output
        else:
            # deflection noise (nm) inside the loop and the lock-in's complex read-out noise
            self.gap_noise = NoiseSource(
                rng,
                white=0.06 * n,
                flicker=0.03 * n,
                mains=0.02 * n,
                mains_frequency=mains_frequency,
            )
            self.r_noise = n * 0.03
            self.adc = 0.005 * n
        self.z_last = 0.0

    def stm_line(self, sample, xs, ys, segments, t0, dt, bias, setpoint, feedback):
        """Topography (nm) and current (pA) in scan order.

        ``segments`` is a list of ``(start, stop, TipState)`` covering the samples.
        """
        n = xs.size
        h = np.empty(n)
        tel = np.empty(n)
        for a, b, tip in segments:
            h[a:b] = apparent_height(sample, xs[a:b], ys[a:b], tip, bias, STM_KAPPA)
            lv, self.telegraph_state = telegraph(
                self.rng, tip, t0 + a * dt, dt, b - a, self.telegraph_state
            )
            tel[a:b] = lv * tip.telegraph_amplitude
        gap = h + tel + self.gap_noise.sample(t0, dt, n)  # what the current really follows
        rel = self.i_noise.sample(t0, dt, n)  # relative error of the measured current
        iset = abs(setpoint)
        if feedback:
            ki, kp = pi_gains(dt, self.feedback_tau)
            # the loop acts on the measured current: its noise is a height error it follows
            z = pi_track(gap + np.log1p(np.clip(rel, -0.9, None)) / (2 * STM_KAPPA), ki, kp)
        else:
            z = np.full(n, self.z_last)
        self.z_last = float(z[-1])
        current = iset * np.exp(np.clip(2 * STM_KAPPA * (gap - z), -50, 8)) * (1.0 + rel)
        current = np.minimum(current, 1e5) * (np.sign(bias) if bias != 0 else 1.0)
        topo = z + (self.adc * self.rng.standard_normal(n) if self.adc else 0.0)
        return {"topography": topo, "current": current}

    def pfm_line(self, sample, xs, ys, segments, t0, dt, phase_reference, feedback):
        """Height (nm), amplitude (a.u.) and phase (deg) in scan order."""
        n = xs.size
        h = np.empty(n)
        r = np.empty(n, complex)
        for a, b, tip in segments:
            h[a:b], r[a:b] = pfm_height_and_response(sample, xs[a:b], ys[a:b], tip)
            lv, self.telegraph_state = telegraph(
                self.rng, tip, t0 + a * dt, dt, b - a, self.telegraph_state
            )
            h[a:b] += lv * tip.telegraph_amplitude
            r[a:b] *= 1 - 0.3 * lv
        if feedback:
            ki, kp = pi_gains(dt, self.feedback_tau)
            z = pi_track(h + self.gap_noise.sample(t0, dt, n), ki, kp)
        else:
            z = np.full(n, self.z_last)
        self.z_last = float(z[-1])
        height = z + (self.adc * self.rng.standard_normal(n) if self.adc else 0.0)
        sig = low_pass(r, dt, self.lockin_tau)
        if self.r_noise:
            sig = sig + self.r_noise * (
                self.rng.standard_normal(n) + 1j * self.rng.standard_normal(n)
            )
        sig = sig * np.exp(1j * np.deg2rad(phase_reference))
        return {"height": height, "amplitude": np.abs(sig), "phase": np.rad2deg(np.angle(sig))}
