"""A fabricated, finished segmint OUTDIR for the plot and report tests.

Not collected by pytest (the name does not start with ``test_``) and not a ``conftest.py``
(the lead owns that): the report tests import :func:`make_finished_outdir` from here. The
files follow docs/CONTRACTS.md ("Files in OUTDIR") exactly, from seeded random data with three
planted groups of ``(n_products, n_canceled_orders)``, so the tests do not depend on the
clustering code.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "GMM_NAMES",
    "KMEANS_NAMES",
    "WARNINGS",
    "fabricate_run",
    "make_finished_outdir",
]

KMEANS_NAMES: tuple[str, ...] = ("Occasional buyers", "Regular buyers", "Big-basket buyers")
GMM_NAMES: tuple[str, ...] = (
    "Occasional buyers",
    "Regular buyers",
    "Regulars who cancel",
    "Big-basket buyers",
)
WARNINGS: tuple[str, ...] = (
    "mixture: n_components=4 is on the edge of the searched range 1..4; widen --k-range",
)

#: (share, mean n_products, dispersion, mean n_canceled_orders) of the planted groups.
_GROUPS: tuple[tuple[float, float, float, float], ...] = (
    (0.58, 22.0, 1.6, 0.15),
    (0.32, 110.0, 3.0, 1.4),
    (0.10, 420.0, 4.0, 5.0),
)


def _counts(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Skewed integer counts in three planted groups; returns (group, n_products, n_canceled)."""
    shares = np.array([g[0] for g in _GROUPS])
    group = rng.choice(len(_GROUPS), size=n, p=shares / shares.sum())
    products = np.zeros(n, dtype=np.int64)
    canceled = np.zeros(n, dtype=np.int64)
    for g, (_share, mean, dispersion, cancel_mean) in enumerate(_GROUPS):
        rows = group == g
        k = int(rows.sum())
        products[rows] = rng.negative_binomial(dispersion, dispersion / (dispersion + mean), k)
        canceled[rows] = rng.poisson(cancel_mean * rng.gamma(2.0, 0.5, k))
    # a few customers who only ever cancelled
    only_cancelled = rng.random(n) < 0.004
    products[only_cancelled] = 0
    canceled[only_cancelled] = np.maximum(canceled[only_cancelled], 1)
    return group, products, canceled


def fabricate_run(
    n_customers: int = 4372,
    *,
    seed: int = 0,
    warnings: Sequence[str] = WARNINGS,
    kmeans_names: Sequence[str] = KMEANS_NAMES,
    gmm_names: Sequence[str] = GMM_NAMES,
    extra_features: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """The three outputs of a finished run, in memory: ``(segments, profiles, metrics)``.

    Parameters
    ----------
    n_customers : int, default=4372
        Rows of ``segments``.
    seed : int, default=0
        Seed of every random draw.
    warnings : sequence of str, default=WARNINGS
        ``metrics["warnings"]``.
    kmeans_names, gmm_names : sequence of str
        Names of the 3 KMeans segments and the 4 mixture components.
    extra_features : bool, default=False
        Add ``n_orders`` and ``monetary`` (a float that can be negative).

    Returns
    -------
    (pandas.DataFrame, pandas.DataFrame, dict)
        ``segments.csv``, ``profiles.csv`` and ``metrics.json`` contents.
    """
    rng = np.random.default_rng(seed)
    group, products, canceled = _counts(rng, n_customers)
    features = ["n_products", "n_canceled_orders"]
    segments = pd.DataFrame(
        {
            "customer_id": [str(12346 + i) for i in range(n_customers)],
            "n_products": products,
            "n_canceled_orders": canceled,
        }
    )
    if extra_features:
        orders = 1 + rng.poisson(np.maximum(products, 1) / 15.0)
        spend = products * rng.gamma(3.0, 6.0, n_customers) - canceled * rng.gamma(2.0, 8.0)
        segments["n_orders"] = orders.astype(np.int64)
        segments["monetary"] = np.round(spend, 2)
        features += ["n_orders", "monetary"]
    # KMeans: the planted groups, numbered by size (largest first); 3% mislabelled
    kmeans = group.copy()
    flip = rng.random(n_customers) < 0.03
    kmeans[flip] = rng.integers(0, 3, int(flip.sum()))
    order = np.argsort(-np.bincount(kmeans, minlength=3), kind="stable")
    kmeans = np.argsort(order)[kmeans]
    # GMM: the regular buyers split by cancellations
    gmm = np.where(kmeans == 2, 3, kmeans)
    gmm = np.where((kmeans == 1) & (canceled >= 2), 2, gmm)
    segments["kmeans_segment"] = kmeans.astype(np.int64)
    segments["kmeans_name"] = [kmeans_names[s] for s in kmeans]
    segments["gmm_segment"] = gmm.astype(np.int64)
    segments["gmm_name"] = [gmm_names[s] for s in gmm]
    segments["gmm_probability"] = np.round(rng.beta(9.0, 1.5, n_customers), 6)

    profiles = _profiles(segments, features, kmeans_names, gmm_names)
    metrics = _metrics(segments, features, kmeans_names, gmm_names, list(warnings), rng)
    return segments, profiles, metrics


def _profiles(
    segments: pd.DataFrame,
    features: list[str],
    kmeans_names: Sequence[str],
    gmm_names: Sequence[str],
) -> pd.DataFrame:
    rows: list[dict[str, Any]] = []
    overall = segments[features].mean()
    n = len(segments)
    for method, names in (("kmeans", kmeans_names), ("gmm", gmm_names)):
        for segment, name in enumerate(names):
            part = segments[segments[f"{method}_segment"] == segment]
            row: dict[str, Any] = {
                "method": method,
                "segment": segment,
                "name": name,
                "size": len(part),
                "share": round(len(part) / n, 6),
            }
            for f in features:
                row[f"{f}_median"] = float(part[f].median())
                row[f"{f}_mean"] = round(float(part[f].mean()), 6)
                row[f"{f}_lift"] = round(float(part[f].mean() / overall[f]), 6)
            rows.append(row)
    return pd.DataFrame(rows)


def _metrics(
    segments: pd.DataFrame,
    features: list[str],
    kmeans_names: Sequence[str],
    gmm_names: Sequence[str],
    warnings: list[str],
    rng: np.random.Generator,
) -> dict[str, Any]:
    n = len(segments)
    shape = [1.0, 0.553, 0.35, 0.258, 0.201, 0.155, 0.128, 0.109, 0.094, 0.083]
    sweep = [
        {
            "k": k,
            "wcss": round(2 * n * s, 3),
            "silhouette": None if k == 1 else round(0.52 - 0.03 * abs(k - 3) - 0.004 * k, 4),
            "calinski_harabasz": None if k == 1 else round(n * (1 / s - 1) / (k - 1), 3),
            "davies_bouldin": None if k == 1 else round(0.7 + 0.05 * abs(k - 3), 4),
        }
        for k, s in enumerate(shape, start=1)
    ]
    grid = []
    for cov, offset in (("full", 0.0), ("tied", 0.012), ("diag", 0.006), ("spherical", 0.02)):
        for m in range(1, 9):
            base = 4 * n * (1.0 + offset) * (1.0 - 0.09 * min(m, 4) + 0.004 * max(m - 4, 0))
            grid.append(
                {
                    "n_components": m,
                    "covariance_type": cov,
                    "bic": round(base + float(rng.normal(0, 2)), 3),
                    "aic": round(base - 30 * m + float(rng.normal(0, 2)), 3),
                }
            )
    kmeans_sizes = np.bincount(segments["kmeans_segment"], minlength=3).tolist()
    gmm_sizes = np.bincount(segments["gmm_segment"], minlength=4).tolist()
    return {
        "segmint_version": "0.1.0",
        "input": {"files": ["data/online_retail.csv"], "engine": "duckdb"},
        "parameters": {
            "features": features,
            "k": None,
            "k_range": [1, 10],
            "scale": "log-standard",
            "covariance_types": ["full", "tied", "diag", "spherical"],
            "gmm_criterion": "bic",
            "jitter": True,
            "n_bootstrap": 20,
            "random_state": 0,
        },
        "audit": {
            "rows_read": 541_909,
            "duplicate_rows": 5_268,
            "rows_without_customer_id": 135_080,
            "rows_excluded": 0,
            "rows_kept": 401_604,
            "customers": n,
            "cancellation_lines": 8_872,
            "cancellation_invoices": 3_654,
            "nonpositive_price_lines": 40,
            "service_code_lines": 1_774,
        },
        "features": features,
        "kmeans": {
            "sweep": sweep,
            "knee": 3,
            "k": 3,
            "reason": "clear knee at k=3 (kneedle distance 0.31); silhouette is highest at k=3",
            "names": list(kmeans_names),
            "sizes": kmeans_sizes,
        },
        "gmm": {
            "grid": grid,
            "n_components": 4,
            "covariance_type": "full",
            "criterion": "bic",
            "reason": "lowest BIC at 4 components (full covariance)",
            "jitter": True,
            "names": list(gmm_names),
            "sizes": gmm_sizes,
        },
        "agreement": {"ari": 0.81},
        "stability": {
            "n_bootstrap": 20,
            "kmeans": {"mean_ari": 0.86, "jaccard": [0.96, 0.81, 0.7]},
            "gmm": {"mean_ari": 0.74, "jaccard": [0.93, 0.78, 0.62, 0.9]},
        },
        "warnings": warnings,
        "versions": {
            "python": "3.11.2",
            "segmint": "0.1.0",
            "numpy": "2.4.6",
            "pandas": "3.1.1",
            "scikit-learn": "1.9.1",
            "matplotlib": "3.11.2",
        },
    }


def make_finished_outdir(
    outdir: Path,
    n_customers: int = 4372,
    *,
    seed: int = 0,
    warnings: Sequence[str] = WARNINGS,
    kmeans_names: Sequence[str] = KMEANS_NAMES,
    gmm_names: Sequence[str] = GMM_NAMES,
    extra_features: bool = False,
) -> Path:
    """Write ``segments.csv``, ``profiles.csv`` and ``metrics.json`` of a finished run.

    Parameters
    ----------
    outdir : pathlib.Path
        Folder to write into (created).
    n_customers, seed, warnings, kmeans_names, gmm_names, extra_features
        As for :func:`fabricate_run`.

    Returns
    -------
    pathlib.Path
        ``outdir``.
    """
    segments, profiles, metrics = fabricate_run(
        n_customers,
        seed=seed,
        warnings=warnings,
        kmeans_names=kmeans_names,
        gmm_names=gmm_names,
        extra_features=extra_features,
    )
    outdir.mkdir(parents=True, exist_ok=True)
    segments.to_csv(outdir / "segments.csv", index=False, lineterminator="\n")
    profiles.to_csv(outdir / "profiles.csv", index=False, lineterminator="\n", float_format="%.10g")
    (outdir / "metrics.json").write_text(
        json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    return outdir
