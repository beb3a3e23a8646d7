"""Reading the per-customer table for a figure: feature columns, segments, names, colours.

Also the counts per segment and the seeded, stratified sample the scatter plots and violins
draw when there are many customers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from segmint.report.style import PALETTE

__all__ = [
    "colors_of",
    "feature_columns",
    "names_of",
    "present_segments",
    "sample_index",
    "segment_counts",
    "segments_of",
]

_LABEL_COLUMNS = frozenset(
    {
        "customer_id",
        "kmeans_segment",
        "kmeans_name",
        "gmm_segment",
        "gmm_name",
        "gmm_probability",
    }
)


def feature_columns(data: pd.DataFrame, features: Sequence[str] | None) -> list[str]:
    if features is not None:
        missing = [f for f in features if f not in data.columns]
        if missing:
            raise KeyError(
                f"features {missing} are not columns of the data; columns are {list(data.columns)}"
            )
        return list(features)
    return [
        str(c)
        for c in data.columns
        if c not in _LABEL_COLUMNS and pd.api.types.is_numeric_dtype(data[c])
    ]


def segments_of(data: pd.DataFrame, method: str) -> np.ndarray:
    column = f"{method}_segment"
    if column not in data.columns:
        raise KeyError(f"the data has no {column!r} column; columns are {list(data.columns)}")
    return np.asarray(data[column], dtype=np.int64)


def names_of(
    data: pd.DataFrame | None, method: str, segments: Sequence[int], names: Mapping[int, str] | None
) -> dict[int, str]:
    if names is not None:
        return {int(s): str(names.get(int(s), "")) for s in segments}
    column = f"{method}_name"
    if data is not None and column in data.columns:
        pairs = data[[f"{method}_segment", column]].drop_duplicates(f"{method}_segment")
        found = {int(s): str(n) for s, n in zip(pairs.iloc[:, 0], pairs.iloc[:, 1], strict=True)}
        return {int(s): found.get(int(s), "") for s in segments}
    return {int(s): "" for s in segments}


def colors_of(segments: Sequence[int], colors: Mapping[int, str] | None) -> dict[int, str]:
    if colors is not None:
        return {
            int(s): colors.get(int(s), PALETTE[i % len(PALETTE)]) for i, s in enumerate(segments)
        }
    return {int(s): PALETTE[i % len(PALETTE)] for i, s in enumerate(segments)}


def segment_counts(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segments present and their sizes; a bincount (one pass) for the usual small numbers."""
    if labels.size and labels.min() >= 0 and labels.max() < 100_000:
        counts = np.bincount(labels)
        present = np.flatnonzero(counts)
        return present, counts[present]
    return np.unique(labels, return_counts=True)


def present_segments(labels: np.ndarray) -> list[int]:
    return [int(s) for s in segment_counts(labels)[0]]


def sample_index(labels: np.ndarray, max_points: int, seed: int) -> np.ndarray:
    """Seeded sample of row positions, stratified by segment: about ``max_points`` rows.

    Each segment keeps its share of the sample, but at least 300 rows (or all it has), so
    small segments stay visible. Rows are kept independently with their segment's
    probability (one pass over the rows). Returns all positions when there are at most
    ``max_points`` rows.
    """
    n = labels.size
    if n <= max_points:
        return np.arange(n)
    segments, counts = segment_counts(labels)
    want = np.minimum(counts, np.maximum(300, np.round(max_points * counts / n)))
    probability = np.zeros(int(segments.max()) + 1 if segments.min() >= 0 else 0)
    if probability.size:
        probability[segments] = want / counts
        keep = np.random.default_rng(seed).random(n) < probability[labels]
    else:  # negative segment numbers: map through the sorted segment list
        keep = (
            np.random.default_rng(seed).random(n)
            < (want / counts)[np.searchsorted(segments, labels)]
        )
    return np.flatnonzero(keep)


# --------------------------------------------------------------------------- correlation
