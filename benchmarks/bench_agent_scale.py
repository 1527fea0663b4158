"""Agent step time and memory against candidates and observations; botorch side by side.

Thin front-end: the benchmark is :mod:`autoscope.studies.agent_scale` (its docstring has the
options and usage); this script runs its ``main`` and writes JSON.
"""

import sys

from autoscope.studies.agent_scale import main

if __name__ == "__main__":
    sys.exit(main())
