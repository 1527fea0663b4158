"""The agent runner's configuration: one TOML file per campaign, checked before anything connects.

Example (deploy/agent/campaign.toml.example has every key)::

    name = "film-gp"                 # the agent: every plan it queues carries md["agent"]
    campaign = "film-2026-12-03"     # the campaign id: every run carries md["campaign"]
    budget = 40                      # spectra to measure
    batch_size = 1
    seed = 0
    device = "spm"                   # the device the plans measure with

    [agent]                          # make_agent(kind, ...) options, or an optimizer
    kind = "gp"                      # dkl, gp, random, raster
    # optimizer = "mypackage.module:factory"   # bluesky-adaptive 1.0 style object

    [candidates]                     # a square grid of candidates (nm) ...
    center_x = 0.0
    center_y = 0.0
    width = 400.0
    pixels = 16
    # overview = "<uid of a raster_image run>"   # ... or every pixel of an overview
    # channel = "topography"

    [experiment]
    scalarizer = "band_integral:-1:1"
    channel = "dIdV"

    [plan]                           # keyword arguments of spectra_at
    start = -1.5
    stop = 1.5
    n_points = 64

Addresses and secrets come from the environment, never the file:
``AUTOSCOPE_CATALOG_URI`` and ``AUTOSCOPE_API_KEY`` (the catalog),
``QSERVER_ZMQ_CONTROL_ADDRESS`` and ``QSERVER_ZMQ_INFO_ADDRESS`` (the
instrument's RE Manager; ``QSERVER_ZMQ_PUBLIC_KEY`` when it encrypts).
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autoscope.errors import ConfigurationError

__all__ = ["RunnerConfig", "load_config"]

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_TOP = {
    "name", "campaign", "budget", "batch_size", "seed", "device", "poll_interval",
    "lease_ttl", "max_failures", "manage_queue", "agent", "candidates", "experiment", "plan",
}  # fmt: skip
_GRID = {"center_x", "center_y", "width", "pixels"}
_OVERVIEW = {"overview", "channel", "patch_size"}
_PLAN = {
    "start", "stop", "n_points", "settle", "integration", "lockin_amplitude",
    "lockin_frequency", "sweeps",
}  # fmt: skip


@dataclass
class RunnerConfig:
    """What one agent runner does; see the module docstring for the file."""

    name: str
    campaign: str
    budget: int
    batch_size: int = 1
    seed: int = 0
    device: str = "spm"
    poll_interval: float = 5.0
    lease_ttl: float = 60.0
    max_failures: int = 3
    manage_queue: bool = True
    agent: dict = field(default_factory=lambda: {"kind": "gp"})
    candidates: dict = field(default_factory=dict)
    experiment: dict = field(default_factory=dict)
    plan: dict = field(default_factory=dict)
    source: str = "<config>"

    def __post_init__(self):
        where = self.source
        for key in ("name", "campaign"):
            value = getattr(self, key)
            if not isinstance(value, str) or not _ID.match(value):
                raise ConfigurationError(
                    f"{where}: {key} {value!r} must be 1-128 letters, digits, '.', '_' or '-'"
                )
        for key, low in (("budget", 1), ("batch_size", 1), ("max_failures", 1)):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ConfigurationError(
                    f"{where}: {key} must be an integer >= {low}, got {value!r}"
                )
        for key in ("poll_interval", "lease_ttl"):
            value = getattr(self, key)
            if not isinstance(value, (int, float)) or not value > 0:
                raise ConfigurationError(f"{where}: {key} must be a positive number, got {value!r}")
        c = self.candidates
        unknown = set(c) - _GRID - _OVERVIEW
        if unknown:
            raise ConfigurationError(f"{where}: unknown keys in [candidates]: {sorted(unknown)}")
        if "overview" not in c and not _GRID <= set(c):
            raise ConfigurationError(
                f"{where}: [candidates] needs overview = <run uid> or all of {sorted(_GRID)}"
            )
        if "overview" not in c:
            if not isinstance(c["pixels"], int) or c["pixels"] < 2:
                raise ConfigurationError(
                    f"{where}: pixels must be an integer >= 2, got {c['pixels']!r}"
                )
            if self.budget > c["pixels"] ** 2:
                raise ConfigurationError(
                    f"{where}: budget {self.budget} exceeds the {c['pixels'] ** 2} candidates"
                )
        unknown = set(self.plan) - _PLAN
        if unknown:
            raise ConfigurationError(
                f"{where}: unknown keys in [plan]: {sorted(unknown)}; "
                f"spectra_at takes {sorted(_PLAN)}"
            )
        if "kind" not in self.agent and "optimizer" not in self.agent:
            raise ConfigurationError(
                f"{where}: [agent] needs kind = ... or optimizer = 'module:name'"
            )

    # --------------------------------------------------------------- environment

    @staticmethod
    def catalog_address() -> tuple[str, str | None]:
        """``(uri, api key)`` from ``AUTOSCOPE_CATALOG_URI`` / ``AUTOSCOPE_API_KEY``."""
        uri = os.environ.get("AUTOSCOPE_CATALOG_URI")
        if not uri:
            raise ConfigurationError(
                "AUTOSCOPE_CATALOG_URI is not set: the agent runner reads runs from a Tiled server"
            )
        return uri.rstrip("/"), os.environ.get("AUTOSCOPE_API_KEY") or None

    @staticmethod
    def queue_addresses() -> tuple[str, str]:
        """The RE Manager's control and info addresses (``QSERVER_ZMQ_*_ADDRESS``)."""
        control = os.environ.get("QSERVER_ZMQ_CONTROL_ADDRESS")
        info = os.environ.get("QSERVER_ZMQ_INFO_ADDRESS")
        if not control or not info:
            raise ConfigurationError(
                "QSERVER_ZMQ_CONTROL_ADDRESS and QSERVER_ZMQ_INFO_ADDRESS must name the "
                "instrument's RE Manager (e.g. tcp://instrument-pc:60615 and :60625)"
            )
        return control, info


def load_config(path: str | Path) -> RunnerConfig:
    """Read and check a runner's TOML file; :class:`ConfigurationError` names key and value."""
    path = Path(path)
    if sys.version_info < (3, 11):  # pragma: no cover - tomllib is 3.11+
        raise ConfigurationError(f"{path}: reading TOML needs Python 3.11 (tomllib)")
    import tomllib

    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigurationError(f"agent config {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path}: not valid TOML ({exc})") from None
    unknown = set(data) - _TOP
    if unknown:
        raise ConfigurationError(f"{path}: unknown keys {sorted(unknown)}; known: {sorted(_TOP)}")
    for key in ("name", "campaign", "budget"):
        if key not in data:
            raise ConfigurationError(f"{path}: {key} is missing")
    for table in ("agent", "candidates", "experiment", "plan"):
        if table in data and not isinstance(data[table], dict):
            raise ConfigurationError(f"{path}: [{table}] must be a table")
    return RunnerConfig(**data, source=str(path))
