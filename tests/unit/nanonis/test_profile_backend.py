"""The profile picks the SPM backend from the environment: twin by default, or a Nanonis."""

import pytest

from autoscope.devices import make_spm
from autoscope.devices.nanonis.backend import NanonisSPM
from autoscope.errors import ConfigurationError
from autoscope.profile import spm_backend_options


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
    ],
)
def test_bad_environment_is_a_configuration_error(env, message):
    with pytest.raises(ConfigurationError, match=message):
        spm_backend_options(env)


def test_make_spm_nanonis_needs_a_host():
    with pytest.raises(ConfigurationError, match="needs host="):
        make_spm("nanonis")
