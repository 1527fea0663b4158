"""Samples of the SPM twin: pure, seeded functions of position.

``make_sample(name, seed)`` builds one by name: STM ``"si100_h"``, ``"au111"``,
``"cu111"``, ``"ag111"``, ``"graphite"`` (HOPG), ``"tise2"``, ``"tas2"`` (layered
charge-density-wave materials); PFM ``"pfm_film"``.
"""

from __future__ import annotations

from autoscope.devices.twin.samples.base import Sample
from autoscope.errors import ConfigurationError

SAMPLE_NAMES = ("si100_h", "au111", "cu111", "ag111", "graphite", "tise2", "tas2", "pfm_film")


def make_sample(name: str, seed: int = 0, **options) -> Sample:
    """Build the sample called ``name`` with generator seed ``seed`` and its options."""
    if name == "si100_h":
        from autoscope.devices.twin.samples.si100 import SiH100

        return SiH100(seed=seed, **options)
    if name == "au111":
        from autoscope.devices.twin.samples.au111 import Au111

        return Au111(seed=seed, **options)
    if name in ("cu111", "ag111"):
        from autoscope.devices.twin.samples.metal111 import Metal111

        return Metal111(seed=seed, metal=name, **options)
    if name == "graphite":
        from autoscope.devices.twin.samples.graphite import Graphite

        return Graphite(seed=seed, **options)
    if name in ("tise2", "tas2"):
        from autoscope.devices.twin.samples.cdw import LayeredCDW

        return LayeredCDW(seed=seed, material=name, **options)
    if name == "pfm_film":
        from autoscope.devices.twin.samples.pfm_film import PFMFilm

        return PFMFilm(seed=seed, **options)
    raise ConfigurationError(f"unknown sample {name!r}; choose one of {SAMPLE_NAMES}")


__all__ = ["SAMPLE_NAMES", "Sample", "make_sample"]
