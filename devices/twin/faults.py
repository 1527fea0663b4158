"""Fault injection for the twin: timeouts, lost contact and tip crashes on request.

A :class:`FaultPlan` says which fault happens and when, counted in completed
operations from the moment the plan is armed (or in instrument seconds).
Everything is deterministic: the same plans and the same calls raise at the
same place. :func:`random_fault_plans` draws plans from a seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoscope.errors import ConfigurationError, InstrumentTimeout, LostContact, TipCrash

FAULT_KINDS = ("timeout", "lost_contact", "tip_crash")
_ERRORS = {"timeout": InstrumentTimeout, "lost_contact": LostContact, "tip_crash": TipCrash}


@dataclass(frozen=True)
class FaultPlan:
    """One fault to inject.

    Parameters
    ----------
    kind : str
        ``"timeout"``, ``"lost_contact"`` or ``"tip_crash"``.
    after_lines : int, optional
        Raise during the scan line that follows ``after_lines`` completed lines.
    after_spectra : int, optional
        Raise during the spectrum that follows ``after_spectra`` completed spectra.
    after_time : float, optional
        Raise during the first line or spectrum that starts at or after this
        many instrument seconds from arming.

    Exactly one trigger must be given.
    """

    kind: str
    after_lines: int | None = None
    after_spectra: int | None = None
    after_time: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ConfigurationError(
                f"unknown fault kind {self.kind!r}; choose one of {FAULT_KINDS}"
            )
        given = [
            v for v in (self.after_lines, self.after_spectra, self.after_time) if v is not None
        ]
        if len(given) != 1:
            raise ConfigurationError(
                f"fault {self.kind!r} needs exactly one of after_lines, after_spectra, after_time"
            )
        if given[0] < 0:
            raise ConfigurationError(f"fault {self.kind!r} trigger {given[0]!r} must be >= 0")


def random_fault_plans(
    seed: int, n: int = 1, max_lines: int = 256, max_spectra: int = 256, kinds=FAULT_KINDS
) -> list[FaultPlan]:
    """``n`` fault plans drawn from ``seed`` (kind, and a line or spectrum count)."""
    rng = np.random.default_rng((seed, 77))
    plans = []
    for _ in range(n):
        kind = str(rng.choice(list(kinds)))
        if rng.uniform() < 0.5:
            plans.append(FaultPlan(kind, after_lines=int(rng.integers(0, max_lines))))
        else:
            plans.append(FaultPlan(kind, after_spectra=int(rng.integers(0, max_spectra))))
    return plans


class FaultInjector:
    """Keeps the armed plans and decides, before each operation, whether one fires."""

    def __init__(self) -> None:
        self._armed: list[tuple[FaultPlan, int, int, float]] = []
        self.fired: list[tuple[float, FaultPlan, str]] = []

    def arm(self, plan: FaultPlan, lines_done: int, spectra_done: int, now: float) -> None:
        """Arm ``plan``; its counts start from the given totals."""
        if not isinstance(plan, FaultPlan):
            raise ConfigurationError(f"expected a FaultPlan, got {plan!r}")
        self._armed.append((plan, lines_done, spectra_done, now))

    @property
    def pending(self) -> list[FaultPlan]:
        """Plans armed and not fired yet."""
        return [p for p, *_ in self._armed]

    def due(self, op: str, lines_done: int, spectra_done: int, now: float) -> FaultPlan | None:
        """The plan that fires at this ``op`` (``"line"`` or ``"spectrum"``), removed; or None."""
        for i, (p, l0, s0, t0) in enumerate(self._armed):
            hit = (
                (op == "line" and p.after_lines is not None and lines_done - l0 >= p.after_lines)
                or (
                    op == "spectrum"
                    and p.after_spectra is not None
                    and spectra_done - s0 >= p.after_spectra
                )
                or (p.after_time is not None and now - t0 >= p.after_time)
            )
            if hit:
                del self._armed[i]
                return p
        return None

    def error(self, plan: FaultPlan, where: str, now: float) -> Exception:
        """The exception to raise for ``plan`` (and remember that it fired)."""
        msg = {
            "timeout": f"instrument did not answer within the timeout during {where}",
            "lost_contact": f"feedback lost contact with the surface during {where}",
            "tip_crash": f"tip crashed into the surface during {where}",
        }[plan.kind]
        self.fired.append((now, plan, where))
        return _ERRORS[plan.kind](msg)
