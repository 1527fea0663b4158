"""Factories: the one place that knows which backend drives a device.

Profiles, the CLI and tests call :func:`make_spm` and :func:`make_stem`; plans and
agents only ever see the device they return.
"""

from __future__ import annotations

from typing import Any

from autoscope.devices.backend import SPMBackend
from autoscope.devices.nanonis.backend import NanonisSPM
from autoscope.devices.recorded import RecordedSPM
from autoscope.devices.spm.device import SPM
from autoscope.devices.stem.backend import STEMBackend
from autoscope.devices.stem.device import STEM
from autoscope.devices.stem.twin_backend import TwinSTEMBackend
from autoscope.devices.twin import TwinSPM
from autoscope.errors import ConfigurationError

__all__ = ["make_spm", "make_stem", "SPM_BACKENDS", "STEM_BACKENDS"]

SPM_BACKENDS = ("twin", "nanonis", "recorded")
STEM_BACKENDS = ("twin",)


def make_spm(
    backend: Any = "twin",
    sample: str = "si100_h",
    seed: int = 0,
    name: str = "spm",
    limits=None,
    **kw,
):
    """Make an SPM device with the named backend.

    Parameters
    ----------
    backend : str or SPMBackend
        ``"twin"`` (the simulated instrument, ``autoscope.devices.twin.TwinSPM``),
        ``"nanonis"`` (a Nanonis controller over TCP,
        ``autoscope.devices.nanonis.NanonisSPM``; give ``host`` and ``port``),
        ``"recorded"`` (a recorded grid served as an instrument,
        ``autoscope.devices.recorded.RecordedSPM``; give ``dataset``: a recorded-dataset
        file or a ``RecordedDataset``), or an
        object that already implements :class:`~autoscope.devices.backend.SPMBackend`
        (used as is).
    sample : str
        Twin only: the simulated sample (``"si100_h"``, ...).
    seed : int
        Twin only: seed of every random generator of the twin.
    name : str
        Device name (prefix of its data keys).
    limits : SafetyLimits, optional
        Safety limits of the device; ``None`` takes the hardware ranges.
    **kw
        Passed to the backend's constructor: the twin's (e.g. ``speedup``, fault
        injection) or NanonisSPM's (``host``, ``port``, ``timeout``, signals, ...).

    Returns
    -------
    SPM
        The device.

    Raises
    ------
    ConfigurationError
        for an unknown backend name, or options given to a backend object.
    """

    if isinstance(backend, str):
        if backend == "twin":
            impl = TwinSPM(sample=sample, seed=seed, **kw)
        elif backend == "nanonis":
            if "host" not in kw:
                raise ConfigurationError(
                    "the nanonis backend needs host= (the controller's address), got none"
                )
            impl = NanonisSPM(**kw)
        elif backend == "recorded":
            if "dataset" not in kw:
                raise ConfigurationError(
                    "the recorded backend needs dataset= (a recorded-dataset file), got none"
                )
            impl = RecordedSPM(**kw)
        else:
            raise ConfigurationError(
                f"unknown SPM backend {backend!r}; known: {list(SPM_BACKENDS)} "
                "(or pass an SPMBackend object)"
            )
    elif isinstance(backend, SPMBackend):
        if kw:
            raise ConfigurationError(
                f"options {sorted(kw)} apply to a named backend, not to the object {backend!r}"
            )
        impl = backend
    else:
        raise ConfigurationError(
            f"backend must be a name {list(SPM_BACKENDS)} or an SPMBackend, got {backend!r}"
        )
    return SPM(impl, name=name, limits=limits)


def make_stem(
    backend: Any = "twin",
    sample: str = "graphene",
    seed: int = 0,
    name: str = "stem",
    limits=None,
    detectors=("haadf",),
    **kw,
):
    """Make a STEM device with the named backend.

    Parameters
    ----------
    backend : str or STEMBackend
        ``"twin"`` (the simulated microscope,
        :class:`autoscope.devices.stem.twin_backend.TwinSTEMBackend`), or an object that
        already implements :class:`~autoscope.devices.stem.backend.STEMBackend` (used as is).
    sample : str
        Twin only: ``"graphene"``, ``"nanoparticles"`` or ``"oxide"``.
    seed : int
        Twin only: seed of every random draw of the twin.
    name : str
        Device name (prefix of its data keys).
    limits : STEMLimits, optional
        Safety limits (current, field, dwell, dose); ``None`` takes the microscope's ranges
        and sets no dose limit.
    detectors : sequence of str
        Detectors enabled at the start.
    **kw
        Passed to the twin backend (``kv``, ``current_pa``, ``scan_errors``, ``fail_at``...).

    Returns
    -------
    STEM
        The device.

    Raises
    ------
    ConfigurationError
        for an unknown backend name, or options given to a backend object.
    """
    if isinstance(backend, str):
        if backend == "twin":
            impl = TwinSTEMBackend(sample=sample, seed=seed, **kw)
        else:
            raise ConfigurationError(
                f"unknown STEM backend {backend!r}; known: {list(STEM_BACKENDS)} "
                "(or pass a STEMBackend object)"
            )
    elif isinstance(backend, STEMBackend):
        if kw:
            raise ConfigurationError(
                f"options {sorted(kw)} apply to a named backend, not to the object {backend!r}"
            )
        impl = backend
    else:
        raise ConfigurationError(
            f"backend must be a name {list(STEM_BACKENDS)} or a STEMBackend, got {backend!r}"
        )
    return STEM(impl, name=name, limits=limits, detectors=detectors)
