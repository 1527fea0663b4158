"""The campaign's progress: a bar on a terminal, a log line every 5 % in the RE Manager's log."""

from __future__ import annotations

import io
import logging

import pytest
from bluesky import RunEngine

from autoscope.devices import make_spm
from autoscope.errors import ConfigurationError
from autoscope.plans.campaign import autonomous_campaign
from autoscope.plans.progress import LogProgress, progress_bar


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_gets_a_line_every_five_percent_and_no_carriage_returns(caplog):
    log = logging.getLogger("test.progress")
    caplog.set_level(logging.INFO, logger="test.progress")
    pipe = io.StringIO()  # what the queue server's worker writes to: not a terminal
    bar = progress_bar(total=200, unit="spectrum", desc="campaign", stream=pipe, logger=log)
    assert isinstance(bar, LogProgress)
    for _ in range(200):
        bar.update(1)
        bar.set_postfix_str("instrument 1.0 min, ~2.0 min left")
    bar.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 20  # 5 %, 10 %, ..., 95 %, and 100 % at the end
    assert lines[0] == "campaign: 10/200 spectrum (5 %), instrument 1.0 min, ~2.0 min left"
    assert lines[-1].startswith("campaign: 200/200 spectrum (100 %)")
    assert pipe.getvalue() == "" and not any("\r" in line for line in lines)


def test_a_terminal_gets_the_bar():
    term = Terminal()
    bar = progress_bar(total=10, desc="campaign", stream=term)
    bar.update(10)
    bar.close()
    assert "\r" in term.getvalue() and "10/10" in term.getvalue()


def test_disabled_writes_nothing(caplog):
    caplog.set_level(logging.INFO)
    bar = progress_bar(total=10, enabled=False, stream=Terminal())
    bar.update(10)
    bar.close()
    assert caplog.records == []


def test_bad_share_names_the_value():
    with pytest.raises(ConfigurationError, match="1.5"):
        LogProgress(10, every=1.5)


def test_the_campaign_logs_its_progress_in_a_log(caplog, capsys):
    """As in the RE Manager: stderr is not a terminal (pytest captures it)."""
    caplog.set_level(logging.INFO, logger="autoscope.plans.campaign")
    pfm = make_spm("twin", sample="pfm_film", seed=0, name="pfm")
    RE = RunEngine({})
    RE(autonomous_campaign(pfm, agent="random", budget=4, batch_size=2, width=400.0,
                           height=400.0, pixels=8, line_time=0.05, n_points=16))  # fmt: skip
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("campaign:")]
    assert lines[0].startswith("campaign: 2/4 spectrum (50 %), instrument")
    assert lines[-1].startswith("campaign: 4/4 spectrum (100 %)")
    assert "\r" not in capsys.readouterr().err
