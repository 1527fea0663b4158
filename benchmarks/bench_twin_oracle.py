"""How much of a twin's top-1 % set could a model that sees only the image find?

Thin front-end: the benchmark is :mod:`autoscope.studies.twin_oracle` (its docstring has the
sections, options and usage); this script runs its ``main``.
"""

import sys

from autoscope.studies.twin_oracle import main

if __name__ == "__main__":
    sys.exit(main())
