"""KMeans sweep, the choice of k, and recovery of planted segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, silhouette_score

from segmint.cluster.kmeans import choose_k, silhouette, sweep
from segmint.cluster.knee import find_knee
from segmint.cluster.transform import make_transform
from segmint.model import Segmenter


def planted(
    sizes: tuple[int, ...] = (300, 200, 100), seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """Integer counts of three well-separated customer types (on the log scale)."""
    rng = np.random.default_rng(seed)
    centres = [(3, 0.0), (60, 0.1), (20, 5.0)]  # (products, mean cancellations)
    parts = []
    for n, (products, cancels) in zip(sizes, centres, strict=True):
        p = np.maximum(1, np.round(np.exp(rng.normal(np.log(products), 0.3, n))))
        parts.append(np.column_stack([p, rng.poisson(cancels, n)]))
    X = pd.DataFrame(np.vstack(parts).astype("int64"), columns=["n_products", "n_canceled_orders"])
    return X, np.repeat(np.arange(len(sizes)), sizes)


def _table(wcss: list[float], sil: list[float], ch: list[float], db: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "k": np.arange(1, len(wcss) + 1),
            "wcss": wcss,
            "silhouette": sil,
            "calinski_harabasz": ch,
            "davies_bouldin": db,
        }
    )


@pytest.mark.parametrize("k", [2, 3, 5])
def test_silhouette_on_distinct_rows_equals_sklearn(k: int) -> None:
    X, _ = planted()
    Z = make_transform().fit_transform(X.to_numpy(dtype=float))
    assert len(np.unique(Z, axis=0)) < len(Z) / 2  # counts repeat
    labels = KMeans(k, n_init=2, random_state=0).fit_predict(Z)
    assert silhouette(Z, labels, chunk_size=50) == pytest.approx(silhouette_score(Z, labels))


def test_silhouette_with_a_singleton_and_continuous_data() -> None:
    Z = np.random.default_rng(0).normal(size=(200, 3))
    Z[0] = 50.0  # alone in its cluster: counts as 0, as in scikit-learn
    labels = np.where(Z[:, 0] > 0, 1, 0)
    labels[0] = 2
    assert silhouette(Z, labels) == pytest.approx(silhouette_score(Z, labels))


def test_sweep_records_every_k() -> None:
    X, _ = planted()
    Z = make_transform().fit_transform(X.to_numpy(dtype=float))
    table, models, messages = sweep(Z, range(1, 6), random_state=0)
    assert list(table.columns) == ["k", "wcss", "silhouette", "calinski_harabasz", "davies_bouldin"]
    assert table["k"].tolist() == [1, 2, 3, 4, 5]
    assert table["k"].dtype == np.int64
    assert table.loc[0, ["silhouette", "calinski_harabasz", "davies_bouldin"]].isna().all()
    assert table.loc[1:, ["silhouette", "calinski_harabasz", "davies_bouldin"]].notna().all().all()
    assert np.all(np.diff(table["wcss"]) < 0)
    # WCSS at k=1 is the total sum of squares of the standardised data.
    assert table.loc[0, "wcss"] == pytest.approx(Z.size, rel=1e-9)
    assert sorted(models) == [1, 2, 3, 4, 5]
    assert messages == []
    # The planted structure: silhouette and the knee both say 3.
    assert table.loc[table["silhouette"].idxmax(), "k"] == 3
    assert find_knee(table["k"].to_numpy(), table["wcss"].to_numpy()).x == 3


def test_sweep_on_a_fit_sample_measures_everyone() -> None:
    X, _ = planted()
    Z = make_transform().fit_transform(X.to_numpy(dtype=float))
    sample = np.sort(np.random.default_rng(0).choice(len(Z), 200, replace=False))
    table, models, _ = sweep(Z, [1, 3], random_state=0, fit_sample=sample, silhouette_sample=150)
    # Fitted on the sample, measured on all 600 customers: at k=1 the centre is the sample mean.
    centre = Z[sample].mean(axis=0)
    assert table.loc[0, "wcss"] == pytest.approx(((Z - centre) ** 2).sum(), rel=1e-9)
    assert models[3].n_features_in_ == 2
    again, _, _ = sweep(Z, [1, 3], random_state=0, fit_sample=sample, silhouette_sample=150)
    pd.testing.assert_frame_equal(table, again)


def test_choose_k_takes_the_knee_and_reports_agreement() -> None:
    table = _table(
        [1000, 500, 60, 55, 50],
        [np.nan, 0.5, 0.8, 0.6, 0.5],
        [np.nan, 1, 9, 5, 4],
        [np.nan, 1.0, 0.3, 0.6, 0.7],
    )
    choice = choose_k(table, find_knee(table["k"], table["wcss"]))
    assert choice.k == 3
    assert choice.reason.startswith("k=3 from the WCSS curve: clear knee at k=3")
    assert "silhouette 3, Calinski-Harabasz 3, Davies-Bouldin 3" in choice.reason
    assert choice.warnings == []


def test_choose_k_says_when_indices_disagree() -> None:
    table = _table(
        [1000, 500, 60, 55, 50],
        [np.nan, 0.9, 0.8, 0.6, 0.5],
        [np.nan, 1, 2, 3, 9],
        [np.nan, 1.0, 0.3, 0.6, 0.7],
    )
    choice = choose_k(table, find_knee(table["k"], table["wcss"]))
    assert choice.k == 3
    assert choice.warnings == [
        "KMeans: the indices disagree with k=3: silhouette prefers k=2, "
        "Calinski-Harabasz prefers k=5"
    ]


def test_a_weak_knee_gives_way_when_silhouette_and_davies_bouldin_agree() -> None:
    # a smooth bend: the kneedle band holds k=3 and k=4
    wcss = [1000.0, 550.0, 330.0, 170.0, 140.0, 125.0]
    knee = find_knee(np.arange(1, 7), np.array(wcss))
    assert knee.x is not None and len(knee.band) > 1
    other = next(v for v in knee.band if v != knee.x)
    sil = [np.nan] + [0.9 if k == other else 0.4 for k in range(2, 7)]
    db = [np.nan] + [0.2 if k == other else 0.8 for k in range(2, 7)]
    choice = choose_k(_table(wcss, sil, [np.nan, 1, 2, 3, 4, 5], db), knee)
    assert choice.k == other
    assert f"cannot tell it from k={knee.x}" in choice.reason
    # only one index preferring the other k is not enough
    db_split = [np.nan] + [0.2 if k == knee.x else 0.8 for k in range(2, 7)]
    choice = choose_k(_table(wcss, sil, [np.nan, 1, 2, 3, 4, 5], db_split), knee)
    assert choice.k == knee.x


def test_no_knee_falls_back_to_the_best_silhouette() -> None:
    table = _table(
        [10, 9, 8, 7, 6],
        [np.nan, 0.3, 0.35, 0.6, 0.2],
        [np.nan, 1, 2, 3, 2],
        [np.nan, 1.0, 0.9, 0.5, 0.9],
    )
    choice = choose_k(table, find_knee(table["k"], table["wcss"]))
    assert choice.k == 4
    assert "fallback rule (highest silhouette among k >= 2)" in choice.reason
    assert "no knee" in choice.reason
    assert choice.warnings[0] == (
        "KMeans: the WCSS curve has no knee; k=4 chosen by highest silhouette among k >= 2"
    )


def test_choice_on_the_top_edge_says_how_to_widen() -> None:
    table = _table(
        [10, 9, 8, 7, 6],
        [np.nan, 0.3, 0.35, 0.4, 0.6],
        [np.nan, 1, 2, 3, 4],
        [np.nan, 1.0, 0.9, 0.8, 0.5],
    )
    choice = choose_k(table, find_knee(table["k"], table["wcss"]))
    assert choice.k == 5
    assert choice.warnings[-1] == (
        "KMeans: k=5 is the top of the searched range 1..5; widen it upwards, e.g. --k-range 1..10"
    )


def test_given_k_wins_and_is_not_warned_about() -> None:
    table = _table(
        [1000, 500, 60, 55, 50],
        [np.nan, 0.9, 0.8, 0.6, 0.5],
        [np.nan, 1, 2, 3, 9],
        [np.nan, 1.0, 0.3, 0.6, 0.7],
    )
    choice = choose_k(table, find_knee(table["k"], table["wcss"]), k=5)
    assert choice.k == 5
    assert choice.reason.startswith("k=5 fixed by the user; WCSS curve: clear knee at k=3")
    assert choice.warnings == []


@pytest.mark.parametrize("seed", [0, 1])
def test_planted_segments_are_recovered(seed: int) -> None:
    X, truth = planted(seed=seed)
    seg = Segmenter(k_range=(1, 6), covariance_types=("full",), n_bootstrap=0, random_state=seed)
    seg.fit(X)
    assert seg.knee_ == 3
    assert seg.k_ == 3
    assert adjusted_rand_score(truth, seg.labels_) >= 0.9
    assert adjusted_rand_score(truth, seg.gmm_labels_) >= 0.9
