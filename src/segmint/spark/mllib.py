"""Segments with Spark MLlib, for customer tables too large to collect to one machine.

``segmint run --engine spark`` collects the customer table and clusters it exactly as locally
(:class:`segmint.model.Segmenter`) up to ``--spark-collect-limit`` customers (2,000,000 by
default). Above that, :func:`segment` does the same steps in Spark, with the same rules:

1. Transform: ``log1p`` then standard scaling (``scale="log-standard"``; also ``"standard"``,
   ``"robust"`` with approximate quartiles, ``"none"``), its parameters computed in one pass.
2. KMeans sweep over ``k_range``: MLlib ``KMeans`` (k-means|| initialisation, the best of
   :data:`KMEANS_STARTS` starts per k) and its training cost as the WCSS (at k=1 the total sum
   of squares); silhouette, Calinski-Harabasz and Davies-Bouldin on a seeded sample of at most
   :data:`segmint.cluster.kmeans.SILHOUETTE_SAMPLE` customers; then the same knee
   (:func:`segmint.cluster.knee.find_knee`) and the same choice
   (:func:`segmint.cluster.kmeans.choose_k`).
3. Gaussian mixture grid: MLlib ``GaussianMixture`` (full covariance, the only kind MLlib
   fits; the best of :data:`GMM_STARTS` starts) on the counts dequantised with ``U(0, 1)``
   jitter, BIC and AIC from the training log-likelihood and the number of parameters, chosen
   by :func:`segmint.cluster.gmm.choose` (the evidence rule). Customers are assigned at the
   centre of their dequantisation cell, as locally.
4. Segments numbered in the stable order of :func:`segmint.cluster.profile.stable_order`,
   profiles computed in Spark (medians approximate, relative error 1e-4) and named by
   :func:`segmint.cluster.profile.name_segments`; the agreement (adjusted Rand index) from the
   exact KMeans x GMM contingency table.

Not done on this path: the bootstrap stability check (each resample would be a full MLlib
fit); metrics.json says so in its warnings. :func:`segment_customers` returns every customer's
segments as a Spark DataFrame and a seeded sample of customers (at most :data:`REPORT_SAMPLE`)
from which the report draws its plots; :mod:`segmint.pipeline` writes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segmint.cluster.gmm import GMM_MAX_ITER
from segmint.cluster.gmm import choose as choose_gmm
from segmint.cluster.kmeans import SILHOUETTE_SAMPLE, choose_k
from segmint.cluster.knee import find_knee
from segmint.cluster.profile import name_segments, stable_order
from segmint.errors import SegmintError

if TYPE_CHECKING:
    from pyspark.ml.clustering import GaussianMixtureModel, KMeansModel
    from pyspark.sql import Column, DataFrame

    from segmint.clean import Cleaned

__all__ = [
    "REPORT_SAMPLE",
    "LargeRun",
    "MLlibSegmentation",
    "SparkTransform",
    "adjusted_rand_from_counts",
    "fit_transform",
    "segment",
    "segment_customers",
]

#: Customers in the seeded sample written to ``segments.csv`` for the report.
REPORT_SAMPLE: int = 100_000
#: Iterations of MLlib's KMeans per start.
KMEANS_MAX_ITER: int = 50
#: KMeans starts per k (seeds ``seed, seed + 1, ...``); the lowest training cost wins. One
#: k-means|| start can stop in a clearly worse partition, as scikit-learn's single starts can.
KMEANS_STARTS: int = 3
#: Gaussian-mixture starts per number of components; the highest log-likelihood wins (MLlib
#: starts from random samples, which on skewed counts often ends in a poor local optimum).
GMM_STARTS: int = 3
#: Convergence tolerance of the mixtures per customer, as scikit-learn's ``tol`` (MLlib's own
#: ``tol`` applies to the total log-likelihood, so it is this times the number of customers).
GMM_TOL: float = 1e-3
#: Fewest customers per partition of the tables MLlib iterates over (smaller ones are merged).
CUSTOMERS_PER_PARTITION: int = 100_000
#: Relative error of the approximate medians and quartiles.
QUANTILE_ERROR: float = 1e-4
_ACCURACY = int(1 / QUANTILE_ERROR)


@dataclass(frozen=True)
class SparkTransform:
    """The fitted feature transform: ``z = (g(x) - centre) / spread``, ``g`` log1p or identity.

    Attributes
    ----------
    features : tuple of str
        Feature columns, in order.
    scale : str
        One of :data:`segmint.cluster.transform.SCALES`.
    centre, spread : ndarray of shape (n_features,)
        Per feature; a spread of 0 is stored as 1 (as scikit-learn's scalers do).
    """

    features: tuple[str, ...]
    scale: str
    centre: np.ndarray
    spread: np.ndarray

    def columns(self, source: Callable[[str], Column]) -> list[Column]:
        """Spark expressions of the transformed features ``z0, z1, ...``.

        Parameters
        ----------
        source : callable
            Gives the (untransformed) value of a feature as a Spark column.
        """
        from pyspark.sql import functions as F

        out = []
        for j, name in enumerate(self.features):
            value = source(name).cast("double")
            if self.scale == "log-standard":
                value = F.log1p(value)
            out.append(((value - float(self.centre[j])) / float(self.spread[j])).alias(f"z{j}"))
        return out

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        """Back to original units (for component centres).

        Parameters
        ----------
        Z : ndarray of shape (n, n_features)

        Returns
        -------
        ndarray of shape (n, n_features)
        """
        X = np.asarray(Z, dtype=np.float64) * self.spread + self.centre
        return np.expm1(X) if self.scale == "log-standard" else X


def fit_transform(frame: DataFrame, features: Sequence[str], scale: str) -> SparkTransform:
    """Fit the transform of ``scale`` on a Spark table of customers (one pass).

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
        One row per customer with the feature columns.
    features : sequence of str
        Feature columns.
    scale : {"log-standard", "standard", "robust", "none"}
        As :func:`segmint.cluster.transform.make_transform`.

    Returns
    -------
    SparkTransform

    Raises
    ------
    SegmintError
        For an unknown scale, or negative values with ``scale="log-standard"``.
    """
    from pyspark.sql import functions as F

    from segmint.cluster.transform import SCALES

    if scale not in SCALES:
        raise SegmintError(f"--scale {scale}: use one of {', '.join(SCALES)}")
    names = tuple(features)
    d = len(names)
    aggs: list[Column] = []
    for j, name in enumerate(names):
        x = F.col(name).cast("double")
        g = F.log1p(x) if scale == "log-standard" else x
        aggs += [
            F.min(x).alias(f"min{j}"),
            F.avg(g).alias(f"mean{j}"),
            F.stddev_pop(g).alias(f"std{j}"),
        ]
        if scale == "robust":
            aggs.append(F.percentile_approx(x, [0.25, 0.5, 0.75], _ACCURACY).alias(f"q{j}"))
    row = frame.agg(*aggs).collect()[0]
    centre, spread = np.zeros(d), np.ones(d)
    for j, name in enumerate(names):
        if scale == "log-standard" and row[f"min{j}"] is not None and row[f"min{j}"] < 0:
            raise SegmintError(
                f"Negative values in data: feature {name!r} has min {row[f'min{j}']:g}; "
                "scale='log-standard' needs counts >= 0; use --scale standard for signed features"
            )
        if scale in ("log-standard", "standard"):
            centre[j], spread[j] = float(row[f"mean{j}"]), float(row[f"std{j}"] or 0.0)
        elif scale == "robust":
            q1, q2, q3 = (float(v) for v in row[f"q{j}"])
            centre[j], spread[j] = q2, q3 - q1
    spread[spread == 0] = 1.0
    return SparkTransform(names, scale, centre, spread)


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


@dataclass
class MLlibSegmentation:
    """What :func:`segment` found (the same figures a ``Segmenter`` reports).

    Attributes
    ----------
    assignments : pyspark.sql.DataFrame
        One row per customer: ``customer_id``, the features, ``kmeans_segment``,
        ``kmeans_name``, ``gmm_segment``, ``gmm_name``, ``gmm_probability``.
    profiles : pandas.DataFrame
        As ``profiles.csv``: ``method``, ``segment``, ``name``, ``size``, ``share``, then per
        feature ``<f>_median`` (approximate), ``<f>_mean``, ``<f>_lift``.
    sweep : pandas.DataFrame
        ``k``, ``wcss`` (MLlib training cost), ``silhouette``, ``calinski_harabasz``,
        ``davies_bouldin`` (the last three on a sample).
    knee, knee_strength, k, k_reason
        The WCSS knee and the chosen k, as :func:`segmint.cluster.kmeans.choose_k` gives them.
    grid : pandas.DataFrame
        ``n_components``, ``covariance_type`` (``"full"``), ``bic``, ``aic``.
    gmm_n_components, gmm_covariance_type, gmm_evidence, gmm_reason
        The chosen mixture.
    ari : float
        Agreement of the KMeans segments and the mixture components.
    n_customers : int
    transform : SparkTransform
    warnings : list of str
    """

    assignments: DataFrame
    profiles: pd.DataFrame
    sweep: pd.DataFrame
    knee: int | None
    knee_strength: float
    k: int
    k_reason: str
    grid: pd.DataFrame
    gmm_n_components: int
    gmm_covariance_type: str
    gmm_evidence: str
    gmm_reason: str
    ari: float
    n_customers: int
    transform: SparkTransform
    jitter: bool
    gmm_criterion: str
    names: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def sizes(self, method: str) -> list[int]:
        """Segment sizes of ``method`` (``"kmeans"`` or ``"gmm"``), in segment order."""
        rows = self.profiles[self.profiles["method"] == method].sort_values("segment")
        return [int(v) for v in rows["size"]]


def _vectors(frame: DataFrame, n_features: int) -> DataFrame:
    from pyspark.ml.feature import VectorAssembler

    assembler = VectorAssembler(
        inputCols=[f"z{j}" for j in range(n_features)], outputCol="features"
    )
    return assembler.transform(frame)


def _sample_rows(frame: DataFrame, n_total: int, size: int, seed: int) -> DataFrame:
    """A seeded sample of about ``size`` rows (all rows when there are fewer)."""
    if n_total <= size:
        return frame
    fraction = min(1.0, 1.1 * size / n_total)
    return frame.sample(withReplacement=False, fraction=fraction, seed=seed).limit(size)


def _sample_indices(Zs: np.ndarray, labels: np.ndarray) -> tuple[float, float, float]:
    from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score

    n_labels = np.unique(labels).size
    if not 2 <= n_labels < len(labels):
        return math.nan, math.nan, math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        return (
            float(silhouette_score(Zs, labels)),
            float(calinski_harabasz_score(Zs, labels)),
            float(davies_bouldin_score(Zs, labels)),
        )


def _kmeans_sweep(
    Z: DataFrame, Zs: np.ndarray, n: int, d: int, k_values: Sequence[int], seed: int
) -> tuple[pd.DataFrame, dict[int, KMeansModel]]:
    from pyspark.ml.clustering import KMeans
    from pyspark.sql import functions as F

    rows = []
    models: dict[int, KMeansModel] = {}
    for k in k_values:
        if k == 1:
            var = Z.agg(*[F.var_pop(f"z{j}") for j in range(d)]).collect()[0]
            wcss = float(n * sum(float(v or 0.0) for v in var))
            rows.append((1, wcss, math.nan, math.nan, math.nan))
            continue
        fits = [
            KMeans(
                k=int(k), seed=seed + start, maxIter=KMEANS_MAX_ITER, featuresCol="features"
            ).fit(Z)
            for start in range(KMEANS_STARTS)
        ]
        model = min(fits, key=lambda fit: float(fit.summary.trainingCost))
        models[int(k)] = model
        centres = np.array(model.clusterCenters())
        labels = np.argmin(((Zs[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2), axis=1)
        rows.append((int(k), float(model.summary.trainingCost), *_sample_indices(Zs, labels)))
    table = pd.DataFrame(
        rows, columns=["k", "wcss", "silhouette", "calinski_harabasz", "davies_bouldin"]
    )
    return table.astype({"k": "int64"}), models


def _gaussian_loglik(Z: DataFrame, n: int, d: int) -> float:
    """Log-likelihood of one full-covariance Gaussian at its maximum (mean, covariance)."""
    from pyspark.sql import functions as F

    pairs = [(i, j) for i in range(d) for j in range(i, d)]
    row = Z.agg(*[F.covar_pop(f"z{i}", f"z{j}").alias(f"c{i}_{j}") for i, j in pairs]).collect()[0]
    cov = np.zeros((d, d))
    for i, j in pairs:
        cov[i, j] = cov[j, i] = float(row[f"c{i}_{j}"] or 0.0)
    cov += 1e-6 * np.eye(d)  # scikit-learn's reg_covar
    _, logdet = np.linalg.slogdet(cov)
    return float(-0.5 * n * (d * math.log(2 * math.pi) + logdet + d))


def _gmm_grid(
    Zg: DataFrame, n: int, d: int, n_components: Sequence[int], seed: int
) -> tuple[pd.DataFrame, dict[int, GaussianMixtureModel]]:
    from pyspark.ml.clustering import GaussianMixture

    rows = []
    models: dict[int, GaussianMixtureModel] = {}
    for m in n_components:
        if m == 1:
            loglik = _gaussian_loglik(Zg, n, d)
        else:
            fits = [
                GaussianMixture(
                    k=int(m),
                    seed=seed + start,
                    maxIter=GMM_MAX_ITER,
                    tol=GMM_TOL * n,
                    featuresCol="features",
                ).fit(Zg)
                for start in range(GMM_STARTS)
            ]
            model = max(fits, key=lambda fit: float(fit.summary.logLikelihood))
            models[int(m)] = model
            loglik = float(model.summary.logLikelihood)
        n_params = m * d + m * d * (d + 1) / 2 + m - 1  # means, full covariances, weights
        rows.append(
            (int(m), "full", -2 * loglik + n_params * math.log(n), -2 * loglik + 2 * n_params)
        )
    table = pd.DataFrame(rows, columns=["n_components", "covariance_type", "bic", "aic"])
    return table.astype({"n_components": "int64"}), models


def _order(
    frame: DataFrame,
    label: str,
    features: Sequence[str],
    n_segments: int,
    centres: np.ndarray | None = None,
) -> np.ndarray:
    """Stable segment numbers from the per-label means in original units (one small query)."""
    from pyspark.sql import functions as F

    rows = frame.groupBy(label).agg(*[F.avg(f).alias(f) for f in features]).collect()
    present = np.array([int(r[label]) for r in rows], dtype=np.int64)
    means = np.array([[float(r[f]) for f in features] for r in rows]).reshape(-1, len(features))
    return stable_order(means, present, n_segments, centres)


def _relabel(column: str, mapping: np.ndarray) -> Column:
    from pyspark.sql import functions as F

    return F.element_at(F.array(*[F.lit(int(v)) for v in mapping]), F.col(column) + 1)


def _profiles(
    assigned: DataFrame, features: Sequence[str], segments: dict[str, int], n: int
) -> tuple[pd.DataFrame, dict[str, float]]:
    from pyspark.sql import functions as F

    overall = assigned.agg(
        *[F.avg(f).alias(f"{f}_mean") for f in features],
        *[F.percentile_approx(f, 0.5, _ACCURACY).alias(f"{f}_median") for f in features],
    ).collect()[0]
    parts = []
    for method, n_segments in segments.items():
        column = f"{method}_segment"
        rows = (
            assigned.groupBy(column)
            .agg(
                F.count(F.lit(1)).alias("size"),
                *[F.percentile_approx(f, 0.5, _ACCURACY).alias(f"{f}_median") for f in features],
                *[F.avg(f).alias(f"{f}_mean") for f in features],
            )
            .toArrow()
            .to_pandas()
            .set_index(column)
            .reindex(range(n_segments))
        )
        out = pd.DataFrame(
            {
                "method": method,
                "segment": np.arange(n_segments, dtype=np.int64),
                "size": rows["size"].fillna(0).to_numpy(dtype=np.int64),
            }
        )
        out["share"] = out["size"] / n
        for f in features:
            mean = float(overall[f"{f}_mean"])
            out[f"{f}_median"] = rows[f"{f}_median"].to_numpy(dtype=np.float64)
            out[f"{f}_mean"] = rows[f"{f}_mean"].to_numpy(dtype=np.float64)
            out[f"{f}_lift"] = out[f"{f}_mean"] / mean if mean else np.nan
        parts.append(out)
    medians = {f: float(overall[f"{f}_median"]) for f in features}
    return pd.concat(parts, ignore_index=True), medians


def segment(
    customers: DataFrame,
    features: Sequence[str],
    *,
    k: int | None = None,
    k_range: tuple[int, int] = (1, 10),
    scale: str = "log-standard",
    gmm_criterion: str = "bic",
    jitter: bool = True,
    seed: int = 0,
) -> MLlibSegmentation:
    """KMeans and a Gaussian mixture on a Spark table of customers (see the module docstring).

    Parameters
    ----------
    customers : pyspark.sql.DataFrame
        One row per customer: ``customer_id`` and the feature columns (non-negative with the
        default scale).
    features : sequence of str
        The feature columns to cluster on.
    k : int, optional
        Number of KMeans segments and mixture components; by default chosen as locally.
    k_range : (int, int), default=(1, 10)
        Inclusive range searched.
    scale : {"log-standard", "standard", "robust", "none"}, default="log-standard"
    gmm_criterion : {"bic", "aic"}, default="bic"
    jitter : bool, default=True
        Dequantise integer features with ``U(0, 1)`` before fitting the mixture.
    seed : int, default=0
        Seeds every fit, the jitter and the samples.

    Returns
    -------
    MLlibSegmentation
        Its ``assignments`` are lazy and cached: writing them runs the assignment once.

    Raises
    ------
    SegmintError
        For a bad range or ``k``, or fewer customers than the largest k.
    """
    from pyspark import StorageLevel
    from pyspark.ml.functions import vector_to_array
    from pyspark.sql import functions as F

    from segmint.spark.engine import is_connect

    features = list(features)
    lo, hi = int(k_range[0]), int(k_range[1])
    if not 1 <= lo <= hi:
        raise SegmintError(f"--k-range {lo}..{hi}: use 1 <= LOW <= HIGH")
    if k is not None and not lo <= k <= hi:
        raise SegmintError(f"k={k} should be within k_range {lo}..{hi}")
    d = len(features)
    base = customers.select("customer_id", *[F.col(f).cast("double").alias(f) for f in features])
    base = base.persist(StorageLevel.MEMORY_AND_DISK)
    n = base.count()
    # Spark Connect has no RDD API (and no way to count partitions); MLlib then iterates over
    # the partitions the aggregation left.
    partitions = 1 if is_connect(base) else base.rdd.getNumPartitions()
    wanted = max(1, min(partitions, math.ceil(n / CUSTOMERS_PER_PARTITION)))
    if wanted < partitions:  # each MLlib iteration is a job: no tiny tasks
        fewer = base.coalesce(wanted).persist(StorageLevel.MEMORY_AND_DISK)
        fewer.count()
        base.unpersist()
        base = fewer
    if n < hi:
        raise SegmintError(
            f"n_samples={n} should be >= max(k_range)={hi}; pass a smaller --k-range"
        )
    notes: list[str] = []
    transform = fit_transform(base, features, scale)

    # KMeans on the transformed features.
    Z = _vectors(base.select("customer_id", *features, *transform.columns(F.col)), d)
    Z = Z.persist(StorageLevel.MEMORY_AND_DISK)
    sample = _sample_rows(Z.select(*[f"z{j}" for j in range(d)]), n, SILHOUETTE_SAMPLE, seed)
    Zs = np.array(sample.collect(), dtype=np.float64).reshape(-1, d)
    k_values = list(range(lo, hi + 1))
    sweep, km_models = _kmeans_sweep(Z, Zs, n, d, k_values, seed)
    knee = find_knee(sweep["k"].to_numpy(), sweep["wcss"].to_numpy())
    k_choice = choose_k(sweep, knee, k)
    notes += k_choice.warnings
    if k_choice.k == 1:
        assigned = Z.withColumn("km_raw", F.lit(0))
    else:
        assigned = km_models[k_choice.k].setPredictionCol("km_raw").transform(Z)
    km_order = _order(assigned, "km_raw", features, k_choice.k)

    # Gaussian mixture on dequantised counts; customers assigned at their cell centres.
    check = base.agg(*[F.min((F.col(f) == F.floor(f)).cast("int")).alias(f) for f in features])
    integral = np.array([bool(v) for v in check.collect()[0]]) if jitter else np.zeros(d, bool)
    jittered = transform.columns(
        lambda f: (
            F.col(f) + F.rand(seed + 1 + features.index(f))
            if integral[features.index(f)]
            else F.col(f)
        )
    )
    Zg = _vectors(base.select(*jittered), d).persist(StorageLevel.MEMORY_AND_DISK)
    grid, gmm_models = _gmm_grid(Zg, n, d, k_values, seed)
    g_choice = choose_gmm(grid, gmm_criterion, k=k)
    notes += g_choice.warnings
    reason = g_choice.reason
    if jitter and integral.any():
        reason += "; fitted on counts with U(0, 1) dequantisation jitter"
    centred = transform.columns(
        lambda f: F.col(f) + 0.5 if integral[features.index(f)] else F.col(f)
    )
    cells = _vectors(
        assigned.drop("features", *[f"z{j}" for j in range(d)]).select("*", *centred), d
    )
    m = g_choice.n_components
    if m == 1:
        gmm_assigned = cells.withColumn("gmm_raw", F.lit(0)).withColumn("gmm_p", F.lit(1.0))
        gmm_centres = None
    else:
        model = gmm_models[m].setPredictionCol("gmm_raw").setProbabilityCol("gmm_proba")
        gmm_assigned = model.transform(cells).withColumn(
            "gmm_p", F.array_max(vector_to_array(F.col("gmm_proba")))
        )
        means = np.array([np.asarray(g.mean) for g in model.gaussians])
        gmm_centres = transform.inverse(means) - 0.5 * integral
    gmm_order = _order(gmm_assigned, "gmm_raw", features, m, gmm_centres)
    assignments = gmm_assigned.select(
        "customer_id",
        *features,
        _relabel("km_raw", km_order).alias("kmeans_segment"),
        _relabel("gmm_raw", gmm_order).alias("gmm_segment"),
        F.round("gmm_p", 6).alias("gmm_probability"),
    ).persist(StorageLevel.MEMORY_AND_DISK)

    profiles, medians = _profiles(assignments, features, {"kmeans": k_choice.k, "gmm": m}, n)
    names: dict[str, list[str]] = {}
    for method in ("kmeans", "gmm"):
        rows = profiles["method"] == method
        names[method] = name_segments(profiles[rows].reset_index(drop=True), features, medians)
        profiles.loc[rows, "name"] = names[method]
    profiles.insert(2, "name", profiles.pop("name"))
    counts = assignments.groupBy("kmeans_segment", "gmm_segment").count().collect()
    table = np.zeros((k_choice.k, m))
    for r in counts:
        table[int(r["kmeans_segment"]), int(r["gmm_segment"])] = int(r["count"])
    for frame in (base, Z, Zg):  # the assignments are cached now
        frame.unpersist()
    km_names = F.array(*[F.lit(v) for v in names["kmeans"]])
    gm_names = F.array(*[F.lit(v) for v in names["gmm"]])
    assignments = assignments.select(
        "customer_id",
        *[F.col(f) for f in features],
        "kmeans_segment",
        F.element_at(km_names, F.col("kmeans_segment") + 1).alias("kmeans_name"),
        "gmm_segment",
        F.element_at(gm_names, F.col("gmm_segment") + 1).alias("gmm_name"),
        "gmm_probability",
    )
    notes.append(
        "stability not measured: the bootstrap is skipped when clustering with Spark MLlib"
    )
    return MLlibSegmentation(
        assignments=assignments,
        profiles=profiles,
        sweep=sweep,
        knee=knee.x,
        knee_strength=knee.strength,
        k=k_choice.k,
        k_reason=k_choice.reason + " (Spark MLlib KMeans; indices on a sample)",
        grid=grid,
        gmm_n_components=m,
        gmm_covariance_type=g_choice.covariance_type,
        gmm_evidence=g_choice.evidence,
        gmm_reason=reason + " (Spark MLlib, full covariance)",
        ari=adjusted_rand_from_counts(table),
        n_customers=n,
        transform=transform,
        jitter=jitter,
        gmm_criterion=gmm_criterion,
        names=names,
        warnings=notes,
    )


def describe(result: MLlibSegmentation) -> dict[str, Any]:
    """The ``kmeans``, ``gmm``, ``agreement``, ``stability`` and ``warnings`` parts of
    metrics.json, as :func:`segmint.cluster.describe` gives them for a ``Segmenter``."""
    from segmint.cluster import json_safe

    return json_safe(
        {
            "kmeans": {
                "sweep": result.sweep.to_dict(orient="records"),
                "knee": result.knee,
                "knee_strength": result.knee_strength,
                "k": result.k,
                "reason": result.k_reason,
                "names": result.names["kmeans"],
                "sizes": result.sizes("kmeans"),
            },
            "gmm": {
                "grid": result.grid.to_dict(orient="records"),
                "n_components": result.gmm_n_components,
                "covariance_type": result.gmm_covariance_type,
                "criterion": result.gmm_criterion,
                "evidence": result.gmm_evidence,
                "reason": result.gmm_reason,
                "jitter": result.jitter,
                "names": result.names["gmm"],
                "sizes": result.sizes("gmm"),
            },
            "agreement": {"ari": result.ari},
            "stability": {
                "n_bootstrap": 0,
                "kmeans": {"mean_ari": None, "jaccard": []},
                "gmm": {"mean_ari": None, "jaccard": []},
            },
            "warnings": list(result.warnings),
        }
    )


@dataclass
class LargeRun:
    """What :func:`segment_customers` found, for :mod:`segmint.pipeline` to write.

    Attributes
    ----------
    assignments : pyspark.sql.DataFrame
        Every customer: ``customer_id``, the features and both segmentations.
    sample : pandas.DataFrame
        A seeded sample of at most :data:`REPORT_SAMPLE` customers of ``assignments``, sorted
        by ``customer_id``, for ``segments.csv`` and the report.
    profiles : pandas.DataFrame
        Profiles over every customer.
    described : dict
        The ``kmeans``, ``gmm``, ``agreement``, ``stability`` and ``warnings`` parts of
        metrics.json.
    notes : list of str
        Warnings, and where every customer's segments are.
    pyspark_version : str
    """

    assignments: DataFrame
    sample: pd.DataFrame
    profiles: pd.DataFrame
    described: dict[str, Any]
    notes: list[str]
    pyspark_version: str


def segment_customers(
    cleaned: Cleaned,
    *,
    k: int | None,
    k_range: tuple[int, int],
    scale: str,
    gmm_criterion: str,
    seed: int,
) -> LargeRun:
    """Cluster the customer table of a log cleaned on the Spark engine, in Spark; write nothing.

    Parameters
    ----------
    cleaned : Cleaned
        What :func:`segmint.clean.clean` left on a :class:`~segmint.spark.engine.SparkEngine`.
    k, k_range, scale, gmm_criterion, seed
        As for :func:`segmint.run`.

    Returns
    -------
    LargeRun
    """
    from segmint.rules import feature_sql
    from segmint.spark import typed_features
    from segmint.spark.engine import SparkEngine

    engine = cleaned.engine
    if not isinstance(engine, SparkEngine):
        raise TypeError(f"segment_customers needs the Spark engine, not {engine.name!r}")
    names = tuple(cleaned.features)
    customers = typed_features(engine.sql(feature_sql(names)), names)
    result = segment(
        customers, names, k=k, k_range=k_range, scale=scale, gmm_criterion=gmm_criterion, seed=seed
    )
    sample = (
        _sample_rows(result.assignments, result.n_customers, REPORT_SAMPLE, seed)
        .toArrow()
        .to_pandas()
        .sort_values("customer_id", ignore_index=True)
    )
    notes = [
        *result.warnings,
        f"segments.csv holds a seeded sample of {len(sample):,} of {result.n_customers:,} "
        "customers (for the report); every customer's segments are in segments.parquet/",
    ]
    return LargeRun(
        result.assignments, sample, result.profiles, describe(result), notes, _pyspark_version()
    )


def _pyspark_version() -> str:
    import pyspark

    return str(pyspark.__version__)
