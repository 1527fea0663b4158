"""autoscope.devices.twin.stem: a pure-numpy STEM twin (probe, HAADF/ADF/BF, EELS, dose, damage).

No ophyd, bluesky or tiled. Entry point: :class:`~autoscope.devices.twin.stem.twin.TwinSTEM`;
``twin.truth`` holds the hidden truth (initial atoms, damage events, true offsets).
See docs/decisions/0010-stem-twin.md.
"""
