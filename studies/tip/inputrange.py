"""The input range of a tip classifier: its statistics over the twin frames it was trained on.

    python -m autoscope.studies.tip.inputrange --weights W.weights.pt [--frames 240] [--seed 0]

writes ``W.input-range.json`` beside the weights (see
:mod:`autoscope.agents.tip.ood`). The frames are drawn as training draws them
(:func:`~autoscope.studies.tip.dataset.random_specs` on the training seeds
0-159, 48 lines, 96-160 pixels, with the surfaces, pixel sizes, survey share and
noise slopes of the classifier's training configuration), unaugmented, and cut
into full-width windows every 4 lines; the range of each statistic is its
0.5 %-99.5 % quantile range over those windows, and the neighbour level the
distance that 99.5 % of them stay below.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import platform
import sys
from pathlib import Path

import numpy as np
import torch

from autoscope.agents.tip.ood import InputRange, disagreement, range_path, window_stats
from autoscope.agents.tip.weights import TipClassifier, file_digest
from autoscope.studies.tip import dataset

log = logging.getLogger(__name__)

TRAIN_SEEDS = range(0, 160)
"""Sample seeds of the default training split (``autoscope tip train``)."""


def image_window_stats(clf: TipClassifier, trace, retrace, pixel_size, stride: int = 4):
    """Per window of an image: ``(stats rows, last lines, EnsembleOutput)``."""
    x, last = clf.windows(trace, retrace, stride=stride)
    out = clf.predict(x)
    dis = disagreement(out.member_p_bad)
    n = clf.n_lines
    rows = []
    for j, end in enumerate(last):
        s = window_stats(trace[end - n + 1 : end + 1], retrace[end - n + 1 : end + 1], pixel_size)
        s["disagreement"] = float(dis[j])
        rows.append(s)
    return rows, last, out


def build_input_range(
    clf: TipClassifier,
    frames: int = 240,
    seed: int = 0,
    seeds: range = TRAIN_SEEDS,
    quantile: float = 0.995,
) -> InputRange:
    """The input range of ``clf`` over ``frames`` twin frames drawn like its training data.

    The draw follows the training configuration in the classifier's metadata
    (surfaces, pixel sizes, survey share, noise slopes); a classifier without
    those keys was trained on Si(100)-H and Au(111) at 0.04-0.16 nm pixels.
    """
    cfg = (clf.metadata or {}).get("config", {})
    slopes = cfg.get("noise_slopes")
    specs = dataset.random_specs(
        frames,
        seeds,
        np.random.default_rng((seed, 31)),
        samples=tuple(cfg.get("samples", dataset.BASE_SAMPLES)),
        pixel_size=tuple(cfg.get("pixel_size", (0.04, 0.16))),
        survey_share=float(cfg.get("survey_share", 0.0)),
        noise_slopes=tuple(slopes) if slopes else None,
    )
    rows = []
    for k, spec in enumerate(specs):
        im = dataset.scan(spec)
        rows += image_window_stats(clf, im.trace, im.retrace, im.pixel_size)[0]
        if k % 40 == 0:
            log.info("input range: frame %d of %d", k + 1, frames)
    return InputRange.from_stats(
        rows,
        quantile=quantile,
        seed=seed,
        frames=frames,
        draw_seed=seed,
        sample_seeds=[seeds.start, seeds.stop],
        weights_sha256=file_digest(clf.source) if clf.source else None,
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=240)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quantile", type=float, default=0.995)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    clf = TipClassifier.load(args.weights)
    rng = build_input_range(clf, args.frames, args.seed, quantile=args.quantile)
    rng.metadata["versions"] = {
        "autoscope": importlib.metadata.version("autoscope"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "torch": torch.__version__,
    }
    rng.metadata["command"] = "python -m autoscope.studies.tip.inputrange " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    out = rng.save(range_path(args.weights))
    print(f"wrote {out}: {rng.lo} .. {rng.hi}, neighbour level {rng.level:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
