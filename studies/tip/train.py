"""Seeded training and evaluation of the tip-state ensemble.

Each member is trained on its own bootstrap resample of the training windows
with its own seed, class-balanced minibatches, Adam and a cosine learning-rate
schedule; the members' soft vote is the ensemble's output.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from autoscope.agents.tip.classes import BAD_INDICES, CLASSES, GOOD_INDICES, N_CLASSES
from autoscope.agents.tip.model import TipEnsemble, TipNet
from autoscope.errors import ConfigurationError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train_ensemble`."""

    members: int = 3
    width: int = 16
    extra: int = 0
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def _check_xy(x: np.ndarray, y: np.ndarray) -> None:
    if x.ndim != 4 or x.shape[1] not in (3, 4, 5) or y.shape != (x.shape[0],):
        raise ConfigurationError(
            f"windows must be (B, 3 to 5, N, P) with labels (B,); got {x.shape}, {y.shape}"
        )
    if y.size and (y.min() < 0 or y.max() >= N_CLASSES):
        raise ConfigurationError(
            f"labels must lie in [0, {N_CLASSES}); got range {y.min()}..{y.max()}"
        )


def train_member(
    x: np.ndarray, y: np.ndarray, config: TrainConfig, seed: int, init: TipNet | None = None
) -> TipNet:
    """Train one network on windows ``x`` (``B x 3 x N x P``) with labels ``y`` (``B``).

    With ``init`` the network starts from a copy of ``init``'s weights (a warm
    start: fine-tuning an earlier member on new data) instead of random ones.
    """
    _check_xy(x, y)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = TipNet(width=config.width, in_channels=x.shape[1], extra=config.extra)
    if init is not None:
        try:
            net.load_state_dict(init.state_dict())
        except RuntimeError as exc:
            raise ConfigurationError(
                f"the warm-start member does not fit width {config.width}, "
                f"{x.shape[1]} input planes, extra {config.extra}: {exc}"
            ) from None
    opt = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    counts = np.bincount(y, minlength=N_CLASSES).astype(float)
    weight = np.where(counts[y] > 0, 1.0 / np.maximum(counts[y], 1), 0.0)
    weight /= weight.sum()
    steps_per_epoch = max(1, len(y) // config.batch_size)
    total = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=total)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    xt = torch.as_tensor(x)
    yt = torch.as_tensor(y, dtype=torch.long)
    net.train()
    for epoch in range(config.epochs):
        running = 0.0
        for _ in range(steps_per_epoch):
            idx = torch.as_tensor(rng.choice(len(y), size=config.batch_size, p=weight))
            xb = xt[idx]
            # cheap extra augmentation: mirror the fast axis (trace <-> retrace swap)
            flip = torch.as_tensor(rng.random(len(idx)) < 0.5)
            if flip.any():
                f = xb[flip].flip(-1)
                xb[flip] = torch.cat([f[:, 1:2], f[:, 0:1], -f[:, 2:3], f[:, 3:]], dim=1)
            opt.zero_grad()
            loss = loss_fn(net(xb), yt[idx])
            loss.backward()
            opt.step()
            sched.step()
            running += loss.item()
        logger.info("member seed %d epoch %d loss %.3f", seed, epoch, running / steps_per_epoch)
    net.eval()
    return net


def train_ensemble(
    x: np.ndarray,
    y: np.ndarray,
    config: TrainConfig = TrainConfig(),
    init: TipEnsemble | None = None,
) -> TipEnsemble:
    """Train ``config.members`` networks, each on a bootstrap resample, seeds ``seed + i``.

    With ``init`` (an ensemble of as many members) member ``i`` starts from
    ``init``'s member ``i``.
    """
    _check_xy(x, y)
    if init is not None and len(init.members) != config.members:
        raise ConfigurationError(
            f"the warm-start ensemble has {len(init.members)} members; "
            f"the configuration asks for {config.members}"
        )
    rng = np.random.default_rng(config.seed)
    members = []
    for i in range(config.members):
        boot = rng.integers(0, len(y), size=len(y))
        start = init.members[i] if init is not None else None
        members.append(
            train_member(x[boot], y[boot], config, seed=config.seed + 1000 * (i + 1), init=start)
        )
    ens = TipEnsemble(members)
    ens.eval()
    return ens


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for boolean labels ``positive`` (rank statistic)."""
    score = np.asarray(score, dtype=float)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = positive.sum(), (~positive).sum()
    if n_pos == 0 or n_neg == 0:
        raise ConfigurationError(
            f"ROC AUC needs both positive and negative examples; got {n_pos} positive, "
            f"{n_neg} negative"
        )
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    s = score[order]
    # average ranks of ties
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(ensemble, x: np.ndarray, y: np.ndarray, batch: int = 256) -> dict:
    """Accuracy per class, overall, and good-versus-bad accuracy, precision and ROC AUC.

    ``ensemble`` is anything with ``predict(windows) -> EnsembleOutput``.

    Returns
    -------
    dict
        ``accuracy``, ``per_class`` ({class: accuracy or None if absent}),
        ``good_bad_accuracy``, ``good_precision`` (of windows called good, the
        share truly good), ``bad_recall`` (share of bad windows called bad),
        ``good_bad_auc`` (``p_bad`` as the score of "bad"), ``confusion``
        (rows: truth, columns: prediction), ``n``.
    """
    _check_xy(x, y)
    outs = [ensemble.predict(x[i : i + batch]) for i in range(0, len(y), batch)]
    label = np.concatenate([o.label for o in outs])
    return metrics(label, np.concatenate([o.p_bad for o in outs]), y)


def evaluate_frames(classifier, frames: list[tuple[np.ndarray, np.ndarray]]) -> dict:
    """:func:`evaluate` over per-frame batches of windows of different widths.

    ``classifier`` is anything with ``predict(windows) -> EnsembleOutput``.
    """
    labels, p_bads, ys = [], [], []
    for x, y in frames:
        _check_xy(x, y)
        out = classifier.predict(x)
        labels.append(out.label)
        p_bads.append(out.p_bad)
        ys.append(y)
    return metrics(np.concatenate(labels), np.concatenate(p_bads), np.concatenate(ys))


def metrics(label: np.ndarray, p_bad: np.ndarray, y: np.ndarray) -> dict:
    """The figures of :func:`evaluate` from predicted labels, ``p_bad`` and true labels."""
    truth_bad = np.isin(y, BAD_INDICES)
    pred_bad = p_bad > 0.5
    conf = np.zeros((N_CLASSES, N_CLASSES), dtype=int)
    np.add.at(conf, (y, label), 1)
    per_class = {
        c: (float(conf[i, i] / conf[i].sum()) if conf[i].sum() else None)
        for i, c in enumerate(CLASSES)
    }
    called_good = ~pred_bad
    result = {
        "n": int(len(y)),
        "accuracy": float((label == y).mean()),
        "per_class": per_class,
        "good_bad_accuracy": float((pred_bad == truth_bad).mean()),
        "good_precision": float((~truth_bad[called_good]).mean()) if called_good.any() else None,
        "bad_recall": float(pred_bad[truth_bad].mean()) if truth_bad.any() else None,
        "confusion": conf.tolist(),
    }
    both = truth_bad.any() and np.isin(y, GOOD_INDICES).any()
    result["good_bad_auc"] = roc_auc(p_bad, truth_bad) if both else None
    return result
