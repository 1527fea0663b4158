"""The twin package never imports ophyd or bluesky."""

import subprocess
import sys


def test_twin_runs_without_ophyd_or_bluesky():
    code = (
        "import sys\n"
        "import autoscope.devices.twin as t\n"
        "from autoscope.devices.backend import ScanFrame, SpectroscopySettings\n"
        "tw = t.TwinSPM('si100_h', seed=1)\n"
        "tw.scan_line(ScanFrame(pixels=16, lines=4), 0)\n"
        "tw.spectrum(0.0, 0.0, SpectroscopySettings(points=16))\n"
        "t.make_dataset('pfm', size=8, points=16)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('ophyd', 'bluesky'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
