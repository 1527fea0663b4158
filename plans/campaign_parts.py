"""Pieces every campaign plan shares: keeping a wrapped plan's documents, and the agent's
report as a run.

- :class:`DocumentCollector`: a document callback for ``bpp.subs_wrapper`` that keeps the
  documents of the runs of one wrapped plan (the campaign unpacks its own spectra from them);
- :func:`report_signals`: the ophyd signals of an ``agent_report`` run, one per data key of
  :func:`autoscope.agents.reporting.data_keys`, made by :func:`data_signal` (event data only,
  no configuration);
- :func:`write_report`: one ``agent_report`` run with one event in stream ``"agent"``.

The SPM campaign (:mod:`autoscope.plans.campaign`) and the dose-aware STEM campaign
(:mod:`autoscope.plans.stem_campaign`) write their reports with these, so a report reads the
same whichever microscope it came from.
"""

import functools

import bluesky.preprocessors as bpp
import numpy as np
from bluesky.utils import MsgGenerator

from autoscope.agents.reporting import REPORT_STREAM, data_keys
from autoscope.plans import stubs

__all__ = ["DocumentCollector", "data_signal", "report_signals", "write_report"]


class DocumentCollector:
    """Keeps the ``(name, doc)`` pairs of the runs of one wrapped plan, in order."""

    def __init__(self):
        self.docs = []

    def __call__(self, name, doc):
        self.docs.append((name, doc))


@functools.cache
def _data_signal_class():
    from ophyd import Signal

    class DataSignal(Signal):
        """A soft signal that is event data only: it has no configuration."""

        def read_configuration(self):
            return {}

        def describe_configuration(self):
            return {}

    return DataSignal


def data_signal(name: str, value):
    """A soft ophyd signal holding ``value``, read as event data only.

    A bare ``Signal``'s configuration is its value, so every descriptor of a run that reads
    it repeats the event: an agent report's three 64×64 maps came back as 250 kB of JSON
    metadata per report (validated, truncated, stored and indexed by the catalog).
    """
    return _data_signal_class()(name=name, value=value)


def report_signals(shape, q, units) -> dict:
    """``{data key: Signal}`` of an agent report on a ``shape`` candidate grid, ``q`` points
    per step, positions in ``units``; each signal holds a zero of its key's type."""
    signals = {}
    for key, dk in data_keys(shape, q, units).items():
        if dk["dtype"] == "array":
            value = np.zeros(dk["shape"], dtype=np.dtype(dk["dtype_numpy"]))
        elif dk["dtype"] == "string":
            value = ""
        elif dk["dtype"] == "integer":
            value = 0
        else:
            value = 0.0
        signals[key] = data_signal(key, value)
    return signals


def write_report(signals, values, md) -> MsgGenerator[str]:
    """One ``agent_report`` run with one event in stream ``"agent"``; returns its uid.

    ``signals`` from :func:`report_signals`; ``values`` maps (some of) their keys to the
    step's values; ``md`` is the run's start metadata.
    """

    def inner() -> MsgGenerator[None]:
        for key, value in values.items():
            signals[key].put(value)
        yield from stubs.trigger_and_read(list(signals.values()), name=REPORT_STREAM)

    return (yield from bpp.run_wrapper(inner(), md=md))
