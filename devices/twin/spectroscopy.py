"""STM spectroscopy: I(V) and lock-in dI/dV from the sample LDOS and the tip.

Model (Tersoff-Hamann / Bardeen, 1-D WKB barrier)::

    I(V) = C * sum_i w_i * Int rho_s(x + d_i, E) rho_t(E - eV) T(E, V) [f(E - eV) - f(E)] dE
    T(E, V) = exp(-2 z sqrt(2 m (phi + eV/2 - E)) / hbar)

with the apices ``(d_i, w_i)`` of the tip, Fermi functions at the sample
temperature, and C fixed by the feedback before the sweep: ``I(V_set) = I_set``
(the setpoint effect, one of the real artefacts of STS). The lock-in dI/dV is
dI/dV convolved with the modulation broadening kernel of a sinusoidal
modulation of peak amplitude ``sqrt(2) * V_rms``. Everything is a matrix
product over an energy grid, vectorised over points.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

from autoscope.devices.twin.tip import TipState

KAPPA_PER_SQRT_EV = 5.1231  # nm^-1 per sqrt(eV): sqrt(2 m_e * 1 eV) / hbar
K_B = 8.617333e-5  # eV/K


def kappa(barrier_ev) -> np.ndarray:
    """Decay constant (nm^-1) of a barrier of ``barrier_ev`` eV."""
    return KAPPA_PER_SQRT_EV * np.sqrt(np.maximum(barrier_ev, 0.05))


def _fermi(e, kt):
    return 0.5 * (1.0 - np.tanh(e / (2.0 * kt)))


def tip_dos(tip: TipState, eps: np.ndarray) -> np.ndarray:
    """Tip density of states (a.u., 1 for a featureless metal) at tip energies ``eps`` (eV)."""
    out = np.ones_like(eps)
    if tip.dos_peak is not None:
        out = out + 1.5 * np.exp(-0.5 * ((eps - tip.dos_peak) / 0.15) ** 2)
    return out


def modulation_kernel(eps: np.ndarray, v_rms: float) -> np.ndarray:
    """Broadening of a lock-in dI/dV by sinusoidal modulation of ``v_rms`` (V rms), per V."""
    vm = np.sqrt(2.0) * v_rms
    inside = np.abs(eps) < vm
    return np.where(inside, 2.0 / (np.pi * vm**2) * np.sqrt(np.clip(vm**2 - eps**2, 0, None)), 0.0)


class STMSpectrometer:
    """Noise-free STS of one sample, reusable for many points with the same settings.

    Parameters
    ----------
    sample : Sample
        An STM sample with ``ldos(x, y, energies, blur=...)``.
    bias : ndarray, shape (K,)
        Sweep biases, V.
    setpoint_bias, setpoint_current : float
        Feedback condition before the sweep (V, pA).
    lockin_amplitude : float
        Modulation, V rms.
    temperature : float
        Sample temperature, K.
    tip_height : float
        Tip-sample distance at the setpoint, nm (sets the WKB bias dependence).
    work_function : float
        Mean barrier height, eV.
    """

    def __init__(
        self,
        sample,
        bias,
        setpoint_bias,
        setpoint_current,
        lockin_amplitude=0.01,
        temperature=4.5,
        tip_height=0.6,
        work_function=4.5,
    ) -> None:
        self.sample = sample
        self.bias = np.asarray(bias, float)
        self.vset = float(setpoint_bias)
        self.iset = float(setpoint_current)
        self.vrms = max(float(lockin_amplitude), 0.0)
        kt = K_B * float(temperature)
        vm = np.sqrt(2) * self.vrms
        lo = min(self.bias.min(), self.vset, 0.0) - vm - 0.1
        hi = max(self.bias.max(), self.vset, 0.0) + vm + 0.1
        de = min(0.005, max(vm / 3, 0.001))
        n = int(np.ceil((hi - lo) / de))
        n = min(n, 2500)
        self.energies = np.linspace(lo, hi, n)
        de = self.energies[1] - self.energies[0]
        self.kt = max(kt, de)  # a grid cannot resolve a narrower Fermi edge
        self.dE = de
        self.z = float(tip_height)
        self.phi = float(work_function)
        self.vfine = self.energies.copy()  # biases at which I is computed
        self._kernels: dict = {}

    def _weights(self, tip: TipState, volts: np.ndarray) -> np.ndarray:
        """W[v, n]: contribution of sample energy n to the current at bias v (shape (V, N))."""
        e = self.energies[None, :]
        v = np.asarray(volts, float)[:, None]
        k = kappa(self.phi + v / 2 - e)
        t = np.exp(-2 * self.z * (k - kappa(self.phi)))
        occ = _fermi(e - v, self.kt) - _fermi(e, self.kt)
        return t * tip_dos(tip, e - v) * occ * self.dE

    def _tip_kernels(self, tip: TipState):
        key = (tip.dos_peak,)
        got = self._kernels.get(key)
        if got is not None:
            return got
        wf = self._weights(tip, self.vfine)  # (Nf, N)
        wset = self._weights(tip, np.array([self.vset]))[0]  # (N,)
        vf = self.vfine
        dvf = vf[1] - vf[0]
        # linear interpolation from the fine bias grid to the sweep biases
        idx = np.clip(np.searchsorted(vf, self.bias) - 1, 0, len(vf) - 2)
        frac = (self.bias - vf[idx]) / dvf
        interp = np.zeros((len(self.bias), len(vf)))
        interp[np.arange(len(self.bias)), idx] = 1 - frac
        interp[np.arange(len(self.bias)), idx + 1] = frac
        # derivative on the fine grid, then the modulation kernel at every sweep bias
        grad = (np.eye(len(vf), k=1) - np.eye(len(vf), k=-1)) / (2 * dvf)
        grad[0, :2] = [-1 / dvf, 1 / dvf]
        grad[-1, -2:] = [-1 / dvf, 1 / dvf]
        if self.vrms > 0:
            g = modulation_kernel(vf[None, :] - self.bias[:, None], self.vrms) * dvf
            g = g / np.maximum(g.sum(1, keepdims=True), 1e-12)
            g = np.where(g.sum(1, keepdims=True) > 0, g, interp)
        else:
            g = interp
        current_op = wf.T @ interp.T  # (N, K)
        didv_op = wf.T @ (g @ grad).T  # (N, K)
        got = (current_op, didv_op, wset)
        self._kernels[key] = got
        return got

    def local_dos(self, x, y, tip: TipState) -> np.ndarray:
        """Apex-weighted sample LDOS seen by the tip, shape (P, N)."""
        x = np.atleast_1d(np.asarray(x, float)).ravel()
        y = np.atleast_1d(np.asarray(y, float)).ravel()
        rho = 0.0
        for dx, dy, w in tip.offsets:
            rho = rho + w * self.sample.ldos(x + dx, y + dy, self.energies, blur=tip.radius)
        return rho

    def spectra(self, x, y, tip: TipState) -> tuple[np.ndarray, np.ndarray]:
        """Noise-free ``(current pA, dIdV nS)``, each shape (P, K), at points ``(x, y)``."""
        current_op, didv_op, wset = self._tip_kernels(tip)
        x = np.atleast_1d(np.asarray(x, float)).ravel()
        y = np.atleast_1d(np.asarray(y, float)).ravel()
        cur = np.empty((x.size, len(self.bias)))
        did = np.empty_like(cur)
        for s in range(0, x.size, 512):
            rho = self.local_dos(x[s : s + 512], y[s : s + 512], tip)
            norm = abs(self.iset) / np.abs(rho @ wset)[:, None]
            cur[s : s + 512] = (rho @ current_op) * norm
            did[s : s + 512] = (rho @ didv_op) * norm * 1e-3  # pA/V -> nS
        return cur, did


def add_stm_noise(
    current,
    didv,
    rng,
    *,
    integration,
    sweeps=1,
    lockin_amplitude=0.01,
    floor_density=0.001,
    lockin_density=0.015,
    gap_noise=0.0004,
    flicker=0.02,
    tip: TipState | None = None,
    point_time=None,
    tip_height_kappa=10.9,
):
    """Measured ``(current, dIdV)`` from noise-free ones (arrays of shape (P, K)).

    Three parts, as seen in real Nanonis spectra:

    - tip-height noise of ``gap_noise`` nm rms (correlated over a few points,
      hardly averaged away by sweeps): a *multiplicative* current noise
      ``exp(2 kappa dz)`` of about 0.7 % for both channels;
    - the preamplifier's floor, ``floor_density`` pA/sqrt(Hz) over the
      integration bandwidth, averaged over ``2 * sweeps`` passes, plus a slow
      random walk of ``flicker`` pA;
    - lock-in noise: ``lockin_density`` pA/sqrt(Hz) near the modulation
      frequency, divided by the modulation amplitude.

    An unstable tip adds telegraph jumps (``exp(+-2 kappa dz)``) at its switching rate.
    """
    cur = np.array(current, float)
    did = np.array(didv, float)
    p, k = cur.shape
    avg = np.sqrt(2.0 * max(int(sweeps), 1))
    bw = np.sqrt(1.0 / (2.0 * max(integration, 1e-6)))
    if gap_noise:
        a = 0.3  # correlation of the gap noise from one point to the next
        e = rng.standard_normal((p, k)) * np.sqrt(1 - a * a) * gap_noise
        dz = lfilter([1.0], [1.0, -a], e, axis=1)
        factor = np.exp(2 * tip_height_kappa * dz)
        cur = cur * factor
        did = did * factor
    if tip is not None and tip.telegraph_rate > 0 and point_time:
        flips = rng.uniform(size=(p, k)) < 1 - np.exp(-tip.telegraph_rate * point_time)
        state = np.cumsum(flips, axis=1) % 2
        factor = np.exp(2 * tip_height_kappa * tip.telegraph_amplitude * (state - 0.5))
        cur = cur * factor
        did = did * factor
    walk = np.cumsum(rng.standard_normal((p, k)), axis=1) * (flicker / np.sqrt(k)) / avg
    cur = cur + floor_density * bw / avg * rng.standard_normal((p, k)) + walk
    vm = max(np.sqrt(2) * lockin_amplitude, 1e-4)
    sig_g = lockin_density * bw / avg / vm * 1e-3 * np.sqrt(2)  # nS
    did = did + sig_g * rng.standard_normal((p, k))
    return cur, did
