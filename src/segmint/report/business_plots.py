"""Business figures of the report: turnover and active customers per segment over the period.

Drawn in segmint's style and palette (imported from :mod:`segmint.report.plots`), so the
colours are those of the segments everywhere else in the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from segmint.report.style import DPI, RC_PARAMS, segment_label

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["monthly_figure"]


def _money_ticks(value: float, _pos: object = None) -> str:
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:.1f}M"
    if magnitude >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}"


def monthly_figure(
    rows: Sequence[Mapping[str, Any]],
    *,
    names: Mapping[int, str],
    colors: Mapping[int, str],
    currency: str | None = None,
) -> Figure:
    """Monthly turnover (left) and active customers (right), one line per segment.

    Parameters
    ----------
    rows : sequence of mapping
        ``{"segment", "month" ("YYYY-MM"), "turnover", "active_customers"}`` (the
        ``monthly`` part of metrics.json for one method).
    names, colors : mapping of int to str
        Segment names and colours.
    currency : str, optional
        Shown in the turnover axis label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    months = sorted({str(r["month"]) for r in rows})
    with matplotlib.rc_context(RC_PARAMS):
        fig = Figure(figsize=(10.0, 4.2), dpi=DPI, layout="constrained")
        FigureCanvasAgg(fig)
        left, right = fig.subplots(1, 2)
        for segment in sorted(names):
            mine = {str(r["month"]): r for r in rows if int(r["segment"]) == segment}
            x = list(range(len(months)))
            turnover = [float(mine.get(m, {}).get("turnover", 0.0)) for m in months]
            active = [int(mine.get(m, {}).get("active_customers", 0)) for m in months]
            label = segment_label(segment, names[segment])
            style = {"color": colors[segment], "marker": "o", "linewidth": 2}
            left.plot(x, turnover, label=label, **style)
            right.plot(x, active, **style)
        for ax in (left, right):
            ax.set_xticks(range(len(months)), months, rotation=45 if len(months) > 6 else 0)
            ax.set_xlabel("Month")
        unit = f" ({currency})" if currency else ""
        left.set_title("Turnover (net spend) per month")
        left.set_ylabel(f"Turnover{unit}")
        left.yaxis.set_major_formatter(FuncFormatter(_money_ticks))
        left.axhline(0, color="#999999", linewidth=0.8)
        right.set_title("Customers who bought in the month")
        right.set_ylabel("Active customers")
        fig.legend(loc="outside lower center", ncols=2, fontsize=8)
    return fig
