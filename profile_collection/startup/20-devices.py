"""The instruments: ophyd devices on their simulated twins.

``spm``: an STM on hydrogen-terminated Si(100); ``pfm``: a piezoresponse force
microscope on a ferroelectric film. To drive hardware, change ``backend=``
(the factory is the one place that knows the backends; see
autoscope.devices.make_spm).
"""

from autoscope.devices import make_spm

spm = make_spm(backend="twin", sample="si100_h", seed=0, name="spm")
pfm = make_spm(backend="twin", sample="pfm_film", seed=0, name="pfm")
