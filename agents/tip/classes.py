"""The tip-state classes the classifier tells apart, and which of them are good.

The classes follow what a microscopist says after a few scan lines:

========================  =====================================================
``good_atomic``           sharp tip, atomic resolution
``good_rows``             usable tip, rows or dimers resolved but not atoms
``blunt``                 blurry image, features broadened, low corrugation
``multi_apex``            double/multiple tip: shifted ghost copies of features
``unstable``              noisy, telegraph switching, streaks between lines
``tip_change``            the tip changed inside the window (a step between lines)
========================  =====================================================
"""

from __future__ import annotations

from autoscope.errors import ConfigurationError

CLASSES: tuple[str, ...] = (
    "good_atomic",
    "good_rows",
    "blunt",
    "multi_apex",
    "unstable",
    "tip_change",
)
"""Class names in the order of the classifier's outputs."""

GOOD: frozenset[str] = frozenset({"good_atomic", "good_rows"})
"""Classes in which imaging may carry on."""

BAD: tuple[str, ...] = tuple(c for c in CLASSES if c not in GOOD)
"""Classes that call for attention (a tip change is bad until the next window says otherwise)."""

N_CLASSES = len(CLASSES)


def class_index(name: str) -> int:
    """Index of class ``name`` in :data:`CLASSES`.

    Raises
    ------
    ConfigurationError
        If ``name`` is not one of :data:`CLASSES`.
    """
    try:
        return CLASSES.index(name)
    except ValueError:
        raise ConfigurationError(f"unknown tip class {name!r}; expected one of {CLASSES}") from None


GOOD_INDICES: tuple[int, ...] = tuple(class_index(c) for c in CLASSES if c in GOOD)
BAD_INDICES: tuple[int, ...] = tuple(class_index(c) for c in BAD)
