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

import numpy as np
import torch

from autoscope.agents.tip.augment import AugmentConfig
from autoscope.agents.tip.classes import CLASSES
from autoscope.agents.tip.weights import TipClassifier
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
        error when the scale plane is used; larger without it).
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
    contrast_sigma: float = 0.15
    detail_channel: bool = False
    extra: int = 1

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
        n, seeds, rng, samples=config.samples, lines=config.lines, tips=config.tips
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
        config=AugmentConfig(out_width=config.tile, contrast_sigma=config.contrast_sigma),
        scale_channel=config.scale_channel,
        detail_channel=config.detail_channel,
    )
    counts = np.bincount(y, minlength=len(CLASSES))
    logger.info("training on %d windows, per class %s", len(y), counts)
    t1 = time.perf_counter()
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
        ),
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
    report = {
        "config": asdict(config),
        "train_windows": int(len(y)),
        "train_windows_per_class": dict(zip(CLASSES, map(int, counts))),
        "train_data": dataset.describe_specs([im.spec for im in train_images]),
        "test_data": dataset.describe_specs([im.spec for im in test_images]),
        "held_out": held,
        "held_out_by_sample": by_sample,
        "seconds": {"scan": t_scan, "train": t_train, "total": time.perf_counter() - t0},
        "torch_threads": torch.get_num_threads(),
        "created": created_stamp(),
    }
    clf.metadata = {k: report[k] for k in ("config", "train_data", "created")}
    clf.metadata["held_out"] = {
        k: held[k] for k in ("accuracy", "good_bad_accuracy", "good_bad_auc")
    }
    return clf, report
