"""The trained classifier as one object, and where its weights live.

The default classifier ships with autoscope as package data
(``autoscope/agents/tip/data/``: the weights and their provenance record), so
the tip watcher runs on a fresh install. ``autoscope tip train`` regenerates
it from the twin (into the user data directory, or ``--out``); a file there, or
one named by ``$AUTOSCOPE_TIP_WEIGHTS``, takes precedence over the shipped one.
The file is a ``torch.save`` of plain tensors and JSON-able metadata, loaded
with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import platformdirs
import torch

from autoscope.agents.tip.classes import CLASSES
from autoscope.agents.tip.model import EnsembleOutput, TipEnsemble, TipNet
from autoscope.agents.tip.ood import InputRange, range_path, window_stats
from autoscope.agents.tip.windows import make_window, n_planes, windows_from_image
from autoscope.errors import ConfigurationError

WEIGHTS_ENV = "AUTOSCOPE_TIP_WEIGHTS"
"""Environment variable naming a weights file that overrides the default location."""

FILE_NAME = "tip-classifier.weights.pt"

SHIPPED_DIR = Path(__file__).resolve().parent / "data"
"""Package data: the default classifier and its provenance record."""

SHIPPED_WEIGHTS = SHIPPED_DIR / FILE_NAME
SHIPPED_PROVENANCE = SHIPPED_DIR / "tip-classifier.provenance.json"


def user_weights_path() -> Path:
    """Where ``autoscope tip train`` writes by default: ``<user data dir>/autoscope/tip/``."""
    return Path(platformdirs.user_data_dir("autoscope")) / "tip" / FILE_NAME


def default_weights_path() -> Path:
    """The weights the tip watcher uses when none are named.

    ``$AUTOSCOPE_TIP_WEIGHTS`` if set; else a classifier the user trained
    (:func:`user_weights_path`) if there is one; else the shipped classifier.
    """
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env)
    user = user_weights_path()
    return user if user.is_file() else SHIPPED_WEIGHTS


def state_digest(state_dict: dict) -> str:
    """sha256 of a state dict's tensors (names, dtypes, shapes, bytes), in name order.

    Independent of the file's name and metadata: two trainings that give the
    same weights give the same digest.
    """
    h = hashlib.sha256()
    for name in sorted(state_dict):
        t = state_dict[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()


def file_digest(path: str | Path) -> str:
    """sha256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@dataclass
class TipClassifier:
    """An ensemble with the window height it was trained for, and its provenance.

    Attributes
    ----------
    ensemble : TipEnsemble
    n_lines : int
        Lines per window.
    tile_width : int or None
        Pixels per line the members were trained on; longer lines are tiled.
    scale_channel : bool
        The members take the corrugation-scale plane as their last input.
    detail_channel : bool
        The members take the fine-detail plane as their fourth input.
    metadata : dict
        JSON-able facts about the training (config, samples, seeds, metrics).
    source : str
        The file it was loaded from ("" when built in memory).
    input_range : InputRange or None
        The training range of the input statistics (read from the
        ``*.input-range.json`` beside the weights); None: no OOD score.
    """

    ensemble: TipEnsemble
    n_lines: int
    tile_width: int | None = None
    scale_channel: bool = False
    metadata: dict = field(default_factory=dict)
    detail_channel: bool = False
    source: str = ""
    input_range: InputRange | None = None

    def make_window(self, trace: np.ndarray, retrace: np.ndarray) -> np.ndarray:
        """The input this classifier takes for one window (see :func:`.windows.make_window`)."""
        return make_window(trace, retrace, self.scale_channel, self.detail_channel)

    def windows(self, trace: np.ndarray, retrace: np.ndarray, stride: int = 1):
        """All windows of an image for this classifier: ``(windows, last_lines)``."""

        return windows_from_image(
            trace, retrace, self.n_lines, stride, self.scale_channel, self.detail_channel
        )

    def predict(self, windows: np.ndarray) -> EnsembleOutput:
        """Classify prepared windows (``b x 3 x N x P``, see :mod:`.windows`)."""
        return self.ensemble.predict(windows, tile=self.tile_width)

    def classify(self, trace: np.ndarray, retrace: np.ndarray) -> EnsembleOutput:
        """Classify one window (``n_lines x P`` trace and retrace, nm)."""
        return self.predict(self.make_window(trace, retrace))

    def ood(
        self,
        trace: np.ndarray,
        retrace: np.ndarray,
        pixel_size: float | None,
        member_p_bad: np.ndarray,
    ) -> tuple[float, str]:
        """``(OOD score, feature furthest out)`` of one window; ``(nan, "")`` without a range.

        ``member_p_bad`` holds the members' p_bad of this window (shape ``m``).
        """
        if self.input_range is None:
            return float("nan"), ""
        stats = window_stats(trace, retrace, pixel_size)
        stats["disagreement"] = float(np.std(np.asarray(member_p_bad, dtype=np.float64)))
        return self.input_range.score(stats)

    def is_unknown(self, ood: float) -> bool:
        """Whether an OOD score puts a window outside what the classifier knows."""
        return self.input_range is not None and not ood <= self.input_range.margin

    def save(self, path: str | Path) -> Path:
        """Write the weights and metadata to ``path`` (folders are created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "format": 1,
                "classes": list(CLASSES),
                "n_lines": self.n_lines,
                "tile_width": self.tile_width,
                "scale_channel": self.scale_channel,
                "detail_channel": self.detail_channel,
                "widths": [m.width for m in self.ensemble.members],
                "extra": [m.extra for m in self.ensemble.members],
                "state_dict": self.ensemble.state_dict(),
                "metadata": self.metadata,
            },
            path,
        )
        return path

    @classmethod
    def load(cls, path: str | Path | None = None) -> TipClassifier:
        """Read a classifier written by :meth:`save` (default: :func:`default_weights_path`).

        Raises
        ------
        ConfigurationError
            If there is no file, or it was trained for other classes.
        """
        path = Path(path) if path is not None else default_weights_path()
        if not path.is_file():
            hint = (
                "the shipped classifier is missing from this install; reinstall autoscope"
                if path == SHIPPED_WEIGHTS
                else "name an existing file, or run `autoscope tip train` to make one"
            )
            raise ConfigurationError(f"no tip-classifier weights at {path}; {hint}")
        blob = torch.load(path, map_location="cpu", weights_only=True)
        if blob.get("classes") != list(CLASSES):
            raise ConfigurationError(
                f"weights at {path} are for classes {blob.get('classes')}, not {list(CLASSES)}"
            )
        scale = bool(blob.get("scale_channel", False))
        detail = bool(blob.get("detail_channel", False))
        extra = blob.get("extra", [0] * len(blob["widths"]))
        ens = TipEnsemble(
            [
                TipNet(width=w, in_channels=n_planes(scale, detail), extra=int(e))
                for w, e in zip(blob["widths"], extra)
            ]
        )
        ens.load_state_dict(blob["state_dict"])
        ens.eval()
        tile = blob.get("tile_width")
        rpath = range_path(path)
        return cls(
            ensemble=ens,
            n_lines=int(blob["n_lines"]),
            tile_width=int(tile) if tile is not None else None,
            scale_channel=scale,
            detail_channel=detail,
            metadata=blob.get("metadata", {}),
            source=str(path),
            input_range=InputRange.load(rpath) if rpath.is_file() else None,
        )
