"""From the twin to a trained, evaluated classifier in one call.

Training frames use sample/twin seeds ``train_seeds``; the held-out frames
use ``test_seeds`` (other pieces of surface, other noise, other tips) and are
evaluated at full line width, unaugmented, the way the rolling classifier
sees lines in use.
"""

from __future__ import annotations

import datetime
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from autoscope.agents.tip.augment import AugmentConfig
from autoscope.agents.tip.classes import CLASSES
from autoscope.agents.tip.weights import TipClassifier, file_digest
from autoscope.errors import ConfigurationError
from autoscope.studies.tip import dataset
from autoscope.studies.tip.train import TrainConfig, evaluate_frames, train_ensemble

SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"
"""The reproducible-builds variable: when set, the weights' ``created`` stamp is that
time, so ``autoscope tip train`` writes the same bytes as the shipped file."""


def created_stamp() -> str:
    """UTC ISO time of now, or of ``$SOURCE_DATE_EPOCH`` (seconds since 1970) when set."""
    epoch = os.environ.get(SOURCE_DATE_EPOCH)
    if epoch:
        try:
            when = datetime.datetime.fromtimestamp(int(epoch), datetime.timezone.utc)
        except ValueError:
            raise ConfigurationError(
                f"{SOURCE_DATE_EPOCH}={epoch!r} is not whole seconds"
            ) from None
    else:
        when = datetime.datetime.now(datetime.timezone.utc)
    return when.isoformat(timespec="seconds")


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PipelineConfig:
    """What to generate and how to train.

    Attributes
    ----------
    frames, test_frames : int
        Labelled twin frames for training and for the held-out test.
    lines : int
        Lines per frame.
    n_lines : int
        Lines per classifier window.
    tile : int
        Pixels per line of a training window (longer lines are tiled in use).
    copies : int
        Augmented copies of each training frame.
    stride : int
        Lines between consecutive windows of a frame.
    samples : tuple of str
        Twin samples.
    tips : tuple of str
        Twin tip kinds at the start of frames (changes may lead to any kind).
    train_seeds, test_seeds : tuple of int
        ``(first, stop)`` of the sample/twin seed ranges; they must not overlap.
        Each seed is another piece of each surface: trained on 3200 frames from
        40 seeds, the ensemble's good-vs-bad accuracy on 480 validation frames
        (seeds 30000-30079 and 40000-40079) was 0.962; from 160 seeds, 0.969.
    seed : int
        Seed of frame parameters, augmentation and training.
    members, width, epochs, batch_size : int
        Ensemble size, network width, training epochs, minibatch size.
    scale_channel : bool
        Give the network the window's corrugation in nm (last input plane).
    detail_channel : bool
        Give the network the window's fine detail on its own scale (fourth plane).
    extra : int
        Extra pooling stages of each network (larger receptive field).
    contrast_sigma : float
        Std of the log contrast factor of the augmentation (a z-calibration
        error when the scale plane is used; larger without it): the height-scale
        augmentation.
    pixel_size : (float, float)
        Pixel sizes (nm) of the atomic-scale frames, log-uniform.
    survey_share : float
        Share of survey frames (pixel sizes in ``dataset.SURVEY_PIXEL_SIZE``,
        0.2-2 nm: steps, islands, adsorbates, no atoms).
    noise_slopes : (float, float) or None
        Range of the twin's gap-noise PSD slope, one draw per frame (None: the
        twin's default).
    min_zoom, max_zoom : float
        Crop widths of the augmentation as multiples of ``tile`` (resampled
        to ``tile`` pixels): the pixel-size augmentation.
    lr : float
        Peak learning rate of the one-cycle schedule.
    init : str or None
        Weights file to start from (a warm start: each member fine-tuned from
        the file's member of the same index); None trains from random weights.
    """

    frames: int = 3200
    test_frames: int = 80
    lines: int = 48
    n_lines: int = 16
    tile: int = 96
    copies: int = 2
    stride: int = 4
    samples: tuple[str, ...] = dataset.STM_SAMPLES
    tips: tuple[str, ...] = dataset.TIP_KINDS
    train_seeds: tuple[int, int] = (0, 160)
    test_seeds: tuple[int, int] = (10_000, 10_020)
    seed: int = 0
    members: int = 3
    width: int = 16
    epochs: int = 12
    batch_size: int = 64
    scale_channel: bool = True
    contrast_sigma: float = 0.3
    detail_channel: bool = False
    extra: int = 1
    pixel_size: tuple[float, float] = (0.02, 0.16)
    survey_share: float = 0.25
    noise_slopes: tuple[float, float] | None = (-3.0, -1.0)
    min_zoom: float = 0.75
    max_zoom: float = 1.5
    lr: float = 3e-3
    init: str | None = None

    def __post_init__(self) -> None:
        a, b = self.train_seeds
        c, d = self.test_seeds
        if not (a < b and c < d) or (a < d and c < b):
            raise ConfigurationError(
                f"train_seeds {self.train_seeds} and test_seeds {self.test_seeds} must be "
                "non-empty, disjoint ranges"
            )
        if self.n_lines > self.lines:
            raise ConfigurationError(
                f"n_lines {self.n_lines} exceeds the {self.lines} lines per frame"
            )


def make_split(config: PipelineConfig, test: bool) -> list[dataset.LabelledImage]:
    """Scan the training (``test=False``) or held-out frames of ``config``."""
    n = config.test_frames if test else config.frames
    seeds = range(*(config.test_seeds if test else config.train_seeds))
    rng = np.random.default_rng((config.seed, 1 if test else 0))
    specs = dataset.random_specs(
        n,
        seeds,
        rng,
        samples=config.samples,
        lines=config.lines,
        tips=config.tips,
        pixel_size=config.pixel_size,
        survey_share=config.survey_share,
        noise_slopes=config.noise_slopes,
    )
    return [dataset.scan(s) for s in specs]


def run_pipeline(config: PipelineConfig = PipelineConfig()) -> tuple[TipClassifier, dict]:
    """Generate twin data, train the ensemble, evaluate it on the held-out frames.

    Returns
    -------
    classifier : TipClassifier
        With ``metadata`` holding the configuration, the data and the metrics.
    report : dict
        ``held_out`` (all samples) and ``held_out_by_sample`` metrics (see
        :func:`~autoscope.studies.tip.train.evaluate`), timings and counts.
    """
    t0 = time.perf_counter()
    train_images = make_split(config, test=False)
    test_images = make_split(config, test=True)
    t_scan = time.perf_counter() - t0
    rng = np.random.default_rng((config.seed, 2))
    x, y = dataset.windows_from_images(
        train_images,
        config.n_lines,
        rng,
        copies=config.copies,
        stride=config.stride,
        config=AugmentConfig(
            out_width=config.tile,
            contrast_sigma=config.contrast_sigma,
            min_zoom=config.min_zoom,
            max_zoom=config.max_zoom,
        ),
        scale_channel=config.scale_channel,
        detail_channel=config.detail_channel,
    )
    counts = np.bincount(y, minlength=len(CLASSES))
    logger.info("training on %d windows, per class %s", len(y), counts)
    t1 = time.perf_counter()
    init = None
    if config.init is not None:
        start = TipClassifier.load(config.init)
        if start.scale_channel != config.scale_channel or start.n_lines != config.n_lines:
            raise ConfigurationError(
                f"warm-start weights {config.init} use scale_channel={start.scale_channel}, "
                f"n_lines={start.n_lines}; the configuration {config.scale_channel}, "
                f"{config.n_lines}"
            )
        init = start.ensemble
    ens = train_ensemble(
        x,
        y,
        TrainConfig(
            members=config.members,
            width=config.width,
            epochs=config.epochs,
            batch_size=config.batch_size,
            seed=config.seed,
            extra=config.extra,
            lr=config.lr,
        ),
        init=init,
    )
    t_train = time.perf_counter() - t1
    clf = TipClassifier(
        ens,
        n_lines=config.n_lines,
        tile_width=config.tile,
        scale_channel=config.scale_channel,
        detail_channel=config.detail_channel,
    )
    held = evaluate_frames(
        clf,
        dataset.full_width_windows(
            test_images, config.n_lines, config.stride, config.scale_channel, config.detail_channel
        ),
    )
    by_sample = {}
    for s in config.samples:
        imgs = [im for im in test_images if im.spec.sample == s]
        if imgs:
            by_sample[s] = evaluate_frames(
                clf,
                dataset.full_width_windows(
                    imgs, config.n_lines, config.stride, config.scale_channel, config.detail_channel
                ),
            )
    by_scale = {}
    for name, keep in (
        ("atomic", lambda im: im.pixel_size < dataset.SURVEY_PIXEL_SIZE[0]),
        ("survey", lambda im: im.pixel_size >= dataset.SURVEY_PIXEL_SIZE[0]),
        (
            "base",  # the first classifiers' held-out kind: Si(100)-H and Au(111), atomic scale
            lambda im: (
                im.spec.sample in dataset.BASE_SAMPLES
                and im.pixel_size < dataset.SURVEY_PIXEL_SIZE[0]
            ),
        ),
    ):
        imgs = [im for im in test_images if keep(im)]
        if imgs:
            by_scale[name] = evaluate_frames(
                clf,
                dataset.full_width_windows(
                    imgs, config.n_lines, config.stride, config.scale_channel, config.detail_channel
                ),
            )
    report = {
        "config": asdict(config),
        "train_windows": int(len(y)),
        "train_windows_per_class": dict(zip(CLASSES, map(int, counts))),
        "train_data": dataset.describe_specs([im.spec for im in train_images]),
        "test_data": dataset.describe_specs([im.spec for im in test_images]),
        "held_out": held,
        "held_out_by_sample": by_sample,
        "held_out_by_scale": by_scale,
        "seconds": {"scan": t_scan, "train": t_train, "total": time.perf_counter() - t0},
        "torch_threads": torch.get_num_threads(),
        "init": (
            {"file": config.init, "sha256": file_digest(Path(config.init))} if config.init else None
        ),
        "created": created_stamp(),
    }
    clf.metadata = {k: report[k] for k in ("config", "train_data", "created", "init")}
    clf.metadata["held_out"] = {
        k: held[k] for k in ("accuracy", "good_bad_accuracy", "good_bad_auc")
    }
    return clf, report
