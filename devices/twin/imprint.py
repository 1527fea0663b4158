"""Imprints: the mark a gentle dip leaves on the surface, imaged by the tip that made it.

After conditioning, microscopists judge the new apex by imaging a point-like
feature: a single adatom, or the small cluster a gentle poke into a clean
metal leaves behind. A point imaged through the tip draws the tip itself:
one round lobe for a single sharp apex, two or three lobes (or a lobe with a
shoulder) for a multiple tip, one broad low hump for a blunt one.

In the twin, a dip leaves such a mark where the tip went down when
``TwinSPM.leave_imprints`` is on (off by default, so that twin runs made
before it existed are unchanged): a Gaussian cluster :data:`MARK_HEIGHT`
high and :data:`MARK_WIDTH` wide (sigma), at the tip's true position (drift
and creep included). The line synthesis images it through every apex of the
tip like any other feature (:func:`.imaging.apparent_height`: each apex
images it at its own offset, blurred by the tip radius, and an apex standing
back by ``dz`` shows it ``dz`` lower), so every tip state has its imprint.
An adsorbate on the tip changes the electronic contrast, not the geometry:
its imprint looks like a sharp tip's, and the telegraph noise of an unstable
tip streaks it.
"""

from __future__ import annotations

import numpy as np

from autoscope.devices.twin.samples.base import gaussian_features

MARK_HEIGHT = 0.45
"""Height (nm) of the cluster a gentle dip leaves: about two atomic layers of the metal."""
MARK_WIDTH = 0.25
"""Gaussian width (sigma, nm) of that cluster (about 0.6 nm across at half height)."""


class MarkedSurface:
    """A sample with the imprints of earlier dips on it (what the line synthesis images).

    Every attribute but :meth:`height` is the sample's own.

    Parameters
    ----------
    sample : Sample
    marks : sequence of (x, y)
        Positions (nm, sample coordinates) of the imprints.
    """

    def __init__(self, sample, marks) -> None:
        self.sample = sample
        self.marks = np.asarray(marks, dtype=np.float64).reshape(-1, 2)

    def height(self, x, y, *, blur: float = 0.0, bias: float = -1.0, contrast: float = 1.0):
        """The sample's apparent height plus the imprints, seen through a tip of radius ``blur``."""
        z = self.sample.height(x, y, blur=blur, bias=bias, contrast=contrast)
        n = len(self.marks)
        return z + gaussian_features(
            x,
            y,
            self.marks[:, 0],
            self.marks[:, 1],
            np.full(n, MARK_HEIGHT),
            np.full(n, MARK_WIDTH),
            blur,
        )

    def __getattr__(self, name):
        return getattr(self.sample, name)


__all__ = ["MARK_HEIGHT", "MARK_WIDTH", "MarkedSurface"]
