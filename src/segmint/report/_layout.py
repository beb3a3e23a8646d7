"""Laying out the report's figures by hand: text widths, room for labels, axes, titles.

Every figure is a plain :class:`~matplotlib.figure.Figure` on the Agg canvas
(:func:`new_figure`); :func:`arrange` sizes it and places its Axes so that each gets exactly
the room its tick labels, axis labels and title need. Matplotlib is imported lazily.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from segmint.report.style import DPI, RC_PARAMS

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "arrange",
    "finish",
    "new_figure",
    "own_axes",
    "plain_text",
    "root_figure",
    "suptitle",
    "wrap",
]


def root_figure(ax: Axes) -> Figure:
    """The top-level figure of ``ax``."""
    from matplotlib.figure import Figure

    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    return fig


def new_figure(width: float = 10.0, height: float = 4.0) -> Figure:
    """A new figure on the Agg canvas; :func:`arrange` sizes it and places its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig


def own_axes(ax: Axes | None) -> tuple[Axes, bool]:
    """``ax``, or a new Axes on a new figure; the flag says whether we lay the figure out."""
    if ax is not None:
        return ax, False
    return new_figure().add_subplot(), True


# Manual layout. Constrained layout measures every tick label twice per draw and costs about
# as much as the drawing itself; these figures have simple grids, so each Axes gets exactly


_LINE = 10 * 1.22 / 72  # height of a line of 10 pt text, inches
_TITLE_LINE = 11 * 1.22 / 72
_TICK = 7.5 / 72  # tick length plus the gap to its label
_EDGE = 0.08  # blank border around the figure
_COLORBAR_ROOM = 1.15  # gap, bar, tick labels and label of a vertical colour bar


def _text_width(fig: Figure, texts: Sequence[str], size: float = 10.0) -> float:
    """Width in inches of the widest line among ``texts`` at ``size`` points."""
    from matplotlib.font_manager import FontProperties

    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    prop = FontProperties(family=RC_PARAMS["font.family"], size=size)
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
    fig = root_figure(ax)
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


def arrange(
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


def suptitle(fig: Figure, text: str) -> None:
    """A bold figure title at the top left (after :func:`arrange` has sized the figure)."""
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


def finish(
    fig: Figure, ax: Axes, *, width: float, height: float, colorbar: Any = None, right: float = 0.2
) -> None:
    """Lay out a one-Axes figure: ``width`` and Axes ``height`` in inches."""
    arrange(fig, [[ax]], heights=height, width=width, colorbar=colorbar, right=right)


def plain_text(text: str) -> str:
    """Escape ``$`` so matplotlib does not read a name such as ``$100+ buyers`` as math."""
    return text.replace("$", r"\$")


def wrap(text: str, width: int = 22) -> str:
    """Wrap a name or label for a tick or legend, with ``$`` escaped."""
    return plain_text("\n".join(textwrap.wrap(text, width=width, break_long_words=True)) or text)
