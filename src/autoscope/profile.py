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
import math
import os
import sys
import sysconfig
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path

from autoscope.catalog.paths import ENV_DATA_DIR, add_data_dir_argument, data_dir
from autoscope.errors import AutoscopeError, ConfigurationError
from autoscope.plans import __all__ as PLAN_NAMES

try:
    import tomllib as _tomllib
except ModuleNotFoundError:  # Python 3.10: no TOML reader in the standard library
    _tomllib = None

logger = logging.getLogger(__name__)

ENV_PROFILE_DIR = "AUTOSCOPE_PROFILE_DIR"
ENV_METADATA_DIR = "AUTOSCOPE_METADATA_DIR"
ENV_SPM_BACKEND = "AUTOSCOPE_SPM_BACKEND"
ENV_NANONIS_HOST = "AUTOSCOPE_NANONIS_HOST"
ENV_NANONIS_PORT = "AUTOSCOPE_NANONIS_PORT"
ENV_SPM_CONFIG = "AUTOSCOPE_SPM_CONFIG"
SPM_CONFIG_FILE = "spm.toml"
SPM_BACKEND_NAMES = ("twin", "nanonis")
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


def spm_config_path(environ=None) -> Path:
    """Where the SPM backend's configuration file is: ``AUTOSCOPE_SPM_CONFIG``, or
    ``spm.toml`` in the user's autoscope configuration folder (``platformdirs``:
    ``~/.config/autoscope/spm.toml`` on Linux). The file need not exist."""
    env = os.environ if environ is None else environ
    explicit = env.get(ENV_SPM_CONFIG, "").strip()
    if explicit:
        return Path(explicit).expanduser().absolute()
    import platformdirs  # here, not at the top: only this function needs it

    return Path(platformdirs.user_config_dir("autoscope")) / SPM_CONFIG_FILE


def read_spm_config(path: str | os.PathLike) -> dict:
    """The tables of an ``spm.toml`` file (see :func:`spm_backend_options`), unchecked.

    Raises
    ------
    ConfigurationError
        when the file cannot be read or is not TOML (naming the file and the fault),
        or on Python 3.10, which has no TOML reader (``tomllib`` is 3.11's).
    """
    path = Path(path)
    if _tomllib is None:
        raise ConfigurationError(
            f"cannot read {path}: TOML needs Python >= 3.11 (tomllib); on Python 3.10 use "
            f"{ENV_SPM_BACKEND}, {ENV_NANONIS_HOST} and {ENV_NANONIS_PORT} instead"
        )
    try:
        with path.open("rb") as f:
            return _tomllib.load(f)
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    except _tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None


def _table(config: dict, key: str, where: str) -> dict:
    value = config.get(key, {})
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where}: {key} = {value!r} must be a table ([{key}])")
    return value


def _refuse_unknown(table: dict, known, where: str) -> None:
    for key in table:
        if key not in known:
            raise ConfigurationError(
                f"{where}: unknown key {key!r} (= {table[key]!r}); known: {', '.join(known)}"
            )


def _port(value, label: str) -> int:
    """``value`` as a port number; ``label`` leads the error (``"NAME="`` or ``"[t] port = "``)."""
    number = int(value) if isinstance(value, str) and value.strip().isdigit() else value
    if isinstance(number, bool) or not isinstance(number, int) or not 0 < number < 65536:
        raise ConfigurationError(f"{label}{value!r} must be a port number in 1..65535")
    return number


def _positive(value, where: str) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not value > 0
    ):
        raise ConfigurationError(f"{where} = {value!r} must be a number > 0")
    return float(value)


def spm_backend_options(environ=None, config=None) -> dict:
    """``make_spm`` keywords of the profile's ``spm``: its configuration file, then the environment.

    The file (``AUTOSCOPE_SPM_CONFIG``, else ``<user config dir>/autoscope/spm.toml``;
    see :func:`spm_config_path`), when there is one::

        backend = "nanonis"            # or "twin" (default)

        [nanonis]
        host = "192.168.1.10"          # required for nanonis
        port = 6501                    # default 6501
        timeout = 10.0                 # s, default 10

        [nanonis.channels]             # the controller's signal names, where they differ
        topography = "Z (m)"
        current = "Current (A)"
        dIdV = "LI Demod 1 X (A)"

        [limits]                       # the device's SafetyLimits (V, pA, nm, s)
        bias = 5.0
        setpoint = 2000.0
        scan_range = 500.0
        dip_depth = 1.0
        pulse_voltage = 8.0
        pulse_width = 0.5

    The environment overrides the file: ``AUTOSCOPE_SPM_BACKEND`` (``twin`` or
    ``nanonis``), ``AUTOSCOPE_NANONIS_HOST`` and ``AUTOSCOPE_NANONIS_PORT``. With
    neither, the profile's ``spm`` is the H:Si(100) twin (seed 0). Everything is
    checked here, before anything connects.

    Parameters
    ----------
    environ : mapping, optional
        The environment (default ``os.environ``).
    config : path, optional
        The configuration file (default :func:`spm_config_path`). A file named
        here or by ``AUTOSCOPE_SPM_CONFIG`` must exist; the default one may not.

    Returns
    -------
    dict
        ``backend`` and its keywords (``sample``, ``seed`` for the twin; ``host``,
        ``port`` and, when the file sets them, ``timeout`` and ``channel_names``
        for a Nanonis), and ``limits`` (a SafetyLimits) when the file has ``[limits]``.

    Raises
    ------
    ConfigurationError
        naming the key (or variable) and its value: an unknown backend or key, a
        missing host, a port not in 1..65535, a timeout or limit that is not a
        number > 0, a channel the backend does not have; or an unreadable file.
    """
    # here, not at the top: the profile module stays light for `autoscope --help`
    from autoscope.devices.nanonis.backend import IMAGE_SIGNALS, SPECTRUM_SIGNALS
    from autoscope.devices.nanonis.client import DEFAULT_PORT
    from autoscope.devices.spm.limits import SafetyLimits

    env = os.environ if environ is None else environ
    path = Path(config).expanduser().absolute() if config is not None else spm_config_path(env)
    required = config is not None or bool(env.get(ENV_SPM_CONFIG, "").strip())
    if required and not path.is_file():
        named = "config=" if config is not None else f"{ENV_SPM_CONFIG}="
        raise ConfigurationError(f"{named}{str(path)!r}: no such file")
    data = read_spm_config(path) if path.is_file() else {}
    where = str(path)
    _refuse_unknown(data, ("backend", "nanonis", "limits"), where)
    nanonis = _table(data, "nanonis", where)
    _refuse_unknown(nanonis, ("host", "port", "timeout", "channels"), f"{where} [nanonis]")
    channels = _table(nanonis, "channels", f"{where} [nanonis]")
    limits = _table(data, "limits", where)
    _refuse_unknown(limits, [f.name for f in fields(SafetyLimits)], f"{where} [limits]")

    # what the file says, each value checked where it stands
    backend, backend_from = data.get("backend", "twin"), f"{where}: backend"
    if env.get(ENV_SPM_BACKEND, "").strip():
        backend, backend_from = env[ENV_SPM_BACKEND], ENV_SPM_BACKEND
    if not isinstance(backend, str) or backend.strip().lower() not in SPM_BACKEND_NAMES:
        raise ConfigurationError(
            f"{backend_from}={backend!r} is not a backend; choose 'twin' or 'nanonis'"
        )
    backend = backend.strip().lower()
    safety = {k: _positive(v, f"{where} [limits] {k}") for k, v in limits.items()}
    known_channels = sorted({*IMAGE_SIGNALS, *SPECTRUM_SIGNALS})
    for name, signal in channels.items():
        at = f"{where} [nanonis.channels] {name}"
        if name not in known_channels:
            raise ConfigurationError(
                f"{at} = {signal!r}: no such channel; known: {', '.join(known_channels)}"
            )
        if not isinstance(signal, str) or not signal.strip():
            raise ConfigurationError(f"{at} = {signal!r} must be a controller signal name")
    host = nanonis.get("host")
    if host is not None and (not isinstance(host, str) or not host.strip()):
        raise ConfigurationError(
            f"{where} [nanonis] host = {host!r} must be a host name or address"
        )
    port = _port(nanonis["port"], f"{where} [nanonis] port = ") if "port" in nanonis else None
    timeout = nanonis.get("timeout")
    if timeout is not None:
        timeout = _positive(timeout, f"{where} [nanonis] timeout")

    # the environment wins
    if env.get(ENV_NANONIS_HOST, "").strip():
        host = env[ENV_NANONIS_HOST]
    if env.get(ENV_NANONIS_PORT, "").strip():
        port = _port(env[ENV_NANONIS_PORT].strip(), f"{ENV_NANONIS_PORT}=")

    if backend == "twin":
        options = {"backend": "twin", "sample": "si100_h", "seed": 0}
    else:
        if host is None:
            raise ConfigurationError(
                f"{backend_from}=nanonis needs {ENV_NANONIS_HOST} or [nanonis] host in {path} "
                "(got none)"
            )
        options = {"backend": "nanonis", "host": host.strip(), "port": port or DEFAULT_PORT}
        if timeout is not None:
            options["timeout"] = timeout
        if channels:
            options["channel_names"] = {k: v.strip() for k, v in channels.items()}
    if safety:
        options["limits"] = SafetyLimits(**safety)
    return options


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
    add_data_dir_argument(parser, "the profile's catalog and RunEngine metadata live there")
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
    if getattr(args, "data_dir", None):
        # read by the startup files (connect(), metadata_dir()), as $AUTOSCOPE_DATA_DIR is
        os.environ[ENV_DATA_DIR] = str(data_dir(args.data_dir))
    import IPython

    result = IPython.start_ipython(argv=ipython_argv(args.ipython_args, args.code))
    # start_ipython returns None after an interactive session; a failing -c
    # exits through SystemExit with IPython's own status.
    return 0 if result is None else int(bool(result))
