"""``autoscope catalog serve|ls|path|stop``: the embedded catalog from the command line.

    autoscope catalog path            print the data folder
    autoscope catalog serve           run the server in the foreground (Ctrl-C stops)
    autoscope catalog ls              list the latest runs (starts a background server if none runs)
    autoscope catalog stop            stop the server of the folder
    autoscope catalog replay FILE...  write runs kept in spool/ or failed/ files (once)

Errors are raised as :class:`~autoscope.errors.CatalogError`; ``autoscope.cli``
prints them as one line and exits non-zero.
"""

from __future__ import annotations

import argparse
import os
import sys

from autoscope.catalog import paths
from autoscope.catalog.client import ENV_URI, connect
from autoscope.catalog.listing import HEADER, latest_runs
from autoscope.catalog.server import ensure_server, running_server, serve, stop_server


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ``catalog`` subcommands to ``parser``."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--data-dir",
        default=None,
        help=f"catalog folder (default: ${paths.ENV_DATA_DIR}, else the user data directory)",
    )
    sub = parser.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)
    sub.add_parser("path", parents=[common], help="print the catalog folder")
    p = sub.add_parser("serve", parents=[common], help="run the Tiled server in the foreground")
    p.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    p = sub.add_parser("ls", parents=[common], help="list the latest runs")
    p.add_argument("-n", "--limit", type=int, default=20, help="how many runs (0: all)")
    p.add_argument("--uri", default=None, help="a Tiled server instead of the embedded one")
    p.add_argument("--api-key", default=None, help="its API key")
    sub.add_parser("stop", parents=[common], help="stop the server of the folder")
    p = sub.add_parser(
        "replay",
        parents=[common],
        help="write runs kept in spool/ or failed/ files to the catalog (a copy there is replaced)",
    )
    p.add_argument("files", nargs="+", metavar="FILE", help="<uid>.spool or <uid>.jsonl files")
    p.add_argument("--uri", default=None, help="a Tiled server instead of the embedded one")
    p.add_argument("--api-key", default=None, help="its API key")


def main(args: argparse.Namespace) -> int:
    """Run one ``catalog`` subcommand; returns the exit status."""
    action = args.catalog_command
    if action == "path":
        print(paths.data_dir(args.data_dir))
        return 0
    if action == "serve":

        def ready(info):
            print(
                f"catalog of {info.data_dir} served at {info.uri} "
                f"(API key in {info.data_dir / paths.API_KEY_FILE}); Ctrl-C stops it",
                flush=True,
            )

        return serve(args.data_dir, args.port, on_ready=ready)
    if action == "ls":
        started = None
        if args.uri is None and not os.environ.get(ENV_URI):
            folder = paths.data_dir(args.data_dir)
            if running_server(folder) is None:
                started = ensure_server(folder)
        client = connect(uri=args.uri, api_key=args.api_key, data_dir=args.data_dir)
        if started is not None:
            print(
                f"started the catalog server of {started.data_dir} at {started.uri} in the "
                "background; `autoscope catalog stop` stops it",
                file=sys.stderr,
            )
        spool_dir = None
        if args.uri is None and not os.environ.get(ENV_URI):
            spool_dir = paths.data_dir(args.data_dir) / paths.SPOOL_DIR
        runs = latest_runs(client, args.limit, spool_dir=spool_dir)
        if not runs:
            print("no runs in the catalog yet")
            return 0
        print(HEADER)
        for run in runs:
            print(run.line())
        return 0
    if action == "stop":
        folder = paths.data_dir(args.data_dir)
        if stop_server(folder):
            print(f"stopped the catalog server of {folder}")
        else:
            print(f"no catalog server runs for {folder}")
        return 0
    if action == "replay":
        from pathlib import Path

        from autoscope.catalog.writer import replay_file
        from autoscope.errors import CatalogError

        files = [Path(f) for f in args.files]
        for f in files:  # all checked before anything is written
            if not f.is_file():
                raise CatalogError(f"no such file {f}")
        client = connect(uri=args.uri, api_key=args.api_key, data_dir=args.data_dir)
        for f in files:
            uid = replay_file(client, f)
            print(f"{f}: run {uid} written to the catalog")
        return 0
    raise AssertionError(f"unknown catalog action {action!r}")  # argparse prevents this
