"""How much of a twin's top-1 % set could a model that sees only the image find?

An agent that learns from image patches can at best learn the part of the
functional property that the image shows (PFM: domain type and distance to
walls; STM: where the dangling bonds are). The twins add hidden smooth fields
that no image channel shows (PFM: loop height, coercive bias and imprint; STM:
band bending). This script asks, per twin sample, how the benchmark's target
(the top 1 % of the measured scalar, as ``autoscope benchmark`` scores it)
splits between the two.

For each sample it ranks every location by an *oracle* score that needs no
measurement, and counts the share of the top-1 % set among the oracle's first
``--budget`` locations:

- ``exact``: the scalar of the noise-free spectra (sanity check: the noise
  barely changes the set);
- ``image_only``: the scalar of the noise-free spectra with the hidden fields
  switched off, so the best any image-only model could predict, even with
  perfect features;
- ``hidden_only`` (PFM loop area only, where the hidden fields multiply the
  loop height and coercive bias): ``exact / image_only``, the hidden factor
  alone, which a smooth function of position can follow; and
  ``hidden_log_variance_share``, the hidden factor's share of the variance of
  the logarithm of the loop area (the two factors' logarithms add).

Usage::

    python benchmarks/bench_twin_oracle.py --twin pfm --size 64 --seeds 10 \\
        --json benchmarks/results/twin_oracle_pfm.json
    python benchmarks/bench_twin_oracle.py --twin stm --size 64 --seeds 10 \\
        --scalarizer band_integral:-0.5:-0.2 --json benchmarks/results/twin_oracle_stm.json
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from autoscope.devices.twin.datasets import make_dataset
from autoscope.studies.benchmark import top_set, write_json
from autoscope.studies.groundtruth import GroundTruth, scalar_map, twin_dataset

HIDDEN_OFF = {
    "pfm": {"height_hidden": 0.0, "coercive_hidden": 0.0, "imprint_hidden": 0.0},
    "stm": {"band_bending": 0.0},
}
DEFAULT_SCALARIZER = {"pfm": "loop_area", "stm": "band_integral:-0.5:-0.2"}


def oracle_share(values: np.ndarray, score: np.ndarray, budget: int) -> float:
    """Share of the top-1 % set of ``values`` among the ``budget`` highest ``score`` locations.

    Non-finite scores rank last; ties in ``score`` keep the grid order.
    """
    top = top_set(values).ravel()
    s = np.asarray(score, dtype=float).ravel()
    s = np.where(np.isfinite(s), s, -np.inf)
    picked = np.argsort(-s, kind="stable")[:budget]
    return float(top[picked].sum() / top.sum())


def _noise_free(kind: str, size: int, seed: int, scalarizer: str, options=None) -> np.ndarray:
    d = make_dataset(kind, size=size, seed=seed, noise=0.0, sample_options=options)
    truth = GroundTruth(d["image"], d["spectra"], d["spectral_axis"])
    return scalar_map(truth, scalarizer)


def run(kind: str, size: int, scalarizer: str, budget: int, seeds) -> dict:
    """Per-seed oracle shares and their medians (see the module docstring)."""
    rows = []
    for seed in seeds:
        values = scalar_map(twin_dataset(kind, size, seed), scalarizer)
        exact = _noise_free(kind, size, seed, scalarizer)
        image = _noise_free(kind, size, seed, scalarizer, HIDDEN_OFF[kind])
        row = {
            "seed": seed,
            "n_top1": int(top_set(values).sum()),
            "exact": oracle_share(values, exact, budget),
            "image_only": oracle_share(values, image, budget),
        }
        if kind == "pfm" and scalarizer == "loop_area":
            with np.errstate(divide="ignore", invalid="ignore"):
                hidden = exact / image
                row["hidden_only"] = oracle_share(values, hidden, budget)
                ok = (exact > 0) & (image > 0)
                v_image, v_hidden = np.var(np.log(image[ok])), np.var(np.log(hidden[ok]))
            row["hidden_log_variance_share"] = float(v_hidden / (v_image + v_hidden))
        rows.append(row)
        print(
            " ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in row.items())
        )
    keys = [k for k in rows[0] if k not in ("seed", "n_top1")]
    return {
        "dataset": f"twin:{kind}:{size}x{size}",
        "scalarizer": scalarizer,
        "budget": budget,
        "seeds": [r["seed"] for r in rows],
        "per_seed": rows,
        "median": {k: float(np.median([r[k] for r in rows])) for k in keys},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--twin", choices=("pfm", "stm"), default="pfm")
    p.add_argument("--size", type=int, default=64)
    p.add_argument(
        "--scalarizer", default=None, help="default: loop_area (pfm), the DB state (stm)"
    )
    p.add_argument("--budget", type=int, default=None, help="default: 5 %% of the grid")
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    budget = args.budget if args.budget is not None else round(0.05 * args.size**2)
    if not 1 <= budget <= args.size**2:
        p.error(f"--budget must be in 1..{args.size**2}, got {budget}")
    if args.seeds < 1:
        p.error(f"--seeds must be >= 1, got {args.seeds}")
    scalarizer = args.scalarizer or DEFAULT_SCALARIZER[args.twin]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    out = run(args.twin, args.size, scalarizer, budget, seeds)
    print("median share of the top-1 % set in the oracle's first", budget, "locations:")
    for k, v in out["median"].items():
        if k != "hidden_log_variance_share":
            print(f"  {k:<12} {v:.2f}")
    if "hidden_log_variance_share" in out["median"]:
        share = out["median"]["hidden_log_variance_share"]
        print(f"median share of the variance of log(loop area) from the hidden factor: {share:.2f}")
    if args.json:
        write_json(args.json, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
