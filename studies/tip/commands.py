"""``autoscope tip train``: regenerate the tip-state classifier's weights from the twin.

    autoscope tip train                 full model (about 50 min on one thread)
    autoscope tip train --tiny          seconds; for tests and smoke checks
    autoscope tip train --out PATH      write elsewhere than the user data dir

The weights go to ``--out`` or :func:`~autoscope.agents.tip.weights.default_weights_path`,
with a JSON report of the held-out metrics beside them.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import torch

logger = logging.getLogger(__name__)

TINY = {"frames": 100, "test_frames": 20, "members": 2, "width": 8, "epochs": 10, "lines": 32,
        "tile": 64, "batch_size": 32, "samples": ("si100_h",),
        "tips": ("sharp", "blunt", "unstable"), "scale_channel": False, "contrast_sigma": 0.5,
        "train_seeds": (0, 40)}
"""``--tiny``: Si(100)-H only, frames starting sharp, blunt or unstable (changes may lead to
any kind), no scale plane; enough to test the machinery, not for use."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``tip`` subcommands to ``parser``."""
    sub = parser.add_subparsers(dest="tip_command", metavar="ACTION", required=True)
    p = sub.add_parser("train", help="train the classifier on labelled twin images",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=None,
                   help="weights file (default: the user data dir, or $AUTOSCOPE_TIP_WEIGHTS)")
    p.add_argument("--tiny", action="store_true", help="a small model in seconds (tests)")
    from autoscope.studies.tip.pipeline import PipelineConfig

    d = PipelineConfig()
    p.add_argument("--frames", type=int, default=None,
                   help=f"training frames (default {d.frames})")
    p.add_argument("--test-frames", type=int, default=None,
                   help=f"held-out frames (default {d.test_frames})")
    p.add_argument("--members", type=int, default=None,
                   help=f"ensemble members (default {d.members})")
    p.add_argument("--epochs", type=int, default=None,
                   help=f"epochs per member (default {d.epochs})")
    p.add_argument("--n-lines", type=int, default=None,
                   help=f"lines per window (default {d.n_lines})")
    p.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: fastest on a busy 2-core machine)")


def main(args: argparse.Namespace) -> int:
    """Run ``autoscope tip train``; returns the exit status."""
    from autoscope.studies.tip.pipeline import PipelineConfig, run_pipeline
    from autoscope.agents.tip.weights import default_weights_path
    from autoscope.errors import ConfigurationError

    if args.tip_command != "train":  # pragma: no cover - argparse enforces the choice
        raise ConfigurationError(f"unknown tip action {args.tip_command!r}")
    if args.threads < 1:
        raise ConfigurationError(f"--threads must be >= 1, got {args.threads}")
    options = dict(TINY) if args.tiny else {}
    for name in ("frames", "test_frames", "members", "epochs", "n_lines"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                raise ConfigurationError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
            options[name] = value
    options["seed"] = args.seed
    config = PipelineConfig(**options)  # raises ConfigurationError naming a bad value
    torch.set_num_threads(args.threads)
    out = args.out if args.out is not None else default_weights_path()
    print(f"training the tip classifier on {config.frames} twin frames "
          f"({config.members} members, {config.epochs} epochs); weights -> {out}")
    clf, report = run_pipeline(config)
    clf.save(out)
    report_path = out.with_suffix(".json")
    report_path.write_text(json.dumps(report, indent=1))
    held = report["held_out"]
    print(f"held-out twin frames: accuracy {held['accuracy']:.3f}, good-vs-bad accuracy "
          f"{held['good_bad_accuracy']:.3f}, AUC {held['good_bad_auc']:.3f} "
          f"({held['n']} windows); took {report['seconds']['total']:.0f} s")
    for name, acc in held["per_class"].items():
        print(f"  {name:12s} {'n/a' if acc is None else f'{acc:.3f}'}")
    print(f"wrote {out} and {report_path}")
    return 0


__all__ = ["add_arguments", "main", "TINY"]
