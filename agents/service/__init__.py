"""The agent runner: an agent as its own restartable process beside an instrument.

``autoscope agent run CONFIG`` (or ``python -m autoscope.agents.service
CONFIG``, what the systemd unit starts) reads runs from the catalog, decides
with an :class:`~autoscope.agents.protocol.Agent`, writes each decision's
report to the catalog and queues the next measurement on the instrument's
RE Manager. See :mod:`autoscope.agents.service.runner` and
docs/decisions/0013-agent-runner.md.

Modules: ``config`` (the TOML file), ``runner`` (the loop), ``queue`` (the RE
Manager), ``reports`` (deterministic report runs), ``lease`` (one runner per
campaign), ``commands`` (the command line).
"""
