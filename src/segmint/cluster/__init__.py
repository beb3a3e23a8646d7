"""Clustering stage: transform, KMeans sweep and knee, Gaussian-mixture grid, stability, profiles.

The estimator users fit is :class:`segmint.model.Segmenter`; this package holds its parts, one
concept per module, and :func:`describe`, which turns a fitted ``Segmenter`` into the JSON-safe
``kmeans``, ``gmm``, ``agreement``, ``stability`` and ``warnings`` parts of ``metrics.json``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "CRITERIA",
    "MIXTURES",
    "MIXTURE_NAMES",
    "SCALES",
    "SIGNIFICANT_DIGITS",
    "describe",
    "json_safe",
]

# The two option lists live here, not in ``transform`` and ``gmm``, so that checking a
# command line does not import scikit-learn (about 2 s); both modules re-export them.

#: Accepted values of ``scale``: ``"log-standard"`` is ``log1p`` then standard scaling (the
#: default); ``"standard"`` and ``"robust"`` scale the raw values (no logarithm) with
#: :class:`~sklearn.preprocessing.StandardScaler` or
#: :class:`~sklearn.preprocessing.RobustScaler` (median and interquartile range); ``"none"``
#: leaves the values as they are.
SCALES: tuple[str, ...] = ("log-standard", "standard", "robust", "none")
#: Mixture models of ``Segmenter(mixture=...)`` and ``segmint run --mixture``.
MIXTURES: tuple[str, ...] = ("count", "gaussian")
#: Model selection criteria of the mixtures.
CRITERIA: tuple[str, ...] = ("bic", "aic")

#: Plain names of the mixtures (``Segmenter(mixture=...)``), for metrics.json and the report.
MIXTURE_NAMES: dict[str, str] = {
    "count": "count mixture (negative binomial counts, log-normal amounts)",
    "gaussian": "Gaussian mixture (log scale, dequantised counts)",
}

#: Significant digits floats keep in :func:`describe`, so that metrics.json is reproducible.
SIGNIFICANT_DIGITS: int = 6


def _segmint_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("segmint")
    except PackageNotFoundError:
        return "unknown"


def json_safe(value: Any, digits: int = SIGNIFICANT_DIGITS) -> Any:
    """Convert numpy scalars and containers to JSON types; NaN/inf become None.

    Parameters
    ----------
    value : Any
        A scalar, list, tuple, dict or numpy array.
    digits : int, default=SIGNIFICANT_DIGITS
        Floats are rounded to this many significant digits.

    Returns
    -------
    Any
        The same structure made of dict, list, str, int, float, bool and None.

    Examples
    --------
    >>> json_safe({"a": np.float64(3.14159265), "b": [np.nan, np.int64(2)]})
    {'a': 3.14159, 'b': [None, 2]}
    """
    if isinstance(value, dict):
        return {str(k): json_safe(v, digits) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_safe(v, digits) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        x = float(value)
        if not math.isfinite(x):
            return None
        return float(f"{x:.{digits}g}")
    return value


def describe(segmenter: Any) -> dict[str, Any]:
    """The JSON-safe selection results of a fitted ``Segmenter`` (parts of metrics.json).

    Parameters
    ----------
    segmenter : segmint.model.Segmenter
        Fitted (or loaded).

    Returns
    -------
    dict
        ``{"kmeans": {"sweep": [{k, wcss, silhouette, calinski_harabasz, davies_bouldin}],
        "knee", "knee_strength", "k", "reason", "names", "sizes"},
        "gmm": {"mixture": "count" | "gaussian", "model" (plain name), "count_features",
        "selection": {"n_components", "indistinguishable", "criterion_name", "criterion":
        [{n_components, mean, se, n_draws, delta, margin}], "stability", "reason", "on_edge"},
        "structure": {"verdict", "reasons", "bic_mixture", "bic_single", "delta_bic",
        "mean_ari", "min_jaccard", "jaccard", ...},
        "grid": [{n_components, covariance_type, bic, aic, ...}], "n_components",
        "covariance_type", "criterion", "evidence", "reason", "jitter", "names", "sizes"},
        "agreement": {"ari"}, "stability": {"n_bootstrap", "kmeans": {"mean_ari", "jaccard"},
        "gmm": {"mean_ari", "jaccard"}}, "warnings": [str]}``; floats have 6 significant
        digits, undefined values are None.
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(segmenter, ["kmeans_", "gmm_"])
    profiles = segmenter.profiles_

    def sizes(method: str) -> list[int]:
        rows = profiles[profiles["method"] == method].sort_values("segment")
        return [int(v) for v in rows["size"]]

    def stability(method: str) -> dict[str, Any]:
        part = segmenter.stability_[method]
        return {"mean_ari": part["mean_ari"], "jaccard": list(part["jaccard"])}

    out = {
        "kmeans": {
            "sweep": segmenter.kmeans_sweep_.to_dict(orient="records"),
            "knee": segmenter.knee_,
            "knee_strength": segmenter.knee_strength_,
            "k": segmenter.k_,
            "reason": segmenter.k_reason_,
            "names": list(segmenter.kmeans_names_),
            "sizes": sizes("kmeans"),
        },
        "gmm": {
            "mixture": getattr(segmenter, "mixture", "gaussian"),
            "model": MIXTURE_NAMES.get(getattr(segmenter, "mixture", "gaussian"), ""),
            "count_features": [
                str(f)
                for f, c in zip(
                    segmenter.feature_names_,
                    getattr(segmenter, "gmm_count_features_", []),
                    strict=False,
                )
                if c
            ],
            "selection": getattr(segmenter, "mixture_selection_", {}),
            "structure": getattr(segmenter, "structure_", {}),
            "grid": segmenter.gmm_grid_.to_dict(orient="records"),
            "n_components": segmenter.gmm_n_components_,
            "n_segments": getattr(segmenter, "gmm_n_segments_", segmenter.gmm_n_components_),
            "combination": getattr(segmenter, "gmm_combination_", {}),
            "covariance_type": segmenter.gmm_covariance_type_,
            "criterion": segmenter.gmm_criterion,
            "evidence": segmenter.gmm_evidence_,
            "reason": segmenter.gmm_reason_,
            "jitter": bool(segmenter.jitter),
            "names": list(segmenter.gmm_names_),
            "sizes": sizes("gmm"),
        },
        "agreement": {"ari": segmenter.agreement_["ari"]},
        "stability": {
            "n_bootstrap": segmenter.stability_["n_bootstrap"],
            "kmeans": stability("kmeans"),
            "gmm": stability("gmm"),
        },
        "warnings": list(segmenter.warnings_),
    }
    result: dict[str, Any] = json_safe(out)
    return result
