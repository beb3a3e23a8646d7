"""The ``score`` verb: assign the segments of a saved model to the customers of a new log.

The new log is cleaned and aggregated with the rules recorded in the model (its features,
window and whether service codes were excluded), then both segmentations are assigned, each
customer is marked new, returning or known, and what changed since training is measured
(:mod:`segmint.drift`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError
from segmint.pipeline import customer_features, get_engine

if TYPE_CHECKING:
    import pandas as pd

    from segmint.io.sources import Inputs

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
    changes : dict
        What changed since training (:func:`segmint.drift.compare`): statuses, PSI.
    """

    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)
    changes: dict[str, Any] = field(default_factory=dict)


def score(
    model: str | os.PathLike,
    inputs: Inputs,
    *,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
    as_of: str | date | None = None,
    window: str | None = None,
    **reading: Any,
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
    as_of, window
        As in :func:`run`; default the log's last day and the model's window.
    **reading
        ``preset``, ``mapping``, ``cancelled_when``, ``pseudonymize``, ``pseudonymize_key``:
        see :func:`segmint.pipeline.customer_features` (the same key gives the run's tokens).

    Returns
    -------
    Scored
        ``table`` ends with ``customer_status`` (:mod:`segmint.drift`).
    """
    from segmint._startup import early

    early()  # before pandas, so that loading the model is fast
    import pandas as pd

    from segmint.drift import compare
    from segmint.io.sources import resolve_source
    from segmint.model import load
    from segmint.presets import request
    from segmint.spark.saved import is_mllib_model
    from segmint.spark.saved import load as load_mllib
    from segmint.windows import dated_features, parse_as_of, parse_window, window_note

    # a run clustered with Spark MLlib saves its arrays in a model file of its own kind
    segmenter = load_mllib(model) if is_mllib_model(model) else load(model)
    if not hasattr(segmenter, "feature_names_in_"):
        raise SegmintError(
            f"{model} was fitted on an array, without feature names, so its features cannot be "
            "computed from a log; pass a model.skops written by `segmint run`"
        )
    rules = getattr(segmenter, "metadata_", {}) or {}
    trained = (rules.get("period") or {}).get("window")
    span = trained if window is None else parse_window(window)
    warnings = [note] if (note := window_note(trained, span)) else []
    names, exclude = list(segmenter.feature_names_in_), bool(rules.get("exclude_service_codes"))
    if rules.get("period") or span is not None or as_of is not None:  # segmint.windows
        asked = {k: reading.pop(k, None) for k in ("preset", "mapping", "cancelled_when")}
        unknown = sorted(set(reading) - {"pseudonymize", "pseudonymize_key"})
        if unknown:
            raise TypeError(f"score() got an unexpected keyword argument {unknown[0]!r}")
        eng = get_engine("duckdb")
        try:
            result, firsts = dated_features(
                eng, resolve_source(inputs, encoding=encoding), names,
                exclude_service_codes=exclude, as_of=parse_as_of(as_of), window=span,
                request=request(columns=columns, **asked), **reading,
            )  # fmt: skip
        finally:
            eng.close()
    else:
        result, firsts = customer_features(
            inputs, features=names, columns=columns, exclude_service_codes=exclude,
            encoding=encoding, **reading,
        ), None  # fmt: skip
    X = result.table[list(segmenter.feature_names_in_)]
    assigned = segmenter.assign(X)
    table = pd.concat(
        [result.table.reset_index(drop=True), assigned.reset_index(drop=True)], axis=1
    )
    table["gmm_probability"] = table["gmm_probability"].round(6)
    status, changes, drifted = compare(
        rules, result.table, assigned["kmeans_segment"].tolist(), firsts
    )
    table["customer_status"] = status
    warnings += drifted
    outside = segmenter.out_of_range(X)
    n_out = int(outside.sum())
    if n_out:
        warnings.append(
            f"{n_out:,} of {len(X):,} customers lie outside the feature ranges the model was "
            "trained on; their segments are extrapolated"
        )
    return Scored(table, warnings, changes)
