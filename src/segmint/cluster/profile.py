"""Segment order, profiles and plain-language names.

Stable numbering (:func:`stable_order`)
    Segments are numbered by their centroid in original units: ascending mean of the first
    feature, ties broken by the mean of the second feature, and so on; empty segments (a mixture
    component no customer is assigned to) come last, ordered the same way by their component
    centre. The numbering therefore depends only on the partition, not on the arbitrary label
    numbers a fit produced: with the default features segment 0 is always the segment with the
    fewest distinct products on average.

Profiles (:func:`profile_table`)
    Per segment: ``size``, ``share``, and for each feature ``<f>_median``, ``<f>_mean`` and
    ``<f>_lift`` (segment mean over the mean of all customers; NaN when that mean is 0).

Names (:func:`name_segments`)
    Each feature puts a segment at a level by its *typical ratio*: the segment median over the
    median of all customers (robust to the long tails of counts), or, when the overall median
    is 0, the lift (mean over mean). *Low* is below 2/3, *high* above 3/2, *mid* in between.
    The name starts with the ``n_products`` word (Occasional / Regular / Broad
    buyers), then the cancellation phrase from ``n_canceled_orders``: "no cancellations" when
    nobody in the segment cancelled, "frequent cancellers" when at least half of it cancelled
    (median >= 1) or its level is high, "rare cancellers" otherwise. Optional features add a
    phrase only at a low or high level (n_orders: few / many orders, recency_days: recent /
    lapsed, monetary: low / high spend, cancel_rate: low / high cancel rate, the latter only
    without ``n_canceled_orders``); other features read "low <f>" / "high <f>". A name has at
    most three phrases. Names that collide within a method get a suffix with the median of the
    first feature that tells them apart, e.g. "(n_products median 12)", or else
    "(segment 3)".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = ["LEVEL_HIGH", "LEVEL_LOW", "name_segments", "profile_table", "stable_order"]

#: Lift below which a segment is "low" on a feature.
LEVEL_LOW: float = 2 / 3
#: Lift above which a segment is "high" on a feature.
LEVEL_HIGH: float = 3 / 2

_BUYERS = ("Occasional buyers", "Regular buyers", "Broad buyers")
_PHRASES: dict[str, tuple[str, str]] = {
    "n_orders": ("few orders", "many orders"),
    "recency_days": ("recent", "lapsed"),
    "monetary": ("low spend", "high spend"),
    "cancel_rate": ("low cancel rate", "high cancel rate"),
}
_MAX_PHRASES = 3


def stable_order(
    X: np.ndarray,
    labels: np.ndarray,
    n_segments: int,
    centres: np.ndarray | None = None,
) -> np.ndarray:
    """Map fitted labels to stable segment numbers (see the module docstring).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Features in original units.
    labels : ndarray of int, shape (n_samples,)
        Labels ``0 .. n_segments - 1`` as fitted.
    n_segments : int
        Number of fitted labels (components), including empty ones.
    centres : ndarray of shape (n_segments, n_features), optional
        Centres in original units, used for segments without customers.

    Returns
    -------
    ndarray of int, shape (n_segments,)
        ``mapping[fitted_label]`` is the stable segment number.
    """
    X = np.asarray(X, dtype=np.float64)
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=n_segments)
    sums = np.zeros((n_segments, X.shape[1]))
    np.add.at(sums, labels, X)
    means = np.divide(sums, np.maximum(counts, 1)[:, None])
    empty = counts == 0
    if np.any(empty):
        means[empty] = centres[empty] if centres is not None else np.inf
    keys = [means[:, j] for j in range(X.shape[1] - 1, -1, -1)] + [empty.astype(int)]
    order = np.lexsort(keys)
    mapping = np.empty(n_segments, dtype=np.int64)
    mapping[order] = np.arange(n_segments)
    return mapping


def profile_table(
    X: pd.DataFrame, labels: np.ndarray, n_segments: int, method: str
) -> pd.DataFrame:
    """Size, share, median, mean and lift of every feature, per segment.

    Parameters
    ----------
    X : DataFrame of shape (n_samples, n_features)
        Features in original units; the column names name the profile columns.
    labels : ndarray of int, shape (n_samples,)
        Stable segment numbers ``0 .. n_segments - 1``.
    n_segments : int
        Number of segments (empty ones get a row with size 0).
    method : str
        Value of the ``method`` column (``"kmeans"`` or ``"gmm"``).

    Returns
    -------
    DataFrame
        One row per segment: ``method``, ``segment``, ``size``, ``share``, then per feature
        ``<f>_median``, ``<f>_mean``, ``<f>_lift`` (no ``name`` column yet).
    """
    labels = np.asarray(labels)
    n = len(labels)
    grouped = X.groupby(labels, sort=True)
    medians = grouped.median().reindex(range(n_segments))
    means = grouped.mean().reindex(range(n_segments))
    sizes = np.bincount(labels, minlength=n_segments)
    overall = X.mean()
    out = pd.DataFrame(
        {
            "method": method,
            "segment": np.arange(n_segments, dtype=np.int64),
            "size": sizes.astype(np.int64),
            "share": sizes / n if n else np.zeros(n_segments),
        }
    )
    for f in X.columns:
        out[f"{f}_median"] = medians[f].to_numpy(dtype=np.float64)
        out[f"{f}_mean"] = means[f].to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            lift = means[f].to_numpy(dtype=np.float64) / float(overall[f])
        out[f"{f}_lift"] = np.where(np.isfinite(lift), lift, np.nan)
    return out


def _level(ratio: float) -> int:
    """-1 low, 0 mid (or unknown), 1 high."""
    if not np.isfinite(ratio):
        return 0
    if ratio < LEVEL_LOW:
        return -1
    if ratio > LEVEL_HIGH:
        return 1
    return 0


def _ratio(row: pd.Series, feature: str, overall_median: Mapping[str, float]) -> float:
    median = float(overall_median.get(feature, 0.0))
    if median > 0 and np.isfinite(row[f"{feature}_median"]):
        return float(row[f"{feature}_median"]) / median
    return float(row[f"{feature}_lift"])


def _phrases(
    row: pd.Series, features: Sequence[str], overall_median: Mapping[str, float]
) -> list[str]:
    parts: list[str] = []
    if "n_products" in features:
        if row["n_products_median"] == 0:
            parts.append("cancellers with few or no purchases")
        else:
            parts.append(_BUYERS[_level(_ratio(row, "n_products", overall_median)) + 1])
    if "n_canceled_orders" in features and row.get("n_products_median", 1) != 0:
        if row["n_canceled_orders_mean"] == 0:
            parts.append("no cancellations")
        elif (
            row["n_canceled_orders_median"] >= 1
            or _level(_ratio(row, "n_canceled_orders", overall_median)) > 0
        ):
            parts.append("frequent cancellers")
        else:
            parts.append("rare cancellers")
    for f in features:
        if f in ("n_products", "n_canceled_orders"):
            continue
        if f == "cancel_rate" and "n_canceled_orders" in features:
            continue
        level = _level(_ratio(row, f, overall_median))
        if level == 0:
            continue
        low, high = _PHRASES.get(f, (f"low {f}", f"high {f}"))
        parts.append(low if level < 0 else high)
    return parts[:_MAX_PHRASES]


def _format_value(value: float) -> str:
    return f"{value:.4g}" if np.isfinite(value) else "n/a"


def name_segments(
    profile: pd.DataFrame,
    features: Sequence[str],
    overall_median: Mapping[str, float] | None = None,
) -> list[str]:
    """Short plain-language names, unique within the table (rules in the module docstring).

    Parameters
    ----------
    profile : DataFrame
        Output of :func:`profile_table` for one method, in segment order.
    features : sequence of str
        Feature names, in the order of the profile columns.
    overall_median : mapping of str to float, optional
        Median of every feature over all customers; without it, levels use the lift.

    Returns
    -------
    list of str
        One name per segment, e.g. ``"Broad buyers, frequent cancellers"``.
    """
    names: list[str] = []
    for _, row in profile.iterrows():
        if row["size"] == 0:
            names.append("Empty component")
            continue
        parts = _phrases(row, features, overall_median or {})
        if not parts:
            parts = ["Typical customers"]
        name = ", ".join(parts)
        names.append(name[0].upper() + name[1:])
    seen: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        seen.setdefault(name, []).append(i)
    for name, rows in seen.items():
        if len(rows) < 2:
            continue
        suffix: list[str] | None = None
        for f in features:
            medians = [float(profile[f"{f}_median"].iloc[i]) for i in rows]
            labels = [_format_value(m) for m in medians]
            if len(set(labels)) == len(labels):
                suffix = [f"({f} median {v})" for v in labels]
                break
        if suffix is None:
            suffix = [f"(segment {int(profile['segment'].iloc[i])})" for i in rows]
        for i, s in zip(rows, suffix, strict=True):
            names[i] = f"{name} {s}"
    return names
