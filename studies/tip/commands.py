"""``autoscope tip train``: regenerate the tip-state classifier's weights from the twin.

    autoscope tip train                 full model (about 50 min on one thread at 3200 frames)
    autoscope tip train --tiny          seconds; for tests and smoke checks
    autoscope tip train --out PATH      write elsewhere than the user data dir
    autoscope tip classify FILE...      judge recorded images (:mod:`.classify`)

The weights go to ``--out``, ``$AUTOSCOPE_TIP_WEIGHTS`` or
:func:`~autoscope.agents.tip.weights.user_weights_path` (never over the shipped
classifier), with the training report (JSON) and a provenance record beside
them. The shipped classifier is what

    SOURCE_DATE_EPOCH=1796169600 autoscope tip train --out tip-classifier.weights.pt

writes, byte for byte (its provenance record, autoscope/agents/tip/data/, gives
the versions and sha256); the last line printed says whether the new weights
are identical to it.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sys
from pathlib import Path

import torch

import autoscope
from autoscope.agents.tip.weights import (
    SHIPPED_PROVENANCE,
    WEIGHTS_ENV,
    file_digest,
    state_digest,
    user_weights_path,
)
from autoscope.errors import ConfigurationError
from autoscope.studies.tip import classify
from autoscope.studies.tip.pipeline import SOURCE_DATE_EPOCH, PipelineConfig, run_pipeline

logger = logging.getLogger(__name__)

TINY = {
    "frames": 100,
    "test_frames": 20,
    "members": 2,
    "width": 8,
    "epochs": 10,
    "lines": 32,
    "tile": 64,
    "batch_size": 32,
    "samples": ("si100_h",),
    "tips": ("sharp", "blunt", "unstable"),
    "scale_channel": False,
    "contrast_sigma": 0.5,
    "train_seeds": (0, 40),
    "pixel_size": (0.04, 0.16),
    "survey_share": 0.0,
    "noise_slopes": None,
    "min_zoom": 1.0,
}
"""``--tiny``: Si(100)-H only at atomic scale, frames starting sharp, blunt or unstable
(changes may lead to any kind), no scale plane; enough to test the machinery, not for use."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``tip`` subcommands to ``parser``."""
    sub = parser.add_subparsers(dest="tip_command", metavar="ACTION", required=True)
    p = sub.add_parser(
        "train",
        help="train the classifier on labelled twin images",
        description=__doc__.split("\n\n")[0],
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="weights file (default: the user data dir, or $AUTOSCOPE_TIP_WEIGHTS)",
    )
    p.add_argument("--tiny", action="store_true", help="a small model in seconds (tests)")

    d = PipelineConfig()
    p.add_argument("--frames", type=int, default=None, help=f"training frames (default {d.frames})")
    p.add_argument(
        "--test-frames", type=int, default=None, help=f"held-out frames (default {d.test_frames})"
    )
    p.add_argument(
        "--members", type=int, default=None, help=f"ensemble members (default {d.members})"
    )
    p.add_argument(
        "--epochs", type=int, default=None, help=f"epochs per member (default {d.epochs})"
    )
    p.add_argument(
        "--n-lines", type=int, default=None, help=f"lines per window (default {d.n_lines})"
    )
    p.add_argument("--lr", type=float, default=None, help=f"peak learning rate (default {d.lr})")
    p.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from these weights (fine-tune each member) instead of random weights",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of everything (default 0)")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (default 1: fastest on a busy 2-core machine)",
    )
    c = sub.add_parser(
        "classify",
        help="judge the tip from recorded images (topographs or imprints), as the watcher would",
        description=classify.__doc__.split("\n\n")[0],
    )
    classify.add_arguments(c)


def main(args: argparse.Namespace) -> int:
    """Run ``autoscope tip train``; returns the exit status."""

    if args.tip_command == "classify":
        return classify.main(args)
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
    if args.lr is not None:
        if not args.lr > 0:
            raise ConfigurationError(f"--lr must be > 0, got {args.lr}")
        options["lr"] = args.lr
    if args.init is not None:
        if not args.init.is_file():
            raise ConfigurationError(f"--init {args.init}: no such weights file")
        options["init"] = str(args.init)
    options["seed"] = args.seed
    config = PipelineConfig(**options)  # raises ConfigurationError naming a bad value
    torch.set_num_threads(args.threads)
    env = os.environ.get(WEIGHTS_ENV)
    out = args.out if args.out is not None else Path(env) if env else user_weights_path()
    print(
        f"training the tip classifier on {config.frames} twin frames "
        f"({config.members} members, {config.epochs} epochs); weights -> {out}"
    )
    clf, report = run_pipeline(config)
    clf.save(out)
    report_path = out.with_suffix(".json")
    report_path.write_text(json.dumps(report, indent=1))
    held = report["held_out"]
    print(
        f"held-out twin frames: accuracy {held['accuracy']:.3f}, good-vs-bad accuracy "
        f"{held['good_bad_accuracy']:.3f}, AUC {held['good_bad_auc']:.3f} "
        f"({held['n']} windows); took {report['seconds']['total']:.0f} s"
    )
    for name, acc in held["per_class"].items():
        print(f"  {name:12s} {'n/a' if acc is None else f'{acc:.3f}'}")
    record = provenance(clf, report, out, command_line(args, out))
    record_path = out.with_name(out.name.replace(".weights.pt", "") + ".provenance.json")
    record_path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}, {report_path} and {record_path}")
    print(compare_with_shipped(clf, out))
    return 0


def command_line(args: argparse.Namespace, out: Path) -> str:
    """The ``autoscope tip train`` command that ``args`` stand for (``--out`` as the file name)."""
    words = ["autoscope", "tip", "train"]
    if args.tiny:
        words.append("--tiny")
    for name in ("frames", "test_frames", "members", "epochs", "n_lines", "lr", "init"):
        value = getattr(args, name, None)
        if value is not None:
            words += [f"--{name.replace('_', '-')}", str(value)]
    words += ["--seed", str(args.seed), "--threads", str(args.threads), "--out", out.name]
    return " ".join(words)


def provenance(clf, report: dict, out: Path, command: str) -> dict:
    """The record that ships beside the weights: how to make them again, and what they score.

    The command, the seed, ``$SOURCE_DATE_EPOCH`` (the ``created`` stamp), the
    library versions, the file's and the tensors' sha256, and the training
    set's and the held-out set's figures from the training report.
    """
    import numpy
    import scipy

    epoch = os.environ.get(SOURCE_DATE_EPOCH)
    held = report["held_out"]
    return {
        "file": out.name,
        "bytes": out.stat().st_size,
        "sha256": file_digest(out),
        "state_sha256": state_digest(clf.ensemble.state_dict()),
        "command": (f"{SOURCE_DATE_EPOCH}={epoch} " if epoch else "") + command,
        "seed": report["config"]["seed"],
        "source_date_epoch": int(epoch) if epoch else None,
        "created": clf.metadata.get("created"),
        "versions": {
            "autoscope": autoscope.__version__,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "numpy": numpy.__version__,
            "scipy": scipy.__version__,
            "machine": platform.machine(),
            "platform": sys.platform,
        },
        "torch_threads": report.get("torch_threads"),
        "init": report.get("init"),
        "config": report["config"],
        "training": {
            "windows": report["train_windows"],
            "windows_per_class": report["train_windows_per_class"],
            "data": report["train_data"],
            "seconds": report["seconds"],
        },
        "held_out": {
            "data": report["test_data"],
            "windows": held["n"],
            "accuracy": held["accuracy"],
            "good_bad_accuracy": held["good_bad_accuracy"],
            "good_bad_auc": held["good_bad_auc"],
            "per_class": held["per_class"],
            "by_sample": {
                k: {m: v.get(m) for m in ("accuracy", "good_bad_accuracy", "good_bad_auc", "n")}
                for k, v in report.get("held_out_by_sample", {}).items()
            },
            "by_scale": {
                k: {m: v.get(m) for m in ("accuracy", "good_bad_accuracy", "good_bad_auc", "n")}
                for k, v in report.get("held_out_by_scale", {}).items()
            },
        },
    }


def compare_with_shipped(clf, out: Path) -> str:
    """One line: the new weights' digests, and whether they equal the shipped classifier's."""

    state = state_digest(clf.ensemble.state_dict())
    line = f"sha256: file {file_digest(out)}, tensors {state}"
    if not SHIPPED_PROVENANCE.is_file():
        return line
    shipped = json.loads(SHIPPED_PROVENANCE.read_text())
    if state == shipped.get("state_sha256"):
        same_file = file_digest(out) == shipped.get("sha256")
        return line + (
            "\nidentical to the shipped classifier"
            + (
                " (byte for byte)"
                if same_file
                else " (same tensors; the file differs in name or metadata)"
            )
        )
    return line + "\ndiffers from the shipped classifier (see its provenance record)"


__all__ = ["add_arguments", "main", "TINY"]
