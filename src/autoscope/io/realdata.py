"""Real instrument files that ship inside PyPI packages, found at run time.

autoscope does not redistribute these files. :data:`KNOWN_FILES` names each
by the distribution that carries it and its path inside; :func:`locate` finds
it either

1. in an installed distribution (through :mod:`importlib.metadata`, without
   importing the package, so a package with heavy dependencies can be
   installed with ``pip install --no-deps``), or
2. in a downloaded distribution archive (a wheel ``.whl`` or an sdist
   ``.tar.gz``/``.zip``) in a folder the caller names, e.g. one filled by
   ``pip download --no-deps -d DIR pynxtools-spm`` (:func:`download` runs that).

nanonis-xarray keeps its test spectra in the sdist only, so it needs route 2
with ``--no-binary :all:``.
"""

from __future__ import annotations

import importlib.metadata as md
import logging
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from autoscope.errors import ConfigurationError
from autoscope.io.dat import parse_dat
from autoscope.io.rawimage import parse_raw_image
from autoscope.io.sxm import parse_sxm

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RealFile:
    """One real file inside a PyPI distribution.

    Attributes
    ----------
    key : str
        Short name used in tables and on the command line.
    package : str
        Distribution name on PyPI.
    member : str
        Path inside the distribution (for an sdist, below its top folder).
    kind : str
        ``"sxm"``, ``"dat"`` or ``"raw"`` (shape-prefixed float64, see
        :mod:`autoscope.io.rawimage`).
    sdist_only : bool
        The file is in the source distribution, not in the wheel.
    description : str
        What the file shows (from its header or its package's documentation).
    """

    key: str
    package: str
    member: str
    kind: str
    description: str
    sdist_only: bool = False

    @property
    def name(self) -> str:
        """File name without folders."""
        return self.member.rsplit("/", 1)[-1]


_SPM = "pynxtools_spm/nomad/example_uploads"
_STM = "pynxtools_stm/nomad/examples"

#: The files the twin comparison uses (docs/twin_vs_real.md).
KNOWN_FILES: tuple[RealFile, ...] = (
    RealFile(
        "tise2_sxm",
        "pynxtools-stm",
        f"{_STM}/stm/STM_nanonis_generic_5e.sxm",
        "sxm",
        "STM constant-current topograph, TiSe2 with pyrene, 5 K, 5 nm, 512 px, "
        "+0.5 V, 100 pA, atomic/CDW lattice",
    ),
    RealFile(
        "au_mica_sxm",
        "pynxtools-spm",
        f"{_SPM}/stm/STMExampleWithCustomization/Au_mica_2023_Y_A_diPAMY_20230512_058.sxm",
        "sxm",
        "STM constant-height current image of a molecule on Au/mica, 4.4 K, 4 nm, "
        "256 px, -50 mV (Z channel constant)",
    ),
    RealFile(
        "afm_sxm",
        "pynxtools-spm",
        f"{_SPM}/afm/AFMExampleWithCustomization/A151216.123306-02602.sxm",
        "sxm",
        "nc-AFM constant-height frequency-shift image, 2 nm, 128 px",
    ),
    RealFile(
        "spiepy_defects",
        "SPIEPy",
        "spiepy/demo/image_with_defects.dat",
        "raw",
        "STM topograph with point defects, 256 px, scan size not stated",
    ),
    RealFile(
        "spiepy_step",
        "SPIEPy",
        "spiepy/demo/image_with_step_edge.dat",
        "raw",
        "STM topograph with a step edge, 512 px, scan size not stated",
    ),
    RealFile(
        "spiepy_step_atoms",
        "SPIEPy",
        "spiepy/demo/image_with_step_edge_and_atoms.dat",
        "raw",
        "STM topograph with a step edge and atomic resolution, 512 px, scan size not stated",
    ),
    RealFile(
        "au111_sts",
        "pynxtools-stm",
        f"{_STM}/sts/STS_nanonis_generic_5e_1.dat",
        "dat",
        "bias sweep over Au(111) with the tip withdrawn (comment 'WITHDRAW', current "
        "below 1 pA): a noise-floor and lock-in background record, -0.3..0.3 V, "
        "4096 points, 100 sweeps",
    ),
    RealFile(
        "au_mica_sts",
        "pynxtools-spm",
        f"{_SPM}/sts/STSExampleWithCustomization/Bias-Spectroscopy00015_20230420.dat",
        "dat",
        "STS on Au/mica with molecules, -50..50 mV, 2048 points, lock-in",
    ),
    RealFile(
        "xarray_iv",
        "nanonis-xarray",
        "tests/data/i_v.dat",
        "dat",
        "I(V) at 4.4 K, -8..8 mV, 201 points, forward and backward",
        sdist_only=True,
    ),
    RealFile(
        "xarray_filtered",
        "nanonis-xarray",
        "tests/data/filtered.dat",
        "dat",
        "I(V) with lock-in, -1..1 V, 200 points",
        sdist_only=True,
    ),
)


def default_archive_dir() -> Path:
    """Folder for downloaded archives: ``$AUTOSCOPE_REALDATA_DIR`` or the user cache.

    The user cache is ``platformdirs.user_cache_dir("autoscope") / "realdata"``.
    """
    env = os.environ.get("AUTOSCOPE_REALDATA_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("autoscope")) / "realdata"


def known_file(key: str) -> RealFile:
    """The :class:`RealFile` with ``key``; a clear error lists the keys otherwise."""
    for f in KNOWN_FILES:
        if f.key == key:
            return f
    raise ConfigurationError(f"no known real file {key!r}; known: {[f.key for f in KNOWN_FILES]}")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _from_installed(real: RealFile) -> tuple[bytes, str] | None:
    try:
        dist = md.distribution(real.package)
    except md.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(real.member)))
    if path.is_file():
        return path.read_bytes(), str(path)
    return None


def _archives(folders: Iterable[str | os.PathLike], package: str) -> list[Path]:
    prefix = _normalise(package) + "_"
    found = []
    for folder in folders:
        d = Path(folder)
        if not d.is_dir():
            continue
        for p in sorted(d.rglob("*")):
            n = p.name
            if (
                p.is_file()
                and _normalise(n).startswith(prefix)
                and (n.endswith(".whl") or n.endswith(".tar.gz") or n.endswith(".zip"))
            ):
                found.append(p)
    return found


def _member_in_archive(archive: Path, member: str) -> bytes | None:
    def matches(name: str) -> bool:
        # wheel: exact path; sdist: below the top folder "name-version/"
        return name == member or (name.count("/") >= 1 and name.split("/", 1)[1] == member)

    try:
        if archive.name.endswith(".tar.gz"):
            with tarfile.open(archive, "r:gz") as tar:
                for info in tar:
                    if info.isfile() and matches(info.name):
                        fh = tar.extractfile(info)
                        return fh.read() if fh is not None else None
        else:
            with zipfile.ZipFile(archive) as zf:
                for name in zf.namelist():
                    if matches(name):
                        return zf.read(name)
    except (tarfile.TarError, zipfile.BadZipFile, OSError) as exc:
        log.warning("cannot read archive %s: %s", archive, exc)
    return None


def locate(real: RealFile, archive_dirs: Iterable[str | os.PathLike] = ()) -> tuple[bytes, str]:
    """Find a real file and return its bytes and where it came from.

    Parameters
    ----------
    real : RealFile
        Which file.
    archive_dirs : iterable of path
        Folders holding downloaded distribution archives, searched after the
        installed distributions (default: :func:`default_archive_dir`).

    Returns
    -------
    (bytes, str)
        File content and its source (``/path/in/site-packages`` or
        ``archive.whl!member``).

    Raises
    ------
    FileNotFoundError
        If neither an installed distribution nor an archive holds it; the
        message says how to get it.
    """
    hit = None if real.sdist_only else _from_installed(real)
    if hit is not None:
        return hit
    dirs = list(archive_dirs) or [default_archive_dir()]
    for archive in _archives(dirs, real.package):
        data = _member_in_archive(archive, real.member)
        if data is not None:
            return data, f"{archive}!{real.member}"
    how = (
        f"pip download --no-deps --no-binary :all: -d DIR {real.package}"
        if real.sdist_only
        else f"pip install --no-deps {real.package}  (or pip download --no-deps -d DIR "
        f"{real.package})"
    )
    raise FileNotFoundError(
        f"{real.key}: {real.member} of {real.package} is neither installed nor in an archive "
        f"under {[str(d) for d in dirs]}; get it with: {how}"
    )


def load(real: RealFile, archive_dirs: Iterable[str | os.PathLike] = ()):
    """Locate and parse a real file.

    Returns
    -------
    SxmImage, NanonisSpectrum or numpy.ndarray
        By ``real.kind``: an :class:`~autoscope.io.sxm.SxmImage`, a
        :class:`~autoscope.io.dat.NanonisSpectrum`, or a height image in nm.

    Raises
    ------
    FileNotFoundError
        If the file is neither installed nor in an archive (see :func:`locate`).
    DataFormatError
        If its content is malformed (:class:`~autoscope.errors.SxmFormatError`,
        :class:`~autoscope.errors.DatFormatError` or
        :class:`~autoscope.errors.RawImageFormatError`).
    """
    data, source = locate(real, archive_dirs)
    if real.kind == "sxm":
        return parse_sxm(data, source)
    if real.kind == "dat":
        return parse_dat(data.decode("latin-1"), source)
    if real.kind == "raw":
        return parse_raw_image(data, source)
    raise ConfigurationError(f"{real.key}: unknown kind {real.kind!r}")


def download(dest: str | os.PathLike, packages: Iterable[str] | None = None) -> Path:
    """Download the distributions that carry :data:`KNOWN_FILES` into ``dest`` with pip.

    Wheels with ``--no-deps``; packages whose files are in the sdist only with
    ``--no-binary :all:``. Nothing is installed.

    Raises
    ------
    subprocess.CalledProcessError
        If pip fails (no network to the package index, unknown package).
    """
    d = Path(dest)
    d.mkdir(parents=True, exist_ok=True)
    wanted = set(packages) if packages is not None else {f.package for f in KNOWN_FILES}
    sdist = {f.package for f in KNOWN_FILES if f.sdist_only}
    for pkg in sorted(wanted):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(d)]
        if pkg in sdist:
            cmd += ["--no-binary", ":all:"]
        log.info("running %s", " ".join(cmd + [pkg]))
        subprocess.run(cmd + [pkg], check=True)
    return d
