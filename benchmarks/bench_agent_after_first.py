"""Where do the agents measure once they have found the first top-1 % location?

Thin front-end: the benchmark is :mod:`autoscope.studies.after_first` (its docstring has the
sections, options and usage); this script runs its ``main``.
"""

import sys

from autoscope.studies.after_first import main

if __name__ == "__main__":
    sys.exit(main())
