"""Electron energy-loss spectra: zero-loss peak, plasmons, core-loss edges, detector.

Energies in eV. A spectrum is the expected number of electrons per channel,
``N_e · fraction(E) · dispersion``, with ``N_e = I t / e`` the electrons of the exposure,
then Poisson counting noise, detector gain (counts per electron) and read noise.

- Zero-loss peak: a Gaussian of FWHM ``zlp_fwhm`` (cold FEG 0.3 eV, Schottky 0.7 eV) with
  2 % in Lorentzian tails, weight ``exp(-t/λ)``, at the drifting energy the twin sets.
- Plasmons and surface plasmons: Lorentzians (FWHM as the sample gives) weighted by their
  strength (fraction of the beam), broadened by the zero-loss width, zero below 0.
- Core-loss edges: a step at the onset ``E0`` (erf of the zero-loss width) decaying as
  ``(E/E0)^-2.5``; L2,3 edges add white lines at ``E0 + 1`` and ``E0 + 1 + split``, each
  split by a crystal field ``cf`` when the edge has one (L3 t2g/eg at ``E0 + 1`` (FWHM
  0.6 eV) and ``E0 + 1 + cf`` (1.0 eV), L2 t2g/eg at ``+ split`` (0.8 / 1.2 eV)); an
  optional pre-peak (e.g. C K π*, O K pre-peak of a reduced oxide) sits at ``E0 + prepeak``.
  The jump per atom/Å² is ``3e-6 (284/E0)^1.5`` per eV (relative, not absolute).
- Background: a power law ``A (E / 50 eV)^-3`` for E > 10 eV with ``A = 0.02 t/λ`` per eV,
  which puts the graphene C K jump ratio near 5.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import erf

from autoscope.devices.twin.stem.samples.base import LocalSpectra, LocalSpectrum
from autoscope.errors import ConfigurationError

_E = 1.602176634e-19

#: edge onsets (eV) the twin's samples use
ONSETS = {
    "C K": 284.0,
    "N K": 401.0,
    "O K": 532.0,
    "Ti L23": 456.0,
    "Fe L23": 708.0,
    "Si L23": 99.5,
}
#: spin-orbit splitting (eV) of L2,3 white lines
L23_SPLIT = {"Ti": 5.6, "Fe": 13.1, "Si": 0.6}


@dataclass(frozen=True)
class Spectrometer:
    """Spectrometer settings: channels, dispersion (eV/channel), offset (eV of channel 0),
    exposure (s), gain (counts per electron), read noise (counts rms), zero-loss FWHM (eV),
    energy drift of the zero-loss peak (eV/s)."""

    channels: int = 2048
    dispersion: float = 0.25
    offset: float = -10.0
    exposure: float = 0.01
    gain: float = 1.0
    read_noise: float = 1.0
    zlp_fwhm: float = 0.35
    energy_drift: float = 0.002

    def __post_init__(self) -> None:
        if (
            isinstance(self.channels, bool)
            or not isinstance(self.channels, int)
            or self.channels < 8
        ):
            raise ConfigurationError(f"EELS channels {self.channels!r} must be an integer >= 8")
        for name in ("dispersion", "exposure", "gain", "zlp_fwhm"):
            v = getattr(self, name)
            if not (v > 0 and math.isfinite(v)):
                raise ConfigurationError(f"EELS {name}={v!r} must be positive")
        if not self.read_noise >= 0:
            raise ConfigurationError(f"EELS read noise {self.read_noise!r} must be >= 0")

    def axis(self) -> np.ndarray:
        """Energy loss (eV) at each channel's centre."""
        return self.offset + self.dispersion * np.arange(self.channels)


def _lorentz(e, e0, fwhm):
    g = fwhm / 2
    return g / np.pi / ((e - e0) ** 2 + g**2)


def _gauss(e, e0, fwhm):
    s = fwhm / (2 * math.sqrt(2 * math.log(2)))
    return np.exp(-0.5 * ((e - e0) / s) ** 2) / (s * math.sqrt(2 * math.pi))


def edge_shape(e: np.ndarray, edge, width: float) -> np.ndarray:
    """Fraction of the beam per eV of one edge (without its strength)."""
    s = max(width, 0.2) / (2 * math.sqrt(2 * math.log(2)))
    e0 = edge.onset
    e = np.asarray(e, float)
    arg = (e - e0) / (math.sqrt(2) * s)
    # erf is exactly -1 or 1 in float64 for |arg| >= 6 (test): the step is 0 below and 1
    # above that window, so erf and the power law are evaluated only where the step is not
    # 0, erf only inside the window (the same values as over every energy)
    out = np.zeros(e.shape)
    on = arg > -6.0
    step = np.ones(np.count_nonzero(on))
    a = arg[on]
    inside = a < 6.0
    step[inside] = 0.5 * (1 + erf(a[inside]))
    ratio = np.clip(e[on] / e0, 1e-3, None)
    out[on] = step * ratio**-2.5
    return with_fine_structure(out, e, edge, width)


def with_fine_structure(step: np.ndarray, e: np.ndarray, edge, width: float) -> np.ndarray:
    """An edge's step plus its white lines and pre-peak, scaled (the edge shape).

    ``step`` is the edge's onset step times its power-law tail at energies ``e``; the
    white lines (L2,3, split by spin-orbit and the crystal field) and the pre-peak are
    added to it in this order.
    """
    e0 = edge.onset
    out = step
    if edge.shape == "L23" and edge.crystal_field > 0:
        cf, so = edge.crystal_field, edge.split
        out = (
            out
            + 1.0 * _lorentz(e, e0 + 1.0, 0.6)
            + 1.3 * _lorentz(e, e0 + 1.0 + cf, 1.0)
            + 0.9 * _lorentz(e, e0 + 1.0 + so, 0.8)
            + 1.2 * _lorentz(e, e0 + 1.0 + so + cf, 1.2)
        )
    elif edge.shape == "L23":
        out = out + 2.0 * _lorentz(e, e0 + 1.0, 1.0) + 1.0 * _lorentz(e, e0 + 1.0 + edge.split, 1.2)
    if edge.prepeak_height:
        out = out + edge.prepeak_height * 2.0 * _gauss(e, e0 + edge.prepeak, max(width, 0.8))
    return out * 3e-6 * (284.0 / e0) ** 1.5


def fraction(local: LocalSpectrum, e: np.ndarray, zlp_energy: float, zlp_fwhm: float):
    """Fraction of the beam per eV at energy losses ``e`` (eV) for one local spectrum."""
    t = max(local.thickness_mfp, 0.0)
    out = math.exp(-t) * (
        0.98 * _gauss(e, zlp_energy, zlp_fwhm) + 0.02 * _lorentz(e, zlp_energy, 3 * zlp_fwhm)
    )
    el = e - zlp_energy
    pos = el > 0
    for p in local.peaks:
        if p.strength > 0:
            out = out + p.strength * np.where(
                pos, _lorentz(el, p.energy, math.hypot(p.width, zlp_fwhm)), 0.0
            )
    bg = 0.02 * max(t, 0.003) * np.where(el > 10, (np.clip(el, 10, None) / 50.0) ** -3, 0.0)
    out = out + bg
    for edge in local.edges:
        out = out + edge.strength * np.where(pos, edge_shape(el, edge, zlp_fwhm), 0.0)
    return out


def acquire(
    local: LocalSpectrum,
    spec: Spectrometer,
    current_pa: float,
    zlp_energy: float,
    rng: np.random.Generator | None,
    efficiency: float = 0.9,
) -> tuple[np.ndarray, np.ndarray]:
    """Counts per channel and the expected counts (no noise). ``rng=None``: no noise."""
    n_e = current_pa * 1e-12 * spec.exposure / _E
    e = spec.axis()
    # integrate over each channel with 4 sub-samples, so narrow peaks keep their area
    sub = (np.arange(4) + 0.5) / 4 - 0.5
    ee = e[:, None] + sub[None, :] * spec.dispersion
    f = fraction(local, ee.ravel(), zlp_energy, spec.zlp_fwhm).reshape(ee.shape).mean(1)
    expected_e = n_e * efficiency * f * spec.dispersion
    expected = expected_e * spec.gain
    if rng is None:
        return expected, expected
    counts = rng.poisson(expected_e) * spec.gain + rng.normal(0.0, spec.read_noise, e.size)
    return counts, expected


# -- many spectra at once ------------------------------------------------------------------
# A spectrum is a sum of shapes of the energy loss ``el = e - zlp``, each times a coefficient
# the local spectrum gives (:func:`_terms`): the zero-loss peak, every plasmon, the
# background, every edge (its pre-peak apart, so a pre-peak height is a coefficient). The
# shapes are evaluated once on a lattice of zero-loss energies (spacing ``h``, cached across
# spectra and lines) and each spectrum's shapes are interpolated (quadratic, in the zero-loss
# energy) from the three nodes around its own zero-loss energy: one matrix product per group
# of spectra. Shapes that start at a threshold (``el > 0``, ``el > 10``) are evaluated
# smooth and cut by the mask of the nearest node; the few sub-samples where the spectrum's
# own cut differs from the node's are corrected exactly.

_SUB = (np.arange(4) + 0.5) / 4 - 0.5  # sub-samples per channel, in channels
_THRESHOLD = {"zlp": None, "peak": 0.0, "bg": 10.0, "edge": 0.0, "pre": 0.0}
_CACHE_SIZE = 4096


def _terms(local: LocalSpectrum, zlp_fwhm: float) -> list[tuple[tuple, float]]:
    """``[(shape key, coefficient)]`` of one local spectrum (:func:`fraction`, term by term)."""
    t = max(local.thickness_mfp, 0.0)
    out = [(("zlp",), math.exp(-t))]
    for p in local.peaks:
        if p.strength > 0:
            out.append((("peak", p.energy, math.hypot(p.width, zlp_fwhm)), p.strength))
    out.append((("bg",), 0.02 * max(t, 0.003)))
    for edge in local.edges:
        main = ("edge", edge.onset, edge.shape, edge.split, edge.crystal_field)
        out.append((main, edge.strength))
        if edge.prepeak_height:
            out.append((("pre", edge.onset, edge.prepeak), edge.strength * edge.prepeak_height))
    return out


def _shape(key: tuple, el: np.ndarray, zlp_fwhm: float) -> np.ndarray:
    """Shape ``key`` at energy losses ``el``, smooth across its threshold (not cut)."""
    kind = key[0]
    if kind == "zlp":
        return 0.98 * _gauss(el, 0.0, zlp_fwhm) + 0.02 * _lorentz(el, 0.0, 3 * zlp_fwhm)
    if kind == "peak":
        return _lorentz(el, key[1], key[2])
    if kind == "bg":
        return (np.clip(el, 5.0, None) / 50.0) ** -3
    if kind == "edge":
        _, onset, shape, split, cf = key
        return edge_shape(el, _Edge(onset, shape, split, cf), zlp_fwhm)
    _, onset, prepeak = key  # "pre": the pre-peak of edge_shape alone, at unit height
    g = 2.0 * _gauss(el, onset + prepeak, max(zlp_fwhm, 0.8))
    return g * 3e-6 * (284.0 / onset) ** 1.5


@dataclass(frozen=True)
class _Edge:
    """The fields :func:`edge_shape` reads, without a pre-peak (it is a term of its own)."""

    onset: float
    shape: str
    split: float
    crystal_field: float
    prepeak: float = 0.0
    prepeak_height: float = 0.0


class _ShapeCache:
    """Shapes on the zero-loss lattice: ``(grid, key, node)`` -> the sub-sample values and
    their channel means, uncut; and, per cut, the channel means cut at ``threshold + cut``.
    The least recently added go first past :data:`_CACHE_SIZE` entries."""

    def __init__(self) -> None:
        self._smooth: dict = {}
        self._cut: dict = {}

    @staticmethod
    def _put(store: dict, k, v) -> None:
        if len(store) >= _CACHE_SIZE:
            store.pop(next(iter(store)))
        store[k] = v

    def get(self, spec: Spectrometer, ee: np.ndarray, h: float, key, node: int, cut: int):
        grid = (spec.channels, spec.dispersion, spec.offset, spec.zlp_fwhm, h)
        thr = _THRESHOLD[key[0]]
        ck = (grid, key, node, cut if thr is not None else None)
        v = self._cut.get(ck)
        if v is not None:
            return v
        sk = (grid, key, node)
        smooth = self._smooth.get(sk)
        if smooth is None:
            sub = _shape(key, ee - node * h, spec.zlp_fwhm).reshape(spec.channels, _SUB.size)
            smooth = (sub, sub.mean(1))
            self._put(self._smooth, sk, smooth)
        sub, mean = smooth
        if thr is None:
            v = mean
        else:  # channels wholly below the cut are 0, at most one channel is cut inside
            first = int(np.searchsorted(ee, thr + cut * h, side="right"))
            v = mean.copy()
            c = first // _SUB.size
            v[:c] = 0.0
            if c < spec.channels and first % _SUB.size:
                v[c] = sub[c, first % _SUB.size :].sum() / _SUB.size
        self._put(self._cut, ck, v)
        return v


_CACHE = _ShapeCache()


def lattice_step(spec: Spectrometer) -> float:
    """Spacing (eV) of the zero-loss lattice: quadratic interpolation over it is exact to
    about ``1e-7`` of the zero-loss peak's height."""
    return min(0.002, spec.zlp_fwhm / 200.0)


def fraction_many(
    locals_: list[LocalSpectrum] | LocalSpectra, spec: Spectrometer, zlp_energies: np.ndarray
) -> np.ndarray:
    """:func:`fraction` averaged over each channel's four sub-samples (as :func:`acquire`
    takes it) for many local spectra (a list, or a :class:`LocalSpectra` table), each with
    its own zero-loss energy; ``(n, channels)``.

    Equal to :func:`acquire`'s channel fractions spectrum by spectrum to the interpolation's
    ``~1e-7`` of the zero-loss peak (test), at a share of the cost.
    """
    z = np.asarray(zlp_energies, float)
    n = len(locals_)
    if z.shape != (n,):
        raise ConfigurationError(f"{n} local spectra need {n} zero-loss energies, got {z.shape}")
    if n == 0:
        return np.zeros((n, spec.channels))
    if isinstance(locals_, LocalSpectra):
        keys, coef, own = _table_terms(locals_, spec.zlp_fwhm)
    else:
        keys, coef, own = _list_terms(locals_, spec.zlp_fwhm)
    return _fraction(keys, coef, own, spec, z)


def _list_terms(locals_, zlp_fwhm):
    """``(shared keys, coefficients (n, keys), own [(j, key, c)])`` of a list of local
    spectra: a key two or more spectra use is shared (from the lattice), keys in order of
    first use; a shape only one spectrum has is its own (evaluated for it alone, exactly)."""
    terms = [_terms(local, zlp_fwhm) for local in locals_]
    uses: dict = {}
    for t in terms:
        for k, _ in t:
            uses[k] = uses.get(k, 0) + 1
    keys = [k for k, c in uses.items() if c > 1]
    index = {k: i for i, k in enumerate(keys)}
    coef = np.zeros((len(locals_), len(keys)))
    own = []
    for j, t in enumerate(terms):
        for k, c in t:
            if k in index:
                coef[j, index[k]] += c
            else:
                own.append((j, k, c))
    return keys, coef, own


def _table_terms(table: LocalSpectra, zlp_fwhm):
    """:func:`_list_terms` of a :class:`LocalSpectra` table, by column: a term is used by
    the spectra where its coefficient is nonzero (a peak of strength <= 0 is left out, as
    :func:`_terms` does); the same keys in the same order and the same coefficients."""
    t = np.maximum(np.asarray(table.thickness_mfp, float), 0.0)
    cols = [(("zlp",), np.exp(-t))]
    for p, s in table.peaks:
        s = np.asarray(s, float)
        cols.append((("peak", p.energy, math.hypot(p.width, zlp_fwhm)), np.where(s > 0, s, 0.0)))
    cols.append((("bg",), 0.02 * np.maximum(t, 0.003)))
    for e, s in table.edges:
        s = np.asarray(s, float)
        cols.append((("edge", e.onset, e.shape, e.split, e.crystal_field), s))
        if e.prepeak_height:
            cols.append((("pre", e.onset, e.prepeak), s * e.prepeak_height))
    n = len(table)
    # per key: its summed coefficients, its uses (nonzero entries of its terms, as the list
    # path counts them) and where it is first used (spectrum, then term position)
    merged: dict = {}
    uses: dict = {}
    first: dict = {}
    for pos, (k, c) in enumerate(cols):
        nz = np.flatnonzero(c)
        merged[k] = merged[k] + c if k in merged else c
        uses[k] = uses.get(k, 0) + nz.size
        if nz.size:
            first[k] = min(first.get(k, (n, pos)), (int(nz[0]), pos))
    keys = sorted((k for k in merged if uses[k] > 1), key=first.__getitem__)
    coef = np.zeros((n, len(keys)))
    for i, k in enumerate(keys):
        coef[:, i] = merged[k]
    own = [
        (first[k][0], k, float(merged[k][first[k][0]]))
        for k in sorted((k for k in merged if uses[k] == 1), key=first.__getitem__)
    ]
    return keys, coef, own


def _fraction(keys, coef, own, spec: Spectrometer, z: np.ndarray) -> np.ndarray:
    """The channel fractions from shared keys (lattice) and own terms (exact)."""
    n = z.size
    out = np.zeros((n, spec.channels))
    e = spec.axis()
    ee = (e[:, None] + _SUB[None, :] * spec.dispersion).ravel()
    h = lattice_step(spec)
    m0 = np.rint(z / h).astype(np.int64)
    u = z / h - m0
    w = np.stack([u * (u - 1) / 2, 1 - u * u, u * (u + 1) / 2], 1)  # nodes m0 - 1, m0, m0 + 1
    cut = int(np.median(m0))  # every thresholded shape is cut at threshold + cut * h
    if keys:
        for g in np.unique(m0):
            rows = np.flatnonzero(m0 == g)
            basis = np.stack(
                [_CACHE.get(spec, ee, h, k, int(g) + d, cut) for k in keys for d in (-1, 0, 1)]
            )
            a = (coef[rows, :, None] * w[rows][:, None, :]).reshape(rows.size, 3 * len(keys))
            out[rows] = a @ basis
        _correct_cuts(out, keys, coef, ee, z, cut * h, spec)
    for j, k, c in own:
        el = ee - z[j]
        s = _shape(k, el, spec.zlp_fwhm)
        thr = _THRESHOLD[k[0]]
        if thr is not None:
            s = np.where(el > thr, s, 0.0)
        out[j] += c * s.reshape(spec.channels, _SUB.size).mean(1)
    return out


def _correct_cuts(out, keys, coef, ee, z, z_cut, spec) -> None:
    """Where a spectrum's own threshold cuts a sub-sample otherwise than the shared cut did,
    add (or take away) the exact value of its shapes there."""
    for thr in {_THRESHOLD[k[0]] for k in keys} - {None}:
        # the basis counted sub-samples ee > thr + z_cut; spectrum j counts ee > thr + z[j]
        lo = np.searchsorted(ee, thr + np.minimum(z, z_cut), side="right")
        hi = np.searchsorted(ee, thr + np.maximum(z, z_cut), side="right")
        count = hi - lo
        if not count.any():
            continue
        j = np.repeat(np.arange(z.size), count)
        i = np.concatenate([np.arange(a, b) for a, b in zip(lo, hi) if b > a])
        el = ee[i] - z[j]
        v = np.zeros(j.size)
        for c, k in enumerate(keys):
            if _THRESHOLD[k[0]] == thr:
                v += coef[j, c] * _shape(k, el, spec.zlp_fwhm)
        sign = np.where(z[j] > z_cut, -1.0, 1.0)  # a later start takes sub-samples away
        np.add.at(out, (j, i // _SUB.size), sign * v / _SUB.size)


#: spectra per chunk of the chunked counting noise (fixed: the draws do not depend on the
#: number of threads)
NOISE_CHUNK = 16
_POOLS: dict = {}


def counting_noise(
    expected_e: np.ndarray, spec: Spectrometer, rng: np.random.Generator, threads: int = 0
) -> np.ndarray:
    """Counts of spectra with ``expected_e`` electrons per channel (``(n, channels)``):
    Poisson counting noise times the gain, plus the normal read noise.

    ``threads=0``: one Poisson and one normal draw from ``rng`` for all spectra. ``threads
    >= 1``: one integer drawn from ``rng`` seeds a :class:`numpy.random.SeedSequence` whose
    children seed a generator per chunk of :data:`NOISE_CHUNK` spectra, the chunks drawn on
    ``threads`` threads (numpy draws without the GIL): the counts depend on ``rng`` only,
    the same for any ``threads >= 1`` (test), and differ from ``threads=0``'s draws."""
    if threads <= 0:
        counts = rng.poisson(expected_e).astype(float)
        if spec.gain != 1.0:
            counts *= spec.gain
        if spec.read_noise:
            counts += rng.normal(0.0, spec.read_noise, expected_e.shape)
        return counts
    n = expected_e.shape[0]
    starts = range(0, n, NOISE_CHUNK)
    seeds = np.random.SeedSequence(int(rng.integers(2**63))).spawn(len(starts))
    counts = np.empty(expected_e.shape)

    def chunk(k: int) -> None:
        g = np.random.Generator(np.random.PCG64(seeds[k]))
        rows = slice(starts[k], starts[k] + NOISE_CHUNK)
        c = counts[rows]
        c[...] = g.poisson(expected_e[rows])
        if spec.gain != 1.0:
            c *= spec.gain
        if spec.read_noise:
            c += g.normal(0.0, spec.read_noise, c.shape)

    if threads == 1 or len(starts) == 1:
        for k in range(len(starts)):
            chunk(k)
    else:
        pool = _POOLS.get(threads)
        if pool is None:
            from concurrent.futures import ThreadPoolExecutor

            pool = _POOLS[threads] = ThreadPoolExecutor(threads, "stem-noise")
        list(pool.map(chunk, range(len(starts))))
    return counts


def acquire_many(
    locals_: list[LocalSpectrum] | LocalSpectra,
    spec: Spectrometer,
    current_pa: float,
    zlp_energies: np.ndarray,
    rng: np.random.Generator | None,
    efficiency: float = 0.9,
    noise_threads: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`acquire` of many spectra: ``(counts, expected)``, each ``(n, channels)``.

    The expected counts are :func:`acquire`'s (:func:`fraction_many`); the noise is
    :func:`counting_noise` (``noise_threads``), for all of them at once (``rng=None``: no
    noise).
    """
    n_e = current_pa * 1e-12 * spec.exposure / _E
    expected_e = fraction_many(locals_, spec, zlp_energies)
    expected_e *= n_e * efficiency * spec.dispersion
    expected = expected_e * spec.gain
    if rng is None:
        return expected, expected
    return counting_noise(expected_e, spec, rng, noise_threads), expected
