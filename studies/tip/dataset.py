"""Labelled windows of scan lines from the SPM twin.

Training data is made the way a microscopist would collect it, on the twin:
many frames on several samples (each sample seed is another piece of
surface), at random sizes, angles, line times, noise and drift, with a tip of
every kind that may change by itself during the frame, at any moment, also
mid-line. The twin's ground truth (:meth:`TwinSPM.scan_frame` labels) gives
each line's tip kind and whether the tip changed during it; that truth is used
only here, to label training and test data, never by the classifier in use.

Labels of a window of ``N`` lines:

- ``tip_change`` if the tip changed during one of its lines in a way that
  changes the image (see :data:`KIND_CLASS`);
- else the class of the tip's kind; a good tip is ``good_atomic`` when the
  pixel size resolves the sample's finest period that a sharp tip shows
  (at least 3 pixels per period, :data:`FINEST_PERIOD`) and ``good_rows``
  otherwise.

Surfaces: Si(100)-H, Au(111), Cu(111), Ag(111), graphite, TiSe2 and TaS2
(:data:`STM_SAMPLES`); frames are atomic-scale or, a chosen share of them,
survey frames (0.2-2 nm pixels: steps, islands, adsorbates, no atoms). A
window is labelled by what its pixel size lets it show (:func:`visible_class`):
a blunt or multiple tip that marks nothing at survey pixels is a good image.

The twin's ``adsorbate`` tip differs from a sharp one only in the contrast of
point defects (it matters for spectroscopy, not for imaging), so it counts as
a good imaging tip here; see docs/decisions/0008-tip.md.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

import numpy as np

from autoscope.agents.tip.augment import AugmentConfig, augment_image
from autoscope.agents.tip.classes import class_index
from autoscope.agents.tip.windows import windows_from_image
from autoscope.devices.backend import ScanFrame
from autoscope.devices.twin import TwinSPM
from autoscope.devices.twin.imaging import DEFAULT_NOISE_SLOPE
from autoscope.errors import ConfigurationError

logger = logging.getLogger(__name__)

FINEST_PERIOD: dict[str, float | None] = {
    "si100_h": 0.384,
    "au111": 0.25,
    "cu111": 0.221,
    "ag111": 0.250,
    "graphite": 0.213,
    "tise2": 0.307,
    "tas2": 0.291,
}
"""Finest period (nm) a sharp tip shows on each STM sample.

Si(100)-H: the dimers along a row (0.384 nm). The hexagonal lattices (Au,
Cu, Ag(111), graphite's bright sublattice, the top chalcogen layer of TiSe2
and TaS2): the rows of atoms, sqrt(3)/2 times the lattice constant, which the
twin's sharp tip resolves and a blunter tip loses. ``None`` would mean a
sample whose finest detail no tip resolves (always ``good_rows``).
"""

BASE_SAMPLES = ("si100_h", "au111")
"""The two surfaces of the first classifiers (and of their held-out figures)."""

SURVEY_PIXEL_SIZE = (0.2, 2.0)
"""Pixel sizes (nm) of survey frames: steps, islands and adsorbates, no atoms."""

VISIBLE_UP_TO: dict[str, float] = {"blunt": 0.3, "multi": 0.6}
"""Largest pixel size (nm) at which a bad tip kind still marks the image.

A blunt tip images with a 0.4-1 nm radius and a multiple tip's second apex
stands 0.5-2 nm from the first: at coarser pixels both image like a sharp
tip (step edges are a pixel wide either way), so a survey frame taken with
them is labelled by what it shows, a good image. An unstable tip's telegraph
jumps show at any pixel size.
"""

KIND_CLASS: dict[str, str] = {
    "sharp": "good",
    "adsorbate": "good",
    "blunt": "blunt",
    "multi": "multi_apex",
    "unstable": "unstable",
}
"""Twin tip kind -> image class (``good`` is split by resolution, see module doc)."""

TIP_KINDS = tuple(KIND_CLASS)
STM_SAMPLES = tuple(FINEST_PERIOD)


def visible_class(kind: str, pixel_size: float) -> str:
    """:data:`KIND_CLASS` of ``kind`` as an image at ``pixel_size`` nm shows it."""
    c = KIND_CLASS[kind]
    if c != "good" and pixel_size > VISIBLE_UP_TO.get(kind, np.inf):
        return "good"
    return c


@dataclass(frozen=True)
class FrameSpec:
    """Everything that defines one labelled twin frame (JSON-able, reproducible)."""

    sample: str
    seed: int
    tip: str
    width: float
    pixels: int
    lines: int
    line_time: float
    angle: float
    center_x: float
    center_y: float
    noise: float
    drift: float
    feedback_tau: float
    change_rate: float
    noise_slope: float = DEFAULT_NOISE_SLOPE


@dataclass
class LabelledImage:
    """One twin frame with its per-line ground truth.

    Attributes
    ----------
    trace, retrace : ndarray, shape ``(H, W)``
        Topography, nm.
    kinds : list of str
        Tip kind at the start of every line.
    kinds_end : list of str
        Tip kind at the end of every line.
    changed : ndarray of bool, shape ``(H,)``
        The tip changed during the line.
    pixel_size : float
        nm per pixel along a line.
    spec : FrameSpec
    """

    trace: np.ndarray
    retrace: np.ndarray
    kinds: list[str]
    kinds_end: list[str]
    changed: np.ndarray
    pixel_size: float
    spec: FrameSpec


def random_specs(
    n: int,
    seeds: range | list[int],
    rng: np.random.Generator,
    samples: tuple[str, ...] = BASE_SAMPLES,
    lines: int = 48,
    pixels: tuple[int, ...] = (96, 128, 160),
    pixel_size: tuple[float, float] = (0.04, 0.16),
    changes_per_frame: float = 0.6,
    tips: tuple[str, ...] = TIP_KINDS,
    survey_share: float = 0.0,
    survey_pixel_size: tuple[float, float] = SURVEY_PIXEL_SIZE,
    noise_slopes: tuple[float, float] | None = None,
) -> list[FrameSpec]:
    """``n`` random frame specifications on ``samples``, with sample/twin seeds from ``seeds``.

    Tip kinds cycle through ``tips`` so that each is equally common at the
    start of a frame; spontaneous changes happen at ``changes_per_frame``
    per frame on average. Pixel sizes (nm) are log-uniform in ``pixel_size``:
    the range of atomic-scale imaging, where a tip's state shows in the image;
    a share ``survey_share`` of the frames are survey frames instead, with
    pixel sizes log-uniform in ``survey_pixel_size`` (labelled by what they
    show, :func:`visible_class`). With ``noise_slopes`` each frame's twin has
    a gap-noise slope drawn uniformly from that range (else the twin's
    default). With the defaults (no survey frames, no slope range) the draws
    are those of the first classifiers, frame for frame.
    """
    if n < 1:
        raise ConfigurationError(f"n must be >= 1; got {n}")
    seeds = list(seeds)
    bad_tips = [t for t in tips if t not in KIND_CLASS]
    if not tips or bad_tips:
        raise ConfigurationError(f"tips must be a non-empty subset of {TIP_KINDS}; got {tips}")
    unknown = [s for s in samples if s not in FINEST_PERIOD]
    if unknown:
        raise ConfigurationError(f"unknown STM samples {unknown}; known: {list(FINEST_PERIOD)}")
    if not 0.0 <= survey_share <= 1.0:
        raise ConfigurationError(f"survey_share must be in [0, 1]; got {survey_share}")
    specs = []
    for i in range(n):
        sample = samples[int(rng.integers(len(samples)))]
        line_time = float(rng.uniform(0.3, 2.0))
        survey = survey_share > 0 and rng.random() < survey_share
        lo, hi = survey_pixel_size if survey else pixel_size
        px = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
        n_px = int(rng.choice(pixels))
        spec = FrameSpec(
            sample=sample,
            seed=int(seeds[int(rng.integers(len(seeds)))]),
            tip=tips[i % len(tips)],
            width=px * n_px,
            pixels=n_px,
            lines=lines,
            line_time=line_time,
            angle=float(rng.uniform(0, 360)),
            center_x=float(rng.uniform(-300, 300)),
            center_y=float(rng.uniform(-300, 300)),
            noise=float(np.exp(rng.uniform(np.log(0.5), np.log(2.5)))),
            drift=float(rng.uniform(0.0, 0.04)),
            feedback_tau=float(np.exp(rng.uniform(np.log(0.002), np.log(0.012)))),
            change_rate=float(rng.uniform(0, 2 * changes_per_frame) / (2 * lines * line_time)),
        )
        specs.append(spec)
    if noise_slopes is not None:  # drawn after the frames, so that the frames stay the same
        slopes = rng.uniform(*noise_slopes, size=n)
        specs = [replace(s, noise_slope=float(v)) for s, v in zip(specs, slopes)]
    return specs


def scan(spec: FrameSpec) -> LabelledImage:
    """Scan one frame on a fresh twin and return it with its ground truth."""

    twin = TwinSPM(
        sample=spec.sample,
        seed=spec.seed,
        tip=spec.tip,
        noise=spec.noise,
        drift=spec.drift,
        feedback_tau=spec.feedback_tau,
        tip_change_rate=spec.change_rate,
        noise_slope=spec.noise_slope,
    )
    height = spec.width * spec.lines / spec.pixels
    frame = ScanFrame(
        center_x=spec.center_x,
        center_y=spec.center_y,
        width=spec.width,
        height=height,
        angle=spec.angle,
        pixels=spec.pixels,
        lines=spec.lines,
        line_time=spec.line_time,
    )
    channels, labels = twin.scan_frame(frame)
    trace, retrace = channels["topography"]
    return LabelledImage(
        trace=trace.astype(np.float64),
        retrace=retrace.astype(np.float64),
        kinds=list(labels["kind"]),
        kinds_end=list(labels["kind_end"]),
        changed=np.asarray(labels["changed"], bool),
        pixel_size=spec.width / spec.pixels,
        spec=spec,
    )


def good_class(sample: str, pixel_size: float) -> str:
    """``good_atomic`` if ``pixel_size`` gives >= 3 pixels per finest period, else ``good_rows``."""
    period = FINEST_PERIOD[sample]
    return "good_atomic" if period is not None and pixel_size <= period / 3 else "good_rows"


def _kind_class(kind: str, sample: str, pixel_size: float) -> str:
    c = visible_class(kind, pixel_size)
    return good_class(sample, pixel_size) if c == "good" else c


def window_labels(
    image: LabelledImage,
    last_lines: np.ndarray,
    n_lines: int,
    line_order: np.ndarray,
    pixel_size: float,
) -> np.ndarray:
    """Class index of each window ending at ``last_lines`` (indices into the augmented image)."""
    sample = image.spec.sample
    out = np.empty(len(last_lines), dtype=np.int64)
    for j, last in enumerate(last_lines):
        src = line_order[last - n_lines + 1 : last + 1]
        classes = set()
        visible_change = False
        for i in src:
            a = visible_class(image.kinds[i], pixel_size)
            b = visible_class(image.kinds_end[i], pixel_size)
            classes.add(a)
            classes.add(b)
            visible_change |= bool(image.changed[i]) and a != b
        if visible_change or len(classes) > 1:
            out[j] = class_index("tip_change")
        else:
            out[j] = class_index(_kind_class(image.kinds[src[-1]], sample, pixel_size))
    return out


def windows_from_images(
    images: list[LabelledImage],
    n_lines: int,
    rng: np.random.Generator,
    copies: int = 2,
    stride: int = 4,
    config: AugmentConfig | None = None,
    augment: bool = True,
    scale_channel: bool = False,
    detail_channel: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``B x 3 x n_lines x config.out_width`` and labels ``B`` from labelled frames.

    Each frame gives ``copies`` augmented versions (or, with ``augment=False``,
    one centred crop of ``config.out_width`` pixels), cut into windows every
    ``stride`` lines.
    """
    config = AugmentConfig() if config is None else config
    xs, ys = [], []
    plain = AugmentConfig(
        out_width=config.out_width,
        max_zoom=1.0,
        p_hflip=0.0,
        p_vflip=0.0,
        max_drift=0.0,
        contrast_sigma=0.0,
        max_tilt=0.0,
        max_noise=0.0,
        p_line_offsets=0.0,
        p_spikes=0.0,
    )
    for image in images:
        for _ in range(copies if augment else 1):
            t, r, order, zoom = augment_image(
                image.trace, image.retrace, rng, config if augment else plain
            )
            x, last = windows_from_image(t, r, n_lines, stride, scale_channel, detail_channel)
            xs.append(x)
            ys.append(window_labels(image, last, n_lines, order, image.pixel_size * zoom))
    return np.concatenate(xs), np.concatenate(ys)


def full_width_windows(
    images: list[LabelledImage],
    n_lines: int,
    stride: int = 4,
    scale_channel: bool = False,
    detail_channel: bool = False,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per frame: all windows at the frame's full line width, unaugmented, and their labels.

    This is what the rolling classifier sees in use (lines are tiled by the
    classifier), so held-out figures are computed on these.
    """
    out = []
    for image in images:
        x, last = windows_from_image(
            image.trace, image.retrace, n_lines, stride, scale_channel, detail_channel
        )
        order = np.arange(image.trace.shape[0])
        out.append((x, window_labels(image, last, n_lines, order, image.pixel_size)))
    return out


def describe_specs(specs: list[FrameSpec]) -> dict:
    """Summary of a split for the weights' metadata: samples, seeds, tip kinds, counts."""
    return {
        "frames": len(specs),
        "samples": sorted({s.sample for s in specs}),
        "seeds": sorted({s.seed for s in specs}),
        "tips": {k: sum(s.tip == k for s in specs) for k in TIP_KINDS},
        "example": asdict(specs[0]) if specs else None,
    }
