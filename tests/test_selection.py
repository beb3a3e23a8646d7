"""The selection rule, bootstrap stability and the structure check (synthetic and real data)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segmint import _synth_customers as synth
from segmint.cluster import selection as sel
from segmint.cluster.count_mixture import CountMixture

REAL = Path("/work/shared/data/online_retail_2010-12_to_2011-02.csv")
FEATURES = ["n_products", "n_canceled_orders"]
#: The synthetic acceptance runs search 1..8 components, three replicates with few resamples
#: (three replicates, 1..10 and 20 resamples in bench/bench_mixture.py, bench/README.md).
SYNTH_RANGE = range(1, 9)
N_BOOTSTRAP = 4


def _table(values: dict[int, float]):
    return sel.criterion_table(values)


def test_criterion_table_mean_and_standard_error():
    t = sel.criterion_table({2: [10.0, 12.0, 14.0], 1: 5.0})
    assert t["n_components"].tolist() == [1, 2]
    assert t["mean"].tolist() == [5.0, 12.0]
    assert t["se"].tolist() == pytest.approx([0.0, 2.0 / np.sqrt(3)])
    assert t["n_draws"].tolist() == [1, 3]


def test_rule_takes_most_stable_indistinguishable_ties_to_fewer():
    table = _table({1: 130.0, 2: 105.0, 3: 100.0, 4: 108.0, 5: 111.0})
    s = sel.choose(table, {2: 0.80, 3: 0.90, 4: 0.95})
    assert s.indistinguishable == (2, 3, 4)
    assert s.n_components == 4 and not s.on_edge
    assert "most stable, 4" in s.reason
    tie = sel.choose(table, {2: 0.951, 3: 0.90, 4: 0.95})
    assert tie.n_components == 2  # within 0.01: fewer components win
    json.dumps(s.to_dict())


def test_rule_asks_stability_only_for_candidates_and_widens_with_se():
    asked: list[int] = []

    def stab(n: int) -> float:
        asked.append(n)
        return 0.9

    table = sel.criterion_table({1: [150.0], 2: [100.0, 100.0], 3: [130.0, 100.0, 100.0]})
    s = sel.choose(table, stab)
    # se of n=3 is 10: allowance max(10, 2 * 10) = 20 covers its delta of 10
    assert asked == [2, 3] and s.n_components == 2
    single = sel.choose(_table({1: 50.0, 2: 100.0}), stab)
    assert single.n_components == 1 and single.on_edge
    assert "on the edge" in single.reason
    with pytest.raises(ValueError, match="no finite value"):
        sel.choose(_table({1: np.nan}), stab)


def test_single_population_is_a_proper_pmf():
    """Cell probabilities of the censored Gaussian sum to 1 over the integers."""
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.poisson(rng.lognormal(2.0, 0.8, 500)), rng.poisson(0.4, 500)])
    fit = sel.single_population(X.astype(float))
    assert fit["converged"] and fit["n_parameters"] == 5
    grid = np.array([(a, b) for a in range(0, 400) for b in range(0, 12)], dtype=float)
    cells = sel._cells(grid, np.array([True, True]))
    nodes, wq = sel._gauss_legendre(1)
    theta = sel._pack(np.array(fit["mean"]), np.array(fit["covariance"]))
    total = np.exp(sel._single_loglik(theta, cells, np.array([True, True]), nodes, wq)).sum()
    assert total == pytest.approx(1.0, abs=2e-3)


def test_bootstrap_stability_of_separated_types():
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 400)
    X = np.column_stack([rng.poisson(np.where(labels, 80, 5)), rng.poisson(0.3, 800)])
    est = CountMixture(n_init=3)
    ref = CountMixture(2, n_init=3, random_state=0).fit_predict(X.astype(float))
    out = sel.bootstrap_stability(est, X, 2, ref, n_bootstrap=4, random_state=0, n_jobs=1)
    assert out["mean_ari"] > 0.95 and out["min_jaccard"] > 0.95 and len(out["ari"]) == 4


def _run(table, seed: int, n_bootstrap: int = N_BOOTSTRAP):
    X = table[FEATURES].to_numpy(dtype=float)
    s, models = sel.select(
        CountMixture(), X, SYNTH_RANGE, n_bootstrap=n_bootstrap, random_state=seed
    )
    return X, s, models


@pytest.mark.slow
def test_planted_overlapping_nb_types_found():
    for rep in range(3):
        table, labels = synth.nb_types(5000, random_state=rep)
        X, s, models = _run(table, rep)
        ari = adjusted_rand_score(labels, models[s.n_components].predict(X))
        assert s.n_components == 4, (rep, s.reason)
        assert ari >= 0.60, (rep, ari)


@pytest.mark.slow
def test_planted_correlated_lognormal_types_found():
    for rep in range(3):
        table, labels = synth.lognormal_types(5000, random_state=rep)
        X, s, models = _run(table, rep)
        ari = adjusted_rand_score(labels, models[s.n_components].predict(X))
        assert s.n_components in (4, 5), (rep, s.reason)
        assert ari >= 0.70, (rep, ari)


@pytest.mark.slow
def test_single_population_flagged():
    for rep in range(3):
        table, _ = synth.single_population(1749, random_state=rep)
        X, s, _ = _run(table, rep)
        check = sel.structure_check(X, s)
        assert check["verdict"] == "no clear structure", (rep, check)
        json.dumps(check)


@pytest.fixture(scope="module")
def real_counts() -> np.ndarray:
    if not REAL.exists():
        pytest.skip(f"{REAL} is not available")
    import segmint

    table = segmint.customer_features(str(REAL), features="all").table
    return table[FEATURES].to_numpy(dtype=float)


@pytest.mark.slow
def test_real_three_months_same_choice_for_seeds_0_4(real_counts):
    chosen: set[int] = set()
    bics = []
    for seed in range(5):
        s, _ = sel.select(
            CountMixture(), real_counts, range(1, 11), n_bootstrap=2, random_state=seed
        )
        chosen.add(s.n_components)
        bics.append(s.criterion.set_index("n_components")["mean"])
    assert len(chosen) == 1, chosen
    k = chosen.pop()
    near = [n for n in (k - 1, k, k + 1) if n in bics[0].index]
    frame = pd.concat(bics, axis=1).T  # a row per seed, a column per n_components
    spread = float((frame[near].max() - frame[near].min()).max())
    assert spread < 0.1, spread  # BIC identical across seeds in the chosen neighbourhood


@pytest.mark.slow
@pytest.mark.xfail(
    strict=True,
    reason="measured (seed 0, 20 resamples): 4 components, delta BIC +207.7 for segments, but "
    "bootstrap mean ARI 0.67 < 0.75 and min Jaccard 0.53 < 0.6: the check flags the real "
    "three months; the rule is not relaxed to pass",
)
def test_real_three_months_not_flagged(real_counts):
    s, _ = sel.select(CountMixture(), real_counts, range(1, 11), n_bootstrap=8, random_state=0)
    check = sel.structure_check(real_counts, s)
    assert check["verdict"] == "structure", check


def test_three_count_features_skip_the_single_population_and_say_so() -> None:
    """With 3+ count features the cell integrals cost minutes: not compared, and said so."""
    from segmint.model import Segmenter

    rng = np.random.default_rng(3)
    X = rng.poisson([4.0, 1.0, 2.0], size=(400, 3)).astype(float)
    seg = Segmenter(k_range=(1, 3), n_bootstrap=0, random_state=0).fit(X)
    assert seg.structure_["bic_single"] is None
    assert seg.structure_["single_population"].startswith("not compared")
    assert not any("ARI" in r or "Jaccard" in r for r in seg.structure_["reasons"])
