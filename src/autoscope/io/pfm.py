"""Piezoresponse from what a PFM lock-in measures: the one place the formula is written.

A PFM lock-in reports the amplitude and the phase (degrees) of the tip's
response. The instrument's *phase reference* is the phase an up-polarised
domain reads; the in-phase piezoresponse is the amplitude projected on it::

    piezoresponse = amplitude * cos(phase - phase_reference)

The reference belongs to the instrument: a backend states it
(``backend.phase_reference``, read through the device's ``phase_reference``),
and a run whose image is turned into piezoresponse records the value used
(``phase_reference`` in its start document). The twin, the campaign's overview
and readers of vendor files all call :func:`piezoresponse`. Pure numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["piezoresponse"]


def piezoresponse(amplitude, phase, phase_reference: float) -> np.ndarray:
    """In-phase piezoresponse ``amplitude * cos(phase - phase_reference)``.

    Parameters
    ----------
    amplitude : array_like
        Lock-in amplitude (a.u.).
    phase : array_like
        Lock-in phase, degrees; same shape as ``amplitude`` (or broadcastable).
    phase_reference : float
        The instrument's phase reference, degrees (taken as a Python float, so
        float32 input stays float32).

    Returns
    -------
    numpy.ndarray
        Piezoresponse in the units of ``amplitude``.
    """
    reference = float(phase_reference)
    return np.asarray(amplitude) * np.cos(np.deg2rad(np.asarray(phase) - reference))
