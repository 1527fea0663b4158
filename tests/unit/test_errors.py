"""One error convention (autoscope.errors): what each class means and where it lives.

- bad input or configuration: ConfigurationError, which is also a ValueError;
- a file whose content is malformed: DataFormatError, which is not a configuration error;
- every exception and warning class of the package is defined in autoscope.errors.
"""

import importlib
import inspect
import pkgutil

import numpy as np
import pytest

from autoscope import errors
from autoscope.errors import (
    AutoscopeError,
    ConfigurationError,
    DataFormatError,
    DatFormatError,
    RawImageFormatError,
    RecordedDatasetFormatError,
    SxmFormatError,
)

# The import package is assembled from several folders (setup.py's MAPPING), so
# walking autoscope.__path__ alone would miss these subpackages.
TOP_PACKAGES = (
    "autoscope",
    "autoscope.agents",
    "autoscope.devices",
    "autoscope.plans",
    "autoscope.studies",
)


def test_configuration_error_is_a_value_error():
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(ConfigurationError, AutoscopeError)
    with pytest.raises(ValueError, match="bad"):
        raise ConfigurationError("bad")


@pytest.mark.parametrize(
    "cls",
    [
        DataFormatError,
        SxmFormatError,
        DatFormatError,
        RawImageFormatError,
        RecordedDatasetFormatError,
    ],
)
def test_data_format_errors_are_not_configuration_errors(cls):
    assert issubclass(cls, DataFormatError) and issubclass(cls, AutoscopeError)
    assert not issubclass(cls, ConfigurationError)
    assert not issubclass(cls, ValueError)


def test_old_import_names_still_work():
    from autoscope.agents.scalarizers import InvalidSpectrumWarning
    from autoscope.io.dat import DatFormatError as dat_error
    from autoscope.io.rawimage import RawImageFormatError as raw_error
    from autoscope.io.sxm import SxmFormatError as sxm_error

    assert sxm_error is SxmFormatError and dat_error is DatFormatError
    assert raw_error is RawImageFormatError
    assert InvalidSpectrumWarning is errors.InvalidSpectrumWarning


def test_a_corrupt_sxm_file_is_a_data_format_error(tmp_path):
    from autoscope.io.sxm import read_sxm, write_sxm

    img = np.arange(12, dtype=np.float32).reshape(3, 4)
    path = write_sxm(tmp_path / "scan.sxm", {"Z": (img, img)}, {"Z": "nm"}, (4.0, 3.0))
    assert read_sxm(path).image("Z").shape == (3, 4)
    corrupt = tmp_path / "corrupt.sxm"
    corrupt.write_bytes(path.read_bytes()[:-10])  # truncated data block
    with pytest.raises(SxmFormatError, match="corrupt.sxm: data block holds") as info:
        read_sxm(corrupt)
    assert isinstance(info.value, DataFormatError)
    assert not isinstance(info.value, ConfigurationError)
    # asking the readable file for a channel it lacks is the caller's mistake
    with pytest.raises(ConfigurationError, match="no channel 'Current'"):
        read_sxm(path).image("Current")


def test_a_corrupt_recorded_dataset_is_a_data_format_error(tmp_path):
    import h5py

    from autoscope.io.recorded import read_recorded_dataset

    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as f:
        f["other"] = np.zeros(3)
    with pytest.raises(DataFormatError, match="no 'image' dataset"):
        read_recorded_dataset(empty)


def test_a_bad_tip_training_config_is_a_configuration_error(tmp_path, capsys):
    from autoscope.cli import main
    from autoscope.studies.tip.pipeline import PipelineConfig

    with pytest.raises(ConfigurationError, match=r"train_seeds \(0, 10\) and test_seeds \(5, 15\)"):
        PipelineConfig(train_seeds=(0, 10), test_seeds=(5, 15))
    with pytest.raises(ConfigurationError, match="n_lines 64 exceeds the 48 lines"):
        PipelineConfig(n_lines=64)
    # the command line reports it as an error, without a traceback and before any training
    out = tmp_path / "w.weights.pt"
    assert main(["tip", "train", "--tiny", "--n-lines", "99", "--out", str(out)]) == 1
    assert "n_lines 99 exceeds the 32 lines per frame" in capsys.readouterr().err
    assert not out.exists()


def test_tip_agent_checks_raise_configuration_errors():
    from autoscope.agents.tip.classes import class_index
    from autoscope.agents.tip.policy import Action, make_policy
    from autoscope.agents.tip.rolling import BadTipDetector

    with pytest.raises(ConfigurationError, match="unknown tip class 'dull'"):
        class_index("dull")
    with pytest.raises(ConfigurationError, match="threshold must lie in \\(0, 1\\); got 1.5"):
        BadTipDetector(threshold=1.5)
    with pytest.raises(ConfigurationError, match="action kind must be 'pulse' or 'dip'; got 'zap'"):
        Action("zap", 1.0)
    with pytest.raises(ConfigurationError, match="unknown policy 'greedy'"):
        make_policy("greedy")


def test_a_signal_outside_an_spm_device_is_a_configuration_error():
    from ophyd.signal import Signal

    from autoscope.devices.signals import owner_spm

    with pytest.raises(ConfigurationError, match="'lonely' is not part of an SPM device"):
        owner_spm(Signal(name="lonely"))


def _package_modules():
    names = []
    for top in TOP_PACKAGES:
        package = importlib.import_module(top)
        names.append(top)
        names += [m.name for m in pkgutil.walk_packages(package.__path__, top + ".")]
    return sorted(set(names))


def test_every_exception_class_of_the_package_lives_in_autoscope_errors():
    modules = _package_modules()
    assert {
        "autoscope.io.sxm",
        "autoscope.agents.tip.rolling",
        "autoscope.devices.signals",
        "autoscope.plans.tip_watch",
        "autoscope.studies.tip.pipeline",
    } <= set(modules)
    skipped, elsewhere = [], []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an optional extra that is not installed
            if (exc.name or "").startswith("autoscope"):
                raise
            skipped.append(f"{name} ({exc.name})")
            continue
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, BaseException)
                and cls.__module__ == name
                and name != "autoscope.errors"
            ):
                elsewhere.append(f"{name}.{cls.__qualname__}")
    assert elsewhere == [], f"exception classes outside autoscope.errors: {elsewhere}"
    assert skipped == [], f"modules not importable (a missing extra?): {skipped}"
