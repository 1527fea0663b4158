"""TwinSTEM: the STEM twin's façade (probe, scan, detectors, EELS, dose and damage).

Units at the interface are a microscopist's: positions and field of view in nm, dwell in µs,
beam current in pA, beam energy in kV, convergence in mrad, aberrations in Å; inside, Å.
Images are detected electrons per pixel (float); spectra are counts per channel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import scipy.fft

from autoscope.devices.twin.clock import InstrumentClock
from autoscope.devices.twin.stem import damage as dmg
from autoscope.devices.twin.stem.eels import Spectrometer, acquire, acquire_many
from autoscope.devices.twin.stem.imaging import DETECTORS, Grid, Renderer, grid_for, splat
from autoscope.devices.twin.stem.probe import Aberrations, Probe
from autoscope.devices.twin.stem.samples import make_sample
from autoscope.devices.twin.stem.samples.base import STEMSample
from autoscope.devices.twin.stem.scan import ScanErrors, ScanModel
from autoscope.devices.twin.stem.truth import DamageEvent, STEMTruth
from autoscope.errors import ConfigurationError

_E = 1.602176634e-19
#: detector efficiency (detected / incident electrons) by detector
EFFICIENCY = {"haadf": 0.9, "adf": 0.9, "bf": 0.95}


@dataclass(frozen=True)
class STEMFrame:
    """A raster: centre (nm), field of view (nm), pixels per side, dwell (µs), rotation
    (deg, counter-clockwise), flyback settling time before each line (µs).

    Pixel ``j`` of line ``i`` is asked for at ``centre + R(rotation) · ((j + 0.5) / pixels
    - 0.5, (i + 0.5) / pixels - 0.5) · fov``; lines go from the bottom up.
    """

    center_nm: tuple[float, float] = (0.0, 0.0)
    fov_nm: float = 5.0
    pixels: int = 256
    dwell_us: float = 4.0
    rotation: float = 0.0
    flyback_us: float = 50.0

    def __post_init__(self) -> None:
        if not (self.fov_nm > 0 and math.isfinite(self.fov_nm)):
            raise ConfigurationError(f"field of view {self.fov_nm!r} nm must be positive")
        if isinstance(self.pixels, bool) or not isinstance(self.pixels, int) or self.pixels < 2:
            raise ConfigurationError(f"pixels {self.pixels!r} must be an integer >= 2")
        if not (self.dwell_us > 0 and math.isfinite(self.dwell_us)):
            raise ConfigurationError(f"dwell {self.dwell_us!r} µs must be positive")
        if not self.flyback_us >= 0:
            raise ConfigurationError(f"flyback {self.flyback_us!r} µs must be >= 0")

    @property
    def pixel_size(self) -> float:
        """Pixel size, Å."""
        return self.fov_nm * 10.0 / self.pixels

    def commanded(self, line: int) -> tuple[np.ndarray, np.ndarray]:
        """Asked-for positions (Å) of the pixels of ``line``."""
        u = ((np.arange(self.pixels) + 0.5) / self.pixels - 0.5) * self.fov_nm * 10.0
        v = ((line + 0.5) / self.pixels - 0.5) * self.fov_nm * 10.0
        a = math.radians(self.rotation)
        cx, cy = self.center_nm[0] * 10.0, self.center_nm[1] * 10.0
        return cx + u * math.cos(a) - v * math.sin(a), cy + u * math.sin(a) + v * math.cos(a)

    def commanded_lines(self, lines: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Asked-for positions (Å) of several lines, shape ``(lines, pixels)``; row ``k`` is
        :meth:`commanded` of ``lines[k]``, to the last bit."""
        u = ((np.arange(self.pixels) + 0.5) / self.pixels - 0.5) * self.fov_nm * 10.0
        v = ((np.asarray(lines, float)[:, None] + 0.5) / self.pixels - 0.5) * self.fov_nm * 10.0
        a = math.radians(self.rotation)
        cx, cy = self.center_nm[0] * 10.0, self.center_nm[1] * 10.0
        return cx + u * math.cos(a) - v * math.sin(a), cy + u * math.sin(a) + v * math.cos(a)


@dataclass
class STEMLine:
    """One scanned line: detected electrons per detector, commanded positions (nm), times."""

    index: int
    signals: dict[str, np.ndarray]
    x_nm: np.ndarray
    y_nm: np.ndarray
    t_start: float
    t_end: float
    extra: dict = field(default_factory=dict)


class TwinSTEM:
    """A simulated STEM.

    Parameters
    ----------
    sample : str or STEMSample
        ``"graphene"`` (:func:`make_sample`), or a sample object.
    seed : int
        Seeds the sample (when named) and every random draw of the twin.
    kv, convergence_mrad : float
        Beam energy (kV; default: the sample's, 60 for graphene, 300 for nanoparticles) and
        probe convergence semi-angle (mrad).
    aberrations : Aberrations, optional
        Residual aberrations (Å); default: none (an ideal corrected probe).
    current_pa : float
        Beam current, pA.
    scan_errors : ScanErrors
        Drift, creep, flyback and jitter.
    clock : object with ``now()`` and ``advance(dt)``
        Instrument clock (default :class:`InstrumentClock`, never sleeping).
    dose_cell : float
        Cell (Å) of the accumulated-dose map.
    damage : bool
        Draw damage events.
    temperature : float
        Sample temperature (K) for the thermal smearing of knock-on.
    contamination : tuple (c_max, d_c)
        Contamination thickness grows as ``c_max (1 - exp(-D / d_c))`` C atoms/Å² with the
        local dose ``D`` (e/Å²).
    damage_block : int
        Lines scanned between two damage draws (damage shows from the next block on).
    noise_threads : int
        Counting noise of spectrum-image lines (:func:`~autoscope.devices.twin.stem.eels.
        counting_noise`): 0, one draw from the twin's generator; ``n >= 1``, fixed chunks
        with generators seeded from it, on ``n`` threads (the same counts for any ``n``).
    """

    def __init__(
        self,
        sample: str | STEMSample = "graphene",
        seed: int = 0,
        kv: float | None = None,
        convergence_mrad: float = 30.0,
        aberrations: Aberrations | None = None,
        current_pa: float = 30.0,
        scan_errors: ScanErrors | None = None,
        clock=None,
        dose_cell: float = 0.5,
        damage: bool = True,
        temperature: float = 300.0,
        contamination: tuple[float, float] = (1.0, 5e7),
        damage_block: int = 16,
        noise_threads: int = 0,
    ) -> None:
        self.seed = int(seed)
        self.sample = make_sample(sample, seed=self.seed) if isinstance(sample, str) else sample
        kv = self.sample.kv if kv is None else kv
        self.probe = Probe(kv, convergence_mrad, aberrations or Aberrations())
        self.current_pa = _positive("beam current (pA)", current_pa)
        self.scan = ScanModel(scan_errors or ScanErrors(), self.seed)
        self.clock = clock if clock is not None else InstrumentClock()
        self.rng = np.random.default_rng((self.seed, 5))
        self.damage = bool(damage)
        self.temperature = _positive("temperature (K)", temperature)
        self.c_max, self.d_c = (float(v) for v in contamination)
        if isinstance(damage_block, bool) or not isinstance(damage_block, int) or damage_block < 1:
            raise ConfigurationError(f"damage_block {damage_block!r} must be an integer >= 1")
        self.damage_block = damage_block
        if (
            isinstance(noise_threads, bool)
            or not isinstance(noise_threads, int)
            or not 0 <= noise_threads <= 64
        ):
            raise ConfigurationError(f"noise_threads {noise_threads!r} must be an integer 0..64")
        self.noise_threads = noise_threads
        cell = _positive("dose cell (Å)", dose_cell)
        m = 20.0
        w, h = self.sample.width + 2 * m, self.sample.height + 2 * m
        n = int(math.ceil(max(w, h) / cell))
        self.dose_grid = Grid(-max(w, h) / 2, -max(w, h) / 2, cell, n)
        self.dose = np.zeros((n, n))  # e/Å²
        self._pending = 0
        self._hit_list: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._renderer = Renderer()
        self._render_key = None
        self._render = None
        self._grids: dict = {}
        self._version = 0
        self._contam_rendered = None
        self._dose_rendered = None
        self._contam_change = 0.0
        self._dose_fts: dict = {}
        self._xs_key = None
        self._xs = None
        self._thresholds = None
        self._working_point = (0.0, 0.0)
        self.truth = STEMTruth(initial_atoms=self.sample.atoms.copy())

    # -- probe -----------------------------------------------------------------------
    def set_aberrations(self, **coefficients: float) -> None:
        """Change aberration coefficients (Å) or azimuths (rad), e.g. ``C10=-50``."""
        self.probe = self.probe.with_aberrations(**coefficients)

    def set_beam(
        self,
        kv: float | None = None,
        convergence_mrad: float | None = None,
        current_pa: float | None = None,
    ) -> None:
        """Change beam energy (kV), convergence (mrad) or current (pA)."""
        self.probe = Probe(
            kv if kv is not None else self.probe.kv,
            convergence_mrad if convergence_mrad is not None else self.probe.convergence_mrad,
            self.probe.aberrations,
        )
        if current_pa is not None:
            self.current_pa = _positive("beam current (pA)", current_pa)

    @property
    def electrons_per_second(self) -> float:
        return self.current_pa * 1e-12 / _E

    # -- contamination -------------------------------------------------------------------
    def contamination(self) -> np.ndarray:
        """Contamination (C atoms/Å²) on the dose grid."""
        return self.c_max * (1.0 - np.exp(-self.dose / self.d_c))

    # -- imaging -----------------------------------------------------------------------
    def _maps(self, frame: STEMFrame, detectors: tuple[str, ...]) -> tuple[Grid, dict]:
        """Detector maps on a render grid covering ``frame``; rendered again only when the
        grid, probe or detectors change, an atom moved, or the contamination changed by more
        than 1e-3 atoms/Å² anywhere since the last render."""
        grid = self._grids.get(frame)
        if grid is None:  # the frame's corners, once per frame (frames are frozen)
            xs, ys = [], []
            for line in (0, frame.pixels - 1):
                x, y = frame.commanded(line)
                xs += [x[0], x[-1]]
                ys += [y[0], y[-1]]
            margin = 15.0 + 4 * frame.pixel_size
            grid = grid_for(
                min(xs) - margin,
                max(xs) + margin,
                min(ys) - margin,
                max(ys) + margin,
                frame.pixel_size,
            )
            if len(self._grids) > 64:
                self._grids.clear()
            self._grids[frame] = grid
        key = (grid, self.probe, detectors, self._version)
        if key != self._render_key or self._contam_change > 1e-3:
            contam = self.contamination()
            extra = None
            if contam.any():
                extra = self.dose_grid.sample_axes_sparse(contam, *grid.coords())
            self._render = self._renderer.render(
                self.sample, self.sample.atoms, self.probe, grid, detectors, extra
            )
            self._render_key = key
            self._contam_rendered = contam
            self._dose_rendered = self.dose.copy()
            self._contam_change = 0.0
        return grid, self._render

    def scan_line(
        self, frame: STEMFrame, index: int, detectors: tuple[str, ...] = ("haadf",)
    ) -> STEMLine:
        """Scan line ``index`` of ``frame``: flyback settling, then ``pixels`` dwells."""
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < frame.pixels:
            raise ConfigurationError(f"line index {index!r} is outside 0..{frame.pixels - 1}")
        detectors = _detectors(detectors)
        signals, cx, cy, t0, t1 = self._scan_block(frame, index, index + 1, detectors)
        return STEMLine(
            index, {d: v[0] for d, v in signals.items()}, cx[0] / 10.0, cy[0] / 10.0, t0, t1
        )

    def scan_frame(self, frame: STEMFrame, detectors: tuple[str, ...] = ("haadf",)):
        """Scan every line of ``frame``; returns ``{detector: (pixels, pixels) image}``
        (rows = lines, bottom first).

        The same electrons, draws and damage as :meth:`scan_line` called for each line, done
        a damage block of lines at a time (one map lookup and one Poisson draw per block)."""
        detectors = _detectors(detectors)
        out = {d: np.empty((frame.pixels, frame.pixels)) for d in detectors}
        i = 0
        while i < frame.pixels:
            n = min(max(self.damage_block - self._pending, 1), frame.pixels - i)
            signals, *_ = self._scan_block(frame, i, i + n, detectors)
            for d in detectors:
                out[d][i : i + n] = signals[d]
            i += n
        return out

    def _scan_block(self, frame: STEMFrame, i0: int, i1: int, detectors: tuple[str, ...]):
        """Lines ``i0 .. i1 - 1``: ``(signals (lines, pixels) per detector, commanded x, y (Å),
        start of the first line, end of the last)``. Flushes the dose after the block when a
        damage block is complete or the frame ends."""
        self._note_centre(frame.center_nm)
        grid, maps = self._maps(frame, detectors)
        n_lines, n_pix = i1 - i0, frame.pixels
        dwell = frame.dwell_us * 1e-6
        t_start = self.clock.now()
        t0 = np.empty(n_lines)
        for k in range(n_lines):
            t0[k] = self.clock.now()
            self.clock.advance(frame.flyback_us * 1e-6 + n_pix * dwell)
        since = frame.flyback_us * 1e-6 + (np.arange(n_pix) + 0.5) * dwell
        t = t0[:, None] + since
        cx, cy = frame.commanded_lines(np.arange(i0, i1))
        dx, dy = self.scan.offsets_lines(t, t0, since)
        x, y = cx + dx, cy + dy
        n_e = self.electrons_per_second * dwell
        lam = np.empty((n_lines, len(detectors), n_pix))
        for j, d in enumerate(detectors):
            lam[:, j] = n_e * EFFICIENCY[d] * grid.sample(maps[d], x, y)
        counts = self.rng.poisson(lam).astype(float)
        signals = {d: counts[:, j] for j, d in enumerate(detectors)}
        self._hit_list.append((x.ravel(), y.ravel(), np.full(x.size, n_e)))
        mx, my = dx.mean(1), dy.mean(1)
        for k in range(n_lines):
            self.truth.electrons += n_e * n_pix
            self.truth.line_offsets.append((float(t0[k]), float(mx[k]), float(my[k])))
        self._pending += n_lines
        if self._pending >= self.damage_block or i1 == frame.pixels:
            self.flush_dose()
        return signals, cx, cy, t_start, self.clock.now()

    # -- parked beam and EELS ----------------------------------------------------------
    def _park(self, x_nm: float, y_nm: float, seconds: float) -> tuple[float, float]:
        self._note_centre((x_nm, y_nm))
        t = self.clock.now() + seconds / 2
        dx, dy = self.scan.offsets(np.array([t]), None)
        x, y = x_nm * 10.0 + float(dx[0]), y_nm * 10.0 + float(dy[0])
        n_e = self.electrons_per_second * seconds
        self._hit_list.append((np.array([x]), np.array([y]), np.array([n_e])))
        self.truth.electrons += n_e
        self.clock.advance(seconds)
        self.flush_dose()
        return x, y

    def park(self, x_nm: float, y_nm: float, seconds: float) -> None:
        """Hold the beam at ``(x_nm, y_nm)`` for ``seconds`` (dose, damage, hops)."""
        self._park(x_nm, y_nm, _positive("park time (s)", seconds))

    def eels_at(self, x_nm: float, y_nm: float, spectrometer: Spectrometer | None = None):
        """One EELS spectrum with the beam at ``(x_nm, y_nm)``: ``(energy_axis_eV, counts)``."""
        spec = spectrometer or Spectrometer()
        t = self.clock.now()
        local = self.sample.local_spectrum(
            *self._true_xy(x_nm, y_nm, t + spec.exposure / 2), kv=self.probe.kv
        )
        zlp = spec.energy_drift * t + 0.03 * math.sin(2 * math.pi * t / 60.0)
        counts, _ = acquire(local, spec, self.current_pa, zlp, self.rng)
        self._park(x_nm, y_nm, spec.exposure)
        self.clock.advance(1e-3)  # read-out
        return spec.axis(), counts

    def eels_line(self, x_nm, y_nm, spectrometer: Spectrometer | None = None) -> np.ndarray:
        """Spectra with the beam at ``(x_nm[j], y_nm[j])`` in turn (a spectrum-image line):
        counts, ``(positions, channels)``.

        The same as :meth:`eels_at` called for each position in turn (times, zero-loss
        energies, true positions with drift and the creep of every probe move, electrons
        and dose), with the expected counts from :func:`~autoscope.devices.twin.stem.eels.
        acquire_many` (equal to :func:`acquire`'s to ``~1e-7``), the counting noise drawn
        once for the line, and the line's dose spread and its damage drawn once at its end
        (so damage shows from the next line on, as in a raster's damage block)."""
        spec = spectrometer or Spectrometer()
        x_nm = np.asarray(x_nm, float).ravel()
        y_nm = np.asarray(y_nm, float).ravel()
        n = x_nm.size
        t = np.empty(n)
        before = np.empty(n, int)
        after = np.empty(n, int)
        for j in range(n):  # the clock and the probe moves as eels_at leaves them
            t[j] = self.clock.now()
            before[j] = len(self.scan.moves)
            self._note_centre((x_nm[j], y_nm[j]))
            after[j] = len(self.scan.moves)
            self.clock.advance(spec.exposure)
            self.clock.advance(1e-3)  # read-out
        tc = t + spec.exposure / 2
        dx, dy = self.scan.drift(tc)
        bx, by = self.scan.creep_before(tc, before)  # where the spectrum is taken
        ax, ay = self.scan.creep_before(tc, after)  # where the dose lands (eels_at's _park)
        # a sample that computes its spectra by column hands over the table
        spectra = getattr(self.sample, "local_spectra_table", self.sample.local_spectra)
        local = spectra(x_nm * 10.0 + dx + bx, y_nm * 10.0 + dy + by, self.probe.kv)
        zlp = spec.energy_drift * t + 0.03 * np.sin(2 * np.pi * t / 60.0)
        counts, _ = acquire_many(
            local, spec, self.current_pa, zlp, self.rng, noise_threads=self.noise_threads
        )
        n_e = self.electrons_per_second * spec.exposure
        self._hit_list.append((x_nm * 10.0 + dx + ax, y_nm * 10.0 + dy + ay, np.full(n, n_e)))
        for _ in range(n):
            self.truth.electrons += n_e
        self.flush_dose()
        return counts

    def _true_xy(self, x_nm: float, y_nm: float, t: float) -> tuple[float, float]:
        dx, dy = self.scan.offsets(np.array([t]), None)
        return x_nm * 10.0 + float(dx[0]), y_nm * 10.0 + float(dy[0])

    def _note_centre(self, c: tuple[float, float]) -> None:
        c = (float(c[0]) * 10.0, float(c[1]) * 10.0)
        if c != self._working_point:
            self.scan.move(
                self.clock.now(), c[0] - self._working_point[0], c[1] - self._working_point[1]
            )
            self._working_point = c

    # -- dose and damage ---------------------------------------------------------------
    def dose_map(self) -> tuple[Grid, np.ndarray]:
        """The accumulated dose (e/Å², probe tails included) on its grid."""
        self.flush_dose()
        return self.dose_grid, self.dose.copy()

    def flush_dose(self) -> None:
        """Spread pending beam electrons by the probe, add to the dose, draw damage.

        The spread is an FFT convolution on the part of the dose grid (each side a fast FFT
        length 2^a 3^b 5^c >= 64 cells, or the whole side) that holds the pending beam
        positions plus a 16 Å margin: the dose path's probe lives in a 12.8 Å box
        (:meth:`Probe.ft_intensity` defaults), so nothing of it reaches beyond the margin."""
        self._pending = 0
        if not self._hit_list:
            return
        x, y, w = (np.concatenate(v) for v in zip(*self._hit_list, strict=True))
        self._hit_list.clear()
        g = self.dose_grid
        c = (x - g.x0) / g.sampling
        r = (y - g.y0) / g.sampling
        if not (c.min() > -1 and c.max() < g.n and r.min() > -1 and r.max() < g.n):
            on = (c > -1) & (c < g.n) & (r > -1) & (r < g.n)
            if not on.any():
                return
            x, y, w, c, r = x[on], y[on], w[on], c[on], r[on]
        m = int(math.ceil(16.0 / g.sampling))
        c0, nx = _span(c, m, g.n)
        r0, ny = _span(r, m, g.n)
        sub = Grid(g.x0 + c0 * g.sampling, g.y0 + r0 * g.sampling, g.sampling, nx, ny)
        hits = splat(sub, x, y, w)
        total = hits.sum()
        if total <= 0:
            return
        # float32 transforms: the dose is kept in float64, each increment good to ~1e-7
        inc = scipy.fft.irfft2(
            scipy.fft.rfft2(hits.astype(np.float32)) * self._dose_ft(ny, nx), s=hits.shape
        )
        np.maximum(inc, 0.0, out=inc)
        # the band-limited spread rings slightly below zero; after clipping, rescale so that
        # every electron is counted once (the sum in float64)
        inc = inc.astype(float)
        inc *= total / max(inc.sum(), 1e-300) / g.sampling**2
        box = (slice(r0, r0 + ny), slice(c0, c0 + nx))
        self.dose[box] += inc
        # the contamination c(D) is concave with slope <= c_max / d_c, so its change since the
        # render is at most c_max / d_c times the dose added since: computed exactly only when
        # that bound passes the threshold (the same decision, without an exp per cell)
        if (
            self._contam_rendered is not None
            and self.c_max / self.d_c * float(np.max(self.dose[box] - self._dose_rendered[box]))
            > 1e-3
        ):
            contam = self.c_max * (1.0 - np.exp(-self.dose[box] / self.d_c))
            change = float(np.max(np.abs(contam - self._contam_rendered[box])))
            self._contam_change = max(self._contam_change, change)
        if self.damage:
            self._draw_damage(sub, inc)

    def _dose_ft(self, ny: int, nx: int) -> np.ndarray:
        """The probe's transform on a ``ny x nx`` part of the dose grid (rfft layout)."""
        key = (self.probe, ny, nx)
        if key not in self._dose_fts:
            if len(self._dose_fts) > 8:
                self._dose_fts.clear()
            h = self.dose_grid.sampling
            ft = self.probe.ft_intensity(np.fft.rfftfreq(nx, h), np.fft.fftfreq(ny, h), real=True)
            self._dose_fts[key] = ft.astype(np.float32)
        return self._dose_fts[key]

    def cross_sections(self) -> dict[str, np.ndarray]:
        """Per-column cross sections (barn) at the present beam: knock-on, radiolysis, hop."""
        key = (self._version, self.probe.kv, self.temperature)
        if self._xs_key != key:
            self._xs = self._cross_sections()
            self._xs_key = key
        return self._xs

    def _cross_sections(self) -> dict[str, np.ndarray]:
        a = self.sample.atoms
        if self._thresholds is None or self._thresholds[0] != self._version:
            self._thresholds = (self._version, self.sample.displacement_threshold())
        thr = self._thresholds[1]
        ko = np.zeros(len(a))
        for z, ed in set(zip(a.Z.tolist(), thr.tolist(), strict=True)):
            s = dmg.knock_on_barn(self.probe.kv, z, ed, self.temperature)
            ko[(a.Z == z) & (thr == ed)] = s
        rad = np.zeros(len(a))
        for z, s200 in self.sample.radiolysis_barn.items():
            rad[a.Z == z] = dmg.radiolysis_barn(self.probe.kv, s200)
        hop = np.zeros(len(a))
        for z, s in self.sample.dopant_hop_barn.items():
            hop[a.Z == z] = s
        return {"knock_on": ko, "radiolysis": rad, "hop": hop}

    def _draw_damage(self, grid: Grid, inc: np.ndarray) -> None:
        """Damage from the dose increment ``inc`` (e/Å²) on ``grid`` (part of the dose grid)."""
        a = self.sample.atoms
        x1 = grid.x0 + (grid.n - 1) * grid.sampling
        y1 = grid.y0 + (grid.rows - 1) * grid.sampling
        m = (a.x >= grid.x0) & (a.x <= x1) & (a.y >= grid.y0) & (a.y <= y1)
        d = np.zeros(len(a))
        d[m] = grid.sample(inc, a.x[m], a.y[m])
        xs = self.cross_sections()
        t = self.clock.now()
        # one draw of 3 x atoms: the same numbers, in the same order, as one draw per kind;
        # the probabilities only where the dose landed (elsewhere 0: never hit)
        u = self.rng.random((len(xs), len(a)))
        dm = np.flatnonzero(d > 0)
        hit = {}
        for row, (k, v) in zip(u, xs.items(), strict=True):
            p = -np.expm1(-v[dm] * dmg.BARN * d[dm] * a.n[dm])
            hit[k] = dm[row[dm] < p]
        if not any(h.size for h in hit.values()):
            return
        for k in hit["hop"]:
            nb = [j for j in a.near(a.x[k], a.y[k], 1.8) if a.Z[j] != a.Z[k]]
            if not nb:
                continue
            j = int(self.rng.choice(nb))
            self.truth.events.append(
                DamageEvent(t, "hop", int(a.id[k]), int(a.Z[k]), a.x[k], a.y[k], a.x[j], a.y[j])
            )
            a.Z[[k, j]] = a.Z[[j, k]]
            a.id[[k, j]] = a.id[[j, k]]
        for k in hit["radiolysis"]:
            ang = self.rng.uniform(0, 2 * np.pi)
            x1, y1 = a.x[k] + 1.5 * np.cos(ang), a.y[k] + 1.5 * np.sin(ang)
            self.truth.events.append(
                DamageEvent(t, "displace", int(a.id[k]), int(a.Z[k]), a.x[k], a.y[k], x1, y1)
            )
            a.x[k], a.y[k] = x1, y1
        gone = np.zeros(len(a), bool)
        for k in hit["knock_on"]:
            self.truth.events.append(
                DamageEvent(
                    t, "sputter", int(a.id[k]), int(a.Z[k]), a.x[k], a.y[k], math.nan, math.nan
                )
            )
            a.n[k] -= 1
            gone[k] = a.n[k] <= 0
        if gone.any():
            a.keep(~gone)
        self._version += 1


def _span(c: np.ndarray, margin: int, n: int) -> tuple[int, int]:
    """First cell and size (a fast FFT length ``2^a 3^b 5^c >= 64``, or ``n``) of a window of
    ``0..n-1`` holding cells ``c`` with ``margin`` on each side."""
    lo, hi = float(c.min()), float(c.max())
    size = _good_size(max(64, int(math.ceil(hi - lo)) + 2 * margin + 2))
    if size >= n:
        return 0, n
    return min(max(int(math.floor(lo)) - margin, 0), n - size), size


def _good_size(n: int) -> int:
    """The smallest ``2^a 3^b 5^c >= n`` (a fast FFT length)."""
    best = 2 ** math.ceil(math.log2(n))
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            p = p35
            while p < n:
                p *= 2
            best = min(best, p)
            p35 *= 3
        p5 *= 5
    return best


def _detectors(detectors) -> tuple[str, ...]:
    detectors = tuple(detectors)
    for d in detectors:
        if d not in DETECTORS:
            raise ConfigurationError(f"unknown detector {d!r} (known: {sorted(DETECTORS)})")
    return detectors


def _positive(name: str, v) -> float:
    v = float(v)
    if not (v > 0 and math.isfinite(v)):
        raise ConfigurationError(f"{name} {v!r} must be positive")
    return v
