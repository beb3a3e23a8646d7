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

The curves of the model choice are drawn in :mod:`segmint.report.selection`, the palette
and labels are set in :mod:`segmint.report.style`; both are re-exported here, so this
module is the one place to find every plot.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from segmint.report._data import (
    colors_of,
    feature_columns,
    names_of,
    present_segments,
    sample_index,
    segment_counts,
    segments_of,
)
from segmint.report._layout import (
    arrange,
    finish,
    new_figure,
    own_axes,
    root_figure,
    suptitle,
    wrap,
)
from segmint.report._stats import (
    Scale,
    compact,
    correlation_matrix,
    kde,
    kde_bandwidth,
    scale_for,
    thousands,
)
from segmint.report.selection import (
    criterion_curves,
    gmm_selection_figure,
    kmeans_selection_figure,
    silhouette_curve,
    wcss_curve,
)
from segmint.report.style import (
    DPI,
    FEATURE_LABELS,
    INK,
    METHOD_LABELS,
    MUTED,
    PAIR_PLOT_MAX_POINTS,
    PALETTE,
    VIOLIN_MAX_POINTS,
    Method,
    feature_label,
    method_label,
    segment_colors,
    segment_label,
    styled,
)

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
    "method_label",
    "pair_plot",
    "segment_colors",
    "segment_label",
    "segment_sizes",
    "segment_violins",
    "silhouette_curve",
    "wcss_curve",
]

_DASH = "\N{EN DASH}"


@styled
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
    cols = feature_columns(data, features)
    corr = correlation_matrix(data, method=method, features=cols).to_numpy()
    ax, own = own_axes(ax)
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
            color = "white" if np.isfinite(value) and abs(value) > 0.6 else INK
            ax.text(j, i, text, ha="center", va="center", color=color, fontsize=10)
    labels = [wrap(feature_label(c), 14) for c in cols]
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
        arrange(
            root_figure(ax),
            [[ax]],
            heights=size,
            axes_width=size,
            colorbar=(image, label) if colorbar else None,
        )
    elif colorbar:
        ax.figure.colorbar(image, ax=ax, shrink=0.8, label=label)
    return ax


@styled
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
    cols = feature_columns(data, features)
    fig = new_figure()
    left, right = fig.subplots(1, 2)
    correlation_heatmap(data, method="pearson", features=cols, colorbar=False, ax=left)
    correlation_heatmap(data, method="spearman", features=cols, colorbar=False, ax=right)
    side = min(3.6, 1.0 + 0.8 * len(cols))
    arrange(
        fig,
        [[left, right]],
        heights=side,
        axes_width=side,
        hgap=0.5,
        colorbar=(left.images[0], "-1 opposite · 0 none · +1 together"),
    )
    return fig


# --------------------------------------------------------------------------- KMeans choice


@styled
def segment_sizes(
    data: pd.DataFrame,
    *,
    method: Method = "kmeans",
    mixture: str | None = None,
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
    mixture : {"count", "gaussian"}, optional
        Kind of mixture fitted (``metrics["gmm"]["mixture"]``), for the titles when
        ``method="gmm"``; see :func:`~segmint.report.style.method_label`.
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

    labels = segments_of(data, method)
    segments = present_segments(labels)
    counts = segment_counts(labels)[1]
    names_ = names_of(data, method, segments, names)
    colors_ = colors_of(segments, colors)
    ax, own = own_axes(ax)
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
            color=INK,
        )
    ax.set_yticks(positions, [wrap(segment_label(s, names_[s]), 30) for s in segments])
    ax.invert_yaxis()
    ax.set_xlim(0, counts.max() * 1.3)
    ax.xaxis.set_major_formatter(FuncFormatter(thousands))
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("Customers")
    ax.set_title(f"Customers per {method_label(method, mixture)} segment")
    if own:
        finish(root_figure(ax), ax, width=7.0, height=0.3 + 0.42 * len(segments))
    return ax


@styled
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
    labels = segments_of(data, method)
    segments = present_segments(labels)
    names_ = names_of(data, method, segments, names)
    colors_ = colors_of(segments, colors)
    raw = np.asarray(data[feature], dtype=float)
    scale = scale_for(raw)
    bounds = scale.forward(np.array([np.nanmin(raw), np.nanmax(raw)])) if raw.size else [0, 1]
    feature_lo, feature_hi = float(bounds[0]), float(bounds[1])
    span = feature_hi - feature_lo
    index = sample_index(labels, max_points, seed)
    labels = labels[index]
    values = scale.forward(raw[index])
    finite = np.isfinite(values)
    ax, own = own_axes(ax)
    for position, segment in enumerate(segments):
        v = values[(labels == segment) & finite]
        if v.size == 0:
            continue
        color = colors_[segment]
        lo, hi = float(v.min()), float(v.max())
        q1, median, q3 = np.percentile(v, [25, 50, 75])
        if hi - lo > 1e-9:
            bandwidth = kde_bandwidth(v, span or 1.0)
            grid = np.linspace(
                max(lo - 2 * bandwidth, feature_lo), min(hi + 2 * bandwidth, feature_hi), 160
            )
            density = kde(v, grid, bandwidth)
            half = 0.42 * density / density.max()
            ax.fill_between(
                grid, position - half, position + half, color=color, alpha=0.55, linewidth=0
            )
            ax.plot(grid, position - half, color=color, linewidth=0.8)
            ax.plot(grid, position + half, color=color, linewidth=0.8)
        else:
            ax.plot([lo, lo], [position - 0.35, position + 0.35], color=color, linewidth=3)
        ax.plot([q1, q3], [position, position], color=INK, linewidth=3.5, solid_capstyle="butt")
        ax.scatter(
            [median], [position], s=28, color="white", edgecolor=INK, linewidth=1.2, zorder=4
        )
    scale.apply_ticks(ax.xaxis, slots=ticks)
    ax.set_yticks(range(len(segments)), [wrap(segment_label(s, names_[s]), 24) for s in segments])
    ax.set_ylim(len(segments) - 0.5, -0.5)
    ax.grid(axis="y", visible=False)
    axis_note = " (log scale)" if scale.log else ""
    ax.set_xlabel(feature_label(feature) + axis_note)
    ax.set_title(feature_label(feature))
    if own:
        finish(root_figure(ax), ax, width=6.0, height=0.2 + 0.55 * len(segments))
    return ax


@styled
def segment_violins(
    data: pd.DataFrame,
    *,
    method: Method = "kmeans",
    mixture: str | None = None,
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
    mixture : {"count", "gaussian"}, optional
        Kind of mixture fitted (``metrics["gmm"]["mixture"]``), for the titles when
        ``method="gmm"``; see :func:`~segmint.report.style.method_label`.
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
    cols = feature_columns(data, features)
    n_segments = len(present_segments(segments_of(data, method)))
    ncols = min(len(cols), 3)
    nrows = math.ceil(len(cols) / ncols)
    fig = new_figure()
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
    arrange(fig, grid, heights=0.2 + 0.5 * n_segments, width=10.0, top=0.35, vgap=0.2)
    suptitle(
        fig,
        f"Each feature by {method_label(method, mixture)} segment "
        "(white dot: median; black bar: middle half of customers)",
    )
    return fig


@styled
def pair_plot(
    data: pd.DataFrame,
    *,
    method: Method = "kmeans",
    mixture: str | None = None,
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
    mixture : {"count", "gaussian"}, optional
        Kind of mixture fitted (``metrics["gmm"]["mixture"]``), for the titles when
        ``method="gmm"``; see :func:`~segmint.report.style.method_label`.
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

    cols = feature_columns(data, features)
    labels_all = segments_of(data, method)
    segments = present_segments(labels_all)
    names_ = names_of(data, method, segments, names)
    colors_ = colors_of(segments, colors)
    sizes = {s: int(np.count_nonzero(labels_all == s)) for s in segments}
    index = sample_index(labels_all, max_points, seed)
    labels = labels_all[index]
    rng = np.random.default_rng(seed + 1)
    scales: dict[str, Scale] = {}
    sampled: dict[str, np.ndarray] = {}  # transformed values of the sample
    drawn: dict[str, np.ndarray] = {}  # the same, jittered
    limits: dict[str, tuple[float, float]] = {}  # transformed range of every customer
    for c in cols:
        column = np.asarray(data[c], dtype=float)
        scales[c] = scale = scale_for(column)
        finite = column[np.isfinite(column)]
        bounds = scale.forward(np.array([finite.min(), finite.max()])) if finite.size else [0, 1]
        limits[c] = (float(bounds[0]), float(bounds[1]))
        raw = column[index]
        sampled[c] = scale.forward(raw)
        if scale.integer:
            raw = raw + rng.uniform(-0.35, 0.35, size=raw.size)
        drawn[c] = scale.forward(raw)

    p = len(cols)
    fig = new_figure()
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
                    density = kde(v, grid, kde_bandwidth(v, span))
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
            ax.set_xlabel(wrap(feature_label(x_feature) + log_x, 44) if row == p - 1 else "")
            ax.set_ylabel(
                wrap(feature_label(y_feature) + log_y, 30) if col == 0 and row != col else ""
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
            label=wrap(f"{segment_label(s, names_[s])} ({sizes[s]:,})", 40),
        )
        for s in segments
    ]
    shown = (
        f"a random sample of {index.size:,} of {labels_all.size:,}"
        if index.size < labels_all.size
        else f"all {labels_all.size:,}"
    )
    title = f"Customers by {method_label(method, mixture)} segment ({shown} customers)"
    if p > 1:
        legend_ax = axes[0, 1]
        legend_ax.set_visible(True)
        legend_ax.axis("off")
        legend_ax.legend(
            handles=handles,
            loc="upper left",
            title=f"{method_label(method, mixture, start=True)} segment",
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
    arrange(fig, cells, heights=panel, axes_width=panel, top=0.35, hgap=0.12, vgap=0.12)
    suptitle(fig, title)
    return fig


@styled
def contingency_heatmap(
    data: pd.DataFrame,
    *,
    kmeans_names: Mapping[int, str] | None = None,
    gmm_names: Mapping[int, str] | None = None,
    mixture: str | None = None,
    ax: Axes | None = None,
) -> Axes:
    """Where each KMeans segment's customers land among the mixture components.

    Each cell shows the share of the KMeans segment (row) in the mixture segment (column),
    and the number of customers; the colour is the share.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per customer with ``kmeans_segment`` and ``gmm_segment``.
    kmeans_names, gmm_names : mapping of int to str, optional
        Segment names; default: the ``kmeans_name`` / ``gmm_name`` columns when present.
    mixture : {"count", "gaussian"}, optional
        Kind of mixture fitted, for the axis label; see :func:`~segmint.report.style.method_label`.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    km = segments_of(data, "kmeans")
    gm = segments_of(data, "gmm")
    rows = present_segments(km)
    cols = present_segments(gm)
    row_pos = np.searchsorted(rows, km)
    col_pos = np.searchsorted(cols, gm)
    counts = np.bincount(row_pos * len(cols) + col_pos, minlength=len(rows) * len(cols))
    counts = counts.reshape(len(rows), len(cols))
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    km_names = names_of(data, "kmeans", rows, kmeans_names)
    gm_names = names_of(data, "gmm", cols, gmm_names)
    ax, own = own_axes(ax)
    ax.grid(False)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(cols)):
            count = int(counts[i, j])
            if count == 0:
                ax.text(j, i, _DASH, ha="center", va="center", color=MUTED, fontsize=9)
                continue
            color = "white" if share[i, j] > 0.55 else INK
            shown = f"{count:,}" if count < 100_000 else compact(count)
            ax.text(
                j,
                i,
                f"{share[i, j]:.0%}\n{shown}",
                ha="center",
                va="center",
                color=color,
                fontsize=9,
            )
    ax.set_yticks(range(len(rows)), [wrap(segment_label(s, km_names[s]), 24) for s in rows])
    ax.set_xticks(range(len(cols)), [wrap(segment_label(s, gm_names[s]), 16) for s in cols])
    ax.tick_params(length=0)
    ax.set_ylabel("KMeans segment")
    ax.set_xlabel(f"{method_label('gmm', mixture, start=True)} segment")
    ax.set_title("Where each KMeans segment's customers land in the mixture")
    label = "Share of the KMeans segment"
    if own:
        arrange(
            root_figure(ax),
            [[ax]],
            heights=0.62 * len(rows),
            axes_width=min(7.0, max(3.5, 1.3 * len(cols))),
            colorbar=(image, label),
        )
    else:
        ax.figure.colorbar(image, ax=ax, shrink=0.9, label=label)
    return ax


# --------------------------------------------------------------------------- output


@styled
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
