"""Top-level pytest configuration shared by every test folder.

Fixture plugins must be declared here (pytest refuses ``pytest_plugins`` in
nested conftest files).
"""

from __future__ import annotations

import argparse
import os

import pytest

pytest_plugins = ["autoscope.catalog.testing"]


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """Path of a tiny tip classifier trained by ``autoscope tip train --tiny``.

    It is trained once per test session: the pytest-xdist workers of one
    session share the file (the first to take the lock trains it, the others
    wait and load it), since the training is the costliest setup of the tip
    and Nanonis tests.
    """
    import filelock
    import torch

    from autoscope.studies.tip import commands

    base = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        base = base.parent  # the session's folder, above each worker's own
    out = base / "tipweights" / "tiny.weights.pt"
    out.parent.mkdir(exist_ok=True)
    with filelock.FileLock(str(out) + ".lock"):
        if not out.exists():
            torch.manual_seed(0)
            parser = argparse.ArgumentParser()
            commands.add_arguments(parser)
            args = parser.parse_args(["train", "--tiny", "--out", str(out)])
            assert commands.main(args) == 0
    return out
