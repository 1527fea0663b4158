"""Studies: what is run *about* an instrument rather than beside it.

The demo campaign and the image-and-spectra chain, the agent benchmark harness
and its metrics, ground truth from the twins, twin-side training data and the
tip classifier's training pipeline, and the twin-versus-real comparison. They
may use everything below them (plans, agents, devices, twins); nothing in
plans, agents or devices imports them (import-linter holds this; see
docs/decisions/0009-layers.md).

Submodules:

- :mod:`~autoscope.studies.demo`          ``autoscope demo`` (the autonomous PFM campaign)
- :mod:`~autoscope.studies.chain`         ``autoscope demo --chain`` (image + spectra round trip)
- :mod:`~autoscope.studies.benchmark`     ``autoscope benchmark``: harness, metrics, JSON
- :mod:`~autoscope.studies.groundtruth`   ground-truth maps from twins and recorded datasets
- :mod:`~autoscope.studies.twin_vs_real`  the twin against real instrument files
- :mod:`~autoscope.studies.tip`           tip-classifier training (``autoscope tip``), its benchmark
- :mod:`~autoscope.studies.twin_oracle`   what an image-only or hidden-only oracle finds
- :mod:`~autoscope.studies.after_first`   agents after their first find of the top set

The scripts in benchmarks/ are thin front-ends over these.
"""
