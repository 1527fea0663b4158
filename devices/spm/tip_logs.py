"""What the tip watcher records beside the image: its verdicts and its conditioning steps.

Two soft devices (ophyd signals that hold values, no hardware): a plan puts the
values and triggers a read, so they land as events of their own streams
(``tip_state`` and ``tip_actions``) in the same run as the image lines.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ophyd import Component as Cpt
from ophyd import Device, Signal

__all__ = ["TipVerdictLog", "TipActionLog"]


class TipVerdictLog(Device):
    """The classifier's verdict after one line (stream ``tip_state``).

    ``n_classes`` sizes ``proba`` (one confidence per tip-state class, in the
    classifier's class order) so that its descriptor has its shape from the start.
    """

    line = Cpt(Signal, value=-1, kind="hinted")
    label = Cpt(Signal, value="", kind="normal")
    p_bad = Cpt(Signal, value=float("nan"), kind="hinted")
    agreement = Cpt(Signal, value=float("nan"), kind="normal")
    proba = Cpt(Signal, value=np.zeros(0), kind="normal")

    def __init__(self, *args, n_classes: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.proba.put(np.zeros(int(n_classes)))

    def record(
        self, line: int, label: str, p_bad: float, agreement: float, proba: Sequence[float]
    ) -> None:
        """Hold one verdict: its line, label, bad-state confidence, agreement, class confidences."""
        self.line.put(int(line))
        self.label.put(str(label))
        self.p_bad.put(float(p_bad))
        self.agreement.put(float(agreement))
        self.proba.put(np.asarray(proba, dtype=float))


class TipActionLog(Device):
    """One conditioning step and why it was taken (stream ``tip_actions``)."""

    step = Cpt(Signal, value=0, kind="hinted")
    action = Cpt(Signal, value="", kind="normal")
    action_kind = Cpt(Signal, value="", kind="normal")
    magnitude = Cpt(Signal, value=float("nan"), kind="normal")
    spot_x = Cpt(Signal, value=float("nan"), kind="normal")
    spot_y = Cpt(Signal, value=float("nan"), kind="normal")
    state_before = Cpt(Signal, value="", kind="normal")
    state_after = Cpt(Signal, value="", kind="normal")
    p_bad_after = Cpt(Signal, value=float("nan"), kind="normal")
    t_start = Cpt(Signal, value=float("nan"), kind="normal")
    t_end = Cpt(Signal, value=float("nan"), kind="normal")
    reason = Cpt(Signal, value="", kind="normal")
