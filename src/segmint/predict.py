"""Score a new transaction log with a saved model, without refitting.

The new log is cleaned and aggregated with the rules recorded in the model (its features and
whether service codes were excluded), then both segmentations are assigned.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from segmint.loading import Inputs

__all__ = ["Scored", "score"]


@dataclass
class Scored:
    """Scored customers.

    Attributes
    ----------
    table : pandas.DataFrame
        Same columns as ``segments.csv``: ``customer_id``, the features, ``kmeans_segment``,
        ``kmeans_name``, ``gmm_segment``, ``gmm_name``, ``gmm_probability``.
    warnings : list of str
        For example customers outside the ranges the model was trained on.
    """

    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def score(
    model: str | os.PathLike,
    inputs: Inputs,
    *,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
) -> Scored:
    """Assign the segments of a saved model to the customers of a new log.

    Parameters
    ----------
    model : path
        ``model.skops`` written by :func:`segmint.run`.
    inputs : path, glob, sequence of them, or pandas.DataFrame
        The new transaction log.
    columns : mapping of str to str, optional
        Column mapping for the new log.
    encoding : {"utf-8", "latin-1"}, optional
        Force the CSV encoding.

    Returns
    -------
    Scored
    """
    from segmint._imports import early

    early()  # before pandas, so that loading the model is fast
    import pandas as pd

    from segmint.features import customer_features
    from segmint.model import load

    segmenter = load(model)
    rules = getattr(segmenter, "metadata_", {}) or {}
    result = customer_features(
        inputs,
        features=list(segmenter.feature_names_in_),
        columns=columns,
        exclude_service_codes=bool(rules.get("exclude_service_codes", False)),
        encoding=encoding,
    )
    X = result.table[list(segmenter.feature_names_in_)]
    assigned = segmenter.assign(X)
    table = pd.concat(
        [result.table.reset_index(drop=True), assigned.reset_index(drop=True)], axis=1
    )
    table["gmm_probability"] = table["gmm_probability"].round(6)
    warnings: list[str] = []
    outside = segmenter.out_of_range(X)
    n_out = int(outside.sum())
    if n_out:
        warnings.append(
            f"{n_out:,} of {len(X):,} customers lie outside the feature ranges the model was "
            "trained on; their segments are extrapolated"
        )
    return Scored(table, warnings)
