"""What changed between training and scoring: who is new, and whether the customers drifted.

At training (:func:`training_record`) the model keeps, in its ``metadata_``, the period it was
trained on, the ids of its customers (one text, newline-separated), and per feature the
training deciles and the share of customers between them, with the share of each segment.
At scoring (:func:`compare`) every customer is marked:

- ``known``: among the customers the model was trained on;
- ``new``: not among them, and (when the model knows its period) first seen after it;
- ``returning``: not among them, but with a purchase on or before the end of that period
  (in the log scored), so a customer from before who had lapsed.

and the scored distributions are compared with training by the population stability index
(PSI, ``sum((a - e) * ln(a / e))`` over the bins): below 0.1 stable, 0.1 to 0.25 a moderate
shift, 0.25 and above a major one. Those bands suit thousands of customers; on fewer, two
samples of one population differ by chance by about ``(1/n_train + 1/n_scored) * chi2(bins - 1)``
(the PSI's sampling distribution), so a shift is reported only when it is also above the 99.9th
percentile of that (:func:`noise`): a small stationary log raises no false alarm.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from segmint.features import FeatureTable

__all__ = ["MAJOR", "MODERATE", "STATUSES", "compare", "psi", "training_record"]

#: The usual bands of the population stability index.
MODERATE = 0.1
MAJOR = 0.25

#: Values of the ``customer_status`` column of a scored table.
STATUSES: tuple[str, ...] = ("known", "returning", "new")

#: Floor of a bin's share, so that an empty bin gives a large but finite PSI.
_FLOOR = 1e-4


def _bins(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    import numpy as np

    # bin i holds edges[i-1] < x <= edges[i]; below the first edge 0, above the last len(edges)
    return np.searchsorted(np.asarray(edges, dtype=float), values, side="left")


def _shares(codes: np.ndarray, n_bins: int) -> list[float]:
    import numpy as np

    counts = np.bincount(codes, minlength=n_bins)[:n_bins]
    return [float(v) for v in counts / max(len(codes), 1)]


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """Population stability index of two share vectors (each summing to one)."""
    import numpy as np

    e = np.maximum(np.asarray(expected, dtype=float), _FLOOR)
    a = np.maximum(np.asarray(actual, dtype=float), _FLOOR)
    return float(np.sum((a - e) * np.log(a / e)))


def noise(n_bins: int, n_train: int, n_scored: int) -> float:
    """The PSI two samples of one population exceed by chance once in a thousand."""
    from scipy.stats import chi2

    if n_bins < 2 or n_train == 0 or n_scored == 0:
        return float("inf")
    return float((1 / n_train + 1 / n_scored) * chi2.ppf(0.999, n_bins - 1))


def training_record(
    table: FeatureTable, features: Sequence[str], segments: Sequence[int], k: int
) -> dict[str, Any]:
    """What scoring needs to tell what changed, as plain values for ``Segmenter.metadata_``.

    Parameters
    ----------
    table : FeatureTable
        The training customers (``period`` says the window, when one was set).
    features : sequence of str
        The model's features.
    segments : sequence of int
        Each customer's KMeans segment (stable numbers ``0..k-1``).
    k : int
        Number of KMeans segments.

    Returns
    -------
    dict
        ``period`` (``as_of``, ``window``, ``first_day``, or empty), ``customers`` (ids joined
        by newlines) and ``drift``: ``edges`` and ``shares`` per feature, ``segments`` (share
        per segment) and ``n`` (customers).
    """
    import numpy as np

    frame = table.table
    edges: dict[str, list[float]] = {}
    shares: dict[str, list[float]] = {}
    for name in features:
        values = frame[name].to_numpy(dtype=float)
        cuts = np.unique(np.quantile(values, np.linspace(0.1, 0.9, 9)))
        edges[name] = [float(v) for v in cuts]
        shares[name] = _shares(_bins(values, edges[name]), len(cuts) + 1)
    seg = np.asarray(segments, dtype=int)
    return {
        "period": dict(table.period),
        "customers": "\n".join(frame["customer_id"].astype(str)),
        "drift": {
            "edges": edges,
            "shares": shares,
            "segments": _shares(seg, k),
            "n": len(frame),
        },
    }


def _band(value: float) -> str:
    return "major" if value >= MAJOR else "moderate" if value >= MODERATE else "stable"


def compare(
    metadata: Mapping[str, Any],
    table: pd.DataFrame,
    segments: Sequence[int],
    first_days: pd.DataFrame | None = None,
) -> tuple[list[str], dict[str, Any], list[str]]:
    """Mark the scored customers and compare them with training.

    Parameters
    ----------
    metadata : mapping
        The model's ``metadata_`` (:func:`training_record` in it; older models lack it).
    table : pandas.DataFrame
        The scored customers: ``customer_id`` and the features.
    segments : sequence of int
        Their KMeans segments.
    first_days : pandas.DataFrame, optional
        ``customer_id``, ``first_day``: each customer's first line in the log scored
        (:func:`segmint.windows.first_days`); without it no one is ``returning``.

    Returns
    -------
    (list of str, dict, list of str)
        The status of every customer (:data:`STATUSES`), the figures (``psi`` per feature,
        ``segments_psi``, ``overlap`` customers in common, counts per status), and the
        warnings in plain words.
    """
    import numpy as np

    ids = table["customer_id"].astype(str).tolist()
    known = set(str(metadata.get("customers", "")).split("\n")) - {""}
    as_of = (metadata.get("period") or {}).get("as_of")
    first: dict[str, str] = {}
    if first_days is not None and as_of is not None:
        first = {
            str(c): d.isoformat()
            for c, d in zip(first_days["customer_id"], first_days["first_day"], strict=True)
        }

    def status_of(customer: str) -> str:
        if customer in known:
            return "known"
        day = first.get(customer)
        return "returning" if day is not None and as_of is not None and day <= as_of else "new"

    status = [status_of(c) for c in ids]
    counts = {s: status.count(s) for s in STATUSES}
    figures: dict[str, Any] = {"statuses": counts, "overlap": counts["known"]}
    warnings: list[str] = []
    ref = metadata.get("drift")
    if not ref or not known:
        return status, figures, warnings
    values = {
        name: psi(
            ref["shares"][name],
            _shares(_bins(table[name].to_numpy(dtype=float), edges), len(edges) + 1),
        )
        for name, edges in ref["edges"].items()
        if name in table
    }
    seg_psi = psi(ref["segments"], _shares(np.asarray(segments, dtype=int), len(ref["segments"])))
    figures["psi"] = {k: round(v, 4) for k, v in values.items()}
    figures["segments_psi"] = round(seg_psi, 4)
    n, n_train = len(ids), int(ref["n"])
    chance = {k: noise(len(ref["edges"][k]) + 1, n_train, n) for k in values}
    real = {k: v for k, v in values.items() if v > chance[k]}
    major = [k for k, v in real.items() if v >= MAJOR]
    moderate = [k for k, v in real.items() if MODERATE <= v < MAJOR]
    if counts["known"] == 0 and len(major) * 2 >= len(values):
        warnings.append(
            f"THIS LOG LOOKS LIKE A DIFFERENT SHOP: none of its {n:,} customers was in the "
            f"training log, and {len(major)} of {len(values)} features are spread differently "
            f"({', '.join(major)}); the segments may mean nothing here: check the file, or "
            "train a new model with segmint run"
        )
    elif major or moderate:
        words = [f"{k} (PSI {values[k]:.2f}, {_band(values[k])})" for k in major + moderate]
        warnings.append(
            "the customers scored differ from those the model was trained on: "
            + ", ".join(words)
            + "; segments compare less well with training, retrain when the shift is major"
        )
    if seg_psi >= MODERATE and seg_psi > noise(len(ref["segments"]), n_train, n):
        train = ", ".join(f"{100 * s:.0f}%" for s in ref["segments"])
        warnings.append(
            f"segment shares moved from training ({train}) with PSI {seg_psi:.2f} "
            f"({_band(seg_psi)} shift)"
        )
    return status, figures, warnings
