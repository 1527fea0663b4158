"""The experiment-specific side of a campaign: how a run of spectra becomes inputs and targets.

bluesky-adaptive splits an agent into what is specific to the experiment
(how to measure a point, how to unpack the measurement) and the decision
logic (:class:`~autoscope.agents.agent.ActiveLearningAgent`). This module is
the first part for spectra taken by :func:`autoscope.plans.spectroscopy.spectra_at`:
one event per spectrum in stream ``"primary"``, holding the spectral axis, the
spectrum channels and the requested and reported position (nm).

Data keys are taken from the run's start document (``spectral_axis.key``,
``spectrum_keys``) when present, else built from the device name
(``<device>_spectrum_bias``, ``<device>_spectrum_<channel>``,
``<device>_spectrum_x_reported`` ...).

Counting spectra (EDS, EELS: the channel's data key is in ``counts``, or the start
document says ``spectra_kind: "counts"``) are not checked for flat runs, as the
benchmark's ground truth does not check them (:func:`autoscope.studies.groundtruth.scalar_map`):
a run of zero counts at a spectrum's minimum is what a counter measures, not a
clipped channel. NaN and inf are flagged in every spectrum.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from autoscope.agents.scalarizers import Scalarizer, get_scalarizer
from autoscope.errors import ConfigurationError

__all__ = ["Measurements", "SpectraExperiment"]


@dataclass
class Measurements:
    """Spectra unpacked from one run.

    Attributes
    ----------
    positions : ``(n, 2)`` x, y in nm (reported by the instrument, or requested)
    requested : ``(n, 2)`` x, y in nm asked for
    spectra : ``(n, K)``
    axis : ``(K,)``
    values : ``(n,)`` scalar of each spectrum, NaN where flagged
    uid : run uid
    """

    positions: np.ndarray
    requested: np.ndarray
    spectra: np.ndarray
    axis: np.ndarray
    values: np.ndarray
    uid: str = ""


@dataclass
class SpectraExperiment:
    """Unpack spectra runs into positions and scalar targets.

    Parameters
    ----------
    scalarizer : name (``"loop_area"``, ``"band_integral:LO:HI"`` ...) or callable
    channel : str
        Spectrum channel to scalarize (``"piezoresponse"`` for PFM, ``"dIdV"`` for STM).
    device : str
        Name of the SPM device (prefix of its data keys), used when the start
        document does not list the keys.
    position : ``"reported"`` or ``"requested"``
        Which position the agent is told (the reported one is where the
        instrument says it measured, after drift and creep).
    counts : bool, optional
        The spectra are counts (no flat-run check); default: decided per run
        from the channel's units (``"counts"``) or the start document's
        ``spectra_kind``.
    """

    scalarizer: str | Scalarizer = "loop_area"
    channel: str = "piezoresponse"
    device: str = "spm"
    position: str = "reported"
    counts: bool | None = None
    _scalarizer: Scalarizer = field(init=False, repr=False)
    _counting: Scalarizer = field(init=False, repr=False)

    def __post_init__(self):
        if self.position not in ("reported", "requested"):
            raise ConfigurationError(
                f"position must be 'reported' or 'requested', got {self.position!r}"
            )
        self._scalarizer = get_scalarizer(self.scalarizer)
        self._counting = dataclasses.replace(self._scalarizer, flat_run=0, last_reasons={})

    def is_counting(self, start: dict | None = None, units: str | None = None) -> bool:
        """Whether a run's spectra are counts (see ``counts``); ``units``: the channel's."""
        if self.counts is not None:
            return bool(self.counts)
        kind = str((start or {}).get("spectra_kind", ""))
        return kind == "counts" or str(units or "").strip().lower() == "counts"

    def keys(self, start: dict | None = None) -> dict[str, str]:
        """Data keys of axis, channel, and positions for a run with start document ``start``."""
        start = start or {}
        axis_key = (start.get("spectral_axis") or {}).get("key") or f"{self.device}_spectrum_bias"
        prefix = (
            axis_key[: -len("bias")] if axis_key.endswith("bias") else f"{self.device}_spectrum_"
        )
        channel_key = (start.get("spectrum_keys") or {}).get(
            self.channel
        ) or f"{prefix}{self.channel}"
        return {
            "axis": axis_key,
            "channel": channel_key,
            "x_reported": f"{prefix}x_reported",
            "y_reported": f"{prefix}y_reported",
            "x_requested": f"{prefix}x_requested",
            "y_requested": f"{prefix}y_requested",
        }

    def unpack_arrays(
        self, data: dict, uid: str = "", start: dict | None = None, units: str | None = None
    ) -> Measurements:
        """Measurements from ``{data key: array with one row per spectrum}``; ``units``:
        the channel's data-key units, when known (counts are not checked for flat runs)."""
        keys = self.keys(start)
        missing = [k for k in keys.values() if k not in data]
        if missing:
            raise ConfigurationError(
                f"run {uid or '?'} lacks data keys {missing}; is it a spectra run of device "
                f"{self.device!r} with channel {self.channel!r}?"
            )
        spectra = np.atleast_2d(np.asarray(data[keys["channel"]], dtype=float))
        axes = np.atleast_2d(np.asarray(data[keys["axis"]], dtype=float))
        axis = axes[0]
        reported = np.column_stack(
            [np.ravel(data[keys["x_reported"]]), np.ravel(data[keys["y_reported"]])]
        ).astype(float)
        requested = np.column_stack(
            [np.ravel(data[keys["x_requested"]]), np.ravel(data[keys["y_requested"]])]
        ).astype(float)
        scalarizer = self._counting if self.is_counting(start, units) else self._scalarizer
        values = scalarizer.apply(spectra, axis) if len(spectra) else np.zeros(0)
        return Measurements(
            positions=reported if self.position == "reported" else requested,
            requested=requested,
            spectra=spectra,
            axis=axis,
            values=np.asarray(values, dtype=float),
            uid=uid,
        )

    def unpack_documents(self, documents: list[tuple[str, dict]]) -> Measurements:
        """Measurements from the documents of one run (as a RunEngine emits them)."""
        start = next((d for n, d in documents if n == "start"), {})
        primary = {
            d["uid"] for n, d in documents if n == "descriptor" and d.get("name") == "primary"
        }
        channel = self.keys(start)["channel"]
        units = next(
            (
                d.get("data_keys", {}).get(channel, {}).get("units")
                for n, d in documents
                if n == "descriptor" and d["uid"] in primary
            ),
            None,
        )
        rows: dict[str, list] = {}
        for name, doc in documents:
            if name == "event" and doc["descriptor"] in primary:
                for k, v in doc["data"].items():
                    rows.setdefault(k, []).append(v)
            elif name == "event_page" and doc["descriptor"] in primary:
                for k, v in doc["data"].items():
                    rows.setdefault(k, []).extend(list(v))
        data = {k: np.asarray(v) for k, v in rows.items()}
        return self.unpack_arrays(data, uid=start.get("uid", ""), start=start, units=units)

    def unpack_run(self, run) -> Measurements:
        """Measurements from a Tiled ``BlueskyRun`` client node (stream ``"primary"``)."""
        start = dict(run.metadata.get("start", {}))
        uid = start.get("uid", "")
        try:
            stream = run["primary"]
        except KeyError:
            raise ConfigurationError(f"run {uid} has no 'primary' stream of spectra") from None
        keys = self.keys(start)
        data = {}
        for key in keys.values():
            try:
                data[key] = np.asarray(stream[key].read())
            except KeyError:
                continue
        data_keys = dict(stream.metadata.get("data_keys") or {})
        units = data_keys.get(keys["channel"], {}).get("units")
        return self.unpack_arrays(data, uid=uid, start=start, units=units)
