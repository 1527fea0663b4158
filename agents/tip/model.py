"""A small CNN for a window of scan lines, and an ensemble of them that votes.

Tensor shapes: input ``b x 3 x N x P`` (see :mod:`.windows`), logits
``b x C`` with ``C = len(CLASSES)``. The network is fully convolutional with
global average and max pooling, so ``N >= 4`` and ``P >= 8`` may vary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from autoscope.agents.tip.classes import BAD_INDICES, CLASSES, N_CLASSES
from autoscope.errors import ConfigurationError


class TipNet(nn.Module):
    """Convolution blocks with 2x2 max pooling between them, global pooling, one linear layer.

    Parameters
    ----------
    width : int
        Channels of the first block (the others have 2x and 4x).
    n_classes : int
        Number of outputs.
    in_channels : int
        Input planes: 3, or 4 with the scale plane (see :mod:`.windows`).
    extra : int
        Extra pooling + block stages at the end (``4 * width`` channels): each
        doubles the receptive field (a ghost copy 1-2 nm away is 10-50 pixels
        off) and needs twice as many lines per window (``N >= 4 * 2**extra``).
    """

    def __init__(
        self, width: int = 16, n_classes: int = N_CLASSES, in_channels: int = 3, extra: int = 0
    ):
        super().__init__()
        if width < 1:
            raise ConfigurationError(f"width must be >= 1; got {width}")
        if extra < 0:
            raise ConfigurationError(f"extra must be >= 0; got {extra}")
        w = width

        def block(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False),
                nn.BatchNorm2d(cout),
                nn.ReLU(inplace=True),
            )

        self.features = nn.Sequential(
            block(in_channels, w),
            block(w, w),
            nn.MaxPool2d(2),
            block(w, 2 * w),
            nn.MaxPool2d(2),
            block(2 * w, 4 * w),
            *[m for _ in range(extra) for m in (nn.MaxPool2d(2), block(4 * w, 4 * w))],
        )
        self.head = nn.Linear(8 * w, n_classes)
        self.width = width
        self.in_channels = in_channels
        self.extra = extra

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``b x 3 x N x P`` -> logits ``b x C``."""
        f = self.features(x)
        pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
        return self.head(pooled)


@dataclass
class EnsembleOutput:
    """What the ensemble says about a batch of ``b`` windows.

    Attributes
    ----------
    proba : ndarray, shape ``(b, C)``
        Mean of the members' softmax outputs (soft vote).
    votes : ndarray, shape ``(b, C)``
        Share of members whose top class is each class (hard vote).
    label : ndarray of int, shape ``(b,)``
        Class chosen by the soft vote.
    p_bad : ndarray, shape ``(b,)``
        Soft-vote probability of any bad class.
    member_p_bad : ndarray, shape ``(m, b)``, optional
        Each member's probability of any bad class (their spread is one
        out-of-distribution signal, see :mod:`.ood`).
    """

    proba: np.ndarray
    votes: np.ndarray
    label: np.ndarray
    p_bad: np.ndarray
    member_p_bad: np.ndarray | None = None

    def as_dicts(self) -> list[dict[str, float]]:
        """Per window: ``{class name: probability}``."""
        return [dict(zip(CLASSES, map(float, row))) for row in self.proba]


class TipEnsemble(nn.Module):
    """Members that each classify a window; their outputs are averaged and voted.

    Parameters
    ----------
    members : list of TipNet
    """

    def __init__(self, members: list[TipNet]):
        super().__init__()
        if not members:
            raise ConfigurationError(f"an ensemble needs at least one member; got {members!r}")
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``b x 3 x N x P`` -> member probabilities ``m x b x C``."""
        return torch.stack([torch.softmax(m(x), dim=1) for m in self.members])

    @torch.no_grad()
    def predict(self, windows: np.ndarray, tile: int | None = None) -> EnsembleOutput:
        """Classify windows (``b x 3 x N x P`` or one ``3 x N x P``).

        With ``tile``, lines longer than ``tile`` pixels are cut into tiles of
        ``tile`` pixels overlapping by half (the width the members were trained
        on); each member's probabilities are averaged over the tiles.
        """
        x = torch.as_tensor(np.asarray(windows, dtype=np.float32))
        if x.ndim == 3:
            x = x.unsqueeze(0)
        c = self.members[0].in_channels
        if x.ndim != 4 or x.shape[1] != c:
            raise ConfigurationError(
                f"windows must have shape (b, {c}, N, P); got {tuple(x.shape)}"
            )
        b, p = x.shape[0], x.shape[3]
        n_tiles = 1
        if tile is not None and p > tile:
            n_tiles = int(np.ceil((p - tile) / (tile / 2))) + 1
            starts = np.unique(np.linspace(0, p - tile, n_tiles).round().astype(int))
            n_tiles = len(starts)
            x = torch.cat([x[..., s : s + tile] for s in starts])  # (T*b) x 3 x N x tile
        was_training = self.training
        self.eval()
        try:
            probs = self(x).numpy()
        finally:
            self.train(was_training)
        if n_tiles > 1:
            probs = probs.reshape(probs.shape[0], n_tiles, b, -1).mean(axis=1)
        proba = probs.mean(axis=0)
        top = probs.argmax(axis=2)  # m x b
        votes = np.stack([(top == c).mean(axis=0) for c in range(proba.shape[1])], axis=1)
        return EnsembleOutput(
            proba=proba,
            votes=votes,
            label=proba.argmax(axis=1),
            p_bad=proba[:, list(BAD_INDICES)].sum(axis=1),
            member_p_bad=probs[:, :, list(BAD_INDICES)].sum(axis=2),
        )
