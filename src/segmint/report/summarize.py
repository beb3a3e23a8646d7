"""Summarise a finished run into the plain, JSON-safe dict that the report template renders.

:func:`summarize` reads nothing and draws nothing: it takes the three outputs of a run
(``metrics.json`` as a dict, ``segments.csv`` and ``profiles.csv`` as DataFrames, see
docs/CONTRACTS.md) and returns numbers, names and sentences. Figures are drawn elsewhere
(:func:`segmint.report.render_figures`) from this dict and the segments table.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import SegmintError
from segmint.report._mixture import kind_of, label_of, mixture_summary
from segmint.report._stats import correlation_matrix
from segmint.report.style import (
    PAIR_PLOT_MAX_POINTS,
    VIOLIN_MAX_POINTS,
    feature_label,
    method_label,
    segment_colors,
    segment_label,
)

__all__ = [
    "FIGURES",
    "SECTIONS",
    "SOLID_FROM",
    "UNSTABLE_BELOW",
    "stability_verdict",
    "summarize",
]

#: Bootstrap Jaccard below this marks a segment as unstable.
UNSTABLE_BELOW: float = 0.75
#: Bootstrap Jaccard from this on marks a segment as solid.
SOLID_FROM: float = 0.85

#: Report sections, ``(id, heading)``, in page order; the ids are stable anchors.
SECTIONS: tuple[tuple[str, str], ...] = (
    ("summary", "Summary"),
    ("segments", "The segments one by one"),
    ("quality", "Data quality"),
    ("overview", "Technical details: KMeans segments at a glance"),
    ("data", "The data and its audit"),
    ("features", "The features"),
    ("kmeans", "KMeans segments"),
    ("gmm", "Mixture segments"),
    ("agreement", "Agreement and stability"),
    ("next-steps", "Scoring new customers"),
    ("run", "Parameters and versions"),
)

#: Figures of the report, ``(key, section id, title)``; ``plots/<key>.png`` in OUTDIR. In the
#: titles ``{mixture}`` (``{Mixture}`` first in a title) stands for what the run's mixture is
#: called (:func:`segmint.report._mixture.label_of`: "count mixture", "Gaussian mixture").
FIGURES: tuple[tuple[str, str, str], ...] = (
    ("monthly", "segments", "Turnover and active customers per month"),
    ("correlation", "features", "How the features move together"),
    ("kmeans_selection", "kmeans", "Choosing the number of KMeans segments"),
    ("kmeans_sizes", "kmeans", "KMeans segment sizes"),
    ("kmeans_pairs", "kmeans", "Customers by KMeans segment"),
    ("kmeans_violins", "kmeans", "Features by KMeans segment"),
    ("gmm_selection", "gmm", "Choosing the {mixture}"),
    ("gmm_sizes", "gmm", "{Mixture} segment sizes"),
    ("gmm_violins", "gmm", "Features by {mixture} segment"),
    ("contingency", "agreement", "KMeans segments against mixture segments"),
)

_SEGMENT_COLUMNS = ("kmeans_segment", "gmm_segment")
_PROFILE_COLUMNS = ("method", "segment", "name", "size", "share")
_COVARIANCE_ORDER = ("full", "tied", "diag", "spherical")


def stability_verdict(jaccard: float | None) -> str:
    """Word for a segment's bootstrap Jaccard: ``solid``, ``moderate``, ``unstable``.

    Parameters
    ----------
    jaccard : float or None
        Mean Jaccard similarity of the segment with its best match over bootstrap refits.

    Returns
    -------
    str
        ``"unstable"`` below :data:`UNSTABLE_BELOW`, ``"solid"`` from :data:`SOLID_FROM`,
        ``"moderate"`` between, ``"not measured"`` when ``jaccard`` is missing.
    """
    if jaccard is None or not math.isfinite(jaccard):
        return "not measured"
    if jaccard < UNSTABLE_BELOW:
        return "unstable"
    if jaccard >= SOLID_FROM:
        return "solid"
    return "moderate"


def _agreement_verdict(ari: float | None) -> str:
    if ari is None or not math.isfinite(ari):
        return "not measured"
    if ari >= 0.8:
        return "strong: the two methods tell much the same story"
    if ari >= 0.5:
        return "partial: the methods agree on the broad groups but draw some borders differently"
    return "weak: the methods group customers differently, so treat the segments with care"


def _plain(value: Any) -> Any:
    """Recursively turn numpy scalars, tuples and non-finite floats into JSON-safe values."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return number if math.isfinite(number) else None
    if value is None or isinstance(value, str):
        return value
    return str(value)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _by_segment(values: Any) -> dict[int, Any]:
    """``[a, b]`` or ``{"0": a, "1": b}`` -> ``{0: a, 1: b}``."""
    if isinstance(values, Mapping):
        out: dict[int, Any] = {}
        for key, value in values.items():
            try:
                out[int(key)] = value
            except (TypeError, ValueError):
                continue
        return out
    if isinstance(values, Sequence) and not isinstance(values, str):
        return dict(enumerate(values))
    return {}


def _check(segments: pd.DataFrame, profiles: pd.DataFrame, features: Sequence[str]) -> None:
    missing = [c for c in (*features, *_SEGMENT_COLUMNS) if c not in segments.columns]
    if missing:
        raise SegmintError(
            f"segments.csv has no column {', '.join(missing)}; columns are "
            f"{list(segments.columns)}; re-run `segmint run` to write a complete OUTDIR"
        )
    missing = [c for c in _PROFILE_COLUMNS if c not in profiles.columns]
    if missing:
        raise SegmintError(
            f"profiles.csv has no column {', '.join(missing)}; columns are "
            f"{list(profiles.columns)}; re-run `segmint run` to write a complete OUTDIR"
        )
    if len(segments) == 0:
        raise SegmintError("segments.csv has no customers; re-run `segmint run`")
    for method in ("kmeans", "gmm"):
        if not pd.api.types.is_integer_dtype(segments[f"{method}_segment"]):
            raise SegmintError(
                f"segments.csv: {method}_segment must hold whole segment numbers, found "
                f"{segments[f'{method}_segment'].dtype}"
            )


def _features(metrics: Mapping[str, Any], segments: pd.DataFrame) -> list[str]:
    listed = metrics.get("features") or (metrics.get("parameters") or {}).get("features")
    if listed:
        return [str(f) for f in listed]
    skip = {
        "customer_id",
        "kmeans_segment",
        "kmeans_name",
        "gmm_segment",
        "gmm_name",
        "gmm_probability",
    }
    return [
        str(c)
        for c in segments.columns
        if c not in skip and pd.api.types.is_numeric_dtype(segments[c])
    ]


def _audit_rows(audit: Any) -> list[dict[str, Any]]:
    from segmint.schema import AUDIT_LABELS

    rows: list[dict[str, Any]] = []

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
            return
        label = AUDIT_LABELS.get(prefix, prefix.replace(".", ": ").replace("_", " "))
        rows.append({"key": prefix, "label": label[:1].upper() + label[1:], "value": value})

    if isinstance(audit, Mapping):
        walk("", audit)
    return rows


def _feature_summary(segments: pd.DataFrame, features: Sequence[str]) -> list[dict[str, Any]]:
    rows = []
    for feature in features:
        x = np.asarray(segments[feature], dtype=float)
        x = x[np.isfinite(x)]
        if x.size == 0:
            rows.append({"name": feature, "label": feature_label(feature), "count": 0})
            continue
        q25, median, q75, q90 = np.percentile(x, [25, 50, 75, 90])
        rows.append(
            {
                "name": feature,
                "label": feature_label(feature),
                "count": int(x.size),
                "min": float(x.min()),
                "q25": float(q25),
                "median": float(median),
                "mean": float(x.mean()),
                "q75": float(q75),
                "q90": float(q90),
                "max": float(x.max()),
                "zero_share": float(np.mean(x == 0)),
            }
        )
    return rows


def _correlation(segments: pd.DataFrame, features: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"features": [feature_label(f) for f in features]}
    for method in ("pearson", "spearman"):
        matrix = correlation_matrix(segments, method=method, features=features).to_numpy()
        out[method] = [[round(v, 4) if math.isfinite(v) else None for v in row] for row in matrix]
    strongest: tuple[float, str] | None = None
    for i in range(len(features)):
        for j in range(i + 1, len(features)):
            value = out["spearman"][i][j]
            if value is not None and (strongest is None or abs(value) > abs(strongest[0])):
                strongest = (
                    value,
                    f"{feature_label(features[i])} and {feature_label(features[j])}",
                )
    if strongest is not None:
        value, pair = strongest
        strength = (
            "strongly" if abs(value) >= 0.7 else "moderately" if abs(value) >= 0.4 else "weakly"
        )
        direction = "together" if value > 0 else "in opposite directions"
        out["headline"] = f"{pair} move {strength} {direction} (Spearman {value:+.2f}): " + (
            "segments will differ on both at once."
            if abs(value) >= 0.4
            else "each feature adds its own information."
        )
    return out


def _names(
    method: str, profiles: pd.DataFrame, metrics: Mapping[str, Any], segments: Sequence[int]
) -> dict[int, str]:
    names = {int(s): str(n) for s, n in _by_segment(metrics.get("names")).items()}
    rows = profiles[profiles["method"].astype(str) == method]
    for segment, name in zip(rows["segment"], rows["name"], strict=True):
        if isinstance(name, str) and name:
            names[int(segment)] = name
    return {s: names.get(s, f"Segment {s}") for s in segments}


def _profile_rows(
    method: str, profiles: pd.DataFrame, features: Sequence[str]
) -> list[dict[str, Any]]:
    rows = profiles[profiles["method"].astype(str) == method].sort_values("segment")
    out = []
    for _, row in rows.iterrows():
        stats = []
        for feature in features:
            stats.append(
                {
                    "median": _number(row.get(f"{feature}_median")),
                    "mean": _number(row.get(f"{feature}_mean")),
                    "lift": _number(row.get(f"{feature}_lift")),
                }
            )
        out.append(
            {
                "segment": int(row["segment"]),
                "name": str(row["name"]),
                "size": int(row["size"]),
                "share": _number(row["share"]),
                "stats": stats,
            }
        )
    return out


def _segments(
    method: str,
    labels: np.ndarray,
    names: Mapping[int, str],
    colors: Mapping[int, str],
    jaccard: Mapping[int, Any],
    profile_rows: Sequence[Mapping[str, Any]],
    features: Sequence[str],
) -> list[dict[str, Any]]:
    by_segment = {row["segment"]: row for row in profile_rows}
    n = labels.size
    out = []
    for segment in sorted(names):
        size = int(np.count_nonzero(labels == segment))
        score = _number(jaccard.get(segment))
        profile = by_segment.get(segment)
        typical = []
        if profile is not None:
            for feature, stat in zip(features, profile["stats"], strict=True):
                typical.append(
                    {
                        "label": feature_label(feature),
                        "median": stat["median"],
                        "lift": stat["lift"],
                    }
                )
        out.append(
            {
                "segment": segment,
                "name": names[segment],
                "label": segment_label(segment, names[segment]),
                "color": colors[segment],
                "size": size,
                "share": size / n if n else None,
                "jaccard": score,
                "verdict": stability_verdict(score),
                "typical": typical,
            }
        )
    return out


def _sweep(kmeans: Mapping[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for row in kmeans.get("sweep") or []:
        k = int(row["k"])
        rows.append(
            {
                "k": k,
                "wcss": _number(row.get("wcss")),
                "silhouette": _number(row.get("silhouette")),
                "calinski_harabasz": _number(row.get("calinski_harabasz")),
                "davies_bouldin": _number(row.get("davies_bouldin")),
                "chosen": k == kmeans.get("k"),
                "knee": k == kmeans.get("knee"),
            }
        )
    return sorted(rows, key=lambda r: r["k"])


def _grid(gmm: Mapping[str, Any]) -> dict[str, Any]:
    """The grid as a table of the criterion (a row per number of components, a column per
    covariance type) and the rows as given (``long``); which numbers of components are
    indistinguishable is the selection rule's (``gmm.selection``, :mod:`._mixture`).
    """
    criterion = str(gmm.get("criterion") or "bic").lower()
    rows = list(gmm.get("grid") or [])
    long = [
        {
            "n_components": int(r["n_components"]),
            "covariance_type": str(r["covariance_type"]),
            "bic": _number(r.get("bic")),
            "aic": _number(r.get("aic")),
        }
        for r in rows
    ]
    if not rows:
        return {
            "criterion": criterion,
            "covariance_types": [],
            "rows": [],
            "long": [],
        }
    present = {str(r["covariance_type"]) for r in rows}
    types = [c for c in _COVARIANCE_ORDER if c in present] + sorted(
        present - set(_COVARIANCE_ORDER)
    )
    table: dict[int, dict[str, float | None]] = {}
    for r in rows:
        table.setdefault(int(r["n_components"]), {})[str(r["covariance_type"])] = _number(
            r.get(criterion)
        )
    chosen_n, chosen_type = gmm.get("n_components"), gmm.get("covariance_type")
    best_per_type: dict[str, float | None] = {}
    for t in types:
        values = [v for v in (row.get(t) for row in table.values()) if v is not None]
        best_per_type[t] = min(values) if values else None
    out_rows = []
    for n in sorted(table):
        out_rows.append(
            {
                "n_components": n,
                "cells": [
                    {
                        "value": table[n].get(t),
                        "chosen": n == chosen_n and t == chosen_type,
                        "best_of_type": table[n].get(t) is not None
                        and table[n].get(t) == best_per_type[t],
                    }
                    for t in types
                ],
            }
        )
    return {
        "criterion": criterion,
        "covariance_types": types,
        "rows": out_rows,
        "long": long,
    }


def _contingency(
    segments: pd.DataFrame, kmeans: Sequence[Mapping[str, Any]], gmm: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    km = np.asarray(segments["kmeans_segment"], dtype=np.int64)
    gm = np.asarray(segments["gmm_segment"], dtype=np.int64)
    rows = [s["segment"] for s in kmeans]
    cols = [s["segment"] for s in gmm]
    row_pos = np.searchsorted(rows, km)
    col_pos = np.searchsorted(cols, gm)
    counts = np.bincount(row_pos * len(cols) + col_pos, minlength=len(rows) * len(cols))
    counts = counts.reshape(len(rows), len(cols))
    matches = []
    for i, segment in enumerate(kmeans):
        total = int(counts[i].sum())
        j = int(np.argmax(counts[i]))
        matches.append(
            {
                "kmeans": segment["label"],
                "kmeans_color": segment["color"],
                "gmm": gmm[j]["label"],
                "gmm_color": gmm[j]["color"],
                "share": counts[i, j] / total if total else None,
            }
        )
    return {"counts": counts.tolist(), "best_match": matches}


def _certainty(segments: pd.DataFrame, gmm: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    if "gmm_probability" not in segments.columns:
        return None
    p = np.asarray(segments["gmm_probability"], dtype=float)
    labels = np.asarray(segments["gmm_segment"], dtype=np.int64)
    ok = np.isfinite(p)
    if not ok.any():
        return None
    per_segment = []
    for segment in gmm:
        mask = ok & (labels == segment["segment"])
        per_segment.append(
            {
                "label": segment["label"],
                "color": segment["color"],
                "mean": float(p[mask].mean()) if mask.any() else None,
                "sure_share": float(np.mean(p[mask] >= 0.9)) if mask.any() else None,
            }
        )
    return {
        "median": float(np.median(p[ok])),
        "sure_share": float(np.mean(p[ok] >= 0.9)),
        "unsure_share": float(np.mean(p[ok] < 0.6)),
        "segments": per_segment,
    }


def _parameter_rows(parameters: Any) -> list[dict[str, str]]:
    if not isinstance(parameters, Mapping):
        return []
    rows = []
    for key, value in parameters.items():
        if value is None:
            shown = "automatic"
        elif isinstance(value, str):
            shown = value
        else:
            shown = json.dumps(_plain(value))
        rows.append({"name": str(key), "value": shown})
    return rows


def _input(metrics: Mapping[str, Any]) -> dict[str, Any]:
    given = metrics.get("input") or {}
    files = given.get("files", given.get("source"))
    if files is None:
        files = []
    elif isinstance(files, str):
        files = [files]
    notes = given.get("notes") or []
    return {
        "files": [str(f) for f in files],
        "engine": str(given.get("engine") or "unknown"),
        "notes": [str(n) for n in (notes if isinstance(notes, list) else [notes])],
    }


def _figures(n_customers: int, features: Sequence[str], mixture: str) -> list[dict[str, str]]:
    """Title and caption of every figure; ``mixture`` is the kind (``"count"``, ``"gaussian"``)."""
    words = {"mixture": label_of(mixture), "Mixture": method_label("gmm", mixture, start=True)}
    sampled = n_customers > PAIR_PLOT_MAX_POINTS
    sample_note = (
        f" A random sample of about {PAIR_PLOT_MAX_POINTS:,} of the {n_customers:,} customers is "
        "drawn (every segment keeps at least 300 points), so the picture stays legible."
        if sampled
        else ""
    )
    violin_note = (
        f" Shapes and quartiles are estimated from a random sample of about "
        f"{VIOLIN_MAX_POINTS:,} customers."
        if n_customers > VIOLIN_MAX_POINTS
        else ""
    )
    log_note = (
        " Counts are spread out, so the axes use a log scale: each step is a multiple, and 0 is "
        "kept. Equal counts are nudged by less than half a count so they do not hide each other."
    )
    captions = {
        "monthly": (
            "Left: net spend (purchases minus cancellations) of each KMeans segment per "
            "calendar month. Right: how many of its customers placed an order that month."
        ),
        "correlation": (
            "Correlation of every pair of features, from -1 (one goes up as the other goes down) "
            "to +1 (they rise together). Pearson looks for a straight-line relation; Spearman "
            "only for the same order, so it is the safer reading for skewed counts."
        ),
        "kmeans_selection": (
            "Left: how spread out the customers are within their segments, for each number of "
            "segments. It always falls; the knee is where adding a segment stops paying off. "
            "Right: the silhouette, how clearly customers sit in their own segment rather than "
            "the next one (higher is better). The circled point is the number chosen."
        ),
        "kmeans_sizes": "Number and share of customers in each KMeans segment.",
        "kmeans_pairs": (
            "Each point is a customer, coloured by KMeans segment; the curves on the diagonal "
            "show how each feature is distributed inside each segment." + log_note + sample_note
        ),
        "kmeans_violins": (
            "The shape of each feature inside each KMeans segment: the wider the violin, the "
            "more customers have that value. The white dot is the median customer, the black bar "
            "spans the middle half of the segment." + violin_note
        ),
        "gmm_selection": (
            f"BIC and AIC of the {words['mixture']} for every number of components"
            + (" and shape of component" if mixture == "gaussian" else "")
            + "; lower is better, and both charge for complexity (BIC more). Where the curves "
            "flatten, more components add little. The circled point is the model chosen."
        ),
        "gmm_sizes": (
            f"Number and share of customers in each {words['mixture']} segment (each "
            "customer counted in the segment most likely for them)."
        ),
        "gmm_violins": (
            f"The shape of each feature inside each {words['mixture']} segment; the white dot "
            "is the median customer, the black bar the middle half." + violin_note
        ),
        "contingency": (
            "Read across a row: where the customers of that KMeans segment land among the "
            "mixture segments. One dark cell per row means the two methods agree on that "
            "segment; a row split over several cells means they draw the borders differently."
        ),
    }
    return [
        {"key": key, "section": section, "title": title.format(**words), "caption": captions[key]}
        for key, section, title in FIGURES
    ]


def summarize(
    metrics: Mapping[str, Any], segments: pd.DataFrame, profiles: pd.DataFrame
) -> dict[str, Any]:
    """Everything the report shows, as a plain JSON-safe dict (no figures).

    Parameters
    ----------
    metrics : mapping
        Contents of ``metrics.json`` (docs/CONTRACTS.md).
    segments : pandas.DataFrame
        ``segments.csv``: at least the feature columns, ``kmeans_segment`` and ``gmm_segment``
        (``gmm_probability`` is used when present; names come from ``profiles``).
    profiles : pandas.DataFrame
        ``profiles.csv``: ``method, segment, name, size, share`` and per feature
        ``<f>_median, <f>_mean, <f>_lift``.

    Returns
    -------
    dict
        Keys ``title``, ``n_customers``, ``input``, ``warnings``, ``audit``, ``features``,
        ``feature_summary``, ``correlation``, ``kmeans``, ``gmm``, ``agreement``,
        ``stability``, ``next_steps``, ``parameters``, ``versions``, ``sections`` and
        ``figures`` (key, section, title, caption of each figure). Only str, int, float, bool,
        None, list and dict with str keys, so ``json.dumps(..., allow_nan=False)`` works.

    Raises
    ------
    SegmintError
        When ``segments`` or ``profiles`` lack a column the report needs.
    """
    features = _features(metrics, segments)
    _check(segments, profiles, features)
    kmeans_metrics: Mapping[str, Any] = metrics.get("kmeans") or {}
    gmm_metrics: Mapping[str, Any] = metrics.get("gmm") or {}
    stability: Mapping[str, Any] = metrics.get("stability") or {}
    mixture = kind_of(gmm_metrics)  # "count" or "gaussian": how titles and captions name it
    km_labels = np.asarray(segments["kmeans_segment"], dtype=np.int64)
    gm_labels = np.asarray(segments["gmm_segment"], dtype=np.int64)
    km_ids = sorted({int(s) for s in np.unique(km_labels)})
    gm_ids = sorted({int(s) for s in np.unique(gm_labels)})
    km_names = _names("kmeans", profiles, kmeans_metrics, km_ids)
    gm_names = _names("gmm", profiles, gmm_metrics, gm_ids)
    colors = segment_colors(km_names, gm_names)
    km_profiles = _profile_rows("kmeans", profiles, features)
    gm_profiles = _profile_rows("gmm", profiles, features)
    for rows, palette in ((km_profiles, colors["kmeans"]), (gm_profiles, colors["gmm"])):
        for row in rows:
            row["color"] = palette.get(row["segment"], "#999999")
    km_stability = stability.get("kmeans") or {}
    gm_stability = stability.get("gmm") or {}
    km_segments = _segments(
        "kmeans",
        km_labels,
        km_names,
        colors["kmeans"],
        _by_segment(km_stability.get("jaccard")),
        km_profiles,
        features,
    )
    gm_segments = _segments(
        "gmm",
        gm_labels,
        gm_names,
        colors["gmm"],
        _by_segment(gm_stability.get("jaccard")),
        gm_profiles,
        features,
    )
    n = len(segments)

    warnings = [str(w) for w in metrics.get("warnings") or []]
    for method, found, listed in (
        ("kmeans", km_segments, kmeans_metrics.get("sizes")),
        ("gmm", gm_segments, gmm_metrics.get("sizes")),
    ):
        claimed = {s: int(v) for s, v in _by_segment(listed).items() if _number(v) is not None}
        actual = {s["segment"]: s["size"] for s in found}
        if claimed and claimed != actual:
            warnings.append(
                f"metrics.json gives other {method_label(method, mixture)} segment sizes than "
                "segments.csv; this report counts segments.csv."
            )

    verdicts = {
        "solid": [s["label"] for s in km_segments if s["verdict"] == "solid"],
        "moderate": [s["label"] for s in km_segments if s["verdict"] == "moderate"],
        "unstable": [s["label"] for s in km_segments if s["verdict"] == "unstable"],
    }
    ari = _number((metrics.get("agreement") or {}).get("ari"))
    summary: dict[str, Any] = {
        "title": "Customer segments",
        "segmint_version": str(metrics.get("segmint_version") or "unknown"),
        "n_customers": n,
        "input": _input(metrics),
        "warnings": warnings,
        "audit": _audit_rows(metrics.get("audit")),
        "features": [{"name": f, "label": feature_label(f)} for f in features],
        "feature_summary": _feature_summary(segments, features),
        "correlation": _correlation(segments, features),
        "kmeans": {
            "k": kmeans_metrics.get("k", len(km_ids)),
            "knee": kmeans_metrics.get("knee"),
            "reason": str(kmeans_metrics.get("reason") or ""),
            "sweep": _sweep(kmeans_metrics),
            "segments": km_segments,
            "profiles": km_profiles,
            "mean_ari": _number(km_stability.get("mean_ari")),
            "verdicts": verdicts,
        },
        "gmm": {
            "n_components": gmm_metrics.get("n_components", len(gm_ids)),
            "n_segments": gmm_metrics.get("n_segments", len(gm_ids)),
            "combined": bool((gmm_metrics.get("combination") or {}).get("combined")),
            "covariance_type": str(gmm_metrics.get("covariance_type") or ""),
            "criterion": str(gmm_metrics.get("criterion") or "bic").upper(),
            "reason": str(gmm_metrics.get("reason") or ""),
            "jitter": gmm_metrics.get("jitter"),
            "grid": _grid(gmm_metrics),
            "segments": gm_segments,
            "profiles": gm_profiles,
            "mean_ari": _number(gm_stability.get("mean_ari")),
            "certainty": _certainty(segments, gm_segments),
            **mixture_summary(gmm_metrics),
        },
        "agreement": {
            "ari": ari,
            "verdict": _agreement_verdict(ari),
            **_contingency(segments, km_segments, gm_segments),
        },
        "stability": {
            "n_bootstrap": stability.get("n_bootstrap"),
            "unstable_below": UNSTABLE_BELOW,
            "solid_from": SOLID_FROM,
        },
        "next_steps": {
            "predict": "segmint predict --model OUTDIR/model.skops NEW_LOG.csv -o scored.csv",
            "rerender": "segmint report OUTDIR",
        },
        "parameters": _parameter_rows(metrics.get("parameters")),
        "versions": [
            {"name": str(k), "version": str(v)} for k, v in (metrics.get("versions") or {}).items()
        ],
        "sections": [{"id": i, "heading": h} for i, h in SECTIONS],
        "figures": _figures(n, features, mixture),
    }
    from segmint.report.business import business_summary, plain_warnings

    summary["business"] = business_summary(
        metrics, profiles, colors["kmeans"], {s["segment"]: s["label"] for s in km_segments}
    )
    summary["monthly"] = metrics.get("monthly") or {}
    summary["plain_warnings"] = plain_warnings(metrics, verdicts["unstable"])
    summary["feature_direction"] = {
        f: ("bad" if f in ("n_canceled_orders", "cancel_rate", "recency_days") else "good")
        for f in features
    }
    result: dict[str, Any] = _plain(summary)
    return result
