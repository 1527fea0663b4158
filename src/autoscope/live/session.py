"""What the profile calls: whether live views are wanted here, and the views, shown.

``AUTOSCOPE_LIVE`` is ``"1"`` (default) or ``"0"``; the views are shown only
where matplotlib can open a window (an interactive backend), as with
BestEffortCallback's plots. The startup file ``25-live.py`` binds the views
and subscribes them; the queue server never gets them (it is not an
interactive IPython session).
"""

from __future__ import annotations

import os

from autoscope.errors import ConfigurationError

__all__ = ["ENV_LIVE", "live_enabled", "live_views"]

ENV_LIVE = "AUTOSCOPE_LIVE"
_NON_INTERACTIVE_BACKENDS = frozenset({"agg", "cairo", "pdf", "pgf", "ps", "svg", "template"})


def live_enabled(environ=None, backend: str | None = None) -> bool:
    """True when live views should open: ``AUTOSCOPE_LIVE`` is not ``"0"`` and there is
    a display (matplotlib's backend is an interactive one).

    Parameters
    ----------
    environ : mapping, optional
        The environment (default ``os.environ``).
    backend : str, optional
        matplotlib's backend (default ``matplotlib.get_backend()``).

    Raises
    ------
    ConfigurationError
        if ``AUTOSCOPE_LIVE`` is neither ``"0"`` nor ``"1"``.
    """
    env = os.environ if environ is None else environ
    raw = env.get(ENV_LIVE, "1").strip()
    if raw not in ("0", "1", ""):
        raise ConfigurationError(f"{ENV_LIVE}={raw!r} must be '0' (off) or '1' (on)")
    if raw == "0":
        return False
    if backend is None:
        import matplotlib

        backend = matplotlib.get_backend()
    return backend.lower() not in _NON_INTERACTIVE_BACKENDS


def live_views(levelling: str = "offset", n_last: int = 10):
    """A :class:`LiveImage`, a :class:`LiveSpectra` and a :class:`LiveCampaign`,
    each in its own window.

    Returns
    -------
    (LiveImage, LiveSpectra, LiveCampaign)
        Subscribe them to the RunEngine; each redraws on its window's timer.
    """
    from autoscope.live.campaign import LiveCampaign
    from autoscope.live.image import LiveImage
    from autoscope.live.spectra import LiveSpectra

    image = LiveImage(levelling=levelling).show(title="autoscope: live image")
    spectra = LiveSpectra(n_last=n_last).show(title="autoscope: live spectra")
    campaign = LiveCampaign().show(title="autoscope: campaign")
    return image, spectra, campaign
