"""The profile picks the SPM backend from its configuration file and the environment: the twin by
default, or a Nanonis (host, port, timeout, channel names, limits); the environment overrides
the file, and a bad value is a ConfigurationError naming the key and the value."""

import sys

import pytest

from autoscope import profile
from autoscope.devices import SafetyLimits, make_spm
from autoscope.devices.nanonis.backend import NanonisSPM
from autoscope.errors import ConfigurationError
from autoscope.profile import spm_backend_options, spm_config_path

LAB = """
backend = "nanonis"

[nanonis]
host = "127.0.0.1"
port = {port}
timeout = 3.0

[nanonis.channels]
dIdV = "LI Demod 1 X (A)"

[limits]
bias = 4.0
scan_range = 300.0
pulse_voltage = 6.0
pulse_width = 0.2
max_pixels = 1024
"""


@pytest.fixture(autouse=True)
def no_user_config(monkeypatch, tmp_path):
    """The user's own spm.toml (if any) stays out of these tests."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv(profile.ENV_SPM_CONFIG, raising=False)


def _file(tmp_path, text):
    path = tmp_path / "spm.toml"
    path.write_text(text)
    return path


def test_default_is_the_twin():
    assert spm_backend_options({}) == {"backend": "twin", "sample": "si100_h", "seed": 0}


def test_nanonis_from_the_environment_reaches_the_fake(fake):
    env = {
        "AUTOSCOPE_SPM_BACKEND": "nanonis",
        "AUTOSCOPE_NANONIS_HOST": fake.host,
        "AUTOSCOPE_NANONIS_PORT": str(fake.port),
    }
    options = spm_backend_options(env)
    assert options == {"backend": "nanonis", "host": "127.0.0.1", "port": fake.port}
    spm = make_spm(name="spm", **options)
    try:
        assert isinstance(spm.backend, NanonisSPM)
        assert spm.bias.get() == pytest.approx(-1.5)
    finally:
        spm.backend.close()


def test_a_config_file_chooses_the_nanonis_its_channels_and_limits(fake, tmp_path):
    path = _file(tmp_path, LAB.format(port=fake.port))
    options = spm_backend_options({"AUTOSCOPE_SPM_CONFIG": str(path)})
    assert options == {
        "backend": "nanonis",
        "host": "127.0.0.1",
        "port": fake.port,
        "timeout": 3.0,
        "channel_names": {"dIdV": "LI Demod 1 X (A)"},
        "limits": SafetyLimits(
            bias=4.0, scan_range=300.0, pulse_voltage=6.0, pulse_width=0.2, max_pixels=1024.0
        ),
    }
    spm = make_spm(name="spm", **options)
    try:
        assert spm.backend.client.timeout == 3.0
        assert spm.limits.bias == 4.0 and spm.limits.scan_range == 300.0
        # an integer limit read from the file as a number stays an integer; the step is 16
        assert (spm.limits.max_pixels, spm.limits.pixel_step) == (1024, 16)
        assert spm.bias.get() == pytest.approx(-1.5)  # the fake answers
    finally:
        spm.backend.close()


def test_the_environment_overrides_the_file(tmp_path):
    path = _file(tmp_path, LAB.format(port=7000))
    env = {
        "AUTOSCOPE_SPM_CONFIG": str(path),
        "AUTOSCOPE_NANONIS_HOST": "10.0.0.2",
        "AUTOSCOPE_NANONIS_PORT": "6502",
    }
    options = spm_backend_options(env)
    assert (options["host"], options["port"], options["timeout"]) == ("10.0.0.2", 6502, 3.0)
    # a lab that keeps its file switches to the twin with one variable; the limits stay
    options = spm_backend_options({**env, "AUTOSCOPE_SPM_BACKEND": "twin"})
    assert options["backend"] == "twin" and options["limits"].bias == 4.0
    assert "host" not in options


def test_the_config_argument_names_the_file(tmp_path):
    path = _file(tmp_path, '[nanonis]\nhost = "10.0.0.3"\n')
    options = spm_backend_options({"AUTOSCOPE_SPM_BACKEND": "nanonis"}, config=path)
    assert options == {"backend": "nanonis", "host": "10.0.0.3", "port": 6501}


@pytest.mark.skipif(sys.platform != "linux", reason="XDG_CONFIG_HOME is the Linux convention")
def test_the_default_file_is_in_the_users_config_folder(tmp_path):
    folder = tmp_path / "xdg" / "autoscope"
    assert spm_config_path({}) == folder / "spm.toml"
    folder.mkdir(parents=True)
    (folder / "spm.toml").write_text('backend = "nanonis"\n[nanonis]\nhost = "10.0.0.4"\n')
    assert spm_backend_options({})["host"] == "10.0.0.4"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('backend = "omicron"', "backend='omicron' is not a backend"),
        ("backend = 3", "backend=3 is not a backend"),
        ("nanonis = 3", "nanonis = 3 must be a table"),
        ('backend = "nanonis"\n[nanonis]\nport = 6501', "needs AUTOSCOPE_NANONIS_HOST or"),
        ('[nanonis]\nhost = ""', r"\[nanonis\] host = '' must be a host"),
        ("[nanonis]\nport = 70000", r"\[nanonis\] port = 70000 must be a port number"),
        ("[nanonis]\nport = true", r"\[nanonis\] port = True must be a port number"),
        ("[nanonis]\ntimeout = 0", r"\[nanonis\] timeout = 0 must be a number > 0"),
        ('[nanonis]\nhots = "10.0.0.2"', r"\[nanonis\]: unknown key 'hots' \(= '10.0.0.2'\)"),
        ('[nanonis.channels]\ndidv = "X"', r"\[nanonis.channels\] didv = 'X': no such channel"),
        ('[nanonis.channels]\ndIdV = ""', r"\[nanonis.channels\] dIdV = '' must be a controller"),
        ("[limits]\nbias = -1.0", r"\[limits\] bias = -1.0 must be a number > 0"),
        ('[limits]\nbias = "5"', r"\[limits\] bias = '5' must be a number > 0"),
        ("[limits]\nvoltage = 3", r"\[limits\]: unknown key 'voltage' \(= 3\); known: bias"),
        ("lab = 1", r"spm.toml: unknown key 'lab' \(= 1\)"),
        ("backend = ", "spm.toml is not valid TOML"),
    ],
)
def test_a_bad_config_file_is_a_configuration_error_naming_key_and_value(tmp_path, text, message):
    path = _file(tmp_path, text + "\n")
    with pytest.raises(ConfigurationError, match=message) as info:
        spm_backend_options({"AUTOSCOPE_SPM_CONFIG": str(path)})
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_bad_file_is_refused_before_anything_is_sent(fake, tmp_path):
    path = _file(tmp_path, LAB.format(port=fake.port) + "dip_depth = 0\n")
    with pytest.raises(ConfigurationError, match=r"\[limits\] dip_depth = 0 must be"):
        spm_backend_options({"AUTOSCOPE_SPM_CONFIG": str(path)})
    assert fake.requests == {}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"AUTOSCOPE_SPM_BACKEND": "omicron"}, "'omicron' is not a backend"),
        ({"AUTOSCOPE_SPM_BACKEND": "nanonis"}, "needs AUTOSCOPE_NANONIS_HOST"),
        (
            {
                "AUTOSCOPE_SPM_BACKEND": "nanonis",
                "AUTOSCOPE_NANONIS_HOST": "10.0.0.2",
                "AUTOSCOPE_NANONIS_PORT": "70000",
            },
            "AUTOSCOPE_NANONIS_PORT='70000'",
        ),
        ({"AUTOSCOPE_SPM_CONFIG": "/nonexistent/spm.toml"}, "'/nonexistent/spm.toml': no such"),
    ],
)
def test_bad_environment_is_a_configuration_error(env, message):
    with pytest.raises(ConfigurationError, match=message):
        spm_backend_options(env)


def test_without_a_toml_reader_the_file_is_refused_in_one_line(monkeypatch, tmp_path):
    """Python 3.10 has no tomllib (not simulated further: tomli is not a dependency)."""
    monkeypatch.setattr(profile, "_tomllib", None)
    path = _file(tmp_path, 'backend = "twin"\n')
    with pytest.raises(ConfigurationError, match=r"TOML needs Python >= 3.11 \(tomllib\)"):
        spm_backend_options({"AUTOSCOPE_SPM_CONFIG": str(path)})
    # the environment alone still works
    assert spm_backend_options({"AUTOSCOPE_SPM_BACKEND": "twin"})["backend"] == "twin"


def test_a_labs_channel_names_reach_the_backend(fake):
    backend = NanonisSPM(
        fake.host, fake.port, channel_names={"dIdV": "LI Demod 2 X (A)", "current": "I (A)"}
    )
    assert backend.signal_names == {
        "image": {"topography": "Z (m)", "current": "I (A)"},
        "spectrum": {"current": "I (A)", "dIdV": "LI Demod 2 X (A)"},
    }
    assert backend.spectrum_channels == {"current": "pA", "dIdV": "pA"}  # units stay
    # the fake has no such signal: the controller's list is named at first use
    with pytest.raises(ConfigurationError, match=r"signal 'I \(A\)' is not among"):
        backend.signal_index("I (A)")
    backend.close()
    with pytest.raises(ConfigurationError, match="'didv' is not a channel of this backend"):
        NanonisSPM(fake.host, fake.port, channel_names={"didv": "X"})


def test_make_spm_nanonis_needs_a_host():
    with pytest.raises(ConfigurationError, match="needs host="):
        make_spm("nanonis")
