"""The instruments: ophyd devices on their simulated twins.

``spm``: an STM on hydrogen-terminated Si(100); ``pfm``: a piezoresponse force
microscope on a ferroelectric film. ``spm`` drives a Nanonis controller instead when
``spm.toml`` (user config folder, or ``AUTOSCOPE_SPM_CONFIG``) says ``backend = "nanonis"``
or ``AUTOSCOPE_SPM_BACKEND=nanonis`` and ``AUTOSCOPE_NANONIS_HOST`` (``_PORT``) are set; the
file also holds channel names and safety limits (autoscope.profile.spm_backend_options; the
factory is the one place that knows the backends, autoscope.devices.make_spm).
"""

from autoscope.devices import make_spm
from autoscope.profile import spm_backend_options

spm = make_spm(name="spm", **spm_backend_options())
pfm = make_spm(backend="twin", sample="pfm_film", seed=0, name="pfm")
