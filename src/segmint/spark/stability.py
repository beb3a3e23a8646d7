"""Bootstrap stability of the MLlib segmentations, and agreement from contingency counts.

The local check (:func:`segmint.cluster.stability.bootstrap`) refits KMeans and the mixture at
the chosen settings on resampled customers and compares how the refitted models assign the
original customers with the reference segments. :func:`bootstrap` does the same in Spark:

- resample: ``sample(withReplacement=True, fraction=1.0, seed)``, each customer drawn a
  Poisson(1) number of times (about n rows, as a bootstrap of n draws; Spark cannot draw
  exactly n rows with replacement without collecting);
- refit: one MLlib KMeans (k-means||) at the chosen k, one MLlib mixture at the chosen number
  of components, on the dequantised resample, seeded ``seed + 1000 + b``;
- compare: every customer assigned by the refitted model (one pass), the contingency table with
  the reference segments computed by Spark (a ``groupBy`` of at most k x k cells), then the
  adjusted Rand index (:func:`adjusted_rand_from_counts`) and, per reference segment, the
  Jaccard index with its best-matching refitted cluster, averaged over the resamples.

Each resample costs two MLlib fits and two passes over the customers; :func:`bootstrap` reports
the time it took, which ``metrics.json`` records in its warnings.

:func:`mixture_resamples` is the mixture's half alone, at any number of components: the MLlib
path measures with it the stability of the numbers of components the criterion cannot tell
apart (:func:`segmint.cluster.mixtures.choose_components`), and :func:`bootstrap` reuses the
chosen number's resamples (the same seeds) rather than refitting them.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["adjusted_rand_from_counts", "bootstrap", "jaccard_from_counts", "mixture_resamples"]


def adjusted_rand_from_counts(counts: np.ndarray) -> float:
    """Adjusted Rand index of two labelings from their contingency table.

    Parameters
    ----------
    counts : ndarray of shape (n_labels_a, n_labels_b)
        ``counts[i, j]``: items labelled ``i`` by one and ``j`` by the other.

    Returns
    -------
    float
        As :func:`sklearn.metrics.adjusted_rand_score` on the expanded labels.

    Examples
    --------
    >>> adjusted_rand_from_counts(np.array([[5, 0], [0, 3]]))
    1.0
    """
    counts = np.asarray(counts, dtype=np.float64)

    def pairs(values: np.ndarray) -> float:
        return float(np.sum(values * (values - 1) / 2))

    n = counts.sum()
    index = pairs(counts)
    rows, cols = pairs(counts.sum(axis=1)), pairs(counts.sum(axis=0))
    total = n * (n - 1) / 2
    expected = rows * cols / total if total else 0.0
    maximum = (rows + cols) / 2
    if maximum == expected:
        return 1.0
    return float((index - expected) / (maximum - expected))


def jaccard_from_counts(counts: np.ndarray) -> np.ndarray:
    """Per row label, the largest Jaccard index with any column label (NaN for an empty row).

    Parameters
    ----------
    counts : ndarray of shape (n_reference, n_other)

    Returns
    -------
    ndarray of shape (n_reference,)
        As :func:`segmint.cluster.stability.jaccard_per_segment` on the expanded labels.
    """
    counts = np.asarray(counts, dtype=np.float64)
    rows = counts.sum(axis=1, keepdims=True)
    cols = counts.sum(axis=0, keepdims=True)
    union = rows + cols - counts
    with np.errstate(invalid="ignore", divide="ignore"):
        jac = np.where(union > 0, counts / np.maximum(union, 1), 0.0)
    best = jac.max(axis=1) if counts.shape[1] else np.zeros(counts.shape[0])
    return np.where(rows.ravel() > 0, best, np.nan)


def _counts(frame: DataFrame, reference: str, other: str, n_ref: int) -> np.ndarray:
    rows = frame.groupBy(reference, other).count().collect()
    n_other = max([int(r[other]) for r in rows], default=-1) + 1
    table = np.zeros((n_ref, max(n_other, 1)))
    for r in rows:
        table[int(r[reference]), int(r[other])] = int(r["count"])
    return table


def mixture_resamples(
    Zg: DataFrame,
    cells: DataFrame,
    *,
    m: int,
    n_bootstrap: int,
    seed: int,
    max_iter: int,
    tol: float,
    reference: str = "gmm_raw",
) -> dict[str, Any]:
    """Refit the mixture at ``m`` components on ``n_bootstrap`` resamples; compare.

    Parameters
    ----------
    Zg : pyspark.sql.DataFrame
        Every customer's dequantised vector ``features`` (what the mixture was fitted on).
    cells : pyspark.sql.DataFrame
        Every customer: ``features`` at the dequantisation cell centre and ``reference``, the
        component of the full-data mixture at ``m`` (raw label).
    m : int
    n_bootstrap : int
    seed : int
        Resample ``b`` and its refit are seeded ``seed + 1000 + b`` (as in :func:`bootstrap`).
    max_iter : int
    tol : float
        MLlib's tolerance (on the total log-likelihood).
    reference : str, default="gmm_raw"

    Returns
    -------
    dict
        ``{"n_components", "n_bootstrap", "ari": list, "mean_ari" (NaN without resamples),
        "jaccard": list per raw label (mean over resamples), "jaccard_runs": ndarray
        (n_bootstrap, m), "seconds"}``.
    """
    from pyspark.ml.clustering import GaussianMixture

    start = time.perf_counter()
    aris: list[float] = []
    runs: list[np.ndarray] = []
    for b in range(n_bootstrap):
        if m == 1:  # one component: every refit agrees with the reference
            aris.append(1.0)
            runs.append(np.ones(1))
            continue
        s = seed + 1000 + b
        mixture = GaussianMixture(
            k=m, seed=s, maxIter=max_iter, tol=tol, featuresCol="features"
        ).fit(Zg.sample(withReplacement=True, fraction=1.0, seed=s))
        gm = mixture.setPredictionCol("gmm_new").setProbabilityCol("gmm_new_p").transform(cells)
        table = _counts(gm, reference, "gmm_new", m)
        aris.append(adjusted_rand_from_counts(table))
        runs.append(jaccard_from_counts(table)[:m])
    jaccard_runs = np.vstack(runs) if runs else np.zeros((0, m))
    jaccard = np.mean(jaccard_runs, axis=0) if runs else np.full(m, np.nan)
    return {
        "n_components": int(m),
        "n_bootstrap": int(n_bootstrap),
        "ari": aris,
        "mean_ari": float(np.mean(aris)) if aris else math.nan,
        "jaccard": [float(j) for j in jaccard],
        "jaccard_runs": jaccard_runs,
        "seconds": time.perf_counter() - start,
    }


def bootstrap(
    Z: DataFrame,
    Zg: DataFrame,
    cells: DataFrame,
    *,
    k: int,
    m: int,
    kmeans_order: np.ndarray,
    gmm_order: np.ndarray,
    n_bootstrap: int,
    seed: int,
    kmeans_max_iter: int,
    gmm_max_iter: int,
    gmm_tol: float,
    gmm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Refit KMeans and the mixture on ``n_bootstrap`` resamples; compare with the reference.

    Parameters
    ----------
    Z : pyspark.sql.DataFrame
        Every customer: ``features`` (transformed vector) and ``km_raw`` (reference cluster).
    Zg : pyspark.sql.DataFrame
        Every customer's dequantised vector ``features`` (what the mixture was fitted on).
    cells : pyspark.sql.DataFrame
        Every customer: ``features`` at the dequantisation cell centre, ``gmm_raw``.
    k, m : int
        Chosen number of KMeans segments and of mixture components.
    kmeans_order, gmm_order : ndarray of int
        Stable segment number of each raw cluster (the Jaccard indices are reported in it).
    n_bootstrap : int
    seed : int
    kmeans_max_iter, gmm_max_iter : int
    gmm_tol : float
        MLlib's tolerance (on the total log-likelihood).
    gmm : dict or None, default=None
        :func:`mixture_resamples` of the chosen mixture, already measured (same seeds); it is
        reused, not refitted.

    Returns
    -------
    dict
        ``{"n_bootstrap", "seconds", "kmeans": {"mean_ari", "ari", "jaccard"}, "gmm": {...}}``
        (``mean_ari`` None and ``jaccard`` empty when ``n_bootstrap`` is 0).
    """
    from pyspark.ml.clustering import KMeans
    from pyspark.sql import functions as F

    start = time.perf_counter()
    aris: list[float] = []
    runs: list[np.ndarray] = []
    for b in range(n_bootstrap):
        s = seed + 1000 + b
        if k == 1:
            km = Z.withColumn("km_new", F.lit(0))
        else:
            fit = KMeans(k=k, seed=s, maxIter=kmeans_max_iter, featuresCol="features")
            model = fit.fit(Z.sample(withReplacement=True, fraction=1.0, seed=s))
            km = model.setPredictionCol("km_new").transform(Z)
        table = _counts(km, "km_raw", "km_new", k)
        aris.append(adjusted_rand_from_counts(table))
        runs.append(_stable(jaccard_from_counts(table), kmeans_order))
    seconds = time.perf_counter() - start
    if gmm is None:
        gmm = mixture_resamples(
            Zg, cells, m=m, n_bootstrap=n_bootstrap, seed=seed, max_iter=gmm_max_iter, tol=gmm_tol
        )
    seconds += float(gmm["seconds"])

    def summary(aris: list[float], runs: list[np.ndarray]) -> dict[str, Any]:
        if not aris:
            return {"mean_ari": None, "ari": [], "jaccard": []}
        jaccard = np.mean(np.vstack(runs), axis=0)
        return {
            "mean_ari": float(np.mean(aris)),
            "ari": [float(a) for a in aris],
            "jaccard": [None if math.isnan(j) else float(j) for j in jaccard],
        }

    gmm_runs = [_stable(row, gmm_order) for row in gmm["jaccard_runs"]]
    return {
        "n_bootstrap": int(n_bootstrap),
        "seconds": seconds,
        "kmeans": summary(aris, runs),
        "gmm": summary(list(gmm["ari"]), gmm_runs),
    }


def _stable(jaccard_raw: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Jaccard indices by raw cluster -> by stable segment number."""
    out = np.full(len(order), np.nan)
    out[np.asarray(order, dtype=np.int64)] = jaccard_raw[: len(order)]
    return out
