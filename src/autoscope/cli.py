"""The ``autoscope`` command line.

Each subcommand lives in the module that owns its logic; this file only wires
argparse to them and turns autoscope's errors into one clear line and a
non-zero exit status.

    autoscope demo                     a whole run on a twin, on the embedded catalog
    autoscope ipython                  IPython with profile_collection/startup loaded
    autoscope catalog serve|ls|path    the embedded Tiled catalog
    autoscope watch                    the newest run live, followed through the catalog
    autoscope benchmark ...            agent benchmark harness (recorded or twin data)
    autoscope import FILE...           vendor files into the catalog as runs
    autoscope export RUN... --out F    a recorded-dataset file from catalog runs
    autoscope replay CAMPAIGN          re-run a campaign (--agent NAME, --dataset FILE.h5)
    autoscope report CAMPAIGN          a campaign's report from the catalog alone
    autoscope tip train ...            regenerate the tip-state classifier weights
    autoscope tip classify FILE...     judge the tip from recorded topographs or imprints
    autoscope agent run CONFIG         an agent as its own process (catalog + RE Manager)
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Callable, Sequence

from autoscope.errors import AutoscopeError

# subcommand -> "module:function" taking (parser) to add its arguments, and
# "module:function" taking (args) -> int to run it. Imported lazily so that
# `autoscope catalog path` does not pay for torch.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": (
        "run a whole autonomous run on a simulated microscope",
        "autoscope.studies.demo:add_arguments",
        "autoscope.studies.demo:main",
    ),
    "ipython": (
        "start IPython with the autoscope profile loaded",
        "autoscope.profile:add_arguments",
        "autoscope.profile:main",
    ),
    "catalog": (
        "the embedded Tiled catalog: serve, ls, path",
        "autoscope.catalog.commands:add_arguments",
        "autoscope.catalog.commands:main",
    ),
    "watch": (
        "show the catalog's newest run live (image, spectra, campaign), as it lands",
        "autoscope.live.watch:add_arguments",
        "autoscope.live.watch:main",
    ),
    "benchmark": (
        "benchmark an agent on a recorded dataset or a twin",
        "autoscope.studies.benchmark:add_arguments",
        "autoscope.studies.benchmark:main",
    ),
    "agent": (
        "run an agent as its own process on a facility's catalog and queue",
        "autoscope.agents.service.commands:add_arguments",
        "autoscope.agents.service.commands:main",
    ),
    "import": (
        "put vendor files (.sxm, .3ds, .dat) into the catalog as runs",
        "autoscope.io.importer:add_arguments",
        "autoscope.io.importer:main",
    ),
    "export": (
        "write a recorded-dataset file (overview + grid) from catalog runs",
        "autoscope.io.exporter:add_arguments",
        "autoscope.io.exporter:main",
    ),
    "replay": (
        "re-run a campaign from the catalog with its own agent or another",
        "autoscope.studies.replay:add_arguments",
        "autoscope.studies.replay:main",
    ),
    "report": (
        "draw a campaign's report from the catalog (any campaign: queued, interactive, replayed)",
        "autoscope.studies.campaign_report:add_arguments",
        "autoscope.studies.campaign_report:main",
    ),
    "tip": (
        "tip-state classifier: train; classify recorded images (topographs, imprints)",
        "autoscope.studies.tip.commands:add_arguments",
        "autoscope.studies.tip.commands:main",
    ),
}


def _load(ref: str) -> Callable:
    module, _, name = ref.partition(":")
    return getattr(importlib.import_module(module), name)


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The argument parser; only ``command``'s module is imported to add its arguments.

    Every subcommand is listed in ``autoscope --help``, but importing each one
    would make ``autoscope catalog path`` pay for torch, so the arguments of a
    subcommand are added only when it is the one being run.
    """
    parser = argparse.ArgumentParser(prog="autoscope", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (help_text, add_ref, run_ref) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(_run=run_ref)
        if name == command:
            _load(add_ref)(p)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if a in SUBCOMMANDS), None)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(_command_of(argv))
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(_load(args._run)(args) or 0)
    except AutoscopeError as exc:
        print(f"autoscope {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print(f"autoscope {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
