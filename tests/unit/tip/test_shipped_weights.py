"""The tip classifier that ships with autoscope: present, recorded, and as good as documented.

The floor below is the shipped classifier's good-vs-bad accuracy on a small
held-out twin set drawn here (sample/twin seeds 50000-50999, which neither the
training, 0-159, nor the training's own held-out set, 10000-10019, touched),
less a margin for the few frames it has (it scored 0.963 there, 216 windows); the
provenance record gives the figures on the training's held-out set (0.979, 720 windows).
"""

import json
import os

import numpy as np
import pytest

from autoscope.agents.tip import weights as tip_weights
from autoscope.agents.tip.weights import (
    SHIPPED_PROVENANCE,
    SHIPPED_WEIGHTS,
    TipClassifier,
    file_digest,
    state_digest,
)
from autoscope.studies.tip import dataset
from autoscope.studies.tip.train import evaluate_frames

#: good-vs-bad accuracy the shipped classifier must reach on FRESH_FRAMES fresh frames
GOOD_BAD_FLOOR = 0.90
FRESH_FRAMES = 24
FRESH_SEEDS = range(50_000, 51_000)


@pytest.fixture(scope="module")
def shipped():
    return TipClassifier.load(SHIPPED_WEIGHTS)


def test_the_weights_ship_small_with_their_provenance():
    assert SHIPPED_WEIGHTS.is_file(), f"{SHIPPED_WEIGHTS} is missing from the package"
    size = SHIPPED_WEIGHTS.stat().st_size
    assert size < 5 * 2**20, f"shipped weights are {size} bytes; the limit is 5 MB"
    record = json.loads(SHIPPED_PROVENANCE.read_text())
    assert record["sha256"] == file_digest(SHIPPED_WEIGHTS)
    assert record["bytes"] == size
    assert record["command"].split()[-1] == SHIPPED_WEIGHTS.name
    assert "autoscope tip train" in record["command"] and record["seed"] == 0
    for lib in ("autoscope", "python", "torch", "numpy", "scipy"):
        assert record["versions"][lib]
    assert record["training"]["windows"] > 0
    assert record["held_out"]["good_bad_accuracy"] >= GOOD_BAD_FLOOR


def test_the_tensors_are_the_recorded_ones(shipped):
    record = json.loads(SHIPPED_PROVENANCE.read_text())
    assert state_digest(shipped.ensemble.state_dict()) == record["state_sha256"]
    assert shipped.source == str(SHIPPED_WEIGHTS)


@pytest.mark.slow  # about 20 s: 24 twin frames rendered and classified
def test_good_vs_bad_accuracy_on_a_fresh_held_out_twin_set(shipped):
    rng = np.random.default_rng((0, 50))
    specs = dataset.random_specs(FRESH_FRAMES, FRESH_SEEDS, rng)
    images = [dataset.scan(s) for s in specs]
    frames = dataset.full_width_windows(
        images, shipped.n_lines, 4, shipped.scale_channel, shipped.detail_channel
    )
    figures = evaluate_frames(shipped, frames)
    assert figures["n"] > 100
    assert figures["good_bad_accuracy"] >= GOOD_BAD_FLOOR, figures


def test_with_nothing_configured_the_watcher_loads_the_shipped_classifier(monkeypatch, tmp_path):
    monkeypatch.delenv(tip_weights.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(tip_weights, "user_weights_path", lambda: tmp_path / "none.weights.pt")
    assert tip_weights.default_weights_path() == SHIPPED_WEIGHTS
    assert TipClassifier.load().source == str(SHIPPED_WEIGHTS)


def test_a_classifier_the_user_trained_takes_precedence(monkeypatch, tmp_path):
    mine = tmp_path / "tip-classifier.weights.pt"
    mine.write_bytes(b"")
    monkeypatch.delenv(tip_weights.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(tip_weights, "user_weights_path", lambda: mine)
    assert tip_weights.default_weights_path() == mine
    monkeypatch.setenv(tip_weights.WEIGHTS_ENV, os.fspath(tmp_path / "env.weights.pt"))
    assert tip_weights.default_weights_path() == tmp_path / "env.weights.pt"


def test_training_never_writes_over_the_shipped_file():
    assert tip_weights.user_weights_path() != SHIPPED_WEIGHTS
    assert SHIPPED_WEIGHTS.parent not in tip_weights.user_weights_path().parents
