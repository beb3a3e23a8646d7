"""Agreement between partitions and bootstrap stability (mean ARI, per-segment Jaccard)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.mixture import GaussianMixture

from segmint.cluster.stability import agreement, bootstrap, jaccard_per_segment


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    y = np.repeat(np.arange(3), 100)
    return centres[y] + rng.normal(0, 0.5, (300, 2)), y


def test_agreement_is_the_adjusted_rand_index() -> None:
    a = np.array([0, 0, 1, 1, 2, 2])
    assert agreement(a, a) == 1.0
    assert agreement(a, np.array([2, 2, 0, 0, 1, 1])) == 1.0  # numbering does not matter
    assert agreement(a, np.array([0, 1, 0, 1, 0, 1])) < 0.1


def test_jaccard_per_segment_by_hand() -> None:
    reference = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    other = np.array([5, 5, 5, 7, 7, 7, 9, 9])
    # segment 0: {0,1,2,3} vs {0,1,2} -> 3/4; segment 1: {4,5} vs {3,4,5} -> 2/3; segment 2: 1
    np.testing.assert_allclose(jaccard_per_segment(reference, other, 3), [3 / 4, 2 / 3, 1.0])
    empty = jaccard_per_segment(reference, other, 4)
    assert np.isnan(empty[3])


def test_bootstrap_on_clear_clusters_is_stable_and_reproducible() -> None:
    X, y = blobs()
    result = bootstrap(KMeans(3, n_init=3, random_state=0), X, X, y, 3, 5, random_state=1)
    assert result["n_bootstrap"] == 5
    assert len(result["ari"]) == 5
    assert result["mean_ari"] == pytest.approx(1.0, abs=0.02)
    assert len(result["jaccard"]) == 3
    assert min(result["jaccard"]) > 0.97
    assert result["messages"] == []
    again = bootstrap(KMeans(3, n_init=3, random_state=0), X, X, y, 3, 5, random_state=1)
    assert again == result


def test_bootstrap_shows_an_unstable_split() -> None:
    # One round blob cut into 4 pieces: the pieces move from resample to resample.
    rng = np.random.default_rng(0)
    X = rng.normal(0, 1, (300, 2))
    reference = KMeans(4, n_init=1, random_state=0).fit_predict(X)
    result = bootstrap(KMeans(4, n_init=1), X, X, reference, 4, 5, random_state=0)
    assert result["mean_ari"] < 0.9


def test_bootstrap_of_a_mixture_predicts_on_separate_points() -> None:
    X, y = blobs()
    result = bootstrap(GaussianMixture(3, random_state=0), X + 0.01, X, y, 3, 3, random_state=0)
    assert result["mean_ari"] > 0.95


def test_zero_resamples() -> None:
    X, y = blobs()
    result = bootstrap(KMeans(3, n_init=1), X, X, y, 3, 0, random_state=0)
    assert result["ari"] == []
    assert np.isnan(result["mean_ari"])
    assert all(np.isnan(result["jaccard"]))
