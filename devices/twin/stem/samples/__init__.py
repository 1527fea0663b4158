"""STEM samples: atoms as ``(x, y, Z, n)`` columns plus a hidden part (see each module)."""

from __future__ import annotations

from autoscope.devices.twin.stem.samples.base import STEMSample
from autoscope.devices.twin.stem.samples.graphene import Graphene
from autoscope.devices.twin.stem.samples.nanoparticles import Nanoparticles
from autoscope.devices.twin.stem.samples.oxide import Oxide
from autoscope.errors import ConfigurationError

SAMPLES = {"graphene": Graphene, "nanoparticles": Nanoparticles, "oxide": Oxide}


def make_sample(name: str, seed: int = 0, **kwargs) -> STEMSample:
    """A sample by name (``graphene``, ``nanoparticles``, ``oxide``), seeded."""
    if name not in SAMPLES:
        raise ConfigurationError(f"unknown STEM sample {name!r} (known: {sorted(SAMPLES)})")
    return SAMPLES[name](seed=seed, **kwargs)
