"""The scanning transmission electron microscope (STEM) family: the ophyd device and its parts.

- :mod:`~autoscope.devices.stem.backend`      the ``STEMBackend`` contract and its data types
- :mod:`~autoscope.devices.stem.device`       the ``STEM`` ophyd device (takes a ``STEMBackend``)
- :mod:`~autoscope.devices.stem.limits`       ``STEMLimits``: current, field, dwell, EELS, dose
- :mod:`~autoscope.devices.stem.dose`         the dose ledger and how an exposure is counted
- :mod:`~autoscope.devices.stem.readout`      line, spectrum, spectrum-image line, parked beam
- :mod:`~autoscope.devices.stem.twin_backend` the STEM twin behind the contract

See docs/decisions/0012-stem-device.md.
"""
