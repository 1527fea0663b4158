"""``python -m autoscope.agents.service CONFIG``: what the systemd unit autoscope-agent@ starts.

The same as ``autoscope agent run CONFIG`` (the command line sits above the
agents layer, so this module wires the few lines itself).
"""

import argparse
import logging
import os
import sys

from autoscope.agents.service.commands import add_run_arguments, main
from autoscope.errors import AutoscopeError


def _main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autoscope.agents.service")
    add_run_arguments(parser)
    args = parser.parse_args(argv)
    level = os.environ.get("AUTOSCOPE_AGENT_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per HTTP request otherwise
    try:
        return main(args)
    except AutoscopeError as exc:
        print(f"autoscope agent: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(_main())
