"""Segments for their business reader: value, names by measure, definitions and actions.

:func:`business_profiles` joins :mod:`segmint.cluster.value` (what a segment is worth),
:mod:`segmint.cluster.naming` (what to call it, and why) and :mod:`segmint.cluster.actions`
(what to do with it) into one table per method, the business half of ``profiles.csv``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from segmint.cluster.actions import segment_actions
from segmint.cluster.naming import name_by_measures
from segmint.cluster.value import overall_values, segment_values

__all__ = ["business_profiles"]


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
        values["definition"] = [
            " | ".join(f"{p.text}: {p.rule}" for p in ps) for ps in phrases
        ]
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
