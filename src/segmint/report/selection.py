"""How the number of segments was chosen: KMeans elbow and silhouette, the mixture's BIC/AIC.

Single-panel plots take ``ax=None`` and return the Axes; :func:`kmeans_selection_figure` and
:func:`gmm_selection_figure` put two panels side by side and return the Figure. All are also
available from :mod:`segmint.report.plots`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from segmint.report._layout import arrange, finish, new_figure, own_axes, root_figure
from segmint.report._stats import thousands
from segmint.report.style import ACCENT, INK, MUTED, PALETTE, styled

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "criterion_curves",
    "gmm_selection_figure",
    "kmeans_selection_figure",
    "silhouette_curve",
    "wcss_curve",
]


def _sweep_frame(sweep: pd.DataFrame | Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(sweep)
    return frame.sort_values("k").reset_index(drop=True)


def _mark_chosen(ax: Axes, x: float, y: float, label: str) -> Any:
    """Circle the chosen point; return the legend handle that explains the circle."""
    from matplotlib.lines import Line2D

    ax.scatter([x], [y], s=170, facecolor="none", edgecolor=ACCENT, linewidth=2.2, zorder=5)
    return Line2D(
        [],
        [],
        marker="o",
        markersize=11,
        markerfacecolor="none",
        markeredgecolor=ACCENT,
        markeredgewidth=2.2,
        linestyle="",
        label=label,
    )


@styled
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
    ax, own = own_axes(ax)
    ax.plot(frame["k"], frame["wcss"], marker="o", color=INK, linewidth=1.8, markersize=5)
    handles = []
    if knee is not None:
        handles.append(
            ax.axvline(
                knee, color=MUTED, linestyle=":", linewidth=1.5, label=f"knee (bend) at k={knee}"
            )
        )
    if k is not None and (frame["k"] == k).any():
        y = float(frame.loc[frame["k"] == k, "wcss"].iloc[0])
        handles.append(_mark_chosen(ax, k, y, f"chosen: {k} segments"))
    if handles:
        ax.legend(handles=handles, loc="upper right")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_xlabel("Number of segments (k)")
    ax.set_ylabel("Spread within segments (WCSS)\nlower = tighter segments")
    ax.set_title("Elbow: where adding segments stops paying off")
    if own:
        finish(root_figure(ax), ax, width=5.2, height=3.0)
    return ax


@styled
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
    ax, own = own_axes(ax)
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
        finish(root_figure(ax), ax, width=5.2, height=3.0)
    return ax


@styled
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
    fig = new_figure()
    left, right = fig.subplots(1, 2)
    wcss_curve(sweep, knee=knee, k=k, ax=left)
    silhouette_curve(sweep, k=k, ax=right)
    arrange(fig, [[left, right]], heights=3.0, width=10.0, hgap=0.35)
    return fig


# --------------------------------------------------------------------------- mixture choice

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


@styled
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

    The count mixture's grid has one model per number of components, covariance type
    ``"negative binomial"``: one line, and no legend title about component shapes.

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
        Draw the legend of the lines (the chosen model is explained either way).
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when ``None``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    from matplotlib.ticker import FuncFormatter, MaxNLocator

    frame = pd.DataFrame(grid)
    ax, own = own_axes(ax)
    order = [c for c in _COVARIANCE_STYLE if c in set(frame["covariance_type"])]
    shapes = bool(order)  # Gaussian covariance types, whose legend says they are shapes
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
    ax.yaxis.set_major_formatter(FuncFormatter(thousands))
    ax.set_xlabel("Number of mixture components")
    name = criterion.upper()
    ax.set_ylabel(f"{name} (lower = better fit\nfor its complexity)")
    ax.set_title(f"{name} by number of components")
    if handles:
        ax.legend(
            handles=handles,
            title="Shape of components" if legend and shapes else None,
            title_fontsize=9,
            loc="upper right",
        )
    if own:
        finish(root_figure(ax), ax, width=5.2, height=3.2)
    return ax


@styled
def gmm_selection_figure(
    grid: pd.DataFrame | Sequence[Mapping[str, Any]],
    *,
    n_components: int | None = None,
    covariance_type: str | None = None,
    criterion: str = "bic",
) -> Figure:
    """BIC (left) and AIC (right) curves of the mixture grid, the choice circled.

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
    fig = new_figure()
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
    arrange(fig, [[left, right]], heights=3.2, width=10.0, hgap=0.35)
    return fig


# --------------------------------------------------------------------------- per customer
