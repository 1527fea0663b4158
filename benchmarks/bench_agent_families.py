"""The evidence-weighted agent against DKL, the GP and random on four target families.

Thin front-end: the study is :mod:`autoscope.studies.agent_families` (its docstring has the
families, targets, options and usage); this script runs its ``main`` and writes JSON.
"""

import sys

from autoscope.studies.agent_families import main

if __name__ == "__main__":
    sys.exit(main())
