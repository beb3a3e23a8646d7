"""How much two partitions agree, and how stable a partition is under bootstrap resampling.

:func:`agreement` is the adjusted Rand index (ARI) between two labelings of the same customers
(e.g. KMeans against the Gaussian mixture). :func:`bootstrap` refits an estimator at the chosen
settings on ``n_bootstrap`` resamples (drawn with replacement), assigns the *original* customers
with each refitted model and compares with the reference labels:

- ``mean_ari``: the mean ARI between the bootstrapped and the reference labelings;
- ``jaccard``: per reference segment, the Jaccard index ``|A & B| / |A | B|`` of the segment
  with its best-matching bootstrap cluster, averaged over the resamples (Hennig's clusterwise
  stability). Near 1 a segment is solid; below about 0.6 it dissolves when the data change a
  little.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

import numpy as np
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score

from segmint._parallel import run_tasks, single_threaded

__all__ = ["agreement", "bootstrap", "jaccard_per_segment"]


def agreement(labels_a: np.ndarray, labels_b: np.ndarray) -> float:
    """Adjusted Rand index between two labelings of the same customers.

    Parameters
    ----------
    labels_a, labels_b : ndarray of int, shape (n_samples,)

    Returns
    -------
    float
        1 for identical partitions (up to numbering), about 0 for unrelated ones.
    """
    return float(adjusted_rand_score(labels_a, labels_b))


def jaccard_per_segment(reference: np.ndarray, other: np.ndarray, n_segments: int) -> np.ndarray:
    """For each reference segment, the largest Jaccard index with any cluster of ``other``.

    Parameters
    ----------
    reference : ndarray of int, shape (n_samples,)
        Labels ``0 .. n_segments - 1``.
    other : ndarray of int, shape (n_samples,)
        Labels of the same customers by another partition (any non-negative integers).
    n_segments : int
        Number of reference segments (an empty one gets NaN).

    Returns
    -------
    ndarray of float, shape (n_segments,)
    """
    other = np.unique(np.asarray(other), return_inverse=True)[1].ravel()
    n_other = int(other.max()) + 1 if other.size else 0
    counts = np.zeros((n_segments, n_other), dtype=np.int64)
    np.add.at(counts, (np.asarray(reference), other), 1)
    sizes_ref = counts.sum(axis=1, keepdims=True)
    sizes_other = counts.sum(axis=0, keepdims=True)
    union = sizes_ref + sizes_other - counts
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, counts / np.maximum(union, 1), 0.0)
    best = jac.max(axis=1) if n_other else np.zeros(n_segments)
    return np.where(sizes_ref.ravel() > 0, best, np.nan)


def _one_resample(
    estimator: Any,
    X_fit: np.ndarray,
    X_predict: np.ndarray,
    reference: np.ndarray,
    n_segments: int,
    seed: np.random.SeedSequence,
) -> tuple[float, np.ndarray, list[str]]:
    """Refit on one resample; return (ARI, Jaccard per segment, convergence messages)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, X_fit.shape[0], size=X_fit.shape[0])
    model = clone(estimator)
    # Single-threaded: a small fit (see segmint.cluster.gmm.grid); parallelism is n_jobs.
    with single_threaded(), warnings.catch_warnings(record=True) as caught:
        # A resample holds ~63% distinct customers; a fit that cannot find k distinct
        # clusters or does not converge is reported (Segmenter.warnings_), not raised.
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(X_fit[idx])
        labels = model.predict(X_predict)
    messages = [str(w.message) for w in caught if issubclass(w.category, ConvergenceWarning)]
    return (
        agreement(reference, labels),
        jaccard_per_segment(reference, labels, n_segments),
        messages,
    )


def bootstrap(
    estimator: Any,
    X_fit: np.ndarray,
    X_predict: np.ndarray,
    reference: np.ndarray,
    n_segments: int,
    n_bootstrap: int,
    random_state: int,
    *,
    n_jobs: int | None = None,
) -> dict[str, Any]:
    """Bootstrap stability of a partition: mean ARI and per-segment Jaccard.

    Parameters
    ----------
    estimator : estimator with ``fit`` and ``predict``
        Unfitted, at the chosen settings; cloned for every resample.
    X_fit : ndarray of shape (n_samples, n_features)
        Data the resamples are drawn from (for a mixture: the dequantised data).
    X_predict : ndarray of shape (n_samples, n_features)
        The same customers as the model assigns them (for a mixture: cell centres).
    reference : ndarray of int, shape (n_samples,)
        Labels of the full model, ``0 .. n_segments - 1``.
    n_segments : int
        Number of reference segments.
    n_bootstrap : int
        Number of resamples (0 gives NaN results).
    random_state : int
        Seed of the resampling (one child seed per resample).
    n_jobs : int or None, default=None
        Processes refitting resamples side by side (:func:`segmint._parallel.run_tasks`;
        default one per core). The results do not depend on it.

    Returns
    -------
    dict
        ``{"n_bootstrap": int, "messages": list of str (convergence warnings), "ari": list
        of float, "mean_ari": float, "jaccard": list of float (one per segment)}``.
    """
    seeds = np.random.SeedSequence(random_state).spawn(n_bootstrap)
    results = run_tasks(
        [
            functools.partial(_one_resample, estimator, X_fit, X_predict, reference, n_segments, s)
            for s in seeds
        ],
        n_jobs=n_jobs,
    )
    aris = [r[0] for r in results]
    if results:
        # An empty reference segment is NaN in every resample, and stays NaN.
        jaccard = np.mean(np.vstack([r[1] for r in results]), axis=0)
    else:
        jaccard = np.full(n_segments, np.nan)
    return {
        "n_bootstrap": int(n_bootstrap),
        "messages": [m for r in results for m in r[2]],
        "ari": [float(a) for a in aris],
        "mean_ari": float(np.mean(aris)) if aris else float("nan"),
        "jaccard": [float(j) for j in jaccard],
    }
