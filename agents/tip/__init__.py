"""Tip-state awareness: a scan-line classifier, a rolling window, conditioning policies.

Submodules (import them directly; this package stays light and imports no torch):

- :mod:`~autoscope.agents.tip.classes`   the tip-state classes and good/bad split
- :mod:`~autoscope.agents.tip.windows`   turning scan lines into classifier input
- :mod:`~autoscope.agents.tip.augment`   realistic augmentation of labelled images
- :mod:`~autoscope.agents.tip.model`     small CNN and the voting ensemble (torch)
- :mod:`~autoscope.studies.tip.dataset`   labelled windows from the SPM twin
- :mod:`~autoscope.studies.tip.train`     seeded training of the ensemble
- :mod:`~autoscope.agents.tip.weights`   saving, loading and locating weights
- :mod:`~autoscope.agents.tip.rolling`   per-line classification as lines arrive
- :mod:`~autoscope.agents.tip.rules`     rules that hold on any surface (jumps, steps, noise, ...)
- :mod:`~autoscope.agents.tip.ood`       out-of-distribution score (verdict unknown)
- :mod:`~autoscope.agents.tip.watch`     the watched plan's per-line decision (rules, CNN, OOD)
- :mod:`~autoscope.agents.tip.imprint`   the tip's shape from an image of its imprint
- :mod:`~autoscope.agents.tip.spots`     choosing where to condition the tip
- :mod:`~autoscope.agents.tip.policy`    rule-based and Thompson-sampling policies
- :mod:`~autoscope.studies.tip.commands`  ``autoscope tip train`` and ``autoscope tip classify``
"""
