"""HAADF Z-contrast of the STEM twin against abTEM's multislice (issue 16 §1, optional).

abTEM is GPL: autoscope never imports it. This script runs it in a separate Python (its own
virtual environment, ``--abtem-python``), hands it the atoms and probe positions as JSON and
reads back the detector signals, and compares them with the twin's HAADF map at the same
positions. It writes ``docs/stem_vs_abtem.md`` (``--out``).

Compared: the Si/C peak ratio of an isolated Si and C column (20 Å apart), and in a graphene
sheet (the twin's ``Graphene(seed=3)`` cut to a 24 Å box around a Si dopant), the raw
(vacuum-referenced) ratio of the Si column to its three C neighbours; 60 kV, a 30 mrad
aberration-free probe, abTEM's annular detector from 60, 80 or 100 mrad to 200 mrad
(the twin's HAADF is "beyond ~80 mrad"), with and without frozen phonons.

Usage::

    python -m venv /tmp/abtem-venv && /tmp/abtem-venv/bin/pip install abtem
    python docs/scripts/stem_vs_abtem.py --abtem-python /tmp/abtem-venv/bin/python \\
        [--phonons 8] [--out docs/stem_vs_abtem.md]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

BOX = 24.0  # Å, the abTEM cell side
INNER = (60, 80, 100)  # mrad, annular detector inner angles (outer 200 mrad)

# run by --abtem-python: reads {"cases": {name: {"symbols", "positions", "probe"}},
# "phonons": n} on stdin, prints {name: {inner: [signal per probe position]}}
_ABTEM_PART = r"""
import json, sys
import numpy as np
import abtem, ase
abtem.config.set({"device": "cpu", "fft": "numpy"})
job = json.load(sys.stdin)
out = {"abtem_version": abtem.__version__}
for name, case in job["cases"].items():
    atoms = ase.Atoms(case["symbols"], positions=case["positions"],
                      cell=[case["box"], case["box"], 4.0], pbc=True)
    model = atoms
    if case["phonons"]:
        model = abtem.FrozenPhonons(atoms, num_configs=case["phonons"], sigmas=0.075, seed=1)
    pot = abtem.Potential(model, sampling=0.04, parametrization="lobato",
                          projection="infinite", slice_thickness=2)
    probe = abtem.Probe(energy=60e3, semiangle_cutoff=30)
    dets = [abtem.AnnularDetector(inner=i, outer=200) for i in job["inner"]]
    scan = abtem.CustomScan(np.array(case["probe"]))
    ms = probe.scan(pot, scan=scan, detectors=dets)
    ms = [m.compute() for m in ms] if isinstance(ms, list) else [ms.compute()]
    n = len(case["probe"])
    out[name] = {str(i): np.asarray(m.array, float).reshape(-1, n).mean(0).tolist()
                 for i, m in zip(job["inner"], ms)}
print(json.dumps(out))
"""


def _twin_cases(phonons: int):
    """The atoms (Å, in the box) and probe positions of each case, and the twin's HAADF
    map values at those positions."""
    import numpy as np

    from autoscope.devices.twin.stem.imaging import Grid, Renderer
    from autoscope.devices.twin.stem.probe import Probe
    from autoscope.devices.twin.stem.samples.base import Atoms
    from autoscope.devices.twin.stem.samples.graphene import Graphene

    probe = Probe(60, 30)
    cases, twin = {}, {}
    # isolated columns
    sample = Graphene(seed=0, hole_radius=0.0)
    atoms = Atoms([-10.0, 10.0], [0.0, 0.0], [6, 14])
    grid = Grid(-20.0, -20.0, 0.05, 800)
    img = Renderer().render(sample, atoms, probe, grid, ("haadf",))["haadf"]
    pts = [(10.0, 0.0), (-10.0, 0.0)]  # Si, C
    twin["isolated"] = grid.sample(img, *np.array(pts).T).tolist()
    c = BOX / 2
    cases["isolated"] = {
        "symbols": ["C", "Si"],
        "positions": [[c - 10.0, c, 2.0], [c + 10.0, c, 2.0]],
        "probe": [[c + 10.0, c], [c - 10.0, c]],
    }
    # in the sheet: a Si dopant and its three C neighbours
    sample = Graphene(seed=3, hole_radius=0.0)
    a = sample.atoms
    si = int(np.flatnonzero((a.Z == 14) & (np.abs(a.x) < 35) & (np.abs(a.y) < 35))[0])
    nb = [int(k) for k in a.near(a.x[si], a.y[si], 1.6) if a.Z[k] == 6]
    grid = Grid(a.x[si] - 10, a.y[si] - 10, 0.05, 400)
    img = Renderer().render(sample, a, probe, grid, ("haadf",))["haadf"]
    idx = [si, *nb]
    twin["sheet"] = grid.sample(img, a.x[idx], a.y[idx]).tolist()
    keep = (np.abs(a.x - a.x[si]) < BOX / 2 - 0.7) & (np.abs(a.y - a.y[si]) < BOX / 2 - 0.7)
    sym = {6: "C", 7: "N", 14: "Si"}
    cases["sheet"] = {
        "symbols": [sym[int(z)] for z in a.Z[keep]],
        "positions": [
            [float(x - a.x[si] + c), float(y - a.y[si] + c), 2.0]
            for x, y in zip(a.x[keep], a.y[keep])
        ],
        "probe": [[float(a.x[k] - a.x[si] + c), float(a.y[k] - a.y[si] + c)] for k in idx],
    }
    for case in cases.values():
        case["box"] = BOX
        case["phonons"] = 0
    if phonons:
        cases["sheet, frozen phonons"] = {**cases["sheet"], "phonons": phonons}
        twin["sheet, frozen phonons"] = twin["sheet"]
    return cases, twin


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--abtem-python", required=True, help="a Python with abtem installed")
    ap.add_argument("--phonons", type=int, default=8, help="frozen-phonon configurations")
    ap.add_argument("--out", default="docs/stem_vs_abtem.md")
    args = ap.parse_args(argv)
    cases, twin = _twin_cases(args.phonons)
    t0 = time.perf_counter()
    job = json.dumps({"cases": cases, "inner": list(INNER)})
    run = subprocess.run(
        [args.abtem_python, "-c", _ABTEM_PART],
        input=job,
        capture_output=True,
        text=True,
        check=False,
        env={"OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"},
    )
    if run.returncode:
        sys.stderr.write(run.stderr[-4000:])
        return 1
    ab = json.loads(run.stdout.strip().splitlines()[-1])
    seconds = time.perf_counter() - t0
    rows, dev = [], []
    for name in cases:
        t = twin[name]
        twin_ratio = t[0] / (sum(t[1:]) / len(t[1:]))
        cells = []
        for inner in INNER:
            v = ab[name][str(inner)]
            cells.append(f"{v[0] / (sum(v[1:]) / len(v[1:])):.2f}")
        rows.append(f"| {name} | {twin_ratio:.2f} | " + " | ".join(cells) + " |")
        v = ab[name]["80"]
        dev.append(f"{name} {100 * (twin_ratio / (v[0] / (sum(v[1:]) / len(v[1:]))) - 1):+.0f} %")
    text = (
        f"""# The STEM twin's HAADF contrast against abTEM

Generated by `python docs/scripts/stem_vs_abtem.py --abtem-python <python with abtem>
--phonons {args.phonons}` (abTEM {ab["abtem_version"]}, run in its own environment: abTEM is
GPL and autoscope never imports it; {seconds:.0f} s of abTEM here). Do not edit by hand.

Si/C peak ratio, raw (each column's signal with the probe on it, vacuum-referenced): the
twin's HAADF map (incoherent sum of `σ_C (Z/6)^1.8` cross sections convolved with the probe
intensity) against abTEM's multislice (Lobato potentials, 0.04 Å sampling, infinite
projection, a 24 Å periodic box) into an annular detector from the inner angle to 200 mrad.
60 kV, 30 mrad aberration-free probe. "isolated": one Si and one C column 20 Å apart;
"sheet": the twin's `Graphene(seed=3)` cut to a 24 Å box around a Si dopant, the Si column
against the mean of its three C neighbours; "frozen phonons": {args.phonons} configurations,
0.075 Å rms displacement.

| case | twin | abTEM 60–200 mrad | abTEM 80–200 mrad | abTEM 100–200 mrad |
|---|---|---|---|---|
"""
        + "\n".join(rows)
        + """

The issue asks for 4.4–5.7 for the Si/C HAADF contrast of isolated columns (the twin's is
(14/6)^1.8 = 4.59 by construction, ADR 0010). In the sheet both models see the neighbours'
tails under the probe, which lowers the raw ratio. The twin against abTEM's 80–200 mrad
detector: """
        + ", ".join(dev)
        + """. abTEM's ratio grows with the inner angle (the Z exponent
of high-angle scattering rises towards Rutherford's 2); the twin's fixed exponent 1.8 sits
between abTEM's 60 and 80 mrad detectors.
"""
    )
    Path(args.out).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
