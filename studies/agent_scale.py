"""How an agent step scales with the candidates (overview pixels) and the observations.

One step is what a campaign pays between two measurements: the model update
(the posterior over every candidate, and every ``max(1, n // refit_scale)``
observations a warm-started training of the hyperparameters on at most
``train_max`` of them) and the acquisition's choice among all of them. For
each overview size and number of observations this times a few steps of an
agent's model (``bma``: both models and their mixture; or ``dkl``, ``gp``)
after a first fit, and reports the median wall and CPU seconds, the peak
resident memory of the process, and for the lazy posterior how many
candidates' variances had to be made exact. The steps a campaign pays at
that size are of two kinds, timed apart: those between trainings (``step``,
the median of a campaign once ``n > 2 refit_scale``) and one that trains
both models (``training_step``); ``refit_every`` and ``step_mean_cpu_s``
give the campaign's mean, ``((k - 1) step + training_step) / k``. The overview is smoothed
Gaussian noise and the observations a smooth map plus noise, at random
pixels (seeded); the step's cost does not depend on what the image shows.

Side by side (``--botorch``): the same fitted posterior's choice by botorch's
``optimize_acqf_discrete`` over an ``AcquisitionFunction``
(:mod:`autoscope.agents.botorch_acquisition`), which needs every candidate's
variance, against the hand-written :func:`~autoscope.agents.acquisition.select`;
time and whether both chose the same candidate. Skipped where the exact
variances would cost more than ``--botorch-max`` (``N n^2``).

Usage::

    python benchmarks/bench_agent_scale.py --sizes 64,128,256 --observations 100,300,1000 \\
        --agent bma --steps 3 --botorch --json agent_scale.json
"""

from __future__ import annotations

import argparse
import logging
import resource
import time

import numpy as np
from scipy.ndimage import gaussian_filter

from autoscope.agents.acquisition import select
from autoscope.agents.averaging import ModelAverage
from autoscope.agents.botorch_acquisition import select_botorch
from autoscope.agents.candidates import CandidateSet
from autoscope.agents.models import make_model, torch_threads
from autoscope.studies.benchmark import write_json

__all__ = ["main", "time_steps"]

log = logging.getLogger(__name__)


def _rss_mb() -> float:
    """Resident memory of this process now, MB (Linux ``/proc``; NaN elsewhere)."""
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
    except OSError:
        return float("nan")
    return pages * resource.getpagesize() / 2**20


def _model(kind: str, candidates: CandidateSet, seed: int, options: dict | None = None):
    options = dict(options or {})
    if kind == "bma":
        return ModelAverage(candidates, seed=seed, dkl=options, gp=options)
    return make_model(kind, candidates, seed=seed, **options)


def _submodels(model) -> list:
    return list(model.models.values()) if hasattr(model, "models") else [model]


def time_steps(
    size: int,
    n_obs: int,
    kind: str = "bma",
    steps: int = 3,
    seed: int = 0,
    botorch: bool = False,
    botorch_max: float = 3e9,
    threads: int = 1,
    options: dict | None = None,
) -> dict:
    """Median step time of ``kind`` on a ``size x size`` overview with ``n_obs`` observations."""
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    image = gaussian_filter(rng.standard_normal((size, size)), 2.0)
    cands = CandidateSet.from_image(image)
    setup = time.perf_counter() - t0
    n = len(cands)
    order = rng.permutation(n)[: n_obs + steps]
    pos = cands.normalized_positions()[order]
    y = np.sin(6 * pos[:, 0]) * np.cos(4 * pos[:, 1]) + 0.1 * rng.standard_normal(len(order))
    measured = np.zeros(n, dtype=bool)
    measured[order[: n_obs - 1]] = True
    model = _model(kind, cands, seed, options)
    with torch_threads(threads):
        model.fit(order[: n_obs - 1], y[: n_obs - 1])  # the first (long) fit
        wall, cpu, refined, chosen = [], [], [], []
        for k in range(steps):
            m = n_obs + k
            measured[order[m - 1]] = True
            w0, c0 = time.perf_counter(), time.process_time()
            post = model.fit(order[:m], y[:m])
            pick, _ = select("topq", post, measured=measured, observed=y[:m])
            wall.append(time.perf_counter() - w0)
            cpu.append(time.process_time() - c0)
            exact = getattr(post, "exact", None)
            refined.append(n if exact is None else int(exact.sum()))
            chosen.append(int(pick[0]))
        # one step that trains both models again (forced: as if k observations had come)
        m = n_obs + steps
        measured[order[m - 1]] = True
        for sub in _submodels(model):
            sub._n_at_training = -(10**9) if sub.refit_scale is not None else 0
        w0, c0 = time.perf_counter(), time.process_time()
        post = model.fit(order[:m], y[:m])
        select("topq", post, measured=measured, observed=y[:m])
        train_wall, train_cpu = time.perf_counter() - w0, time.process_time() - c0
        trained = all(sub.last_trained for sub in _submodels(model))
        scale = _submodels(model)[0].refit_scale
        every = 1 if scale is None else max(1, n_obs // scale)
        fast = float(np.median(cpu))
        row = {
            "candidates": n,
            "observations": n_obs,
            "agent": kind,
            "threads": threads,
            "step_wall_s": {"median": float(np.median(wall)), "all": wall},
            "step_cpu_s": {"median": float(np.median(cpu)), "all": cpu},
            "exact_variances": {"median": float(np.median(refined)), "all": refined},
            "training_step_wall_s": train_wall,
            "training_step_cpu_s": train_cpu,
            "training_step_trained": trained,
            "refit_every": every,
            "step_mean_cpu_s": fast if every == 1 else ((every - 1) * fast + train_cpu) / every,
            "candidate_setup_s": setup,
            "rss_mb": _rss_mb(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        if botorch and float(n) * n_obs * n_obs <= botorch_max:
            post = model.fit(order[:m], y[:m])
            w0 = time.perf_counter()
            hand, _ = select("topq", post, measured=measured, observed=y[:m])
            t_hand = time.perf_counter() - w0
            w0 = time.perf_counter()
            bo = select_botorch("topq", post, measured=measured, observed=y[:m])
            t_bo = time.perf_counter() - w0
            row["botorch"] = {
                "select_s": t_hand,
                "optimize_acqf_discrete_s": t_bo,
                "ratio": t_bo / t_hand if t_hand > 0 else None,
                "same_choice": bool(int(hand[0]) == int(bo[0])),
            }
    return row


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="64,128,256", help="overview sides in pixels")
    p.add_argument("--observations", default="100,300,1000")
    p.add_argument("--agent", choices=("bma", "dkl", "gp"), default="bma")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--botorch", action="store_true", help="time botorch's choice side by side")
    p.add_argument("--botorch-max", type=float, default=3e9, help="largest N n^2 for --botorch")
    p.add_argument(
        "--refit-scale",
        default="25",
        help="models train every max(1, n // this) observations; 'none': every step",
    )
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    refit_scale = None if args.refit_scale.lower() == "none" else int(args.refit_scale)
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for n_obs in (int(o) for o in args.observations.split(",")):
            row = time_steps(
                size, n_obs, args.agent, args.steps, botorch=args.botorch,
                botorch_max=args.botorch_max, threads=args.threads,
                options={"refit_scale": refit_scale},
            )  # fmt: skip
            rows.append(row)
            bo = row.get("botorch")
            extra = (
                f"  botorch {bo['optimize_acqf_discrete_s']:.2f} s vs {bo['select_s']:.3f} s, "
                f"same choice {bo['same_choice']}"
                if bo
                else ""
            )
            print(
                f"{args.agent} {size}x{size} ({row['candidates']}) n={n_obs}: step "
                f"{row['step_wall_s']['median']:.3f} s wall, {row['step_cpu_s']['median']:.3f} s "
                f"CPU; training step {row['training_step_cpu_s']:.3f} s CPU every "
                f"{row['refit_every']}, mean {row['step_mean_cpu_s']:.3f} s CPU; "
                f"exact variances {row['exact_variances']['median']:.0f}; "
                f"peak RSS {row['peak_rss_mb']:.0f} MB{extra}",
                flush=True,
            )
            if args.json:
                write_json(args.json, rows)
    return 0
