"""The instruments: ophyd devices on their simulated twins.

To drive hardware, change ``backend=`` (the factory is the one place that
knows the backends; see autoscope.devices.make_spm).
"""

from autoscope.devices import make_spm

spm = make_spm(backend="twin", seed=0, name="spm")
