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
Matplotlib is imported lazily, so ``import segmint.report.plots`` stays cheap.
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
    "VIOLIN_MAX_POINTS",
    "contingency_heatmap",
    "correlation_figure",
    "correlation_heatmap",
    "correlation_matrix",
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
#: Above this many customers the violins are estimated on a seeded random sample.
VIOLIN_MAX_POINTS: int = 200_000

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

_DASH = "\N{EN DASH}"
_INK = "#222222"
_MUTED = "#666666"
_ACCENT = "#C0392B"

_STYLE: dict[Any, Any] = {
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


def _root(ax: Axes) -> Figure:
    """The top-level figure of ``ax``."""
    from matplotlib.figure import Figure

    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    return fig


def _figure(width: float = 10.0, height: float = 4.0) -> Figure:
    """A new figure on the Agg canvas; :func:`_arrange` sizes it and places its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def _own_axes(ax: Axes | None) -> tuple[Axes, bool]:
    """``ax``, or a new Axes on a new figure; the flag says whether we lay the figure out."""
    if ax is not None:
        return ax, False
    return _figure().add_subplot(), True


# Manual layout. Constrained layout measures every tick label twice per draw and costs about
# as much as the drawing itself; these figures have simple grids, so each Axes gets exactly
# the room its own tick labels, axis labels and title need, measured once with the renderer.

_LINE = 10 * 1.22 / 72  # height of a line of 10 pt text, inches
_TITLE_LINE = 11 * 1.22 / 72
_TICK = 7.5 / 72  # tick length plus the gap to its label
_EDGE = 0.08  # blank border around the figure
_COLORBAR_ROOM = 1.15  # gap, bar, tick labels and label of a vertical colour bar


def _text_width(fig: Figure, texts: Sequence[str], size: float = 10.0) -> float:
    """Width in inches of the widest line among ``texts`` at ``size`` points."""
    from matplotlib.font_manager import FontProperties

    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    prop = FontProperties(family=_STYLE["font.family"], size=size)
    widest = 0.0
    for text in texts:
        for line in str(text).split("\n"):
            if line:
                width, _, _ = renderer.get_text_width_height_descent(line, prop, ismath=False)
                widest = max(widest, width)
    return widest / fig.dpi


def _tick_labels(axis: Any) -> list[str]:
    """The labels a matplotlib Axis will draw for its major ticks inside the view."""
    locs = list(axis.get_majorticklocs())
    labels = axis.get_major_formatter().format_ticks(locs)
    lo, hi = sorted(axis.get_view_interval())
    tolerance = 1e-9 * ((hi - lo) or 1.0)
    return [
        str(t) for v, t in zip(locs, labels, strict=True) if lo - tolerance <= v <= hi + tolerance
    ]


def _lines(text: str) -> int:
    return text.count("\n") + 1 if text else 0


def _decorations(ax: Axes) -> tuple[float, float, float]:
    """Room ``(left, bottom, top)`` in inches that the labels and title of ``ax`` need."""
    if not ax.get_visible() or not ax.axison:
        return 0.0, 0.0, 0.0
    fig = _root(ax)
    left = bottom = 0.0
    if ax.yaxis.get_tick_params().get("labelleft", True):
        labels = _tick_labels(ax.yaxis)
        if labels:
            left += _text_width(fig, labels) + _TICK
    ylabel = ax.get_ylabel()
    if ylabel:
        left += _lines(ylabel) * _LINE + 0.06
    if ax.xaxis.get_tick_params().get("labelbottom", True):
        labels = _tick_labels(ax.xaxis)
        if labels:
            bottom += max(_lines(t) for t in labels) * _LINE + _TICK
    xlabel = ax.get_xlabel()
    if xlabel:
        bottom += _lines(xlabel) * _LINE + 0.06
    title = ax.get_title("left") or ax.get_title()
    top = _lines(title) * _TITLE_LINE + 0.1 if title else 0.0
    return left, bottom, top


def _arrange(
    fig: Figure,
    grid: Sequence[Sequence[Axes | None]],
    *,
    heights: float | Sequence[float],
    width: float | None = None,
    axes_width: float | None = None,
    top: float = 0.0,
    right: float = 0.2,
    hgap: float = 0.25,
    vgap: float = 0.12,
    colorbar: tuple[Any, str] | None = None,
) -> None:
    """Size ``fig`` and place the Axes of ``grid`` (rows of Axes or None) with room for labels.

    Either the figure ``width`` or the ``axes_width`` is given; ``heights`` are the Axes
    heights of each row; ``top`` is room for a figure title. With ``colorbar=(mappable,
    label)`` a vertical colour bar spans the rows on the right.
    """
    nrows, ncols = len(grid), len(grid[0])
    rows_h = [float(heights)] * nrows if isinstance(heights, (int, float)) else list(heights)
    room = {
        (r, c): _decorations(ax)
        for r, row in enumerate(grid)
        for c, ax in enumerate(row)
        if ax is not None
    }
    lefts = [
        max((room[r, c][0] for r in range(nrows) if (r, c) in room), default=0.0)
        for c in range(ncols)
    ]
    bottoms = [
        max((room[r, c][1] for c in range(ncols) if (r, c) in room), default=0.0)
        for r in range(nrows)
    ]
    tops = [
        max((room[r, c][2] for c in range(ncols) if (r, c) in room), default=0.0)
        for r in range(nrows)
    ]
    extra = right + (_COLORBAR_ROOM if colorbar else 0.0) + 2 * _EDGE + hgap * (ncols - 1)
    if axes_width is None:
        assert width is not None
        axes_width = max((width - sum(lefts) - extra) / ncols, 0.5)
    else:
        width = sum(lefts) + extra + ncols * axes_width
    height = top + sum(tops) + sum(rows_h) + sum(bottoms) + vgap * (nrows - 1) + 2 * _EDGE
    fig.set_size_inches(width, height)
    y = height - _EDGE - top
    first_top = last_bottom = y
    for r, row in enumerate(grid):
        y -= tops[r] + rows_h[r]
        x = _EDGE
        for c, ax in enumerate(row):
            x += lefts[c]
            if ax is not None:
                ax.set_position((x / width, y / height, axes_width / width, rows_h[r] / height))
            x += axes_width + hgap
        if r == 0:
            first_top = y + rows_h[r]
        last_bottom = y
        y -= bottoms[r] + vgap
    if colorbar is not None:
        mappable, label = colorbar
        x = width - _EDGE - right - _COLORBAR_ROOM + 0.25
        cax = fig.add_axes(
            (x / width, last_bottom / height, 0.16 / width, (first_top - last_bottom) / height)
        )
        fig.colorbar(mappable, cax=cax, label=label)


def _suptitle(fig: Figure, text: str) -> None:
    """A bold figure title at the top left (after :func:`_arrange` has sized the figure)."""
    width, height = fig.get_size_inches()
    fig.text(
        _EDGE / width,
        1 - _EDGE / height,
        text,
        ha="left",
        va="top",
        fontsize=11,
        fontweight="bold",
    )


def _finish(
    fig: Figure, ax: Axes, *, width: float, height: float, colorbar: Any = None, right: float = 0.2
) -> None:
    """Lay out a one-Axes figure: ``width`` and Axes ``height`` in inches."""
    _arrange(fig, [[ax]], heights=height, width=width, colorbar=colorbar, right=right)


def _plain_text(text: str) -> str:
    """Escape ``$`` so matplotlib does not read a name such as ``$100+ buyers`` as math."""
    return text.replace("$", r"\$")


def _wrap(text: str, width: int = 22) -> str:
    """Wrap a name or label for a tick or legend, with ``$`` escaped."""
    return _plain_text("\n".join(textwrap.wrap(text, width=width, break_long_words=True)) or text)


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

    def apply_ticks(self, axis: Any, slots: int = 7) -> None:
        """Put ticks in data units on a matplotlib ``Axis`` (``ax.xaxis`` or ``ax.yaxis``).

        On a log axis ticks are kept at least 1/``slots`` of the axis apart.
        """
        from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

        if not self.log:
            axis.set_major_locator(MaxNLocator(nbins=min(6, slots), integer=self.integer))
            if max(abs(self.lo), abs(self.hi)) >= 10_000:
                axis.set_major_formatter(FuncFormatter(lambda v, _p: _compact(v)))
            return
        ticks = _thin_ticks(_log_ticks(self.lo, self.hi), self.forward, slots)
        axis.set_major_locator(FixedLocator(self.forward(np.array(ticks)).tolist()))
        labels = [_compact(t) for t in ticks]
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


def _kde(values: np.ndarray, grid: np.ndarray, bandwidth: float, n_bins: int = 512) -> np.ndarray:
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
            raise KeyError(
                f"features {missing} are not columns of the data; columns are {list(data.columns)}"
            )
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
        return {
            int(s): colors.get(int(s), PALETTE[i % len(PALETTE)]) for i, s in enumerate(segments)
        }
    return {int(s): PALETTE[i % len(PALETTE)] for i, s in enumerate(segments)}


def _segment_counts(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segments present and their sizes; a bincount (one pass) for the usual small numbers."""
    if labels.size and labels.min() >= 0 and labels.max() < 100_000:
        counts = np.bincount(labels)
        present = np.flatnonzero(counts)
        return present, counts[present]
    return np.unique(labels, return_counts=True)


def _segment_values(labels: np.ndarray) -> list[int]:
    return [int(s) for s in _segment_counts(labels)[0]]


def _sample_index(labels: np.ndarray, max_points: int, seed: int) -> np.ndarray:
    """Seeded sample of row positions, stratified by segment: about ``max_points`` rows.

    Each segment keeps its share of the sample, but at least 300 rows (or all it has), so
    small segments stay visible. Rows are kept independently with their segment's
    probability (one pass over the rows). Returns all positions when there are at most
    ``max_points`` rows.
    """
    n = labels.size
    if n <= max_points:
        return np.arange(n)
    segments, counts = _segment_counts(labels)
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
    cols = _features(data, features)
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
    corr = correlation_matrix(data, method=method, features=cols).to_numpy()
    ax, own = _own_axes(ax)
    ax.grid(False)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    masked = np.ma.masked_invalid(corr)
    import matplotlib

    cmap = matplotlib.colormaps["RdBu_r"].with_extremes(bad="#DDDDDD")
    image = ax.imshow(masked, cmap=cmap, vmin=-1, vmax=1, aspect="equal")
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
    label = "-1 opposite · 0 none · +1 together"
    if own:
        size = min(4.0, 1.0 + 0.8 * len(cols))
        _arrange(
            _root(ax),
            [[ax]],
            heights=size,
            axes_width=size,
            colorbar=(image, label) if colorbar else None,
        )
    elif colorbar:
        ax.figure.colorbar(image, ax=ax, shrink=0.8, label=label)
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
    fig = _figure()
    left, right = fig.subplots(1, 2)
    correlation_heatmap(data, method="pearson", features=cols, colorbar=False, ax=left)
    correlation_heatmap(data, method="spearman", features=cols, colorbar=False, ax=right)
    side = min(3.6, 1.0 + 0.8 * len(cols))
    _arrange(
        fig,
        [[left, right]],
        heights=side,
        axes_width=side,
        hgap=0.5,
        colorbar=(left.images[0], "-1 opposite · 0 none · +1 together"),
    )
    return fig


# --------------------------------------------------------------------------- KMeans choice


def _sweep_frame(sweep: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(sweep)
    return frame.sort_values("k").reset_index(drop=True)


def _mark_chosen(ax: Axes, x: float, y: float, label: str) -> Any:
    """Circle the chosen point; return the legend handle that explains the circle."""
    from matplotlib.lines import Line2D

    ax.scatter([x], [y], s=170, facecolor="none", edgecolor=_ACCENT, linewidth=2.2, zorder=5)
    return Line2D(
        [],
        [],
        marker="o",
        markersize=11,
        markerfacecolor="none",
        markeredgecolor=_ACCENT,
        markeredgewidth=2.2,
        linestyle="",
        label=label,
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
    ax, own = _own_axes(ax)
    ax.plot(frame["k"], frame["wcss"], marker="o", color=_INK, linewidth=1.8, markersize=5)
    handles = []
    if knee is not None:
        handles.append(
            ax.axvline(
                knee, color=_MUTED, linestyle=":", linewidth=1.5, label=f"knee (bend) at k={knee}"
            )
        )
    if k is not None and (frame["k"] == k).any():
        y = float(frame.loc[frame["k"] == k, "wcss"].iloc[0])
        handles.append(_mark_chosen(ax, k, y, f"chosen: {k} segments"))
    if handles:
        ax.legend(handles=handles, loc="upper right")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_xlabel("Number of segments (k)")
    ax.set_ylabel("Spread within segments (WCSS)\nlower = tighter segments")
    ax.set_title("Elbow: where adding segments stops paying off")
    if own:
        _finish(_root(ax), ax, width=5.2, height=3.0)
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
    ax, own = _own_axes(ax)
    ax.plot(
        frame["k"],
        frame["silhouette"].astype(float),
        marker="o",
        color="#0173B2",
        linewidth=1.8,
        markersize=5,
    )
    if k is not None and (frame["k"] == k).any():
        y = float(frame.loc[frame["k"] == k, "silhouette"].iloc[0])
        ax.legend(handles=[_mark_chosen(ax, k, y, f"chosen: {k} segments")], loc="best")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Number of segments (k)")
    ax.set_ylabel("Silhouette\nhigher = better separated")
    ax.set_title("Separation: how distinct the segments are")
    if own:
        _finish(_root(ax), ax, width=5.2, height=3.0)
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
    fig = _figure()
    left, right = fig.subplots(1, 2)
    wcss_curve(sweep, knee=knee, k=k, ax=left)
    silhouette_curve(sweep, k=k, ax=right)
    _arrange(fig, [[left, right]], heights=3.0, width=10.0, hgap=0.35)
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
        Draw the legend of covariance types (the chosen model is explained either way).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    frame = pd.DataFrame(grid)
    ax, own = _own_axes(ax)
    order = [c for c in _COVARIANCE_STYLE if c in set(frame["covariance_type"])]
    order += sorted(set(frame["covariance_type"]) - set(order))
    for i, cov in enumerate(order):
        rows = frame[frame["covariance_type"] == cov].sort_values("n_components")
        color, marker, style = _COVARIANCE_STYLE.get(cov, (PALETTE[i % len(PALETTE)], "o", "-"))
        ax.plot(
            rows["n_components"],
            rows[criterion].astype(float),
            color=color,
            marker=marker,
            linestyle=style,
            linewidth=1.6,
            markersize=4.5,
            label=_COVARIANCE_WORDS.get(cov, cov),
        )
    handles, _ = ax.get_legend_handles_labels()
    if chosen is not None:
        n, cov = chosen
        hit = frame[(frame["n_components"] == n) & (frame["covariance_type"] == cov)]
        if len(hit):
            by = f" by {chosen_by.upper()}" if chosen_by else ""
            mark = _mark_chosen(
                ax, n, float(hit[criterion].iloc[0]), f"chosen{by}: {n} components, {cov}"
            )
            handles = [*handles, mark] if legend else [mark]
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(_thousands))
    ax.set_xlabel("Number of mixture components")
    name = criterion.upper()
    ax.set_ylabel(f"{name} (lower = better fit\nfor its complexity)")
    ax.set_title(f"{name} by number of components")
    if handles:
        ax.legend(
            handles=handles,
            title="Shape of components" if legend else None,
            title_fontsize=9,
            loc="upper right",
        )
    if own:
        _finish(_root(ax), ax, width=5.2, height=3.2)
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
    fig = _figure()
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
    _arrange(fig, [[left, right]], heights=3.2, width=10.0, hgap=0.35)
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
    counts = _segment_counts(labels)[1]
    names_ = _names(data, method, segments, names)
    colors_ = _colors(segments, colors)
    ax, own = _own_axes(ax)
    positions = np.arange(len(segments))
    ax.barh(positions, counts, color=[colors_[s] for s in segments], height=0.7, edgecolor="none")
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
    if own:
        _finish(_root(ax), ax, width=7.0, height=0.3 + 0.42 * len(segments))
    return ax


@_styled
def feature_violin(
    data: pd.DataFrame,
    feature: str,
    *,
    method: Method = "kmeans",
    names: Mapping[int, str] | None = None,
    colors: Mapping[int, str] | None = None,
    max_points: int = VIOLIN_MAX_POINTS,
    seed: int = 0,
    ticks: int = 7,
    ax: Axes | None = None,
) -> Axes:
    """Horizontal violins of one feature, one per segment, with median and quartiles.

    The density is a Gaussian kernel estimate on binned values, extended by two bandwidths
    beyond each segment's extremes but never beyond the feature's range. Above ``max_points``
    customers the violins and quartiles come from a seeded sample, stratified by segment.
    Skewed counts are drawn on a log1p axis labelled in counts.

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
    max_points : int, default=VIOLIN_MAX_POINTS
        Largest number of customers the densities are estimated from.
    seed : int, default=0
        Seed of the sample.
    ticks : int, default=7
        About how many tick labels fit along the x axis.
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
    bounds = scale.forward(np.array([np.nanmin(raw), np.nanmax(raw)])) if raw.size else [0, 1]
    feature_lo, feature_hi = float(bounds[0]), float(bounds[1])
    span = feature_hi - feature_lo
    index = _sample_index(labels, max_points, seed)
    labels = labels[index]
    values = scale.forward(raw[index])
    finite = np.isfinite(values)
    ax, own = _own_axes(ax)
    for position, segment in enumerate(segments):
        v = values[(labels == segment) & finite]
        if v.size == 0:
            continue
        color = colors_[segment]
        lo, hi = float(v.min()), float(v.max())
        q1, median, q3 = np.percentile(v, [25, 50, 75])
        if hi - lo > 1e-9:
            bandwidth = _bandwidth(v, span or 1.0)
            grid = np.linspace(
                max(lo - 2 * bandwidth, feature_lo), min(hi + 2 * bandwidth, feature_hi), 160
            )
            density = _kde(v, grid, bandwidth)
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
    scale.apply_ticks(ax.xaxis, slots=ticks)
    ax.set_yticks(range(len(segments)), [_wrap(segment_label(s, names_[s]), 24) for s in segments])
    ax.set_ylim(len(segments) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    axis_note = " (log scale)" if scale.log else ""
    ax.set_xlabel(feature_label(feature) + axis_note)
    ax.set_title(feature_label(feature))
    if own:
        _finish(_root(ax), ax, width=6.0, height=0.2 + 0.55 * len(segments))
    return ax


@_styled
def segment_violins(
    data: pd.DataFrame,
    *,
    method: Method = "kmeans",
    features: Sequence[str] | None = None,
    names: Mapping[int, str] | None = None,
    colors: Mapping[int, str] | None = None,
    max_points: int = VIOLIN_MAX_POINTS,
    seed: int = 0,
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
    max_points : int, default=VIOLIN_MAX_POINTS
        Largest number of customers the densities are estimated from (seeded sample).
    seed : int, default=0
        Seed of the sample.

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
    fig = _figure()
    axes = np.atleast_1d(fig.subplots(nrows, ncols, sharey=True, squeeze=False)).ravel()
    for i, (ax, feature) in enumerate(zip(axes, cols, strict=False)):
        feature_violin(
            data,
            feature,
            method=method,
            names=names,
            colors=colors,
            max_points=max_points,
            seed=seed,
            ticks=7 if ncols < 3 else 5,
            ax=ax,
        )
        if i % ncols:
            ax.tick_params(labelleft=False)  # the y axis is shared: only hide the labels
    for ax in axes[len(cols) :]:
        ax.set_visible(False)
    grid = [list(axes[r * ncols : (r + 1) * ncols]) for r in range(nrows)]
    grid = [[ax if ax.get_visible() else None for ax in row] for row in grid]
    _arrange(fig, grid, heights=0.2 + 0.5 * n_segments, width=10.0, top=0.35, vgap=0.2)
    _suptitle(
        fig,
        f"Each feature by {METHOD_LABELS[method]} segment "
        "(white dot: median; black bar: middle half of customers)",
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
    Small segments are drawn on top. On the diagonal: each segment's density of the feature
    (from the same sample). The axes span every customer's values.

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
        A ``p x p`` grid of Axes for ``p`` features; the upper triangle is hidden, its first
        cell holds the legend.
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
    scales: dict[str, _Scale] = {}
    sampled: dict[str, np.ndarray] = {}  # transformed values of the sample
    drawn: dict[str, np.ndarray] = {}  # the same, jittered
    limits: dict[str, tuple[float, float]] = {}  # transformed range of every customer
    for c in cols:
        column = np.asarray(data[c], dtype=float)
        scales[c] = scale = _scale_for(column)
        finite = column[np.isfinite(column)]
        bounds = scale.forward(np.array([finite.min(), finite.max()])) if finite.size else [0, 1]
        limits[c] = (float(bounds[0]), float(bounds[1]))
        raw = column[index]
        sampled[c] = scale.forward(raw)
        if scale.integer:
            raw = raw + rng.uniform(-0.35, 0.35, size=raw.size)
        drawn[c] = scale.forward(raw)

    p = len(cols)
    fig = _figure()
    axes = np.atleast_2d(fig.subplots(p, p, squeeze=False))
    order = sorted(segments, key=lambda s: -sizes[s])  # big first, small on top
    slots = 7 if p <= 2 else 5
    marker_size = 6.0 if index.size <= 5_000 else 3.0
    for row in range(p):
        for col in range(p):
            ax = axes[row, col]
            if col > row:
                ax.set_visible(False)
                continue
            x_feature, y_feature = cols[col], cols[row]
            x_values = sampled[x_feature]
            x_lo, x_hi = limits[x_feature]
            pad = 0.04 * (x_hi - x_lo or 1.0) + (0.35 if scales[x_feature].integer else 0)
            if row == col:
                grid = np.linspace(x_lo, x_hi, 200)
                span = x_hi - x_lo or 1.0
                for s in segments:
                    v = x_values[(labels == s) & np.isfinite(x_values)]
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
                        drawn[x_feature][mask],
                        drawn[y_feature][mask],
                        s=marker_size,
                        color=colors_[s],
                        alpha=0.45 if index.size > 5_000 else 0.6,
                        linewidths=0,
                        rasterized=True,
                    )
                scales[y_feature].apply_ticks(ax.yaxis, slots=slots)
                y_lo, y_hi = limits[y_feature]
                y_pad = 0.04 * (y_hi - y_lo or 1.0) + (0.35 if scales[y_feature].integer else 0)
                ax.set_ylim(y_lo - y_pad, y_hi + y_pad)
            scales[x_feature].apply_ticks(ax.xaxis, slots=slots)
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
            [],
            [],
            marker="o",
            linestyle="",
            markersize=8,
            color=colors_[s],
            label=_wrap(f"{segment_label(s, names_[s])} ({sizes[s]:,})", 40),
        )
        for s in segments
    ]
    shown = (
        f"a random sample of {index.size:,} of {labels_all.size:,}"
        if index.size < labels_all.size
        else f"all {labels_all.size:,}"
    )
    title = f"Customers by {METHOD_LABELS[method]} segment ({shown} customers)"
    if p > 1:
        legend_ax = axes[0, 1]
        legend_ax.set_visible(True)
        legend_ax.axis("off")
        legend_ax.legend(
            handles=handles,
            loc="upper left",
            title=f"{METHOD_LABELS[method]} segment",
            title_fontsize=10,
            fontsize=9.5,
            borderaxespad=0,
        )
    else:
        axes[0, 0].legend(handles=handles, loc="upper right")
    panel = 3.4 if p <= 2 else max(1.45, 8.6 / p)
    cells: list[list[Axes | None]] = [
        [axes[r, c] if c <= r else None for c in range(p)] for r in range(p)
    ]
    if p > 1:
        cells[0][1] = axes[0, 1]
    _arrange(fig, cells, heights=panel, axes_width=panel, top=0.35, hgap=0.12, vgap=0.12)
    _suptitle(fig, title)
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
    ax, own = _own_axes(ax)
    ax.grid(False)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            count = int(counts[i, j])
            if count == 0:
                ax.text(j, i, _DASH, ha="center", va="center", color=_MUTED, fontsize=9)
                continue
            color = "white" if share[i, j] > 0.55 else _INK
            shown = f"{count:,}" if count < 100_000 else _compact(count)
            ax.text(
                j,
                i,
                f"{share[i, j]:.0%}\n{shown}",
                ha="center",
                va="center",
                color=color,
                fontsize=9,
            )
    ax.set_yticks(range(len(rows)), [_wrap(segment_label(s, km_names[s]), 24) for s in rows])
    ax.set_xticks(range(len(cols)), [_wrap(segment_label(s, gm_names[s]), 16) for s in cols])
    ax.tick_params(length=0)
    ax.set_ylabel("KMeans segment")
    ax.set_xlabel("Gaussian mixture component")
    ax.set_title("Where each KMeans segment's customers land in the mixture")
    label = "Share of the KMeans segment"
    if own:
        _arrange(
            _root(ax),
            [[ax]],
            heights=0.62 * len(rows),
            axes_width=min(7.0, max(3.5, 1.3 * len(cols))),
            colorbar=(image, label),
        )
    else:
        ax.figure.colorbar(image, ax=ax, shrink=0.9, label=label)
    return ax


# --------------------------------------------------------------------------- output


@_styled
def figure_to_png(fig: Figure, *, dpi: int = DPI) -> bytes:
    """Render a figure as a compact PNG, byte-identical for the same figure.

    The figure is drawn by Agg on white, reduced to a 256-colour palette (these plots have
    few colours; the files are about three times smaller and faster to write) and saved with
    no metadata at all: no software name, no date.

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
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    original_canvas, original_dpi = fig.canvas, fig.dpi
    canvas = (
        original_canvas if isinstance(original_canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    )
    try:
        if dpi != original_dpi:
            fig.set_dpi(dpi)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        rgb = rgba[..., :3].astype(np.float32)
        alpha = rgba[..., 3:].astype(np.float32) / 255.0
        if np.any(alpha < 1.0):  # flatten transparency onto white
            rgb = rgb * alpha + 255.0 * (1.0 - alpha)
        image = Image.fromarray(np.ascontiguousarray(np.rint(rgb).astype(np.uint8)), "RGB")
    finally:
        if dpi != original_dpi:
            fig.set_dpi(original_dpi)
        if canvas is not original_canvas:
            fig.set_canvas(original_canvas)
    palette = image.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    palette.save(buffer, format="png", optimize=False)
    return buffer.getvalue()
