"""Plots of a segmentation run, one function per plot.

Every single-panel plot has the shape ``plot(data, *, ..., ax=None) -> Axes``: it draws on
``ax`` when given, otherwise on a new figure, and returns the Axes. Multi-panel plots
(:func:`correlation_figure`, :func:`kmeans_selection_figure`, :func:`gmm_selection_figure`,
:func:`pair_plot`, :func:`segment_violins`) return the :class:`matplotlib.figure.Figure`.

The per-customer plots take the table of ``segments.csv`` (or any DataFrame with the feature
columns and ``<method>_segment``): segment names come from ``<method>_name`` when that column
is there, or from ``names=``; colours from :func:`segment_colors`, so a segment has the same
colour in every plot. Skewed counts are drawn on a ``log1p`` axis labelled in counts (negative
values, e.g. a net refund, are mirrored: ``sign(x) * log1p(|x|)``).

New figures are plain :class:`~matplotlib.figure.Figure` objects on the Agg canvas: no pyplot,
no global state, and :func:`figure_to_png` gives byte-identical PNGs for the same input.
Matplotlib is imported lazily, so ``import segmint.plots`` stays cheap.
"""

from __future__ import annotations

import functools
import io
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "DPI",
    "FEATURE_LABELS",
    "METHOD_LABELS",
    "PAIR_PLOT_MAX_POINTS",
    "PALETTE",
    "contingency_heatmap",
    "correlation_figure",
    "correlation_heatmap",
    "criterion_curves",
    "feature_label",
    "feature_violin",
    "figure_to_png",
    "gmm_selection_figure",
    "kmeans_selection_figure",
    "pair_plot",
    "segment_colors",
    "segment_label",
    "segment_sizes",
    "segment_violins",
    "silhouette_curve",
    "wcss_curve",
]

#: Resolution of every saved figure (dots per inch); a 10-inch figure is 1200 pixels wide.
DPI: int = 120

#: Above this many customers the scatter plots draw a seeded random sample.
PAIR_PLOT_MAX_POINTS: int = 50_000

#: Segment colours, colour-blind friendly first (seaborn "colorblind"), then more.
PALETTE: tuple[str, ...] = (
    "#0173B2",
    "#DE8F05",
    "#029E73",
    "#D55E00",
    "#CC78BC",
    "#CA9161",
    "#56B4E9",
    "#FBAFE4",
    "#949494",
    "#ECE133",
    "#1B9E77",
    "#7570B3",
    "#E7298A",
    "#66A61E",
    "#A6761D",
    "#E6AB02",
    "#393B79",
    "#8C564B",
    "#17BECF",
    "#BCBD22",
    "#637939",
    "#666666",
)

#: Words a marketer reads instead of column names.
FEATURE_LABELS: dict[str, str] = {
    "n_products": "Distinct products bought",
    "n_canceled_orders": "Cancelled orders",
    "n_orders": "Orders",
    "recency_days": "Days since last purchase",
    "monetary": "Total spend",
    "cancel_rate": "Share of orders cancelled",
}

#: Display names of the two clustering methods.
METHOD_LABELS: dict[str, str] = {"kmeans": "KMeans", "gmm": "Gaussian mixture"}

Method = Literal["kmeans", "gmm"]

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

_INK = "#222222"
_MUTED = "#666666"
_ACCENT = "#C0392B"

_STYLE: dict[str, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "axes.labelcolor": _INK,
    "axes.edgecolor": "#999999",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#E6E6E6",
    "grid.linewidth": 0.8,
    "xtick.color": _INK,
    "ytick.color": _INK,
    "legend.frameon": False,
    "legend.fontsize": 9,
    "figure.facecolor": "white",
    "figure.titlesize": 12,
    "figure.titleweight": "bold",
    "savefig.facecolor": "white",
    "image.interpolation": "nearest",
    "path.simplify": True,
    "svg.hashsalt": "segmint",
}

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _styled(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``func`` inside segmint's matplotlib style, leaving the global rcParams alone."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        import matplotlib

        with matplotlib.rc_context(_STYLE):
            return func(*args, **kwargs)

    return wrapper


def _figure(width: float, height: float) -> Figure:
    """A new figure on the Agg canvas, with constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _axes(ax: Axes | None, width: float, height: float) -> Axes:
    if ax is not None:
        return ax
    return _figure(width, height).add_subplot()


def _wrap(text: str, width: int = 22) -> str:
    return "\n".join(textwrap.wrap(text, width=width, break_long_words=True)) or text


def _compact(value: float) -> str:
    """``1234 -> '1.2k'``, ``2_000_000 -> '2M'``, ``12 -> '12'``."""
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.3g}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:.3g}k"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.2g}"


def _thousands(value: float, _pos: object = None) -> str:
    return f"{value:,.0f}"


def feature_label(name: str) -> str:
    """A feature's label for a marketer, e.g. ``"n_products" -> "Distinct products bought"``.

    Parameters
    ----------
    name : str
        Column name of the feature.

    Returns
    -------
    str
        The label from :data:`FEATURE_LABELS`, else the name with underscores as spaces.
    """
    return FEATURE_LABELS.get(name, name.replace("_", " ").capitalize())


def segment_label(segment: int, name: str | None) -> str:
    """How a segment is written in legends and tick labels: ``"0: Occasional buyers"``.

    Parameters
    ----------
    segment : int
        Segment number.
    name : str or None
        Segment name; ``None`` or empty gives ``"Segment 0"``.

    Returns
    -------
    str
    """
    return f"{segment}: {name}" if name else f"Segment {segment}"


def segment_colors(
    kmeans_names: Mapping[int, str], gmm_names: Mapping[int, str] | None = None
) -> dict[str, dict[int, str]]:
    """One colour per segment, for both methods, the same in every plot and in the report.

    KMeans segment ``i`` gets ``PALETTE[i]``. A Gaussian mixture component whose name is the
    name of exactly one KMeans segment (and the first such component) gets that segment's
    colour; any other component gets the next colour no KMeans segment uses.

    Parameters
    ----------
    kmeans_names : mapping of int to str
        ``{segment: name}`` of the KMeans segments.
    gmm_names : mapping of int to str, optional
        ``{component: name}`` of the mixture components.

    Returns
    -------
    dict
        ``{"kmeans": {segment: "#rrggbb"}, "gmm": {component: "#rrggbb"}}``.
    """
    kmeans = {int(s): PALETTE[i % len(PALETTE)] for i, s in enumerate(sorted(kmeans_names))}
    by_name: dict[str, list[int]] = {}
    for segment, name in kmeans_names.items():
        by_name.setdefault(name, []).append(int(segment))
    used_names: set[str] = set()
    gmm: dict[int, str] = {}
    spare = (PALETTE[i % len(PALETTE)] for i in range(len(kmeans), len(kmeans) + 10_000))
    for component in sorted(gmm_names or {}):
        name = (gmm_names or {})[component]
        match = by_name.get(name, [])
        if len(match) == 1 and name not in used_names:
            gmm[int(component)] = kmeans[match[0]]
            used_names.add(name)
        else:
            gmm[int(component)] = next(spare)
    return {"kmeans": kmeans, "gmm": gmm}


# --------------------------------------------------------------------------- feature scales


@dataclass(frozen=True)
class _Scale:
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

    def apply_ticks(self, axis: Any) -> None:
        """Put ticks in data units on a matplotlib ``Axis`` (``ax.xaxis`` or ``ax.yaxis``)."""
        from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

        if not self.log:
            axis.set_major_locator(MaxNLocator(nbins=6, integer=self.integer))
            if max(abs(self.lo), abs(self.hi)) >= 10_000:
                axis.set_major_formatter(FuncFormatter(lambda v, _p: _compact(v)))
            return
        ticks = _log_ticks(self.lo, self.hi)
        axis.set_major_locator(FixedLocator(self.forward(np.array(ticks)).tolist()))
        labels = [_compact(t) for t in ticks]
        axis.set_major_formatter(
            FuncFormatter(lambda _v, pos: labels[pos] if pos is not None and pos < len(labels) else "")
        )


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Round count values between ``lo`` and ``hi`` for a log1p axis, at most about 8."""
    steps = [1.0, 2.0, 5.0]
    positive: list[float] = []
    top = max(abs(lo), abs(hi), 1.0)
    decade = 1.0
    while decade <= top * 1.0001:
        positive.extend(s * decade for s in steps if s * decade <= top * 1.0001)
        decade *= 10
    if len(positive) > 7:
        positive = [v for v in positive if math.log10(v).is_integer()]
    ticks = [0.0] if lo <= 0 <= hi else []
    ticks += [v for v in positive if v <= hi]
    ticks = [-v for v in reversed(positive) if -v >= lo] + ticks
    return ticks


def _scale_for(values: np.ndarray | pd.Series) -> _Scale:
    """Pick the axis for a feature: log1p when it is a wide, right-skewed count or amount."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return _Scale(log=False, integer=False, lo=0.0, hi=1.0)
    lo, hi = float(x.min()), float(x.max())
    probe = x[:: max(1, x.size // 100_000)]
    integer = bool(np.all(probe == np.round(probe)))
    median, q99 = np.percentile(probe, [50, 99])
    std = float(probe.std())
    skew = float(np.mean(((probe - probe.mean()) / std) ** 3)) if std > 0 else 0.0
    log = max(abs(lo), abs(hi)) > 10 and (skew > 1.5 or q99 > 10 * max(abs(median), 1.0))
    return _Scale(log=bool(log), integer=integer, lo=lo, hi=hi)


def _kde(
    values: np.ndarray, grid: np.ndarray, bandwidth: float, n_bins: int = 512
) -> np.ndarray:
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


def _bandwidth(values: np.ndarray, span: float) -> float:
    """Scott's rule, floored at 4% of the feature's span so integer lattices look smooth."""
    std = float(values.std()) if values.size > 1 else 0.0
    scott = 1.06 * std * values.size ** (-1 / 5) if std > 0 else 0.0
    return max(scott, 0.04 * span, 1e-6)


# --------------------------------------------------------------------------- data helpers


def _features(data: pd.DataFrame, features: Sequence[str] | None) -> list[str]:
    if features is not None:
        missing = [f for f in features if f not in data.columns]
        if missing:
            raise KeyError(f"features {missing} are not columns of the data; columns are "
                           f"{list(data.columns)}")
        return list(features)
    return [
        str(c)
        for c in data.columns
        if c not in _LABEL_COLUMNS and pd.api.types.is_numeric_dtype(data[c])
    ]


def _labels(data: pd.DataFrame, method: str) -> np.ndarray:
    column = f"{method}_segment"
    if column not in data.columns:
        raise KeyError(f"the data has no {column!r} column; columns are {list(data.columns)}")
    return np.asarray(data[column], dtype=np.int64)


def _names(
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


def _colors(segments: Sequence[int], colors: Mapping[int, str] | None) -> dict[int, str]:
    if colors is not None:
        return {int(s): colors.get(int(s), PALETTE[i % len(PALETTE)]) for i, s in enumerate(segments)}
    return {int(s): PALETTE[i % len(PALETTE)] for i, s in enumerate(segments)}


def _segment_values(labels: np.ndarray) -> list[int]:
    return [int(s) for s in np.unique(labels)]


def _sample_index(labels: np.ndarray, max_points: int, seed: int) -> np.ndarray:
    """Seeded sample of row positions, stratified by segment, at least 300 per segment.

    Returns all positions when there are at most ``max_points`` rows.
    """
    n = labels.size
    if n <= max_points:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    picked: list[np.ndarray] = []
    segments, counts = np.unique(labels, return_counts=True)
    for segment, count in zip(segments, counts, strict=True):
        want = min(int(count), max(300, round(max_points * count / n)))
        rows = np.flatnonzero(labels == segment)
        picked.append(rng.choice(rows, size=want, replace=False))
    return np.sort(np.concatenate(picked))


# --------------------------------------------------------------------------- correlation


@_styled
def correlation_heatmap(
    data: pd.DataFrame,
    *,
    method: Literal["pearson", "spearman"] = "pearson",
    features: Sequence[str] | None = None,
    colorbar: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """Annotated heatmap of the correlation between the customer features.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per customer with the feature columns (e.g. ``segments.csv``).
    method : {"pearson", "spearman"}, default="pearson"
        Pearson (straight-line) or Spearman (rank) correlation.
    features : sequence of str, optional
        Feature columns; default: every numeric column that is not a segment column.
    colorbar : bool, default=True
        Draw a colour bar beside the heatmap.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    cols = _features(data, features)
    corr = data[cols].astype(float).corr(method=method).to_numpy()
    ax = _axes(ax, 4.8, 4.2)
    ax.grid(False)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    masked = np.ma.masked_invalid(corr)
    image = ax.imshow(masked, cmap="RdBu_r", vmin=-1, vmax=1, aspect="equal")
    image.cmap.set_bad("#DDDDDD")
    for i in range(len(cols)):
        for j in range(len(cols)):
            value = corr[i, j]
            text = "n/a" if not np.isfinite(value) else f"{value:.2f}"
            color = "white" if np.isfinite(value) and abs(value) > 0.6 else _INK
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=10)
    labels = [_wrap(feature_label(c), 14) for c in cols]
    ax.set_xticks(range(len(cols)), labels)
    ax.set_yticks(range(len(cols)), labels)
    ax.tick_params(length=0)
    title = {
        "pearson": "Pearson correlation\n(straight-line relation)",
        "spearman": "Spearman correlation\n(same order, any shape)",
    }[method]
    ax.set_title(title)
    if colorbar:
        ax.figure.colorbar(image, ax=ax, shrink=0.8, label="-1 opposite · 0 none · +1 together")
    return ax


@_styled
def correlation_figure(data: pd.DataFrame, *, features: Sequence[str] | None = None) -> Figure:
    """Pearson and Spearman correlation heatmaps side by side.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per customer with the feature columns.
    features : sequence of str, optional
        Feature columns; default: every numeric column that is not a segment column.

    Returns
    -------
    matplotlib.figure.Figure
        Two Axes: Pearson (left) and Spearman (right), with one shared colour bar.
    """
    cols = _features(data, features)
    side = min(4.6, 2.2 + 0.55 * len(cols))
    fig = _figure(10, side + 0.9)
    left, right = fig.subplots(1, 2)
    correlation_heatmap(data, method="pearson", features=cols, colorbar=False, ax=left)
    correlation_heatmap(data, method="spearman", features=cols, colorbar=False, ax=right)
    fig.colorbar(
        left.images[0], ax=[left, right], shrink=0.8, label="-1 opposite · 0 none · +1 together"
    )
    return fig


# --------------------------------------------------------------------------- KMeans choice


def _sweep_frame(sweep: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(sweep)
    return frame.sort_values("k").reset_index(drop=True)


def _mark_chosen(ax: Axes, x: float, y: float, text: str, *, below: bool = False) -> None:
    ax.scatter([x], [y], s=160, facecolor="none", edgecolor=_ACCENT, linewidth=2.2, zorder=5)
    ax.annotate(
        text,
        (x, y),
        xytext=(12, -18 if below else 12),
        textcoords="offset points",
        color=_ACCENT,
        fontweight="bold",
        fontsize=9,
        bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none", "alpha": 0.9},
        zorder=6,
    )


@_styled
def wcss_curve(
    sweep: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    knee: int | None = None,
    k: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """The elbow plot: within-segment sum of squares (WCSS) against the number of segments.

    Parameters
    ----------
    sweep : pandas.DataFrame or sequence of mapping
        Rows with ``k`` and ``wcss`` (``metrics["kmeans"]["sweep"]``).
    knee : int, optional
        The knee found on the curve, marked with a dotted line.
    k : int, optional
        The chosen number of segments, circled.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    frame = _sweep_frame(sweep)
    ax = _axes(ax, 5, 3.8)
    ax.plot(frame["k"], frame["wcss"], marker="o", color=_INK, linewidth=1.8, markersize=5)
    if knee is not None:
        ax.axvline(knee, color=_MUTED, linestyle=":", linewidth=1.5)
        top = float(frame["wcss"].max())
        ax.annotate(
            f"knee (bend) at k={knee}",
            (knee, top),
            xytext=(6, -4),
            textcoords="offset points",
            va="top",
            color=_MUTED,
            fontsize=9,
        )
    if k is not None and (frame["k"] == k).any():
        y = float(frame.loc[frame["k"] == k, "wcss"].iloc[0])
        _mark_chosen(ax, k, y, f"chosen: {k} segments")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_xlabel("Number of segments (k)")
    ax.set_ylabel("Spread within segments (WCSS)\nlower = tighter segments")
    ax.set_title("Elbow: where adding segments stops paying off")
    return ax


@_styled
def silhouette_curve(
    sweep: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    k: int | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Silhouette score against the number of segments (undefined for one segment).

    Parameters
    ----------
    sweep : pandas.DataFrame or sequence of mapping
        Rows with ``k`` and ``silhouette`` (``None``/NaN where undefined).
    k : int, optional
        The chosen number of segments, circled.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import MaxNLocator

    frame = _sweep_frame(sweep)
    frame = frame[pd.to_numeric(frame["silhouette"], errors="coerce").notna()]
    ax = _axes(ax, 5, 3.8)
    ax.plot(
        frame["k"], frame["silhouette"].astype(float), marker="o", color="#0173B2",
        linewidth=1.8, markersize=5,
    )
    if k is not None and (frame["k"] == k).any():
        y = float(frame.loc[frame["k"] == k, "silhouette"].iloc[0])
        _mark_chosen(ax, k, y, f"chosen: {k}", below=True)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Number of segments (k)")
    ax.set_ylabel("Silhouette\nhigher = better separated")
    ax.set_title("Separation: how distinct the segments are")
    return ax


@_styled
def kmeans_selection_figure(
    sweep: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    knee: int | None = None,
    k: int | None = None,
) -> Figure:
    """Elbow (WCSS) and silhouette curves side by side, the knee and the choice marked.

    Parameters
    ----------
    sweep : pandas.DataFrame or sequence of mapping
        ``metrics["kmeans"]["sweep"]``.
    knee : int, optional
        The knee of the WCSS curve.
    k : int, optional
        The chosen number of segments.

    Returns
    -------
    matplotlib.figure.Figure
        Two Axes: WCSS (left), silhouette (right).
    """
    fig = _figure(10, 3.9)
    left, right = fig.subplots(1, 2)
    wcss_curve(sweep, knee=knee, k=k, ax=left)
    silhouette_curve(sweep, k=k, ax=right)
    return fig


# --------------------------------------------------------------------------- GMM choice

_COVARIANCE_STYLE: dict[str, tuple[str, str, str]] = {
    "full": ("#1F3A5F", "o", "-"),
    "tied": ("#7A5195", "s", "--"),
    "diag": ("#EF5675", "^", "-."),
    "spherical": ("#FFA600", "D", ":"),
}
_COVARIANCE_WORDS: dict[str, str] = {
    "full": "full (any shape)",
    "tied": "tied (one shared shape)",
    "diag": "diagonal (axis-aligned)",
    "spherical": "spherical (round)",
}


@_styled
def criterion_curves(
    grid: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    criterion: Literal["bic", "aic"] = "bic",
    chosen: tuple[int, str] | None = None,
    chosen_by: str | None = None,
    legend: bool = True,
    ax: Axes | None = None,
) -> Axes:
    """BIC or AIC against the number of mixture components, one line per covariance type.

    Parameters
    ----------
    grid : pandas.DataFrame or sequence of mapping
        Rows with ``n_components``, ``covariance_type``, ``bic``, ``aic``
        (``metrics["gmm"]["grid"]``).
    criterion : {"bic", "aic"}, default="bic"
        Which criterion to draw; lower is better for both.
    chosen : (int, str), optional
        ``(n_components, covariance_type)`` of the chosen model, circled.
    chosen_by : str, optional
        The criterion the choice was made with, for the label (e.g. ``"bic"``).
    legend : bool, default=True
        Draw the legend of covariance types.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    frame = pd.DataFrame(grid)
    ax = _axes(ax, 5, 4)
    order = [c for c in _COVARIANCE_STYLE if c in set(frame["covariance_type"])]
    order += sorted(set(frame["covariance_type"]) - set(order))
    for i, cov in enumerate(order):
        rows = frame[frame["covariance_type"] == cov].sort_values("n_components")
        color, marker, style = _COVARIANCE_STYLE.get(cov, (PALETTE[i % len(PALETTE)], "o", "-"))
        ax.plot(
            rows["n_components"], rows[criterion].astype(float), color=color, marker=marker,
            linestyle=style, linewidth=1.6, markersize=4.5, label=_COVARIANCE_WORDS.get(cov, cov),
        )
    if chosen is not None:
        n, cov = chosen
        hit = frame[(frame["n_components"] == n) & (frame["covariance_type"] == cov)]
        if len(hit):
            by = f" by {chosen_by.upper()}" if chosen_by else ""
            _mark_chosen(ax, n, float(hit[criterion].iloc[0]), f"chosen{by}: {n} ({cov})")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_xlabel("Number of mixture components")
    name = criterion.upper()
    ax.set_ylabel(f"{name} (lower = better fit\nfor its complexity)")
    ax.set_title(f"{name} by number of components")
    if legend:
        ax.legend(title="Shape of components", title_fontsize=9, loc="upper right")
    return ax


@_styled
def gmm_selection_figure(
    grid: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    n_components: int | None = None,
    covariance_type: str | None = None,
    criterion: str = "bic",
) -> Figure:
    """BIC (left) and AIC (right) curves of the Gaussian mixture grid, the choice circled.

    Parameters
    ----------
    grid : pandas.DataFrame or sequence of mapping
        ``metrics["gmm"]["grid"]``.
    n_components : int, optional
        Chosen number of components.
    covariance_type : str, optional
        Chosen covariance type.
    criterion : str, default="bic"
        The criterion the choice was made with.

    Returns
    -------
    matplotlib.figure.Figure
        Two Axes: BIC (left) and AIC (right); the legend is on the left one.
    """
    fig = _figure(10, 4.2)
    left, right = fig.subplots(1, 2)
    chosen = (
        (int(n_components), str(covariance_type))
        if n_components is not None and covariance_type is not None
        else None
    )
    criterion_curves(grid, criterion="bic", chosen=chosen, chosen_by=criterion, ax=left)
    criterion_curves(
        grid, criterion="aic", chosen=chosen, chosen_by=criterion, legend=False, ax=right
    )
    return fig


# --------------------------------------------------------------------------- per customer


@_styled
def segment_sizes(
    data: pd.DataFrame,
    *,
    method: Method = "kmeans",
    names: Mapping[int, str] | None = None,
    colors: Mapping[int, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Horizontal bars of the number of customers per segment, with counts and shares.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per customer with ``<method>_segment`` (e.g. ``segments.csv``).
    method : {"kmeans", "gmm"}, default="kmeans"
        Which segmentation to count.
    names : mapping of int to str, optional
        Segment names; default: the ``<method>_name`` column when present.
    colors : mapping of int to str, optional
        Segment colours; default: :data:`PALETTE` in segment order.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import FuncFormatter

    labels = _labels(data, method)
    segments = _segment_values(labels)
    counts = np.bincount(labels - min(segments))[[s - min(segments) for s in segments]]
    names_ = _names(data, method, segments, names)
    colors_ = _colors(segments, colors)
    ax = _axes(ax, 6, 0.9 + 0.45 * len(segments))
    positions = np.arange(len(segments))
    ax.barh(
        positions, counts, color=[colors_[s] for s in segments], height=0.7, edgecolor="none"
    )
    total = counts.sum()
    for y, count in zip(positions, counts, strict=True):
        ax.annotate(
            f"{count:,} ({count / total:.0%})",
            (count, y),
            xytext=(4, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
            color=_INK,
        )
    ax.set_yticks(positions, [_wrap(segment_label(s, names_[s]), 30) for s in segments])
    ax.invert_yaxis()
    ax.set_xlim(0, counts.max() * 1.3)
    ax.xaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("Customers")
    ax.set_title(f"Customers per {METHOD_LABELS[method]} segment")
    return ax


@_styled
def feature_violin(
    data: pd.DataFrame,
    feature: str,
    *,
    method: Method = "kmeans",
    names: Mapping[int, str] | None = None,
    colors: Mapping[int, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Horizontal violins of one feature, one per segment, with median and quartiles.

    The density is a Gaussian kernel estimate on binned values of every customer (fast for
    millions of rows), cut at each segment's smallest and largest value. Skewed counts are
    drawn on a log1p axis labelled in counts.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per customer with ``feature`` and ``<method>_segment``.
    feature : str
        Feature column.
    method : {"kmeans", "gmm"}, default="kmeans"
        Which segmentation to split by.
    names : mapping of int to str, optional
        Segment names; default: the ``<method>_name`` column when present.
    colors : mapping of int to str, optional
        Segment colours; default: :data:`PALETTE` in segment order.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    labels = _labels(data, method)
    segments = _segment_values(labels)
    names_ = _names(data, method, segments, names)
    colors_ = _colors(segments, colors)
    raw = np.asarray(data[feature], dtype=float)
    scale = _scale_for(raw)
    values = scale.forward(raw)
    finite = np.isfinite(values)
    span = float(np.ptp(values[finite])) if finite.any() else 1.0
    ax = _axes(ax, 5, 0.9 + 0.6 * len(segments))
    for position, segment in enumerate(segments):
        v = values[(labels == segment) & finite]
        if v.size == 0:
            continue
        color = colors_[segment]
        lo, hi = float(v.min()), float(v.max())
        q1, median, q3 = np.percentile(v, [25, 50, 75])
        if hi - lo > 1e-9:
            grid = np.linspace(lo, hi, 160)
            density = _kde(v, grid, _bandwidth(v, span or 1.0))
            half = 0.42 * density / density.max()
            ax.fill_between(
                grid, position - half, position + half, color=color, alpha=0.55, linewidth=0
            )
            ax.plot(grid, position - half, color=color, linewidth=0.8)
            ax.plot(grid, position + half, color=color, linewidth=0.8)
        else:
            ax.plot([lo, lo], [position - 0.35, position + 0.35], color=color, linewidth=3)
        ax.plot([q1, q3], [position, position], color=_INK, linewidth=3.5, solid_capstyle="butt")
        ax.scatter(
            [median], [position], s=28, color="white", edgecolor=_INK, linewidth=1.2, zorder=4
        )
    scale.apply_ticks(ax.xaxis)
    ax.set_yticks(range(len(segments)), [_wrap(segment_label(s, names_[s]), 24) for s in segments])
    ax.set_ylim(len(segments) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    axis_note = " (log scale)" if scale.log else ""
    ax.set_xlabel(feature_label(feature) + axis_note)
    ax.set_title(feature_label(feature))
    return ax


@_styled
def segment_violins(
    data: pd.DataFrame,
    *,
    method: Method = "kmeans",
    features: Sequence[str] | None = None,
    names: Mapping[int, str] | None = None,
    colors: Mapping[int, str] | None = None,
) -> Figure:
    """Violins of every feature by segment: one panel per feature, up to three per row.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per customer with the features and ``<method>_segment``.
    method : {"kmeans", "gmm"}, default="kmeans"
        Which segmentation to split by.
    features : sequence of str, optional
        Feature columns; default: every numeric column that is not a segment column.
    names : mapping of int to str, optional
        Segment names; default: the ``<method>_name`` column when present.
    colors : mapping of int to str, optional
        Segment colours; default: :data:`PALETTE` in segment order.

    Returns
    -------
    matplotlib.figure.Figure
        One Axes per feature (row-major), segment names on the left column only; the
        white dot is the median, the black bar the middle half of the customers.
    """
    cols = _features(data, features)
    n_segments = len(_segment_values(_labels(data, method)))
    ncols = min(len(cols), 3)
    nrows = math.ceil(len(cols) / ncols)
    fig = _figure(10, nrows * (1.0 + 0.55 * n_segments) + 0.6)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=True, squeeze=False)).ravel()
    for i, (ax, feature) in enumerate(zip(axes, cols, strict=False)):
        feature_violin(data, feature, method=method, names=names, colors=colors, ax=ax)
        if i % ncols:
            ax.tick_params(labelleft=False)  # the y axis is shared: only hide the labels
    for ax in axes[len(cols) :]:
        ax.set_visible(False)
    fig.suptitle(
        f"Each feature by {METHOD_LABELS[method]} segment "
        "(white dot: median; black bar: middle half of customers)",
        x=0.01,
        ha="left",
        fontsize=11,
    )
    return fig


@_styled
def pair_plot(
    data: pd.DataFrame,
    *,
    method: Method = "kmeans",
    features: Sequence[str] | None = None,
    names: Mapping[int, str] | None = None,
    colors: Mapping[int, str] | None = None,
    max_points: int = PAIR_PLOT_MAX_POINTS,
    seed: int = 0,
) -> Figure:
    """Scatter matrix of the features coloured by segment (lower triangle and diagonal).

    Off the diagonal: one point per customer, on log1p axes for skewed counts, integer counts
    jittered by less than half a count so that equal values do not hide each other; above
    ``max_points`` customers a seeded sample, stratified by segment (at least 300 per segment).
    Small segments are drawn on top. On the diagonal: each segment's density of the feature.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per customer with the features and ``<method>_segment``.
    method : {"kmeans", "gmm"}, default="kmeans"
        Which segmentation colours the points.
    features : sequence of str, optional
        Feature columns; default: every numeric column that is not a segment column.
    names : mapping of int to str, optional
        Segment names for the legend; default: the ``<method>_name`` column when present.
    colors : mapping of int to str, optional
        Segment colours; default: :data:`PALETTE` in segment order.
    max_points : int, default=PAIR_PLOT_MAX_POINTS
        Largest number of points drawn.
    seed : int, default=0
        Seed of the sample and of the jitter.

    Returns
    -------
    matplotlib.figure.Figure
        A ``p x p`` grid of Axes for ``p`` features; the upper triangle is hidden and holds
        the legend.
    """
    from matplotlib.lines import Line2D

    cols = _features(data, features)
    labels_all = _labels(data, method)
    segments = _segment_values(labels_all)
    names_ = _names(data, method, segments, names)
    colors_ = _colors(segments, colors)
    sizes = {s: int(np.count_nonzero(labels_all == s)) for s in segments}
    index = _sample_index(labels_all, max_points, seed)
    labels = labels_all[index]
    rng = np.random.default_rng(seed + 1)
    scales = {c: _scale_for(data[c]) for c in cols}
    drawn: dict[str, np.ndarray] = {}
    for c in cols:
        raw = np.asarray(data[c], dtype=float)[index]
        if scales[c].integer:
            raw = raw + rng.uniform(-0.35, 0.35, size=raw.size)
        drawn[c] = scales[c].forward(raw)
    full = {c: scales[c].forward(np.asarray(data[c], dtype=float)) for c in cols}

    p = len(cols)
    side = min(10.0, 3.2 * p + 1.0) if p > 1 else 5.0
    fig = _figure(side, side * (0.92 if p > 1 else 0.8))
    axes = np.atleast_2d(fig.subplots(p, p, squeeze=False))
    order = sorted(segments, key=lambda s: -sizes[s])  # big first, small on top
    marker_size = 6.0 if index.size <= 5_000 else 3.0
    for row in range(p):
        for col in range(p):
            ax = axes[row, col]
            if col > row:
                ax.set_visible(False)
                continue
            x_feature, y_feature = cols[col], cols[row]
            x_values = full[x_feature]
            finite_x = x_values[np.isfinite(x_values)]
            x_lo, x_hi = (float(finite_x.min()), float(finite_x.max())) if finite_x.size else (0, 1)
            pad = 0.04 * (x_hi - x_lo or 1.0) + (0.35 if scales[x_feature].integer else 0)
            if row == col:
                grid = np.linspace(x_lo, x_hi, 200)
                span = x_hi - x_lo or 1.0
                for s in segments:
                    v = x_values[(labels_all == s) & np.isfinite(x_values)]
                    if v.size < 2 or np.ptp(v) == 0:
                        continue
                    density = _kde(v, grid, _bandwidth(v, span))
                    ax.plot(grid, density, color=colors_[s], linewidth=1.6)
                    ax.fill_between(grid, 0, density, color=colors_[s], alpha=0.12, linewidth=0)
                ax.set_yticks([])
                ax.spines["left"].set_visible(False)
                ax.set_ylim(bottom=0)
                ax.grid(False)
            else:
                for s in order:
                    mask = labels == s
                    ax.scatter(
                        drawn[x_feature][mask], drawn[y_feature][mask], s=marker_size,
                        color=colors_[s], alpha=0.45 if index.size > 5_000 else 0.6,
                        linewidths=0, rasterized=True,
                    )
                scales[y_feature].apply_ticks(ax.yaxis)
                y_values = full[y_feature][np.isfinite(full[y_feature])]
                y_lo, y_hi = (
                    (float(y_values.min()), float(y_values.max())) if y_values.size else (0, 1)
                )
                y_pad = 0.04 * (y_hi - y_lo or 1.0) + (0.35 if scales[y_feature].integer else 0)
                ax.set_ylim(y_lo - y_pad, y_hi + y_pad)
            scales[x_feature].apply_ticks(ax.xaxis)
            ax.set_xlim(x_lo - pad, x_hi + pad)
            log_x = " (log scale)" if scales[x_feature].log else ""
            log_y = " (log scale)" if scales[y_feature].log else ""
            ax.set_xlabel(_wrap(feature_label(x_feature) + log_x, 44) if row == p - 1 else "")
            ax.set_ylabel(
                _wrap(feature_label(y_feature) + log_y, 30) if col == 0 and row != col else ""
            )
            if row != p - 1:
                ax.tick_params(labelbottom=False)
            if col != 0 and row != col:
                ax.tick_params(labelleft=False)
    handles = [
        Line2D(
            [], [], marker="o", linestyle="", markersize=8, color=colors_[s],
            label=f"{segment_label(s, names_[s])} ({sizes[s]:,})",
        )
        for s in segments
    ]
    shown = f"a random sample of {index.size:,} of {labels_all.size:,}" if index.size < labels_all.size else f"all {labels_all.size:,}"
    title = f"Customers by {METHOD_LABELS[method]} segment ({shown} customers)"
    if p > 1:
        axes[0, p - 1].set_visible(True)
        legend_ax = axes[0, p - 1]
        legend_ax.axis("off")
        legend_ax.legend(
            handles=handles, loc="upper left", title=f"{METHOD_LABELS[method]} segment",
            title_fontsize=10, fontsize=9.5, borderaxespad=0,
        )
    else:
        axes[0, 0].legend(handles=handles, loc="upper right")
    fig.suptitle(title, x=0.01, ha="left", fontsize=11)
    return fig


@_styled
def contingency_heatmap(
    data: pd.DataFrame,
    *,
    kmeans_names: Mapping[int, str] | None = None,
    gmm_names: Mapping[int, str] | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Where each KMeans segment's customers land among the Gaussian mixture components.

    Each cell shows the share of the KMeans segment (row) in the mixture component (column),
    and the number of customers; the colour is the share.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per customer with ``kmeans_segment`` and ``gmm_segment``.
    kmeans_names, gmm_names : mapping of int to str, optional
        Segment names; default: the ``kmeans_name`` / ``gmm_name`` columns when present.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    km = _labels(data, "kmeans")
    gm = _labels(data, "gmm")
    rows = _segment_values(km)
    cols = _segment_values(gm)
    row_pos = np.searchsorted(rows, km)
    col_pos = np.searchsorted(cols, gm)
    counts = np.bincount(row_pos * len(cols) + col_pos, minlength=len(rows) * len(cols))
    counts = counts.reshape(len(rows), len(cols))
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    km_names = _names(data, "kmeans", rows, kmeans_names)
    gm_names = _names(data, "gmm", cols, gmm_names)
    ax = _axes(ax, min(10.0, 3.6 + 1.25 * len(cols)), 1.6 + 0.62 * len(rows))
    ax.grid(False)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            count = int(counts[i, j])
            if count == 0:
                ax.text(j, i, "–", ha="center", va="center", color=_MUTED, fontsize=9)
                continue
            color = "white" if share[i, j] > 0.55 else _INK
            shown = f"{count:,}" if count < 100_000 else _compact(count)
            ax.text(
                j, i, f"{share[i, j]:.0%}\n{shown}", ha="center", va="center", color=color,
                fontsize=9,
            )
    ax.set_yticks(range(len(rows)), [_wrap(segment_label(s, km_names[s]), 24) for s in rows])
    ax.set_xticks(range(len(cols)), [_wrap(segment_label(s, gm_names[s]), 16) for s in cols])
    ax.tick_params(length=0)
    ax.set_ylabel("KMeans segment")
    ax.set_xlabel("Gaussian mixture component")
    ax.set_title("Where each KMeans segment's customers land in the mixture")
    ax.figure.colorbar(image, ax=ax, shrink=0.9, label="Share of the KMeans segment")
    return ax


# --------------------------------------------------------------------------- output


@_styled
def figure_to_png(fig: Figure, *, dpi: int = DPI) -> bytes:
    """Render a figure as PNG bytes, byte-identical for the same figure.

    The PNG carries no software or date metadata, and the resolution is fixed.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    dpi : int, default=DPI
        Dots per inch.

    Returns
    -------
    bytes
        The PNG file.
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None}, facecolor="white")
    return buffer.getvalue()
