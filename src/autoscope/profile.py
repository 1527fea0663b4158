"""The autoscope profile: its startup folder, what its startup files call, ``autoscope ipython``.

The profile is the folder ``profile_collection/startup`` of numbered startup
files (``00-base.py`` ... ``90-ipython.py``) that bind the names a session
needs: ``RE``, ``catalog``, the devices and the plans. The same folder loads

- in IPython: ``autoscope ipython`` (IPython with the files run in order by
  this module as an IPython extension; in any IPython or Jupyter session,
  ``%load_ext autoscope.profile`` does the same), and
- in bluesky-queueserver, unchanged::

      start-re-manager --startup-dir "$(autoscope ipython --print-startup-dir)" \\
          --user-group-permissions "$(autoscope ipython --print-permissions)" ...

The startup files only bind names; the little logic they need (where the
folder is, where the RunEngine metadata persists, whether this is an
interactive IPython session) lives here.

Where the startup folder is found, in order:

1. the environment variable ``AUTOSCOPE_PROFILE_DIR`` (a startup folder);
2. ``profile_collection/startup`` of the source checkout this module belongs
   to (editable installs and running from a clone);
3. ``<sys.prefix>/share/autoscope/profile_collection/startup``, where a
   wheel installs a copy of the folder (``data_files`` in setup.py).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

from autoscope.catalog.paths import data_dir
from autoscope.errors import AutoscopeError, ConfigurationError
from autoscope.plans import __all__ as PLAN_NAMES

logger = logging.getLogger(__name__)

ENV_PROFILE_DIR = "AUTOSCOPE_PROFILE_DIR"
ENV_METADATA_DIR = "AUTOSCOPE_METADATA_DIR"
ENV_SPM_BACKEND = "AUTOSCOPE_SPM_BACKEND"
ENV_NANONIS_HOST = "AUTOSCOPE_NANONIS_HOST"
ENV_NANONIS_PORT = "AUTOSCOPE_NANONIS_PORT"
PERMISSIONS_FILE = "user_group_permissions.yaml"
METADATA_FOLDER = "run_engine_md"
_CHECKOUT_STARTUP = Path(__file__).resolve().parents[2] / "profile_collection" / "startup"
_SHARE_PARTS = ("share", "autoscope", "profile_collection", "startup")

#: Names that the profile binds and that users (and the tests) rely on.
PROFILE_NAMES = ("RE", "catalog", "db", "spm", "pfm", *PLAN_NAMES)


def startup_files(directory: str | os.PathLike) -> list[Path]:
    """Return the startup files of ``directory`` in the order they run.

    The order is the queue server's: every ``*.py`` and ``*.ipy`` file,
    sorted by name.

    Parameters
    ----------
    directory : str or path-like
        A startup folder.

    Returns
    -------
    list of Path
        Absolute paths, possibly empty.
    """
    folder = Path(directory).expanduser().absolute()
    files = [p for p in folder.iterdir() if p.is_file() and p.suffix in (".py", ".ipy")]
    return sorted(files, key=lambda p: str(p))


def _install_prefixes() -> list[str]:
    """Installation prefixes where a wheel's ``data_files`` land (venv first)."""
    return list(dict.fromkeys([sysconfig.get_path("data"), sys.prefix]))


def _candidates() -> list[tuple[str, Path]]:
    found = []
    env = os.environ.get(ENV_PROFILE_DIR)
    if env:
        found.append((f"${ENV_PROFILE_DIR}", Path(env).expanduser().absolute()))
        return found  # an explicit choice is never silently replaced
    found.append(("source checkout", _CHECKOUT_STARTUP))
    for prefix in _install_prefixes():
        found.append(("installed data", Path(prefix).joinpath(*_SHARE_PARTS)))
    return found


def startup_dir() -> Path:
    """Return the profile's startup folder (see the module docstring for the order).

    Returns
    -------
    Path
        An existing folder that holds at least one startup file.

    Raises
    ------
    ConfigurationError
        If no candidate folder exists or holds startup files; the message lists
        where it looked.
    """
    looked = []
    for label, folder in _candidates():
        if folder.is_dir() and startup_files(folder):
            return folder
        looked.append(f"{folder} ({label})")
    raise ConfigurationError(
        "no autoscope profile startup folder found; looked in: "
        + "; ".join(looked)
        + f". Set {ENV_PROFILE_DIR} to a folder of startup files (profile_collection/startup "
        "of an autoscope checkout)."
    )


def permissions_file(directory: str | os.PathLike | None = None) -> Path:
    """Return the queue server's ``user_group_permissions.yaml`` beside a startup folder.

    Parameters
    ----------
    directory : str or path-like, optional
        The startup folder; default :func:`startup_dir`.

    Raises
    ------
    ConfigurationError
        If the file is not there.
    """
    folder = Path(directory) if directory is not None else startup_dir()
    path = folder.absolute().parent / PERMISSIONS_FILE
    if not path.is_file():
        raise ConfigurationError(f"no {PERMISSIONS_FILE} beside the startup folder {folder}")
    return path


def metadata_dir() -> Path:
    """Return (and create) the folder where the RunEngine's metadata persists.

    ``AUTOSCOPE_METADATA_DIR`` if set, else ``run_engine_md`` inside the
    catalog's data folder (``AUTOSCOPE_DATA_DIR`` or the user's data folder),
    so that ``RE.md`` (operator, sample, proposal ...) survives restarts on
    this machine even when the catalog itself is remote. Below it, the queue
    server's worker and interactive sessions keep separate folders
    (``queueserver/`` and ``session/``): bluesky's PersistentDict (zict) is
    safe for one process at a time only, and both may run at once.

    Raises
    ------
    ConfigurationError
        If the folder cannot be created.
    """
    env = os.environ.get(ENV_METADATA_DIR)
    if env:
        base = Path(env).expanduser().absolute()
    else:
        base = data_dir() / METADATA_FOLDER
    folder = base / ("queueserver" if in_queue_server() else "session")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigurationError(
            f"RunEngine metadata folder {folder} cannot be created ({exc.strerror}); "
            f"set {ENV_METADATA_DIR} or AUTOSCOPE_DATA_DIR to a writable folder"
        ) from None
    return folder


def spm_backend_options(environ=None) -> dict:
    """``make_spm`` keywords of the profile's ``spm``, chosen by the environment.

    ``AUTOSCOPE_SPM_BACKEND`` is ``twin`` (default: the H:Si(100) twin, seed 0)
    or ``nanonis``; then ``AUTOSCOPE_NANONIS_HOST`` (required) and
    ``AUTOSCOPE_NANONIS_PORT`` (default 6501) say where the controller listens.
    A lab switches by setting these before starting IPython or the queue server.

    Raises
    ------
    ConfigurationError
        for an unknown backend, a missing host or a port that is not 1..65535.
    """
    env = os.environ if environ is None else environ
    backend = env.get(ENV_SPM_BACKEND, "twin").strip().lower() or "twin"
    if backend == "twin":
        return {"backend": "twin", "sample": "si100_h", "seed": 0}
    if backend != "nanonis":
        raise ConfigurationError(
            f"{ENV_SPM_BACKEND}={backend!r} is not a backend; choose 'twin' or 'nanonis'"
        )
    host = env.get(ENV_NANONIS_HOST, "").strip()
    if not host:
        raise ConfigurationError(f"{ENV_SPM_BACKEND}=nanonis needs {ENV_NANONIS_HOST} (got none)")
    raw = env.get(ENV_NANONIS_PORT, "6501").strip()
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigurationError(f"{ENV_NANONIS_PORT}={raw!r} must be a port number in 1..65535")
    return {"backend": "nanonis", "host": host, "port": int(raw)}


def in_queue_server() -> bool:
    """True inside a bluesky-queueserver RE Worker (whether or not it uses IPython)."""
    try:
        from bluesky_queueserver import is_re_worker_active
    except ImportError:  # the queue server is an optional extra
        return False
    return bool(is_re_worker_active())


def in_interactive_ipython() -> bool:
    """True in an IPython session a person types into, False in the queue server.

    Live tables, progress bars and magics are for people; the queue server
    loads the same startup files and must not get them.
    """
    if in_queue_server():
        return False
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    return get_ipython() is not None


_NON_INTERACTIVE_BACKENDS = frozenset({"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"})


def best_effort_callback():
    """Return bluesky's BestEffortCallback, with plots only where they can be shown.

    On a non-interactive matplotlib backend (a terminal without a display,
    ``MPLBACKEND=Agg``) plots are disabled; the live table stays.

    Returns
    -------
    bluesky.callbacks.best_effort.BestEffortCallback
    """
    import matplotlib
    from bluesky.callbacks.best_effort import BestEffortCallback

    bec = BestEffortCallback()
    if matplotlib.get_backend().lower() in _NON_INTERACTIVE_BACKENDS:
        bec.disable_plots()
    return bec


def profile_summary(namespace: dict) -> str:
    """Describe in a few lines what a loaded profile bound: catalog, devices, plans.

    Parameters
    ----------
    namespace : dict
        The namespace the startup files ran in (``globals()`` of a startup file).

    Returns
    -------
    str
        Text for a person at the prompt.
    """
    import inspect

    from bluesky.protocols import Readable
    from bluesky.utils import is_plan

    devices = sorted(
        k for k, v in namespace.items()
        if not k.startswith("_") and not inspect.isclass(v) and isinstance(v, Readable)
    )  # fmt: skip
    plans = sorted(
        k for k, v in namespace.items()
        if not k.startswith("_") and is_plan(v)
    )  # fmt: skip
    catalog = namespace.get("catalog")
    where = getattr(getattr(catalog, "context", None), "api_uri", None) or "(no catalog)"
    return "\n".join(
        [
            "autoscope profile loaded.",
            f"  RE        RunEngine, metadata kept in {metadata_dir()}",
            f"  catalog   {where}",
            f"  devices   {', '.join(devices) or '(none)'}",
            f"  plans     {', '.join(plans) or '(none)'}",
            "  e.g.      RE(raster_image(spm, lines=64)); catalog.values().last()",
        ]
    )


def load_into_ipython(ipython, directory: str | os.PathLike | None = None) -> None:
    """Run the startup files, in order, in ``ipython``'s user namespace.

    Parameters
    ----------
    ipython : IPython.core.interactiveshell.InteractiveShell
        The running shell.
    directory : str or path-like, optional
        The startup folder; default :func:`startup_dir`.

    Raises
    ------
    AutoscopeError
        As raised by a startup file (the catalog cannot be reached, a device
        cannot be made), with the file's name put in front of the message;
        the files after it are not run. Other exceptions propagate unchanged.
    """
    folder = Path(directory) if directory is not None else startup_dir()
    ns = ipython.user_ns
    for path in startup_files(folder):
        logger.info("running startup file %s", path)
        ns["__file__"] = str(path)
        try:
            if path.suffix == ".ipy":
                ipython.safe_execfile_ipy(str(path), raise_exceptions=True)
            else:
                ipython.safe_execfile(str(path), ns, raise_exceptions=True)
        except AutoscopeError as exc:
            raise type(exc)(f"{path.name}: {exc}") from exc
        finally:
            ns.pop("__file__", None)


def load_ipython_extension(ipython) -> None:
    """Load the profile as an IPython extension: ``%load_ext autoscope.profile``.

    This is how ``autoscope ipython`` loads it, and how a Jupyter notebook or
    any IPython session can: the startup folder of :func:`startup_dir` runs
    in the user namespace.
    """
    load_into_ipython(ipython)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``autoscope ipython`` to ``parser``."""
    parser.add_argument(
        "--startup-dir",
        type=Path,
        default=None,
        help=f"folder of startup files (default: the autoscope profile; ${ENV_PROFILE_DIR})",
    )
    show = parser.add_mutually_exclusive_group()
    show.add_argument(
        "--print-startup-dir",
        action="store_true",
        help="print the startup folder (for start-re-manager --startup-dir) and exit",
    )
    show.add_argument(
        "--print-permissions",
        action="store_true",
        help=f"print the path of {PERMISSIONS_FILE} (for start-re-manager) and exit",
    )
    parser.add_argument(
        "-c",
        dest="code",
        default=None,
        help="run CODE after the profile is loaded, then exit (IPython's -c)",
    )
    parser.add_argument(
        "ipython_args",
        nargs=argparse.REMAINDER,
        metavar="-- ARGS",
        help="further arguments for IPython after '--' (e.g. -- --simple-prompt -i)",
    )


def ipython_argv(extra: Sequence[str] = (), code: str | None = None) -> list[str]:
    """Return IPython's command line that loads the profile, then runs ``extra``.

    The profile loads as the extension ``autoscope.profile`` (before any
    ``-c`` code), and a failure to load it ends IPython instead of leaving a
    half-loaded session.

    Parameters
    ----------
    extra : sequence of str
        Further IPython arguments; a leading ``--`` is dropped.
    code : str, optional
        Code to run after the profile (IPython's ``-c``).
    """
    argv = [
        "--InteractiveShellApp.extensions=['autoscope.profile']",
        "--InteractiveShellApp.reraise_ipython_extension_failures=True",
    ]
    extra = list(extra)
    if extra[:1] == ["--"]:
        extra = extra[1:]
    if code is not None:
        extra += ["-c", code]
    return argv + extra


def main(args: argparse.Namespace) -> int:
    """Run ``autoscope ipython``: IPython with the profile loaded.

    Returns
    -------
    int
        IPython's exit status (0 unless ``-c`` code raised).
    """
    folder = args.startup_dir.expanduser().absolute() if args.startup_dir else startup_dir()
    if args.print_startup_dir:
        print(folder)
        return 0
    if args.print_permissions:
        print(permissions_file(folder))
        return 0
    if not folder.is_dir():
        raise ConfigurationError(f"startup folder {folder} does not exist")
    files = startup_files(folder)
    if not files:
        raise ConfigurationError(f"startup folder {folder} holds no *.py or *.ipy files")
    logger.info("loading the profile from %s (%d files)", folder, len(files))
    os.environ[ENV_PROFILE_DIR] = str(folder)  # read by load_ipython_extension
    import IPython

    result = IPython.start_ipython(argv=ipython_argv(args.ipython_args, args.code))
    # start_ipython returns None after an interactive session; a failing -c
    # exits through SystemExit with IPython's own status.
    return 0 if result is None else int(bool(result))
