"""Acceptance figures of the count mixture (issue 17) that are too slow for the tests.

Run: ``PYTHONPATH=src python bench/bench_mixture.py [--seeds 10] [--bootstrap 20]``

1. Seeds 0..N-1 on the real three months (``n_products``, ``n_canceled_orders``): chosen
   number of components, its bootstrap mean ARI and minimum Jaccard, BIC of every number of
   components (spread across seeds), pairwise ARI of the chosen labels between seeds, and the
   structure check.
2. The synthetic acceptance figures (overlapping NB types, correlated log-normal types, one
   population; three replicates each): chosen number, ARI with the planted types, verdict.
3. Time of the count-mixture grid (1..10 components, all starts, zero inflation decided by
   BIC) against today's Gaussian grid (``segmint.cluster.gmm.grid``: 1..10 x 4 covariance
   types on the dequantised log-standardised table), both with the default processes, on the
   real three months and on a 4,372-customer table (the synthetic single population matched
   to the real moments, :func:`segmint._synth_customers.single_population`).
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import numpy as np
from sklearn.metrics import adjusted_rand_score

import segmint
from segmint import _synth_customers as synth
from segmint.cluster import gmm
from segmint.cluster import selection as sel
from segmint.cluster.count_mixture import CountMixture
from segmint.cluster.transform import dequantise, integer_columns, make_transform

DATA = "/work/shared/data/online_retail_2010-12_to_2011-02.csv"
FEATURES = ["n_products", "n_canceled_orders"]


def timing(X: np.ndarray, label: str, runs: int = 5) -> None:
    """Both grids alternately, ``runs`` times each (default processes); medians."""
    Xd = dequantise(X, integer_columns(X), np.random.default_rng(0))
    Z = make_transform().fit(Xd).transform(Xd)
    t_gmm, t_nb = [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        gmm.grid(Z, range(1, 11), gmm.COVARIANCE_TYPES, 0)
        t_gmm.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        sel.criterion_grid(CountMixture(), X, range(1, 11), random_state=0)
        t_nb.append(time.perf_counter() - t0)
    g, c = float(np.median(t_gmm)), float(np.median(t_nb))
    print(
        f"{label:<34} n={len(X):>5}  distinct rows={len(np.unique(X, axis=0)):>5}  "
        f"GMM grid 10x4: {g:6.2f} s   count-mixture grid 1..10: {c:6.2f} s  "
        f"(ratio {c / g:.2f}; medians of {runs}, load {os.getloadavg()[0]:.1f})"
    )


def synthetic(n_bootstrap: int) -> None:
    """The synthetic acceptance figures: three replicates of each table, 1..10 components."""
    cases = [
        ("overlapping NB types (4)", lambda r: synth.nb_types(5000, random_state=r)),
        ("correlated log-normal types (4)", lambda r: synth.lognormal_types(5000, random_state=r)),
        ("one population", lambda r: synth.single_population(1749, random_state=r)),
    ]
    for name, make in cases:
        for rep in range(3):
            table, labels = make(rep)
            X = table[FEATURES].to_numpy(dtype=float)
            s, models = sel.select(
                CountMixture(), X, range(1, 11), n_bootstrap=n_bootstrap, random_state=rep
            )
            check = sel.structure_check(X, s)
            ari = adjusted_rand_score(labels, models[s.n_components].predict(X))
            print(
                f"{name:<32} rep {rep}: chosen {s.n_components} "
                f"(indistinguishable {list(s.indistinguishable)}), ARI with planted {ari:.3f}, "
                f"bootstrap mean ARI {check['mean_ari']:.3f}, verdict {check['verdict']}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--bootstrap", type=int, default=20)
    args = parser.parse_args()
    table = segmint.customer_features(DATA, features="all").table
    X = table[FEATURES].to_numpy(dtype=float)

    print("== timing (alternated, medians of 5, default processes) ==")
    timing(X, "real three months")
    big, _ = synth.single_population(4372, random_state=0)
    timing(big[FEATURES].to_numpy(dtype=float), "4,372 customers (synthetic PLN)")

    print(f"\n== synthetic tables, 3 replicates, 1..10 components, {args.bootstrap} resamples ==")
    synthetic(args.bootstrap)

    print(f"\n== real three months, seeds 0..{args.seeds - 1}, {args.bootstrap} resamples ==")
    labels, bics = {}, {}
    single = sel.single_population(X)
    print("seed  chosen  indistinguishable  mean_ARI  min_Jaccard  BIC(chosen)  verdict   time")
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        s, models = sel.select(
            CountMixture(), X, range(1, 11), n_bootstrap=args.bootstrap, random_state=seed
        )
        check = sel.structure_check(X, s, single=single)
        k = s.n_components
        labels[seed] = models[k].predict(X)
        bics[seed] = s.criterion.set_index("n_components")["mean"]
        print(
            f"{seed:>4}  {k:>6}  {','.join(map(str, s.indistinguishable)):>17}  "
            f"{check['mean_ari']:8.3f}  {check['min_jaccard']:11.3f}  "
            f"{bics[seed][k]:11.2f}  {check['verdict']:<18} {time.perf_counter() - t0:5.1f} s"
        )
    print(f"structure check (last seed): {check}")
    spread = np.ptp(np.vstack([bics[s].to_numpy() for s in bics]), axis=0)
    print("BIC spread across seeds per n_components 1..10:", np.round(spread, 2).tolist())
    print("BIC per n_components (seed 0):", np.round(bics[0].to_numpy(), 1).tolist())
    aris = [adjusted_rand_score(labels[a], labels[b]) for a, b in itertools.combinations(labels, 2)]
    print(
        f"pairwise ARI of chosen labels between seeds: min {min(aris):.4f}, "
        f"mean {np.mean(aris):.4f} ({len(aris)} pairs)"
    )
    print(f"single correlated population: BIC {single['bic']:.1f}")


if __name__ == "__main__":
    main()
