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

:data:`STEM_FILES` are real STEM spectrum images (EDS, EELS) with a co-registered
image from the IO test data of the hyperspy 1.7.6 wheel, read through the optional
``rsciio`` extra (:mod:`autoscope.io.stem_files`). Some lie in a zip inside the
wheel (``inner``), and a JEOL ``.ASW`` needs the folder of files it names
(``tree``); :func:`fetch_to` writes a file, and its folder, where a reader can open it.

:data:`FORCE_MAP_FILES` are real AFM force maps (JPK) from the afmformats 0.18.7 sdist's
tests, read through the optional ``afm`` extra (:mod:`autoscope.io.forcemap`). They are
maps from which a few curves were extracted (3 or 4 of 100 to 16 384 nodes): the rest
of each grid is missing.
"""

from __future__ import annotations

import importlib.metadata as md
import io
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
        ``"sxm"``, ``"dat"``, ``"raw"`` (shape-prefixed float64, see
        :mod:`autoscope.io.rawimage`), ``"stem"`` (read by
        :func:`autoscope.io.stem_files.read_stem`) or ``"forcemap"`` (read by
        :func:`autoscope.io.forcemap.read_force_map`).
    sdist_only : bool
        The file is in the source distribution, not in the wheel.
    description : str
        What the file shows (from its header or its package's documentation).
    version : str, optional
        The distribution's version that holds it (``pip download NAME==VERSION``).
    inner : str, optional
        The file's name inside ``member`` when ``member`` is a zip archive.
    tree : str, optional
        A folder (in the distribution) whose files the file refers to; :func:`fetch_to`
        writes them beside it, keeping their paths below the folder.
    """

    key: str
    package: str
    member: str
    kind: str
    description: str
    sdist_only: bool = False
    version: str | None = None
    inner: str | None = None
    tree: str | None = None

    @property
    def name(self) -> str:
        """File name without folders."""
        return (self.inner or self.member).rsplit("/", 1)[-1]

    @property
    def requirement(self) -> str:
        """What ``pip download`` is given."""
        return f"{self.package}=={self.version}" if self.version else self.package


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


_HS = "hyperspy/tests/io"

#: Real STEM spectrum images and their images, in the hyperspy 1.7.6 wheel's IO test data
#: (descriptions from the files' own metadata, read through rosettasciio)
STEM_FILES: tuple[RealFile, ...] = (
    RealFile(
        "velox_superx_10x50",
        "hyperspy",
        f"{_HS}/emd_files/fei_emd_files.zip",
        "stem",
        "Velox EMD, Super-X EDS spectrum image 50 x 10 px (10 frames summed, 4096 ch, "
        "5 eV) with its HAADF image, 2017",
        version="1.7.6",
        inner="fei_SI_SuperX-HAADF_10frames_10x50.emd",
    ),
    RealFile(
        "velox_4detectors_16x16",
        "hyperspy",
        f"{_HS}/emd_files/fei_emd_files.zip",
        "stem",
        "Velox EMD, EDS spectrum image 16 x 16 px from 4 detectors (2 frames summed, "
        "4096 ch, 5 eV) with its HAADF image, 2018",
        version="1.7.6",
        inner="fei_SI_EDS-HAADF-4detectors_2frames.emd",
    ),
    RealFile(
        "bruker_tem_bcf",
        "hyperspy",
        f"{_HS}/bruker_data/test_TEM.bcf",
        "stem",
        "Bruker Esprit .bcf, TEM EDS spectrum image 64 x 64 px (2048 ch, 10 eV, 200 kV) "
        "with its HAADF image; lines Cu Ka, O Ka, Pd La, Ti Ka",
        version="1.7.6",
    ),
    RealFile(
        "bruker_sem_bcf",
        "hyperspy",
        f"{_HS}/bruker_data/30x30_instructively_packed_16bit_compressed.bcf",
        "stem",
        "Bruker Esprit .bcf, SEM EDS spectrum image 30 x 30 px (2048 ch, about 20 000 "
        "counts a pixel) with its backscatter image; 16 element lines",
        version="1.7.6",
    ),
    RealFile(
        "jeol_asw",
        "hyperspy",
        f"{_HS}/JEOL_files/rawdata.ASW",
        "stem",
        "JEOL Analysis Station .ASW: EDS spectrum image 512 x 512 px (.pts, 4096 ch, "
        "200 kV) with its image and five element maps (C, O, S, Fe, Cu K)",
        version="1.7.6",
        tree=f"{_HS}/JEOL_files/Sample",
    ),
    RealFile(
        "dm4_eels_si",
        "hyperspy",
        f"{_HS}/dm4_3D_data/EELS_SI.dm4",
        "stem",
        "DigitalMicrograph .dm4 EELS spectrum image, 2 x 2 px, 2048 ch from 300 eV",
        version="1.7.6",
    ),
)


_AFM = "tests/data"

#: Real AFM force maps in the afmformats 0.18.7 sdist's tests (two JPK instruments;
#: grid and curve counts as afmformats reads them)
FORCE_MAP_FILES: tuple[RealFile, ...] = (
    RealFile(
        "jpk_force_map_2x2",
        "afmformats",
        f"{_AFM}/fmt-jpk-fd_map2x2_extracted.jpk-force-map",
        "forcemap",
        "JPK CellHesion force map, 10 x 10 nodes over 600 um, 2013: the 4 corner curves "
        "extracted (contact mode, 2 nN setpoint)",
        sdist_only=True,
        version="0.18.7",
    ),
    RealFile(
        "jpk_force_map_refpoints",
        "afmformats",
        f"{_AFM}/fmt-jpk-fd_map-data-reference-points.jpk-force-map",
        "forcemap",
        "JPK CellHesion force map, 25 x 25 nodes over 500 um, 2015: 3 curves extracted "
        "(4 nN setpoint)",
        sdist_only=True,
        version="0.18.7",
    ),
    RealFile(
        "jpk_qi_map",
        "afmformats",
        f"{_AFM}/fmt-jpk-fd_2020.02.07-16.29.05.036.jpk-qi-data",
        "forcemap",
        "JPK QI map, 128 x 128 nodes over 10 um, 2020: 4 curves of the first line "
        "extracted (0.1 nN setpoint)",
        sdist_only=True,
        version="0.18.7",
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
    for f in (*KNOWN_FILES, *STEM_FILES, *FORCE_MAP_FILES):
        if f.key == key:
            return f
    known = [f.key for f in (*KNOWN_FILES, *STEM_FILES, *FORCE_MAP_FILES)]
    raise ConfigurationError(f"no known real file {key!r}; known: {known}")


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _from_installed(real: RealFile, member: str) -> tuple[bytes, str] | None:
    try:
        dist = md.distribution(real.package)
    except md.PackageNotFoundError:
        return None
    if real.version is not None and dist.version != real.version:
        return None
    path = Path(str(dist.locate_file(member)))
    if path.is_file():
        return path.read_bytes(), str(path)
    return None


def _archives(
    folders: Iterable[str | os.PathLike], package: str, version: str | None = None
) -> list[Path]:
    prefix = _normalise(package) + "_" + (_normalise(version) + "_" if version else "")
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
    data, source = _locate_member(real, real.member, archive_dirs)
    if real.inner is not None:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                return zf.read(real.inner), f"{source}!{real.inner}"
        except (zipfile.BadZipFile, KeyError) as exc:
            raise FileNotFoundError(f"{real.key}: no {real.inner} in {source} ({exc})") from None
    return data, source


def _locate_member(
    real: RealFile, member: str, archive_dirs: Iterable[str | os.PathLike] = ()
) -> tuple[bytes, str]:
    hit = None if real.sdist_only else _from_installed(real, member)
    if hit is not None:
        return hit
    dirs = list(archive_dirs) or [default_archive_dir()]
    for archive in _archives(dirs, real.package, real.version):
        data = _member_in_archive(archive, member)
        if data is not None:
            return data, f"{archive}!{member}"
    how = (
        f"pip download --no-deps --no-binary :all: -d DIR {real.requirement}"
        if real.sdist_only
        else f"pip install --no-deps {real.requirement}  (or pip download --no-deps -d DIR "
        f"{real.requirement})"
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
    if real.kind == "stem":
        raise ConfigurationError(
            f"{real.key}: a STEM file is read from a folder; use fetch_to(real, folder) and "
            "autoscope.io.stem_files.read_stem"
        )
    if real.kind == "forcemap":
        raise ConfigurationError(
            f"{real.key}: a force map is read from a file; use fetch_to(real, folder) and "
            "autoscope.io.forcemap.read_force_map"
        )
    raise ConfigurationError(f"{real.key}: unknown kind {real.kind!r}")


def fetch_to(
    real: RealFile, dest: str | os.PathLike, archive_dirs: Iterable[str | os.PathLike] = ()
) -> Path:
    """Write a real file (and the folder it refers to, ``tree``) under ``dest``; its path.

    Raises
    ------
    FileNotFoundError
        If the file is neither installed nor in an archive (see :func:`locate`).
    """
    d = Path(dest)
    d.mkdir(parents=True, exist_ok=True)
    data, _ = locate(real, archive_dirs)
    out = d / real.name
    out.write_bytes(data)
    if real.tree is not None:
        root = real.member.rsplit("/", 1)[0]
        for archive in _archives(list(archive_dirs) or [default_archive_dir()], real.package,
                                 real.version):  # fmt: skip
            with zipfile.ZipFile(archive) as zf:
                names = [n for n in zf.namelist() if n.startswith(real.tree + "/")]
                for n in names:
                    if n.endswith("/"):
                        continue
                    target = d / n[len(root) + 1 :]
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(zf.read(n))
            if names:
                break
    return out


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
    every = (*KNOWN_FILES, *STEM_FILES, *FORCE_MAP_FILES)
    wanted = set(packages) if packages is not None else {f.package for f in every}
    sdist = {f.package for f in every if f.sdist_only}
    pinned = {f.package: f.requirement for f in every}
    for pkg in sorted(wanted):
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(d)]
        if pkg in sdist:
            cmd += ["--no-binary", ":all:"]
        req = pinned.get(pkg, pkg)
        log.info("running %s", " ".join(cmd + [req]))
        subprocess.run(cmd + [req], check=True)
    return d
