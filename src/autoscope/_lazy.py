"""The one lazy-export mechanism of autoscope's packages (PEP 562).

Some packages name public objects that live in heavy submodules (ophyd,
bluesky, torch, scipy). Importing the package must stay light, and
``import autoscope.devices.twin`` must not pull ophyd through its parent, so
those names are imported on first access instead::

    from autoscope._lazy import attach

    __getattr__, __dir__, __all__ = attach(__name__, {
        "SPM": "autoscope.devices.spm.device",   # name -> module that defines it
        "TwinSPM": ".twin",                      # relative to the package
    })

Every access goes to the defining module (nothing is cached in the package), so
a test that patches ``autoscope.catalog.server.ensure_server`` is seen through
``autoscope.catalog.ensure_server`` too. Plain imports are used wherever they
are cheap; docs/import_time.md has the figures that keep these lazy.

Standard library only: the twins import it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping

__all__ = ["attach"]


def attach(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]], list[str]]:
    """Module-level ``__getattr__``, ``__dir__`` and ``__all__`` for ``package``.

    Parameters
    ----------
    package : str
        The package's ``__name__``.
    exports : mapping
        Public name -> module that defines it (absolute, or relative to ``package``).

    Returns
    -------
    (__getattr__, __dir__, __all__)
        ``__getattr__`` imports the module of a listed name and returns the
        name from it; any other name raises :class:`AttributeError`.
    """
    table = dict(exports)
    names = list(table)

    def __getattr__(name: str):
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module, package), name)

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(names))

    return __getattr__, __dir__, names
