"""Agent benchmark side by side: autoscope's DKL, GP, random, and gpax's viDKL, on the same data.

Every agent runs through the same harness (:func:`autoscope.studies.benchmark.run_benchmark`):
same ground truth, same seeds, the same seed points (stratified, from the
same seeded generator), the same acquisition over all candidates (``--acquisition``,
default the harness's ``topq``), and seed points counted against the budget.
gpax (the ORNL group's library) is an optional bench extra:
``pip install gpax "numpyro==0.19.*" "jax<0.8"``; its viDKL is refitted from
scratch at every step, as its examples do (``num_steps`` iterations of
stochastic variational inference).

Usage::

    python benchmarks/bench_agent.py --twin pfm --size 64 --budget 205 --seeds 10 \\
        --agents dkl,gp,random,gpax --json benchmarks/results/bench_agent.json

Prints one line per agent, the ratios against autoscope's DKL, and per-seed
wins, ties and losses of DKL on ``top1_found_fraction`` (a tie, e.g. both found
the whole set, is then decided by ``top1_found_auc``, how fast the set was found).
"""

from __future__ import annotations

import argparse
import logging
import sys
import time

import numpy as np

from autoscope.agents.acquisition import ACQUISITIONS, select
from autoscope.agents.agent import SEED_DESIGNS, StepRecord, resolve_seed_design, seed_indices
from autoscope.studies.benchmark import run_benchmark, write_json

log = logging.getLogger("bench_agent")


class _Posterior:
    """Mean and variance of every candidate (q = 1 only: no believer updates)."""

    def __init__(self, mean, var):
        self.mean = np.asarray(mean, dtype=float)
        self.var = np.asarray(var, dtype=float)

    @property
    def std(self):
        return np.sqrt(np.maximum(self.var, 0.0))

    def condition_on(self, index):  # pragma: no cover - q > 1 not used for gpax
        raise NotImplementedError("gpax comparison runs with q = 1")


class GpaxVIDKLAgent:
    """gpax.viDKL on flattened image patches, refitted every step, same acquisition as autoscope.

    Same bookkeeping as :class:`autoscope.agents.agent.ActiveLearningAgent`:
    ``suggest_indices``, ``ingest_indices``, ``steps``; the same seed points as
    autoscope's DKL (``seed_design``, default ``"image"`` as there).
    """

    def __init__(
        self,
        candidates,
        budget,
        seed,
        num_steps=1000,
        step_size=0.005,
        z_dim=2,
        acquisition="topq",
        quantile=0.99,
        seed_design="image",
    ):
        import jax.numpy as jnp

        self.acquisition = acquisition
        self.quantile = quantile
        self.candidates = candidates
        self.rng = np.random.default_rng(seed)
        self.n_seed = int(np.clip(round(0.05 * budget), 4, 20))
        self.seed_order = seed_indices(candidates, self.n_seed, self.rng, seed_design)
        flat = candidates.patches.reshape(len(candidates), -1)
        self.X = jnp.asarray(flat, dtype=jnp.float32)
        self.num_steps = num_steps
        self.step_size = step_size
        self.z_dim = z_dim
        self.seed = seed
        self.measured = np.zeros(len(candidates), dtype=bool)
        self.idx: list[int] = []
        self.val: list[float] = []
        self.steps: list[StepRecord] = []

    def ingest_indices(self, indices, values):
        for i, v in zip(np.atleast_1d(indices).tolist(), np.atleast_1d(values).tolist()):
            self.measured[i] = True
            self.idx.append(int(i))
            self.val.append(float(v))

    def suggest_indices(self, n=1):
        import gpax
        import jax.numpy as jnp

        t0 = time.perf_counter()
        if len(self.idx) < self.n_seed:
            chosen = [i for i in self.seed_order if not self.measured[i]][:n]
            source = "seed"
        else:
            idx = np.asarray(self.idx)
            y = np.asarray(self.val)
            ok = np.isfinite(y)
            idx, y = idx[ok], y[ok]
            mu, sd = y.mean(), y.std() or 1.0
            key_fit, key_pred = gpax.utils.get_keys(self.seed + len(self.steps))
            model = gpax.viDKL(self.X.shape[-1], self.z_dim, "RBF")
            model.fit(
                key_fit,
                self.X[idx],
                jnp.asarray((y - mu) / sd, dtype=jnp.float32),
                num_steps=self.num_steps,
                step_size=self.step_size,
                print_summary=False,
                progress_bar=False,
            )
            mean, var = model.predict(key_pred, self.X)
            post = _Posterior(np.asarray(mean) * sd + mu, np.asarray(var) * sd**2)
            chosen, _ = select(
                self.acquisition,
                post,
                q=n,
                measured=self.measured,
                best_f=float(y.max()),
                quantile=self.quantile,
                observed=y,
            )
            chosen = chosen.tolist()
            source = "model"
        self.steps.append(
            StepRecord(len(self.steps), chosen, source, time.perf_counter() - t0, len(self.idx))
        )
        return np.asarray(chosen, dtype=int)


def gpax_factory(
    num_steps: int, acquisition: str = "topq", quantile: float = 0.99, seed_design: str = "image"
):
    def make(candidates, budget, seed):
        return GpaxVIDKLAgent(
            candidates,
            budget,
            seed,
            num_steps=num_steps,
            acquisition=acquisition,
            quantile=quantile,
            seed_design=seed_design,
        )

    return make


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--dataset")
    src.add_argument("--twin", choices=("pfm", "stm"))
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--scalarizer", default="loop_area")
    p.add_argument("--budget", type=int, default=205)
    p.add_argument("--seeds", type=int, default=10)
    p.add_argument("--first-seed", type=int, default=0, help="first run seed (default 0)")
    p.add_argument(
        "--gpax-seeds",
        type=int,
        default=None,
        help="seeds for gpax (default: --seeds; gpax is slow)",
    )
    p.add_argument("--gpax-steps", type=int, default=1000, help="SVI steps per viDKL fit")
    p.add_argument("--agents", default="dkl,gp,random,gpax")
    p.add_argument("--acquisition", choices=ACQUISITIONS, default="topq")
    p.add_argument("--quantile", type=float, default=0.99)
    p.add_argument(
        "--seed-design",
        choices=SEED_DESIGNS,
        default=None,
        help="seed points (default: image for dkl and gpax, spatial for gp)",
    )
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    common = dict(
        scalarizer=args.scalarizer,
        budget=args.budget,
        dataset=args.dataset,
        twin=args.twin,
        size=args.size,
        first_seed=args.first_seed,
    )
    results = {}
    for agent in args.agents.split(","):
        t0 = time.perf_counter()
        if agent == "gpax":
            try:
                import gpax  # noqa: F401
            except ImportError as exc:
                print(f"gpax: not available ({exc}); install the bench extra", file=sys.stderr)
                continue
            res = run_benchmark(
                agent="gpax-viDKL",
                seeds=args.gpax_seeds or args.seeds,
                factory=gpax_factory(
                    args.gpax_steps,
                    args.acquisition,
                    args.quantile,
                    resolve_seed_design("dkl", args.seed_design),  # as autoscope's DKL
                ),
                **common,
            )
            res["acquisition"] = args.acquisition
        else:
            res = run_benchmark(
                agent=agent,
                seeds=args.seeds,
                acquisition=args.acquisition,
                quantile=args.quantile,
                seed_design=args.seed_design,
                **common,
            )
        res["wall_seconds"] = time.perf_counter() - t0
        results[agent] = res
    base = results.get("dkl")
    print(
        f"{'agent':<12}{'seeds':>6}{'top1 med':>10}{'best med':>10}{'first med':>10}"
        f"{'s/step med':>12}{'p95':>8}{'vs dkl s/step':>15}"
    )
    for name, r in results.items():
        ratio = ""
        if base and name != "dkl" and base["seconds_per_step"]["median"] > 0:
            ratio = f"{r['seconds_per_step']['median'] / base['seconds_per_step']['median']:.1f}x"
        first = r["steps_to_first_top1"]["median"]
        print(
            f"{name:<12}{r['seeds']:>6}{r['top1_found_fraction']['median']:>10.3f}"
            f"{r['best_found_over_true_max']['median']:>10.3f}"
            f"{'never' if first is None else f'{first:.0f}':>10}"
            f"{r['seconds_per_step']['median']:>12.3f}{r['seconds_per_step']['p95']:>8.3f}"
            f"{ratio:>15}"
        )
    if base:
        for name, r in results.items():
            if name == "dkl":
                continue
            n = min(
                len(r["top1_found_fraction"]["per_seed"]),
                len(base["top1_found_fraction"]["per_seed"]),
            )
            a, b = base["top1_found_fraction"]["per_seed"], r["top1_found_fraction"]["per_seed"]
            wins = sum(a[i] > b[i] for i in range(n))
            ties = [i for i in range(n) if a[i] == b[i]]
            auc_a, auc_b = base["top1_found_auc"]["per_seed"], r["top1_found_auc"]["per_seed"]
            tie_wins = sum(auc_a[i] > auc_b[i] for i in ties)
            print(
                f"dkl vs {name} on top1_found_fraction: better on {wins}/{n} seeds, "
                f"tied on {len(ties)} (of those faster by top1_found_auc on {tie_wins}), "
                f"worse on {n - wins - len(ties)}"
            )
            r["dkl_better_on_seeds"] = [wins, n]
            r["dkl_tied_on_seeds"] = [len(ties), n]
            r["dkl_faster_on_tied_seeds"] = [tie_wins, len(ties)]
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
