"""The tip's shape from its imprint: one round lobe, several lobes, or a broad hump.

After conditioning, the new apex is judged by imaging a point-like mark (a
single adatom, or the small cluster a gentle poke leaves in a clean metal):
a point imaged through the tip draws the tip. :func:`classify_imprint` reads
such an image with a rule on the lobes' count, size and symmetry:

1. level the image: consecutive lines are aligned by the median of their
   difference (which keeps a broad hump, unlike subtracting each line's
   median), then a plane is fitted to the pixels that are not part of the
   mark (iteratively leaving out those more than 2 noise units above it);
2. refuse what it cannot judge (verdict ``unknown``): an unstable tip's
   streaks (line-to-line differences far above the differences along a
   line), no mark standing clearly above the noise, a pixel size outside
   what the rule was set for, or a narrow mark cut by the frame's edge (a
   broad one cut by the edge is at least as broad as it looks: blunt);
3. smooth by :attr:`ImprintRule.smooth` nm and find the lobes: local maxima
   above ``lobe_level`` of the highest one, at least ``min_separation`` nm
   apart; two or more lobes: ``multi``;
4. the main lobe (the connected area above half its height): an equivalent
   diameter above ``blunt_width`` nm is ``blunt``; an elongation (ratio of
   its principal axes) above ``max_elongation`` is a second apex too close
   to split off, a shoulder: ``multi``; else ``good``.

The widths assume a point-like mark (an adatom or a cluster up to ~0.5 nm
across); a broader mark needs its own ``blunt_width``. An adsorbate on the
apex changes the contrast, not the geometry: its imprint looks good.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from autoscope.errors import ConfigurationError

VERDICTS = ("good", "multi", "blunt", "unknown")


@dataclass(frozen=True)
class ImprintRule:
    """The levels of :func:`classify_imprint` (nm, or ratios).

    Attributes
    ----------
    smooth : float
        Gaussian smoothing before the lobes are found, nm.
    min_contrast : float
        The mark must stand this many noise units above the background (the noise
        unit: the robust spread of the smoothed background around the mark).
    lobe_level : float
        A local maximum counts as a lobe above this share of the highest one.
    min_separation : float
        Lobes closer than this (nm) are one.
    blunt_width : float
        Equivalent diameter (nm) of the main lobe at half height above which the tip is blunt.
    max_elongation : float
        Ratio of the main lobe's principal axes above which it has a shoulder.
    max_streaks : float
        Ratio of the line-to-line to the along-line pixel differences (robust spreads)
        above which the image is streaked by an unstable tip.
    pixel_range : (float, float)
        Pixel sizes (nm) the rule was set for.
    margin : float
        The background, whose fluctuation sets the noise unit, starts this far (nm)
        outside the area above a quarter of the highest point.
    """

    smooth: float = 0.06
    min_contrast: float = 5.0
    lobe_level: float = 0.25
    min_separation: float = 0.35
    blunt_width: float = 0.85
    max_elongation: float = 1.3
    max_streaks: float = 1.8
    pixel_range: tuple[float, float] = (0.02, 0.15)
    margin: float = 0.3


@dataclass
class ImprintVerdict:
    """What an imprint shows.

    Attributes
    ----------
    verdict : str
        ``good``, ``multi``, ``blunt`` or ``unknown``.
    lobes : int
        Lobes found (0 when no mark stands above the noise).
    width : float
        Equivalent diameter of the main lobe at half height, nm (nan without one).
    elongation : float
        Ratio of the main lobe's principal axes (nan without one).
    contrast : float
        Height of the highest lobe in noise units of the smoothed image.
    streaks : float
        Line-to-line over along-line pixel differences (about 1 on a clean image).
    ood : float
        How far the image lies outside what the rule can judge: the largest of
        the pixel size's and the streaks' distance past their limits and the
        missing contrast (``min_contrast / contrast``); above 1 the verdict is unknown.
    why : str
        The evidence, in words.
    """

    verdict: str
    lobes: int
    width: float
    elongation: float
    contrast: float
    streaks: float
    ood: float
    why: str


def _mad(x: np.ndarray) -> float:
    x = np.asarray(x, dtype=np.float64).ravel()
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def level_imprint(image: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Level an imprint image (nm).

    Returns the levelled image, its pixel noise (nm) and the mask of the
    background (the pixels the plane was fitted to).
    """
    z = np.asarray(image, dtype=np.float64)
    # align each line with the one before by the median of their difference
    offsets = np.concatenate([[0.0], np.cumsum(np.median(np.diff(z, axis=0), axis=1))])
    z = z - offsets[:, None]
    noise = max(_mad(np.diff(z, axis=1)) / math.sqrt(2), 1e-9)
    yy, xx = np.mgrid[0 : z.shape[0], 0 : z.shape[1]]
    a = np.column_stack([np.ones(z.size), xx.ravel(), yy.ravel()])
    keep = np.ones(z.size, bool)
    for _ in range(5):
        coef, *_ = np.linalg.lstsq(a[keep], z.ravel()[keep], rcond=None)
        resid = z.ravel() - a @ coef
        spread = max(_mad(resid[keep]), noise)
        new = resid < np.median(resid[keep]) + 2 * spread
        if np.array_equal(new, keep):
            break
        keep = new
    flat = (z.ravel() - a @ coef).reshape(z.shape)
    mask = keep.reshape(z.shape)
    return flat - np.median(flat[mask]), noise, mask


def classify_imprint(
    image: np.ndarray, pixel_size: float, rule: ImprintRule | None = None
) -> ImprintVerdict:
    """Judge the tip from an image of its imprint (heights in nm, ``pixel_size`` nm/px).

    Raises
    ------
    ConfigurationError
        For an image that is not 2-D with at least 16 x 16 finite pixels, or a
        pixel size that is not a positive number.
    """
    rule = rule or ImprintRule()
    z = np.asarray(image, dtype=np.float64)
    if z.ndim != 2 or min(z.shape) < 16:
        raise ConfigurationError(f"an imprint image must be 2-D, at least 16 x 16; got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise ConfigurationError("the imprint image holds NaN or infinite heights")
    if not (isinstance(pixel_size, int | float) and math.isfinite(pixel_size) and pixel_size > 0):
        raise ConfigurationError(f"pixel size must be a positive number of nm, got {pixel_size!r}")
    nan = float("nan")
    lo, hi = rule.pixel_range
    px_out = max(pixel_size / hi, lo / pixel_size)
    flat, noise, background = level_imprint(z)
    across = _mad(np.diff(flat, axis=0))
    along = max(_mad(np.diff(flat, axis=1)), 1e-9)
    streaks = across / along
    s = ndimage.gaussian_filter(flat, rule.smooth / pixel_size)
    peak = float(s.max())
    # the background's own fluctuation on the smoothed scale (1/f noise, the lattice),
    # outside the mark: the area above a quarter of the peak around it, widened
    top = np.unravel_index(int(np.argmax(s)), s.shape)
    labels, _ = ndimage.label(s > peak / 4)
    grow = max(1, int(round(rule.margin / pixel_size)))
    mark = ndimage.binary_dilation(labels == labels[top], iterations=grow)
    ref = s[~mark] if np.count_nonzero(~mark) > 32 else s.ravel()
    s_noise = max(_mad(ref), 1e-9)
    contrast = peak / s_noise
    ood = max(px_out, streaks / rule.max_streaks, rule.min_contrast / max(contrast, 1e-9))
    if px_out > 1:
        why = f"pixel size {pixel_size:.3g} nm is outside {lo}-{hi} nm"
        return ImprintVerdict("unknown", 0, nan, nan, contrast, streaks, ood, why)
    if streaks > rule.max_streaks:
        why = f"streaks between lines ({streaks:.1f}x the noise along a line): an unstable tip"
        return ImprintVerdict("unknown", 0, nan, nan, contrast, streaks, ood, why)
    if contrast < rule.min_contrast:
        why = f"no mark stands above the noise (contrast {contrast:.1f} < {rule.min_contrast})"
        return ImprintVerdict("unknown", 0, nan, nan, contrast, streaks, ood, why)
    # lobes: local maxima above lobe_level of the highest, min_separation apart
    size = max(3, 2 * int(round(rule.min_separation / pixel_size / 2)) + 1)
    is_max = (s == ndimage.maximum_filter(s, size=size, mode="nearest")) & (
        s > rule.lobe_level * peak
    )
    ys, xs = np.nonzero(is_max)
    order = np.argsort(s[ys, xs])[::-1]
    lobes: list[tuple[int, int]] = []
    floor = rule.min_contrast * s_noise
    for k in order:
        p = (int(ys[k]), int(xs[k]))
        if lobes and s[p] < floor:
            continue  # a lobe beside the highest must itself stand clear of the noise
        far_enough = all(
            math.hypot(p[0] - q[0], p[1] - q[1]) * pixel_size >= rule.min_separation for q in lobes
        )
        # a separate lobe only if the surface dips between it and every higher one
        if far_enough and not any(_joined(s, p, q, 3 * s_noise) for q in lobes):
            lobes.append(p)
    # main lobe: the connected area above half the peak around the highest pixel
    labels, _ = ndimage.label(s > peak / 2)
    region = labels == labels[top]
    ry, rx = np.nonzero(region)
    edge = (
        ry.min() == 0 or rx.min() == 0 or ry.max() == s.shape[0] - 1 or rx.max() == s.shape[1] - 1
    )
    width = 2 * math.sqrt(region.sum() / math.pi) * pixel_size
    w = s[ry, rx] - peak / 2
    cy, cx = np.average(ry, weights=w), np.average(rx, weights=w)
    cov = np.cov(np.vstack([ry - cy, rx - cx]), aweights=w) if ry.size > 2 else np.eye(2)
    ev = np.sort(np.linalg.eigvalsh(np.atleast_2d(cov)))
    elongation = float(math.sqrt(ev[-1] / ev[0])) if ev[0] > 0 else float("inf")
    n = len(lobes)
    if edge and width > rule.blunt_width:
        why = (
            f"1 lobe at least {width:.2f} nm wide (cut by the frame's edge): "
            f"broader than {rule.blunt_width} nm"
        )
        return ImprintVerdict("blunt", len(lobes), width, elongation, contrast, streaks, ood, why)
    if edge:
        why = "the mark touches the frame's edge: centre the frame on it"
        return ImprintVerdict(
            "unknown", n, width, elongation, contrast, streaks, max(ood, 1.01), why
        )
    shape = f"{n} lobe{'s' if n != 1 else ''}, {width:.2f} nm wide, elongation {elongation:.2f}"
    if n >= 2:
        return ImprintVerdict("multi", n, width, elongation, contrast, streaks, ood, shape)
    if width > rule.blunt_width:
        why = f"{shape}: broader than {rule.blunt_width} nm"
        return ImprintVerdict("blunt", n, width, elongation, contrast, streaks, ood, why)
    if elongation > rule.max_elongation:
        why = f"{shape}: a shoulder (elongation above {rule.max_elongation})"
        return ImprintVerdict("multi", n, width, elongation, contrast, streaks, ood, why)
    return ImprintVerdict("good", n, width, elongation, contrast, streaks, ood, f"{shape}: round")


def _joined(s: np.ndarray, p: tuple[int, int], q: tuple[int, int], prominence: float) -> bool:
    """Whether lobe ``p`` is part of the higher lobe ``q``: no dip between them.

    They are separate when the smoothed surface on the straight path between
    them falls below the lower one's height by ``prominence`` (nm) and by a
    tenth of its height.
    """
    n = int(max(abs(p[0] - q[0]), abs(p[1] - q[1]))) + 1
    yy = np.linspace(p[0], q[0], n)
    xx = np.linspace(p[1], q[1], n)
    path = ndimage.map_coordinates(s, [yy, xx], order=1)
    return bool(s[p] - path.min() < max(prominence, 0.1 * s[p]))


__all__ = ["VERDICTS", "ImprintRule", "ImprintVerdict", "classify_imprint", "level_imprint"]
