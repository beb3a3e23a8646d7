"""Acceptance figures of the count mixture (issue 17) that are too slow for the tests.

Run: ``PYTHONPATH=src python bench/bench_mixture.py [--seeds 10] [--bootstrap 20]
[--synth-rows 50000000]``

1. Seeds 0..N-1 on the real three months (``n_products``, ``n_canceled_orders``): chosen
   number of components, its bootstrap mean ARI and minimum Jaccard, BIC of every number of
   components (spread across seeds), pairwise ARI of the chosen labels between seeds, and the
   structure check.
2. The synthetic acceptance figures (overlapping NB types, correlated log-normal types, one
   population, and the customers of ``segmint synth``'s plan with its four planted types;
   three replicates each), through the run's mixture stage
   (:func:`segmint.cluster.mixtures.fit_count`: the rule, the combination of components into
   segments, the structure check): chosen components, segments, ARI with the planted types,
   verdict.
4. With ``--synth-rows N``: ``segmint synth --rows N --seed 1`` then ``segmint run`` on it
   (Parquet, in a temporary folder), and the mixture's ARI against the planted types of the
   truth file (the issue's 50M-row figure: ``--synth-rows 50000000``, several minutes).
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
import pandas as pd
from sklearn.metrics import adjusted_rand_score

import segmint
from segmint import _synth_customers as synth
from segmint._synth_plan import CANCEL, make_plan
from segmint.cluster import gmm, mixtures
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


def planted(n_customers: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The customers of ``segmint synth``'s plan (four planted types), without the log."""
    plan = make_plan(n_customers * 50, n_customers, seed)
    cancelled = (plan.inv_kind == CANCEL) & (plan.inv_cust >= 0)
    n_cancel = np.bincount(plan.inv_cust[cancelled], minlength=plan.cust_type.size)
    table = pd.DataFrame({"n_products": plan.cust_products, "n_canceled_orders": n_cancel})
    return table, plan.cust_type


def synthetic(n_bootstrap: int) -> None:
    """The synthetic acceptance figures: three replicates of each table, 1..10 components."""
    cases = [
        ("overlapping NB types (4)", lambda r: synth.nb_types(5000, random_state=r)),
        ("correlated log-normal types (4)", lambda r: synth.lognormal_types(5000, random_state=r)),
        ("one population", lambda r: synth.single_population(1749, random_state=r)),
        ("segmint synth types (4), 8,000", lambda r: planted(8000, r)),
    ]
    for name, make in cases:
        for rep in range(3):
            table, labels = make(rep)
            X = table[FEATURES].to_numpy(dtype=float)
            t0 = time.perf_counter()
            fit = mixtures.fit_count(
                X, FEATURES, list(range(1, 11)), k=None, criterion="bic",
                n_bootstrap=n_bootstrap, seed=rep, bootstrap_seed=rep + 1, n_jobs=None,
            )  # fmt: skip
            proba = mixtures.probabilities(fit.model, "count", X, None, None, fit.groups)
            ari = adjusted_rand_score(labels, proba.argmax(axis=1))
            check = fit.structure
            print(
                f"{name:<32} rep {rep}: chosen {fit.n_components} "
                f"(indistinguishable {fit.selection['indistinguishable']}), segments "
                f"{fit.n_segments}, ARI with planted {ari:.3f}, bootstrap mean ARI "
                f"{check['mean_ari']:.3f}, verdict {check['verdict']} "
                f"({time.perf_counter() - t0:.1f} s)"
            )


def synth_run(rows: int) -> None:
    """``segmint synth --rows N --seed 1``, ``segmint run`` on it, ARI with the planted types."""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(dir=".") as tmp:
        log = Path(tmp) / "synth.parquet"
        exe = [str(Path(sys.executable).with_name("segmint"))]
        subprocess.run([*exe, "synth", "-o", str(log), "--rows", str(rows), "--seed", "1", "-q"],
                       check=True)  # fmt: skip
        t0 = time.perf_counter()
        subprocess.run([*exe, "run", str(log), "-o", f"{tmp}/out", "-q"], check=True)
        wall = time.perf_counter() - t0
        seg = pd.read_csv(f"{tmp}/out/segments.csv", dtype={"customer_id": str})
        truth = pd.read_csv(f"{tmp}/synth.truth.csv", dtype={"customer_id": str})
        both = seg.merge(truth, on="customer_id", validate="one_to_one")
        g = json.loads(Path(f"{tmp}/out/metrics.json").read_text())["gmm"]
    print(
        f"segmint synth --rows {rows:,} --seed 1 ({len(both):,} customers): components "
        f"{g['n_components']} (on edge: {g['selection']['on_edge']}), segments "
        f"{g['n_segments']}, mixture ARI with planted "
        f"{adjusted_rand_score(both['planted_type'], both['gmm_segment']):.3f}, KMeans ARI "
        f"{adjusted_rand_score(both['planted_type'], both['kmeans_segment']):.3f}, verdict "
        f"{g['structure']['verdict']}, bootstrap mean ARI {g['structure']['mean_ari']}; "
        f"segmint run {wall:.0f} s (load {os.getloadavg()[0]:.1f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--bootstrap", type=int, default=20)
    parser.add_argument("--synth-rows", type=int, default=0)
    parser.add_argument("--only-synthetic", action="store_true")
    args = parser.parse_args()
    if args.synth_rows:
        synth_run(args.synth_rows)
        return
    if args.only_synthetic:
        synthetic(args.bootstrap)
        return
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
