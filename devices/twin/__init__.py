"""autoscope.devices.twin: a pure-numpy digital twin of an SPM (STM and PFM).

No ophyd, no bluesky: it implements :class:`autoscope.devices.backend.SPMBackend`
and can be driven directly or through the ophyd device. Public names are
imported lazily so that ``import autoscope.devices.twin`` stays light.

Main entry points
-----------------
TwinSPM(sample="si100_h" | "au111" | "pfm_film", seed=0, ...)
    The backend; ``twin.truth`` holds the ground truth.
make_dataset(kind="pfm" | "stm", size=64, seed=0, points=None) -> dict
    An image plus a spectrum at every pixel, with ground-truth maps.
write_dataset(path, data), read_dataset(path)
    The recorded-dataset HDF5 file of DESIGN.md, through :mod:`autoscope.io.recorded`.
"""

from __future__ import annotations

from autoscope._lazy import attach

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "TwinSPM": ".twin",
        "Timing": ".config",
        "InstrumentClock": ".clock",
        "FaultPlan": ".faults",
        "random_fault_plans": ".faults",
        "FAULT_KINDS": ".faults",
        "TipState": ".tip",
        "TipEvent": ".tip",
        "TIP_KINDS": ".tip",
        "make_tip": ".tip",
        "make_sample": ".samples",
        "Sample": ".samples",
        "SAMPLE_NAMES": ".samples",
        "make_dataset": ".datasets",
        "write_dataset": ".datasets",
        "read_dataset": ".datasets",
    },
)
