"""The numbers behind the figures: axis scales and ticks, kernel densities, correlations.

Pure NumPy (matplotlib only to put ticks on an axis, imported lazily): :class:`Scale` and
:func:`scale_for` pick a linear or ``log1p`` axis for a feature, :func:`kde` and
:func:`kde_bandwidth` estimate densities fast for millions of customers, and
:func:`correlation_matrix` computes Pearson or Spearman correlations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from segmint.report._data import feature_columns

__all__ = [
    "Scale",
    "compact",
    "correlation_matrix",
    "kde",
    "kde_bandwidth",
    "scale_for",
    "thousands",
]


def compact(value: float) -> str:
    """``1234 -> '1.2k'``, ``2_000_000 -> '2M'``, ``12 -> '12'``."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:.3g}k"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.2g}"


def thousands(value: float, _pos: object = None) -> str:
    return f"{value:,.0f}"


@dataclass(frozen=True)
class Scale:
    """How a feature is drawn: linear, or ``sign(x) * log1p(|x|)`` with ticks in counts."""

    log: bool
    integer: bool
    lo: float
    hi: float

    def forward(self, values: np.ndarray) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        if self.log:
            return np.sign(values) * np.log1p(np.abs(values))
        return values

    def apply_ticks(self, axis: Any, slots: int = 7) -> None:
        """Put ticks in data units on a matplotlib ``Axis`` (``ax.xaxis`` or ``ax.yaxis``).

        On a log axis ticks are kept at least 1/``slots`` of the axis apart.
        """
        from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

        if not self.log:
            axis.set_major_locator(MaxNLocator(nbins=min(6, slots), integer=self.integer))
            if max(abs(self.lo), abs(self.hi)) >= 10_000:
                axis.set_major_formatter(FuncFormatter(lambda v, _p: compact(v)))
            return
        ticks = _thin_ticks(_log_ticks(self.lo, self.hi), self.forward, slots)
        axis.set_major_locator(FixedLocator(self.forward(np.array(ticks)).tolist()))
        labels = [compact(t) for t in ticks]
        axis.set_major_formatter(
            FuncFormatter(
                lambda _v, pos: labels[pos] if pos is not None and pos < len(labels) else ""
            )
        )


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Candidate ticks (1, 2, 5 times powers of ten, mirrored, and 0) from ``lo`` to ``hi``."""
    steps = [1.0, 2.0, 5.0]
    positive: list[float] = []
    top = max(abs(lo), abs(hi), 1.0)
    decade = 1.0
    while decade <= top * 1.0001:
        positive.extend(s * decade for s in steps if s * decade <= top * 1.0001)
        decade *= 10
    ticks = [0.0] if lo <= 0 <= hi else []
    ticks += [v for v in positive if v <= hi]
    ticks = [-v for v in reversed(positive) if -v >= lo] + ticks
    return ticks


def _thin_ticks(
    ticks: list[float], forward: Callable[[np.ndarray], np.ndarray], slots: int = 7
) -> list[float]:
    """Keep ticks at least 1/``slots`` of the axis apart: 0 first, then powers of ten, then
    the 2s and 5s, larger values first."""
    if len(ticks) < 2:
        return ticks
    position = dict(zip(ticks, forward(np.array(ticks, dtype=float)).tolist(), strict=True))
    gap = (max(position.values()) - min(position.values())) / slots

    def priority(t: float) -> tuple[int, float]:
        if t == 0:
            return (0, 0.0)
        return (1 if math.log10(abs(t)).is_integer() else 2, -abs(t))

    kept: list[float] = []
    for t in sorted(ticks, key=priority):
        if all(abs(position[t] - position[k]) >= gap * 0.999 for k in kept):
            kept.append(t)
    return sorted(kept)


def scale_for(values: np.ndarray | pd.Series) -> Scale:
    """Pick the axis for a feature: log1p when it is a wide, right-skewed count or amount."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return Scale(log=False, integer=False, lo=0.0, hi=1.0)
    lo, hi = float(x.min()), float(x.max())
    probe = x[:: max(1, x.size // 100_000)]
    integer = bool(np.all(probe == np.round(probe)))
    median, q99 = np.percentile(probe, [50, 99])
    std = float(probe.std())
    skew = float(np.mean(((probe - probe.mean()) / std) ** 3)) if std > 0 else 0.0
    log = max(abs(lo), abs(hi)) > 10 and (skew > 1.5 or q99 > 10 * max(abs(median), 1.0))
    return Scale(log=bool(log), integer=integer, lo=lo, hi=hi)


def kde(values: np.ndarray, grid: np.ndarray, bandwidth: float, n_bins: int = 512) -> np.ndarray:
    """Gaussian kernel density of ``values`` on ``grid``, binned first so it is fast for millions.

    Returns the density normalised to unit area over the real line (``grid`` may be cut).
    """
    lo = float(min(values.min(), grid[0])) - 4 * bandwidth
    hi = float(max(values.max(), grid[-1])) + 4 * bandwidth
    counts, edges = np.histogram(values, bins=n_bins, range=(lo, hi))
    centres = (edges[:-1] + edges[1:]) / 2
    z = (grid[:, None] - centres[None, :]) / bandwidth
    density = np.exp(-0.5 * z * z) @ counts.astype(float)
    return density / (values.size * bandwidth * math.sqrt(2 * math.pi))


def kde_bandwidth(values: np.ndarray, span: float) -> float:
    """Scott's rule, floored at 4% of the feature's span so integer lattices look smooth."""
    std = float(values.std()) if values.size > 1 else 0.0
    scott = 1.06 * std * values.size ** (-1 / 5) if std > 0 else 0.0
    return max(scott, 0.04 * span, 1e-6)


# --------------------------------------------------------------------------- data helpers


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (as ``scipy.stats.rankdata``).

    Small non-negative whole numbers (counts) are ranked by counting, in one pass.
    """
    if values.size and values.min() >= 0 and values.max() < 50_000_000:
        whole = values.astype(np.int64)
        if np.array_equal(whole, values):
            counts = np.bincount(whole)
            ends = np.cumsum(counts)
            return ((ends - counts + 1 + ends) / 2.0)[whole]
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return ((ends - counts + 1 + ends) / 2.0)[inverse.ravel()]


def correlation_matrix(
    data: pd.DataFrame,
    *,
    method: Literal["pearson", "spearman"] = "pearson",
    features: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Pearson or Spearman correlation between the features, fast for millions of rows.

    Spearman is the Pearson correlation of average ranks, as in
    ``DataFrame.corr(method="spearman")``. Rows with a missing value are left out.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per customer with the feature columns.
    method : {"pearson", "spearman"}, default="pearson"
        Which correlation.
    features : sequence of str, optional
        Feature columns; default: every numeric column that is not a segment column.

    Returns
    -------
    pandas.DataFrame
        Square, features on both axes; NaN for a feature that does not vary.
    """
    cols = feature_columns(data, features)
    values = np.column_stack([np.asarray(data[c], dtype=float) for c in cols])
    values = values[np.isfinite(values).all(axis=1)]
    if method == "spearman" and len(values):
        values = np.column_stack([_average_ranks(v) for v in values.T])
    p = len(cols)
    corr = np.full((p, p), np.nan)
    if len(values) > 1:
        centred = values - values.mean(axis=0)
        norms = np.sqrt((centred * centred).sum(axis=0))
        ok = norms > 0
        cov = centred.T @ centred
        with np.errstate(divide="ignore", invalid="ignore"):
            corr = cov / np.outer(norms, norms)
        corr[~ok, :] = np.nan
        corr[:, ~ok] = np.nan
        corr = np.clip(corr, -1.0, 1.0)
        corr[np.diag_indices(p)] = np.where(ok, 1.0, np.nan)
    return pd.DataFrame(corr, index=cols, columns=cols)
