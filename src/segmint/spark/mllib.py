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
   jitter (one draw, shared by every number of components), BIC and AIC from the training
   log-likelihood and the number of parameters. The number of components is chosen by the
   one rule of every mixture (:func:`segmint.cluster.mixtures.choose_components`, i.e.
   :func:`segmint.cluster.selection.choose`): the numbers within max(10, 2 SE) of the best
   criterion are indistinguishable (one value per number, the best start, so SE 0 and the
   margin 10 units), and among them the most stable by bootstrap mean ARI. Only those
   candidates are refitted on resamples in Spark
   (:func:`segmint.spark.stability.mixture_resamples`), and only with ``n_bootstrap`` > 0;
   otherwise their stability is not measured and the smallest is chosen. The structure check
   runs without its single-population comparison
   (:data:`segmint.spark._choice.NOT_COMPARED` says why). Customers
   are assigned at the centre of their dequantisation cell, as locally.
4. Segments numbered in the stable order of :func:`segmint.cluster.profile.stable_order`,
   profiles computed in Spark (medians approximate, relative error 1e-4) and named by
   :func:`segmint.cluster.profile.name_segments`; the agreement (adjusted Rand index) from the
   exact KMeans x GMM contingency table.

5. With ``n_bootstrap`` > 0, the bootstrap stability check refitted in Spark on resampled
   customers (:func:`segmint.spark.stability.bootstrap`; its cost goes to the warnings).
6. The fitted arrays (transform, centres, mixture) as an :class:`~segmint.spark.saved.MLlibModel`,
   which ``segmint predict`` applies without Spark.

:func:`segment_customers` returns every customer's
segments as a Spark DataFrame and a seeded sample of customers (at most :data:`REPORT_SAMPLE`)
from which the report draws its plots; :mod:`segmint.pipeline` writes them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from segmint.cluster.gmm import GMM_MAX_ITER
from segmint.cluster.kmeans import SILHOUETTE_SAMPLE, choose_k
from segmint.cluster.knee import find_knee
from segmint.cluster.profile import name_segments, stable_order
from segmint.errors import SegmintError
from segmint.spark._choice import choose_mixture, resampler
from segmint.spark.stability import adjusted_rand_from_counts
from segmint.spark.transform import QUANTILE_ERROR, SparkTransform, fit_transform

if TYPE_CHECKING:
    from pyspark.ml.clustering import GaussianMixtureModel, KMeansModel
    from pyspark.sql import Column, DataFrame

    from segmint.clean import Cleaned
    from segmint.spark.saved import MLlibModel

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
_ACCURACY = int(1 / QUANTILE_ERROR)


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
        The chosen mixture; ``gmm_evidence`` is ``"clear"``, ``"indistinguishable"`` or
        ``"fixed"``.
    gmm_selection, gmm_structure : dict
        The selection rule's table and choice, and the structure check (JSON-safe, as
        ``metrics.json``'s ``gmm.selection`` and ``gmm.structure`` of a local run).
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
    stability: dict[str, Any] = field(default_factory=dict)
    model: MLlibModel | None = None
    gmm_selection: dict[str, Any] = field(default_factory=dict)
    gmm_structure: dict[str, Any] = field(default_factory=dict)

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
    n_bootstrap: int = 0,
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
    n_bootstrap : int, default=0
        Resamples of the stability check (each refits KMeans and the mixture in Spark).

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
    from segmint.spark.saved import MLlibModel
    from segmint.spark.stability import bootstrap

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
    check = base.agg(
        *[F.min((F.col(f) == F.floor(f)).cast("int")).alias(f) for f in features],
        *[F.min(f).alias(f"lo{j}") for j, f in enumerate(features)],
        *[F.max(f).alias(f"hi{j}") for j, f in enumerate(features)],
    ).collect()[0]
    integral = np.array([bool(check[f]) for f in features]) if jitter else np.zeros(d, bool)
    ranges = {f: (float(check[f"lo{j}"]), float(check[f"hi{j}"])) for j, f in enumerate(features)}
    jittered = transform.columns(
        lambda f: (
            F.col(f) + F.rand(seed + 1 + features.index(f))
            if integral[features.index(f)]
            else F.col(f)
        )
    )
    Zg = _vectors(base.select(*jittered), d).persist(StorageLevel.MEMORY_AND_DISK)
    grid, gmm_models = _gmm_grid(Zg, n, d, k_values, seed)
    centred = transform.columns(
        lambda f: F.col(f) + 0.5 if integral[features.index(f)] else F.col(f)
    )
    cells = _vectors(
        assigned.drop("features", *[f"z{j}" for j in range(d)]).select("*", *centred), d
    )
    choice = choose_mixture(
        grid,
        k=k,
        criterion=gmm_criterion,
        n_bootstrap=n_bootstrap,
        starts=GMM_STARTS,
        resample=resampler(
            gmm_models, Zg, cells, n_bootstrap=n_bootstrap, seed=seed, tol=GMM_TOL * n
        ),
    )
    notes += choice.notes
    reason = choice.reason
    if jitter and integral.any():
        reason += (
            "; fitted on counts with U(0, 1) dequantisation jitter (one draw, shared by every "
            "number of components)"
        )
    m = choice.n_components
    no_mixture = (np.zeros(0), np.zeros((0, d)), np.zeros((0, d, d)))
    mixture = no_mixture
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
        mixture = (
            np.array(model.weights, dtype=np.float64),
            means,
            np.array([g.cov.toArray() for g in model.gaussians], dtype=np.float64),
        )
    gmm_order = _order(gmm_assigned, "gmm_raw", features, m, gmm_centres)
    stability = bootstrap(
        assigned,
        Zg,
        gmm_assigned,
        k=k_choice.k,
        m=m,
        kmeans_order=km_order,
        gmm_order=gmm_order,
        n_bootstrap=n_bootstrap,
        seed=seed,
        kmeans_max_iter=KMEANS_MAX_ITER,
        gmm_max_iter=GMM_MAX_ITER,
        gmm_tol=GMM_TOL * n,
        gmm=choice.details.get(m) if n_bootstrap else None,
    )
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
    if n_bootstrap:
        seconds = stability["seconds"]
        notes.append(
            f"stability: {n_bootstrap} bootstrap resamples refitted with Spark MLlib in "
            f"{seconds:.1f} s ({seconds / n_bootstrap:.1f} s each)"
        )
    else:
        notes.append("stability not measured: --bootstrap 0")
    saved = MLlibModel(
        features=tuple(features),
        scale=scale,
        centre=transform.centre,
        spread=transform.spread,
        kmeans_centres=(
            np.array(km_models[k_choice.k].clusterCenters(), dtype=np.float64)
            if k_choice.k > 1
            else np.zeros((0, d))
        ),
        kmeans_order=km_order,
        gmm_weights=mixture[0],
        gmm_means=mixture[1],
        gmm_covariances=mixture[2],
        gmm_order=gmm_order,
        cell_offset=0.5 * integral,
        kmeans_names=names["kmeans"],
        gmm_names=names["gmm"],
        feature_ranges=ranges,
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
        gmm_covariance_type="full",
        gmm_evidence=choice.evidence,
        gmm_reason=reason,
        ari=adjusted_rand_from_counts(table),
        n_customers=n,
        transform=transform,
        jitter=jitter,
        gmm_criterion=gmm_criterion,
        names=names,
        warnings=notes,
        stability=stability,
        model=saved,
        gmm_selection=choice.selection,
        gmm_structure=choice.structure,
    )


def describe(result: MLlibSegmentation) -> dict[str, Any]:
    """The ``kmeans``, ``gmm``, ``agreement``, ``stability`` and ``warnings`` parts of
    metrics.json, as :func:`segmint.cluster.describe` gives them for a ``Segmenter``."""
    from segmint.cluster import MIXTURE_NAMES, json_safe

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
                "mixture": "gaussian",
                "model": MIXTURE_NAMES["gaussian"],
                "selection": result.gmm_selection,
                "structure": result.gmm_structure,
                "grid": result.grid.to_dict(orient="records"),
                "n_components": result.gmm_n_components,
                "n_segments": result.gmm_n_components,  # MLlib: every component is a segment
                "combination": {},
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
                "n_bootstrap": int(result.stability.get("n_bootstrap", 0)),
                "kmeans": _stability(result, "kmeans"),
                "gmm": _stability(result, "gmm"),
            },
            "warnings": list(result.warnings),
        }
    )


def _stability(result: MLlibSegmentation, method: str) -> dict[str, Any]:
    part = result.stability.get(method) or {}
    return {"mean_ari": part.get("mean_ari"), "jaccard": list(part.get("jaccard") or [])}


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
    model : MLlibModel
        The fitted arrays, for ``model.skops`` (:meth:`~segmint.spark.saved.MLlibModel.save`).
    """

    assignments: DataFrame
    sample: pd.DataFrame
    profiles: pd.DataFrame
    described: dict[str, Any]
    notes: list[str]
    pyspark_version: str
    model: MLlibModel


def segment_customers(
    cleaned: Cleaned,
    *,
    k: int | None,
    k_range: tuple[int, int],
    scale: str,
    gmm_criterion: str,
    seed: int,
    n_bootstrap: int = 0,
    exclude_service_codes: bool = False,
) -> LargeRun:
    """Cluster the customer table of a log cleaned on the Spark engine, in Spark; write nothing.

    Parameters
    ----------
    cleaned : Cleaned
        What :func:`segmint.clean.clean` left on a :class:`~segmint.spark.engine.SparkEngine`.
    k, k_range, scale, gmm_criterion, seed, n_bootstrap
        As for :func:`segmint.run`.
    exclude_service_codes : bool, default=False
        The cleaning rule the log went through, saved with the model for ``segmint predict``.

    Returns
    -------
    LargeRun
    """
    from segmint.rules import feature_sql
    from segmint.spark import typed_features
    from segmint.spark.engine import SparkEngine, quiet_pyspark

    engine = cleaned.engine
    if not isinstance(engine, SparkEngine):
        raise TypeError(f"segment_customers needs the Spark engine, not {engine.name!r}")
    names = tuple(cleaned.features)
    customers = typed_features(engine.sql(feature_sql(names)), names)
    with quiet_pyspark():  # pyspark.ml's imports on Spark Connect warn about pandas 3
        result = segment(
            customers,
            names,
            k=k,
            k_range=k_range,
            scale=scale,
            gmm_criterion=gmm_criterion,
            seed=seed,
            n_bootstrap=n_bootstrap,
        )
    assert result.model is not None
    result.model.metadata = {
        "features": list(names),
        "exclude_service_codes": bool(exclude_service_codes),
    }
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
        result.assignments,
        sample,
        result.profiles,
        describe(result),
        notes,
        _pyspark_version(),
        result.model,
    )


def _pyspark_version() -> str:
    import pyspark

    return str(pyspark.__version__)
