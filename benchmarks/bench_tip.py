"""Benchmarks of tip-state awareness on the SPM twin.

Thin front-end: the benchmark is :mod:`autoscope.studies.tip.benchmark` (its docstring has the
sections, options and usage); this script runs its ``main``.
"""

import sys

from autoscope.studies.tip.benchmark import main

if __name__ == "__main__":
    sys.exit(main())
