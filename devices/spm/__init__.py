"""The scanning probe microscope (STM, AFM/PFM) family: the ophyd device and its parts.

- :mod:`~autoscope.devices.spm.device`   the ``SPM`` ophyd device (takes an ``SPMBackend``)
- :mod:`~autoscope.devices.spm.limits`   ``SafetyLimits``: bias, current, scan size, dip depth
- :mod:`~autoscope.devices.spm.readout`  line and spectrum readouts (what a plan triggers)
- :mod:`~autoscope.devices.spm.tip_logs` the tip watcher's verdict and action logs
"""
