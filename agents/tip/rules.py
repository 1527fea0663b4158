"""Rules that judge the tip on any surface, from the frame's own lines.

The CNN of :mod:`.model` knows the twin's surfaces; these rules know none. Each
compares a statistic of the newest scan line (or window) with the same
statistic over the frame's earlier lines, so that what counts as "sudden" or
"noisy" is set by the frame itself, not by a training set:

``line_jump``
    the robust offset between consecutive lines (median of their difference)
    against the offsets of earlier line pairs and the noise a median of ``P``
    pixels carries: a tip change or a streak shifts a whole line.
``trace_retrace``
    the robust spread of trace minus retrace (after their mean offset) against
    the frame's earlier lines: an unstable tip images the two directions
    differently. Silent when the file has no retrace (trace given twice).
``line_step``
    a step *within* a line that the next line undoes: a tip that changes at
    pixel ``j`` of line ``i`` shifts the rest of that line and all of the
    next, so the line-to-line difference steps up at ``j`` in one line and
    down at ``j`` in the next. The rule takes the second difference across
    lines (``m[i+1] - 2 m[i] + m[i-1]``) and the largest difference of its
    medians before and after a split (both sides at least a quarter line), in
    units of their noise; it fires one line after the change. A step edge or
    an adsorbate of the surface is in consecutive lines at nearly the same
    place and cancels, except at its top and bottom edge.
``noise_change``
    the pixel noise (from second differences of the line-to-line difference)
    against its median over earlier lines, and the number of sharp jumps of
    that difference (more than 8 noise units from one pixel to the next)
    against the earlier lines' count plus one: telegraph noise, a tip that
    starts to pick up or shed material.
``doubled``
    a new secondary peak in the 2-D autocorrelation of the fine detail of the
    last ``doubled_lines`` lines, one that none of the frame's earlier windows
    had at that lag (outside the central lobe): a second apex that starts to
    image ghost copies. A lattice's own peaks are in every window and cancel.

Each rule's *score* is its statistic divided by its firing level (a floor, and
a multiple of the statistic's median over the frame's earlier lines), so a
rule fires when its score exceeds 1, and the combination is the largest score.
Every rule needs ``warmup`` earlier lines of the frame (after a reset: a new
frame, or a recovery) before it can fire.

What they cannot see: a tip that is bad from the first line of the frame (a
blunt or multiple tip that does not change) looks like any other surface to a
rule that compares the frame with itself; that is the CNN's part, on surfaces
it knows. A step edge that runs exactly along the fast scan axis shifts a
whole line, as a tip change does, and ``line_jump`` fires on it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter, label

from autoscope.errors import ConfigurationError

RULES: tuple[str, ...] = ("line_jump", "trace_retrace", "line_step", "noise_change", "doubled")
"""The rules in the order of :attr:`RuleVerdict.scores`."""

RULE_STATE: dict[str, str] = {
    "line_jump": "tip_change",
    "trace_retrace": "unstable",
    "line_step": "tip_change",
    "noise_change": "unstable",
    "doubled": "multi_apex",
}
"""The tip class each rule's alarm stands for (what the recovery is told)."""

_MAD = 1.482602218505602


def _mad(x: np.ndarray) -> float:
    return _MAD * float(np.median(np.abs(x - np.median(x))))


@dataclass(frozen=True)
class RuleConfig:
    """Firing levels and history lengths of the rules.

    Attributes
    ----------
    history : int
        Earlier lines each statistic is compared with (the frame's own record).
    warmup : int
        Earlier lines a rule needs before it may fire.
    jump : float
        ``line_jump`` fires when the offset departs from the earlier offsets'
        median by more than this many robust spreads (or pixel-noise floors).
    disagreement : float
        ``trace_retrace`` fires when the spread of trace minus retrace exceeds
        this multiple of its median over earlier lines.
    step : float
        ``line_step`` fires above this many noise units (and above ``relative``
        times its median over earlier lines).
    noise : float
        ``noise_change`` fires when a noise level exceeds this multiple of its
        median over earlier lines.
    doubled : float
        ``doubled`` fires when a secondary autocorrelation peak exceeds every
        earlier window's value at that lag by this much (the autocorrelation
        is 1 at zero lag).
    doubled_lines : int
        Lines of the window whose autocorrelation ``doubled`` takes.
    doubled_every : int
        ``doubled`` looks every this many lines (it costs a 2-D FFT).
    relative : float
        Multiple of a statistic's median over earlier lines that ``line_jump``
        and ``line_step`` must also exceed (surfaces whose lines differ a lot).
    """

    history: int = 32
    warmup: int = 16
    jump: float = 12.0
    disagreement: float = 4.0
    step: float = 10.0
    noise: float = 4.0
    doubled: float = 0.6
    doubled_lines: int = 32
    doubled_every: int = 4
    relative: float = 3.0

    def __post_init__(self) -> None:
        for name in ("history", "warmup", "doubled_lines", "doubled_every"):
            v = getattr(self, name)
            if not isinstance(v, int | np.integer) or v < 1:
                raise ConfigurationError(f"rule setting {name} must be an integer >= 1; got {v!r}")
        if self.warmup > self.history:
            raise ConfigurationError(f"warmup {self.warmup} must not exceed history {self.history}")
        if self.doubled_lines < 8:
            raise ConfigurationError(f"doubled_lines must be >= 8; got {self.doubled_lines}")
        for name in ("jump", "disagreement", "step", "noise", "doubled", "relative"):
            v = getattr(self, name)
            if not (isinstance(v, int | float) and np.isfinite(v) and v > 0):
                raise ConfigurationError(f"rule level {name} must be a number > 0; got {v!r}")


@dataclass
class RuleVerdict:
    """What the rules say after one line.

    Attributes
    ----------
    line : int
        Index of the line just added.
    scores : dict
        ``{rule: score}``; a rule fires above 1 (0 before its warm-up).
    fired : tuple of str
        Rules whose score exceeds 1, in :data:`RULES` order.
    """

    line: int
    scores: dict[str, float]
    fired: tuple[str, ...] = ()

    @property
    def score(self) -> float:
        """The combination: the largest score."""
        return max(self.scores.values())

    @property
    def state(self) -> str | None:
        """The tip class of the highest-scoring rule that fired (None if none fired)."""
        if not self.fired:
            return None
        return RULE_STATE[max(self.fired, key=self.scores.get)]


def _split_step(e: np.ndarray, w: int) -> tuple[float, int]:
    """Largest ``|median(e[j:]) - median(e[:j])|`` over splits ``j`` (both sides >= ``w``).

    Returns the difference in units of the two medians' noise for unit pixel
    noise (``1.2533 sqrt(1/j + 1/(P-j))``), and the split.
    """
    p = e.size
    best, at = 0.0, 0
    for j in range(w, p - w + 1, max(1, w // 4)):
        d = abs(float(np.median(e[j:]) - np.median(e[:j])))
        d /= 1.2533 * np.sqrt(1.0 / j + 1.0 / (p - j))
        if d > best:
            best, at = d, j
    return best, at


def detail(z: np.ndarray) -> np.ndarray:
    """Fine detail of a window: minus its plane, minus a Gaussian blur (1 line, 4 pixels)."""
    n, p = z.shape
    yy, xx = np.mgrid[0:n, 0:p]
    a = np.column_stack([np.ones(z.size), xx.ravel(), yy.ravel()])
    coef, *_ = np.linalg.lstsq(a, z.ravel(), rcond=None)
    z0 = z - (a @ coef).reshape(n, p)
    return z0 - gaussian_filter(z0, (1.0, 4.0), mode="nearest")


def autocorrelation(z: np.ndarray, max_dy: int, max_dx: int) -> np.ndarray:
    """Normalised 2-D autocorrelation of ``z`` for lags ``|dy| <= max_dy``, ``|dx| <= max_dx``.

    Returns an array ``(2 max_dy + 1, 2 max_dx + 1)`` with zero lag in the
    centre, equal to 1 there (0 everywhere for a constant ``z``).
    """
    n, p = z.shape
    f = np.fft.rfft2(z - z.mean(), s=(2 * n, 2 * p))
    acf = np.fft.irfft2(np.abs(f) ** 2, s=(2 * n, 2 * p))
    if acf[0, 0] <= 0:
        return np.zeros((2 * max_dy + 1, 2 * max_dx + 1))
    # each lag's sum divided by the number of products in it (a lattice's peaks keep
    # their height at large lags)
    ky = n - np.abs(np.fft.fftfreq(2 * n, 1 / (2 * n)))
    kx = p - np.abs(np.fft.fftfreq(2 * p, 1 / (2 * p)))
    acf = acf / np.maximum(np.outer(ky, kx), 1.0)
    acf = acf / acf[0, 0]
    rows = np.r_[np.arange(-max_dy, 0) + 2 * n, np.arange(0, max_dy + 1)]
    cols = np.r_[np.arange(-max_dx, 0) + 2 * p, np.arange(0, max_dx + 1)]
    return acf[np.ix_(rows, cols)]


def _central_lobe(acf: np.ndarray, level: float = 0.3) -> np.ndarray:
    """Mask of the connected region around zero lag where the ACF exceeds ``level``, grown by 1."""
    cy, cx = acf.shape[0] // 2, acf.shape[1] // 2
    lab, _ = label(acf > level)
    mask = lab == lab[cy, cx]
    grown = mask.copy()
    grown[1:] |= mask[:-1]
    grown[:-1] |= mask[1:]
    grown[:, 1:] |= mask[:, :-1]
    grown[:, :-1] |= mask[:, 1:]
    return grown


@dataclass
class SurfaceRules:
    """The rules of this module, fed one scan line at a time.

    Parameters
    ----------
    config : RuleConfig
        Firing levels and history lengths.

    Examples
    --------
    >>> rules = SurfaceRules()
    >>> for i, (t, r) in enumerate(zip(trace, retrace)):  # doctest: +SKIP
    ...     v = rules.push(t, r, index=i)
    ...     if v.fired:
    ...         print(i, v.fired)
    """

    config: RuleConfig = field(default_factory=RuleConfig)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget the frame (a new frame, or after a recovery)."""
        h = self.config.history
        self._prev: np.ndarray | None = None
        self._prev_e: np.ndarray | None = None
        keys = ("jump", "dis", "step", "hf", "lf", "ghost", "cmad")
        self._hist = {k: deque(maxlen=h) for k in keys}
        self._lines: deque[np.ndarray] = deque(maxlen=self.config.doubled_lines)
        self._count = 0

    def _rel(self, key: str, value: float, level: float) -> float:
        """``value / (level x median of its history)``; 0 while the history is short or 0."""
        hist = self._hist[key]
        if len(hist) < self.config.warmup:
            return 0.0
        base = float(np.median(hist))
        return value / (level * base) if base > 0 else 0.0

    def push(self, trace: np.ndarray, retrace: np.ndarray, index: int | None = None) -> RuleVerdict:
        """Add one line (trace and retrace, same length); return every rule's score.

        A line of another length than the previous one starts a new frame.

        Raises
        ------
        ConfigurationError
            If trace and retrace differ in length, have fewer than 8 pixels or
            hold non-finite values.
        """
        t = np.asarray(trace, dtype=np.float64).ravel()
        r = np.asarray(retrace, dtype=np.float64).ravel()
        if t.shape != r.shape or t.size < 8:
            raise ConfigurationError(
                f"trace and retrace must be lines of equal length >= 8; got {t.size} and {r.size}"
            )
        if not (np.all(np.isfinite(t)) and np.all(np.isfinite(r))):
            raise ConfigurationError("trace or retrace holds NaN or infinite values")
        if self._prev is not None and self._prev.size != t.size:
            self.reset()
        line = self._count if index is None else int(index)
        self._count += 1
        m = 0.5 * (t + r)
        cfg = self.config
        scores = dict.fromkeys(RULES, 0.0)
        dis = _mad(t - r)
        scores["trace_retrace"] = self._rel("dis", dis, cfg.disagreement)
        if self._prev is not None:
            e = m - self._prev
            p = e.size
            d = float(np.median(e))
            sig = _mad(np.diff(e)) / np.sqrt(2.0)  # pixel noise of the difference
            hf = sig / np.sqrt(2.0)  # pixel noise of one line
            # telegraph switching: sharp jumps of the line-to-line difference (a jump of
            # the tip between two heights), far above the pixel noise
            lf = float(np.sum(np.abs(np.diff(e)) > 8.0 * sig * np.sqrt(2.0)))
            # a tip change at pixel j of line i-1 steps e there one way and the next
            # difference back the other way: their difference (a second difference across
            # lines) steps by twice the change, while a feature of the surface cancels in
            # it except at its top and bottom edges; both sides at least a quarter line
            step = 0.0
            if self._prev_e is not None:
                c = e - self._prev_e
                # its scale: the pixel noise, or the spread that the surface's own structure
                # leaves in the earlier lines' second differences (rows, lattices), if larger
                past = self._hist["cmad"]
                scale = max(sig * np.sqrt(3.0), float(np.median(past)) if past else 0.0, 1e-300)
                step = _split_step(c, max(4, p // 4))[0] / scale
                self._hist["cmad"].append(_mad(c))
            self._prev_e = e
            hist = self._hist["jump"]
            if len(hist) >= cfg.warmup:
                past = np.asarray(hist)
                floor = 1.2533 * sig / np.sqrt(p)
                spread = max(_mad(past), floor, 1e-300)
                scores["line_jump"] = abs(d - float(np.median(past))) / (cfg.jump * spread)
            if len(self._hist["step"]) >= cfg.warmup:
                # an outlier against this statistic's own scatter over the frame's earlier
                # lines (a surface with rows or a lattice scatters it widely), above a floor
                past = np.asarray(self._hist["step"])
                base = float(np.median(past))
                spread = max(_mad(past), 1.0)
                scores["line_step"] = min(
                    step / max(cfg.step, cfg.relative * base), (step - base) / (cfg.step * spread)
                )
            jumps = 0.0
            if len(self._hist["lf"]) >= cfg.warmup:
                jumps = lf / (cfg.noise * (float(np.median(self._hist["lf"])) + 1.0))
            scores["noise_change"] = max(self._rel("hf", hf, cfg.noise), jumps)
            for key, value in (("jump", d), ("step", step), ("hf", hf), ("lf", lf)):
                self._hist[key].append(value)
        self._hist["dis"].append(dis)
        self._prev = m
        self._lines.append(m)
        if len(self._lines) == cfg.doubled_lines and self._count % cfg.doubled_every == 0:
            scores["doubled"] = self._doubled()
        fired = tuple(k for k in RULES if scores[k] > 1.0)
        return RuleVerdict(line=line, scores=scores, fired=fired)

    def _doubled(self) -> float:
        cfg = self.config
        z = detail(np.stack(self._lines))
        g = ghost_score(z)
        hist = self._hist["ghost"]
        score = 0.0
        if len(hist) >= 2:
            score = g / max(cfg.doubled, cfg.relative * float(np.median(hist)))
        hist.append(g)
        return score


def ghost_score(z: np.ndarray) -> float:
    """How strongly a window holds shifted copies of itself that a lattice would not explain.

    A second apex copies every feature by one vector ``v``: the autocorrelation
    has a peak at ``v`` (``a / (1 + a^2)`` for a ghost of relative weight
    ``a``) and none at ``2 v``. A lattice has peaks at ``v`` *and* ``2 v``.
    The score is the largest ``acf(v) - max(acf(2 v), 0)`` over lags outside
    the central lobe whose double is still inside the window's lag range.
    """
    n, p = z.shape
    max_dy, max_dx = n // 3, min(p // 3, 64)
    acf = autocorrelation(z, max_dy, max_dx)
    lobe = _central_lobe(acf)
    hy, hx = max_dy // 2, max_dx // 2
    cy, cx = max_dy, max_dx
    dy = np.arange(-hy, hy + 1)
    dx = np.arange(-hx, hx + 1)
    near = acf[np.ix_(cy + dy, cx + dx)]
    far = acf[np.ix_(cy + 2 * dy, cx + 2 * dx)]
    gain = np.where(lobe[np.ix_(cy + dy, cx + dx)], 0.0, near - np.maximum(far, 0.0))
    return float(gain.max())


def image_rule_scores(
    trace: np.ndarray,
    retrace: np.ndarray,
    config: RuleConfig | None = None,
    reset_on_alarm: bool = False,
    rules: tuple[str, ...] = RULES,
) -> tuple[np.ndarray, list[tuple[int, tuple[str, ...]]]]:
    """Feed an image line by line through :class:`SurfaceRules` (row 0 first).

    Parameters
    ----------
    trace, retrace : ndarray, shape ``(H, W)``
    config : RuleConfig, optional
    reset_on_alarm : bool
        Reset the rules after a line on which any fired (as the watched plan
        does after a recovery), so every alarm the frame would raise counts.
    rules : tuple of str
        The rules whose firing counts as an alarm (one of them: that rule alone).

    Returns
    -------
    scores : ndarray, shape ``(H, len(RULES))``
        Each rule's score after each line.
    alarms : list of (line, fired rules)
    """
    t = np.asarray(trace, dtype=np.float64)
    r = np.asarray(retrace, dtype=np.float64)
    if t.ndim != 2 or t.shape != r.shape:
        raise ConfigurationError(
            f"trace and retrace must be 2-D arrays of equal shape; got {t.shape} and {r.shape}"
        )
    unknown = [k for k in rules if k not in RULES]
    if unknown or not rules:
        raise ConfigurationError(f"rules must be a non-empty subset of {RULES}; got {rules}")
    watcher = SurfaceRules(config or RuleConfig())
    out = np.zeros((t.shape[0], len(RULES)))
    alarms = []
    for i in range(t.shape[0]):
        v = watcher.push(t[i], r[i], index=i)
        out[i] = [v.scores[k] for k in RULES]
        fired = tuple(k for k in v.fired if k in rules)
        if fired:
            alarms.append((i, fired))
            if reset_on_alarm:
                watcher.reset()
    return out, alarms
