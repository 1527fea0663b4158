"""Fixtures of the tip tests: a tiny classifier trained once on the twin by the CLI."""

from __future__ import annotations

import argparse

import pytest
import torch

from autoscope.studies.tip import commands


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """Path of a tiny classifier trained by ``autoscope tip train --tiny`` (seconds)."""
    torch.manual_seed(0)
    out = tmp_path_factory.mktemp("tipweights") / "tiny.weights.pt"
    parser = argparse.ArgumentParser()
    commands.add_arguments(parser)
    args = parser.parse_args(["train", "--tiny", "--out", str(out)])
    assert commands.main(args) == 0
    return out
