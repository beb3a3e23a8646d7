"""How the report looks: palette, segment colours, labels, resolution and matplotlib style.

The constants and names here are shared by the figures (:mod:`segmint.report.plots`,
:mod:`segmint.report.selection`) and by the report's text (:mod:`segmint.report.summarize`),
so a segment has the same colour and the same label everywhere. Importing this module imports
no matplotlib.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Literal, ParamSpec, TypeVar

from segmint.report._mixture import label_of

__all__ = [
    "ACCENT",
    "DPI",
    "FEATURE_LABELS",
    "INK",
    "METHOD_LABELS",
    "MUTED",
    "PAIR_PLOT_MAX_POINTS",
    "PALETTE",
    "RC_PARAMS",
    "VIOLIN_MAX_POINTS",
    "Method",
    "feature_label",
    "method_label",
    "segment_colors",
    "segment_label",
    "styled",
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

#: Display names of the two clustering methods; the mixture's depends on its kind, see
#: :func:`method_label`.
METHOD_LABELS: dict[str, str] = {"kmeans": "KMeans", "gmm": "mixture"}

#: The two clustering methods, as named in the columns of ``segments.csv``.
Method = Literal["kmeans", "gmm"]


def method_label(method: str, mixture: str | None = None, *, start: bool = False) -> str:
    """Display name of a clustering method: ``"KMeans"``, ``"count mixture"``, ...

    Parameters
    ----------
    method : {"kmeans", "gmm"}
        The method, as in the columns of ``segments.csv``.
    mixture : {"count", "gaussian"} or None, default=None
        For ``"gmm"``: the kind of mixture fitted (``metrics["gmm"]["mixture"]``); ``None``
        gives the plain ``"mixture"``.
    start : bool, default=False
        Capitalise the first letter, for the start of a title or sentence.

    Returns
    -------
    str
        ``"KMeans"``; for ``"gmm"`` :func:`segmint.report._mixture.label_of` of ``mixture``.
    """
    label = label_of(mixture) if method == "gmm" else METHOD_LABELS.get(method, method)
    return label[:1].upper() + label[1:] if start else label


#: Text and lines.
INK = "#222222"
#: Secondary text and marks (the knee, empty cells).
MUTED = "#666666"
#: The chosen model, circled.
ACCENT = "#C0392B"

#: matplotlib settings every figure is drawn with (see :func:`styled`).
RC_PARAMS: dict[Any, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": 10,
    "axes.labelcolor": INK,
    "axes.edgecolor": "#999999",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#E6E6E6",
    "grid.linewidth": 0.8,
    "xtick.color": INK,
    "ytick.color": INK,
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


def styled(func: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``func`` inside segmint's matplotlib style, leaving the global rcParams alone."""

    @functools.wraps(func)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        import matplotlib

        with matplotlib.rc_context(RC_PARAMS):
            return func(*args, **kwargs)

    return wrapper


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

    KMeans segment ``i`` gets ``PALETTE[i]``. A mixture component whose name is the
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
