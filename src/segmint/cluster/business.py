"""Segments for their business reader: value, names by measure, definitions and actions.

:func:`business_profiles` joins :mod:`segmint.cluster.value` (what a segment is worth),
:mod:`segmint.cluster.naming` (what to call it, and why) and :mod:`segmint.cluster.actions`
(what to do with it) into one table per method, the business half of ``profiles.csv``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from segmint.cluster.actions import segment_actions
from segmint.cluster.naming import name_by_measures
from segmint.cluster.value import overall_values, segment_values

__all__ = ["business_profiles", "describe_segments"]


def business_profiles(
    descriptors: pd.DataFrame, assignments: Mapping[str, tuple[np.ndarray, int]]
) -> tuple[pd.DataFrame, dict[str, list[str]], dict[str, list[dict[str, object]]]]:
    """Value, name, definition and actions of every segment of every method.

    Parameters
    ----------
    descriptors : pandas.DataFrame
        :func:`segmint.features.describe_customers`.
    assignments : mapping of str to (ndarray, int)
        ``{method: (labels, n_segments)}``, labels in the order of ``descriptors``.

    Returns
    -------
    (pandas.DataFrame, dict, dict)
        The table (:func:`segmint.cluster.value.segment_values` columns, then ``name``,
        ``definition`` (``phrase: rule`` joined by `` | ``) and ``actions`` (``use: action``
        joined by `` | ``)); the names per method; and per method a list of
        ``{"segment", "name", "phrases": [{"text", "rule"}], "actions": [...]}`` for
        ``metrics.json``.
    """
    overall = overall_values(descriptors)
    tables = []
    names: dict[str, list[str]] = {}
    details: dict[str, list[dict[str, object]]] = {}
    for method, (labels, n_segments) in assignments.items():
        values = segment_values(descriptors, labels, n_segments, method)
        found, phrases = name_by_measures(values, overall)
        actions = segment_actions(values, phrases)
        values.insert(2, "name", found)
        values["definition"] = [" | ".join(f"{p.text}: {p.rule}" for p in ps) for ps in phrases]
        values["actions"] = [
            " | ".join(f"{a['use']}: {a['action']}" for a in acts) for acts in actions
        ]
        names[method] = found
        details[method] = [
            {
                "segment": int(segment),
                "name": name,
                "phrases": [{"text": p.text, "rule": p.rule} for p in ps],
                "actions": acts,
            }
            for segment, name, ps, acts in zip(
                values["segment"], found, phrases, actions, strict=True
            )
        ]
        tables.append(values)
    return pd.concat(tables, ignore_index=True), names, {"overall": overall, **details}  # type: ignore[dict-item]


def describe_segments(
    segmenter: Any,
    customer_ids: Sequence[str],
    customers: pd.DataFrame,
    monthly: pd.DataFrame | None,
    quality: Mapping[str, Any],
) -> dict[str, Any]:
    """Name, value and actions of a fitted ``Segmenter``'s segments from the descriptors.

    The names replace the feature-based ones on ``segmenter`` (``kmeans_names_``,
    ``gmm_names_`` and the ``name`` column of ``profiles_``), so ``model.skops`` and
    ``segmint predict`` give them too.

    Parameters
    ----------
    segmenter : segmint.model.Segmenter
        Fitted on the customers of ``customer_ids``.
    customer_ids : sequence of str
        The customers, in the order the segmenter was fitted on.
    customers : pandas.DataFrame
        :func:`segmint.features.describe_customers` of the same customers, same order.
    monthly : pandas.DataFrame or None
        :func:`segmint.features.monthly_activity`.
    quality : mapping
        :func:`segmint.quality.data_quality`.

    Returns
    -------
    dict
        The metrics.json parts ``descriptors``, ``segments``, ``monthly`` and
        ``data_quality``, and under ``table`` the columns ``profiles.csv`` adds.
    """
    from segmint.cluster import json_safe
    from segmint.cluster.value import monthly_by_segment
    from segmint.errors import SegmintError
    from segmint.features import DESCRIPTORS

    ids = np.asarray(customer_ids, dtype=object)
    if not np.array_equal(customers["customer_id"].to_numpy(dtype=object), ids):
        raise SegmintError("internal: the descriptors and the customer table differ in rows")
    labels = {
        "kmeans": (np.asarray(segmenter.labels_), int(segmenter.k_)),
        "gmm": (np.asarray(segmenter.gmm_labels_), int(segmenter.gmm_n_segments_)),
    }
    business, names, details = business_profiles(customers, labels)
    segmenter.kmeans_names_ = names["kmeans"]
    segmenter.gmm_names_ = names["gmm"]
    profiles = segmenter.profiles_
    for method, found in names.items():
        rows = profiles["method"] == method
        profiles.loc[rows, "name"] = [found[int(s)] for s in profiles.loc[rows, "segment"]]
    by_month: dict[str, Any] = {}
    if monthly is not None:
        for method, (lab, _) in labels.items():
            frame = monthly_by_segment(monthly, list(ids), lab, method)
            by_month[method] = frame.drop(columns="method").to_dict(orient="records")
    present = [c for c in DESCRIPTORS if c in customers.columns]
    extra = business.drop(columns=["name", "customers", "customer_share"])
    keep = ("method", "segment")
    extra = extra.drop(columns=[c for c in extra.columns if c in profiles and c not in keep])
    return {
        "table": extra,
        "descriptors": {c: DESCRIPTORS[c] for c in present},
        "segments": json_safe(details),
        "monthly": json_safe(by_month, digits=15),
        "data_quality": json_safe(dict(quality)),
    }
