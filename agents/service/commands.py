"""``autoscope agent run CONFIG``: run one agent on one campaign until its budget is measured."""

from __future__ import annotations

import argparse
import json

__all__ = ["add_arguments", "add_run_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="agent_command", metavar="ACTION", required=True)
    run = sub.add_parser(
        "run",
        help="run an agent on a campaign (catalog and RE Manager from the environment)",
        description=(
            "Run the agent of CONFIG (TOML) until the campaign's budget is measured. The "
            "catalog is AUTOSCOPE_CATALOG_URI / AUTOSCOPE_API_KEY, the RE Manager "
            "QSERVER_ZMQ_CONTROL_ADDRESS / QSERVER_ZMQ_INFO_ADDRESS. Safe to kill and "
            "start again: the catalog and the queue hold the campaign's state."
        ),
    )
    add_run_arguments(run)


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``agent run`` (also those of ``python -m autoscope.agents.service``)."""
    parser.add_argument("config", help="the campaign's TOML file")
    parser.add_argument(
        "--no-subscribe",
        action="store_true",
        help="only poll the catalog (no websocket subscription)",
    )


def main(args: argparse.Namespace) -> int:
    from autoscope.agents.service.config import load_config
    from autoscope.agents.service.runner import AgentRunner

    config = load_config(args.config)
    runner = AgentRunner(config, subscribe=not args.no_subscribe)
    summary = runner.run()
    print(json.dumps(summary))
    return 0
