"""Training the tip-state classifier on the SPM twin (``autoscope tip train``).

- :mod:`~autoscope.studies.tip.dataset`   labelled windows rendered by the twin
- :mod:`~autoscope.studies.tip.train`     seeded training of the ensemble
- :mod:`~autoscope.studies.tip.pipeline`  the whole recipe: data, training, held-out figures
- :mod:`~autoscope.studies.tip.twin_env`  the twin as an environment for conditioning policies
- :mod:`~autoscope.studies.tip.commands`  ``autoscope tip train`` and ``tip classify``
- :mod:`~autoscope.studies.tip.classify`  recorded images judged as the plan would
- :mod:`~autoscope.studies.tip.imprints`  twin imprints per tip kind, the imprint benchmark
- :mod:`~autoscope.studies.tip.benchmark` accuracy, delay, inference, policy, soak, real frames
  (``benchmarks/bench_tip.py``)

What runs beside an instrument (the classifier, its weights, the rolling
window, the policies) stays in :mod:`autoscope.agents.tip`.
"""
