"""The fake controller keeps a controller's rules and injects faults; the client reports them."""

import numpy as np
import pytest

from autoscope.devices.backend import ScanFrame
from autoscope.devices.nanonis.client import NanonisClient
from autoscope.devices.nanonis.fake import FakeNanonis
from autoscope.errors import (
    ConfigurationError,
    InstrumentConnectionError,
    InstrumentTimeout,
    NanonisError,
)


def test_listens_on_loopback_only(fake):
    assert fake.host == "127.0.0.1" and fake._server.server_address[0] == "127.0.0.1"
    with pytest.raises(ConfigurationError, match="'drip'"):
        fake.inject_fault("drip")


def test_scan_changes_are_refused_while_scanning(fake, nanonis):
    frame = ScanFrame(width=8, height=8, pixels=32, lines=64, line_time=0.1)
    nanonis.scan_line(frame, 0)
    client = nanonis.client
    for command, args in [
        ("Scan.FrameSet", (0.0, 0.0, 1e-8, 1e-8, 0.0)),
        ("Scan.BufferSet", (1, [4], 64, 8)),
        ("FolMe.XYPosSet", (1e-9, 0.0, 1)),
        ("Bias.Pulse", (1, 0.05, 3.0, 1, 2)),
    ]:
        with pytest.raises(NanonisError, match=f"{command} refused: a scan is running"):
            client.call(command, *args)
    assert client.call("Scan.StatusGet") == [1]
    client.call("Scan.Action", 1, 1)  # stop
    assert client.call("Scan.StatusGet") == [0]
    client.call("FolMe.XYPosSet", 1e-9, 0.0, 1)
    assert nanonis.get_position() == pytest.approx((1.0, 0.0))


def test_out_of_range_arguments_come_back_as_error_trailers(fake, nanonis):
    with pytest.raises(NanonisError, match="bias 11.0 V is beyond") as info:
        nanonis.set_bias(11.0)
    assert info.value.command == "Bias.Set"
    with pytest.raises(NanonisError, match=r"channel indexes \[2\] not recordable"):
        nanonis.client.call("Scan.BufferSet", 1, [2], 64, 8)
    assert nanonis.get_bias() == pytest.approx(-1.5)  # nothing changed, still in step


def test_dropped_connection_then_the_next_call_reconnects(fake, nanonis):
    nanonis.get_bias()
    fake.inject_fault("drop", command="Bias.Set")
    with pytest.raises(InstrumentConnectionError, match="0 of 40 bytes .* Bias.Set"):
        nanonis.set_bias(-1.0)
    assert not nanonis.client.connected
    assert nanonis.get_bias() == pytest.approx(-1.5)  # the dropped set never acted
    assert nanonis.client.reconnects == 1


def test_a_dropped_read_is_retried_once_on_a_new_connection(fake, nanonis):
    nanonis.get_bias()
    fake.inject_fault("drop", command="Bias.Get")
    assert nanonis.get_bias() == pytest.approx(-1.5)
    assert nanonis.client.reconnects == 1


def test_stalled_answer_times_out(fake):
    client = NanonisClient(fake.host, fake.port, timeout=0.2)
    fake.inject_fault("stall", command="Bias.Get")
    with pytest.raises(InstrumentTimeout, match=r"Bias.Get gave no answer within 0.2 s"):
        client.call("Bias.Get")
    assert fake.stalled.is_set() and not client.connected
    fake.release()
    assert client.call("Bias.Get") == [pytest.approx(-1.5)]
    client.close()


def test_injected_error_trailer_and_partial_answer(fake, nanonis):
    fake.inject_fault("error", command="ZCtrl.SetpntGet", message="Z controller busy")
    with pytest.raises(NanonisError, match="ZCtrl.SetpntGet failed .*Z controller busy"):
        nanonis.get_setpoint()
    frame = ScanFrame(width=8, height=8, pixels=32, lines=4, line_time=0.1)
    fake.inject_fault("partial", command="Scan.FrameDataGrab", after=1)
    with pytest.raises(InstrumentConnectionError, match=r"closed after \d+ of \d+ bytes"):
        nanonis.scan_line(frame, 0)
    line = nanonis.scan_line(frame, 0)  # reconnects, starts the scan again
    assert line.channels["topography"][0].shape == (32,)


def test_fake_rejects_a_non_stm_twin():
    from autoscope.devices.twin import TwinSPM

    with pytest.raises(ConfigurationError, match="STM TwinSPM"):
        FakeNanonis(TwinSPM("pfm_film", seed=0))


def test_frame_data_reads_nan_until_measured(fake, nanonis):
    client = nanonis.client
    z = nanonis.signal_index("Z (m)")
    client.call("Scan.BufferSet", 1, [z], 20, 4)  # coerced to 16
    assert client.call("Scan.BufferGet")[2] == 16
    client.call("Scan.Action", 0, 1)
    *_, rows, cols, data, up = client.call("Scan.FrameDataGrab", z, 1)  # one tick: one line
    assert (rows, cols, up) == (4, 16, 1)
    measured = ~np.isnan(data).any(axis=1)
    assert measured.tolist() == [False, False, False, True]  # the bottom line, rows top first
    client.call("Scan.WaitEndOfScan", -1)
    assert not np.isnan(client.call("Scan.FrameDataGrab", z, 0)[4]).any()
    assert client.call("Scan.StatusGet") == [0]
