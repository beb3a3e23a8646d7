"""The page of ``segmint track``: segments over time, who moved where, in one HTML file.

:func:`render_timeline` turns a plain dict (built by :mod:`segmint.track`) into
``timeline.html``: segment sizes at every period end, a flow chart of the largest movements
between the last two period ends, and the customers who left the most valuable segment with
the spend they took. The CSS is the run report's (read from its template), the figures are
inlined PNGs (:func:`segmint.report.html.render_html`'s way), and it returns bytes; it writes
nothing.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from segmint.report.html import _count, _num, _pct, png_size
from segmint.report.style import INK, MUTED, PALETTE, segment_label, styled

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["TIMELINE_FILE", "render_timeline"]

#: The page's file name in a track folder.
TIMELINE_FILE = "timeline.html"

_STATE_COLORS = {"new": "#2E8B57", "lapsed": "#9E9E9E"}


def _color(state: str) -> str:
    return _STATE_COLORS.get(state) or PALETTE[int(state) % len(PALETTE)]


def _label(state: str, name: str) -> str:
    return name if state in _STATE_COLORS else segment_label(int(state), name)


@styled
def sizes_figure(timeline: Sequence[Mapping[str, Any]]) -> Figure:
    """Customers of each segment at every period end (one line per segment)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2))
    ax = fig.add_subplot()
    ends = sorted({str(r["period_end"]) for r in timeline})
    segments = sorted(
        {(str(r["segment"]), str(r["name"])) for r in timeline if r["segment"] != "all"},
        key=lambda s: int(s[0]),
    )
    for seg, name in segments:
        by_end = {str(r["period_end"]): r["customers"] for r in timeline if r["segment"] == seg}
        ax.plot(
            range(len(ends)),
            [by_end.get(e, 0) for e in ends],
            marker="o",
            color=_color(seg),
            label=_label(seg, name),
        )
    ax.set_xticks(range(len(ends)), ends)
    ax.set_ylabel("customers in the window")
    ax.set_ylim(bottom=0)
    ax.set_title("Segment sizes at each period end")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


@styled
def flow_figure(pairs: Sequence[Mapping[str, Any]], p0: str, p1: str, top: int = 12) -> Figure:
    """The largest movements between two period ends, as bands from left to right.

    Customers who stayed in their segment are drawn too (faint), so the columns add up to the
    customers of each side; the ``top`` largest movements between different states are drawn
    strong and labelled.
    """
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 5.6))
    ax = fig.add_subplot()
    ax.axis("off")
    order = {"new": 1000, "lapsed": 1001}

    def key(state: str) -> int:
        return order.get(state, int(state) if state.isdigit() else 999)

    left = sorted({str(r["from_segment"]) for r in pairs}, key=key)
    right = sorted({str(r["to_segment"]) for r in pairs}, key=key)
    lnames = {str(r["from_segment"]): str(r["from_name"]) for r in pairs}
    rnames = {str(r["to_segment"]): str(r["to_name"]) for r in pairs}
    total = float(sum(r["customers"] for r in pairs)) or 1.0
    gap = 0.02

    def stack(states: list[str], side: str) -> dict[str, list[float]]:
        pos, y = {}, 1.0
        for s in states:
            n = sum(r["customers"] for r in pairs if str(r[side]) == s) / total
            h = n * (1 - gap * (len(states) - 1))
            pos[s] = [y - h, y]  # [bottom, top], filled from the top down
            y -= h + gap
        return pos

    lpos, rpos = stack(left, "from_segment"), stack(right, "to_segment")
    lcur = {s: v[1] for s, v in lpos.items()}
    rcur = {s: v[1] for s, v in rpos.items()}
    moves = sorted(
        (r for r in pairs if r["from_segment"] != r["to_segment"]),
        key=lambda r: -r["customers"],
    )[:top]
    strong = {(str(r["from_segment"]), str(r["to_segment"])) for r in moves}
    t = np.linspace(0, 1, 50)
    smooth = 3 * t**2 - 2 * t**3
    for r in sorted(pairs, key=lambda r: (key(str(r["from_segment"])), key(str(r["to_segment"])))):
        a, b = str(r["from_segment"]), str(r["to_segment"])
        h_l = r["customers"] / total * (1 - gap * (len(left) - 1))
        h_r = r["customers"] / total * (1 - gap * (len(right) - 1))
        y0_top, y1_top = lcur[a], rcur[b]
        lcur[a] -= h_l
        rcur[b] -= h_r
        top_y = y0_top + (y1_top - y0_top) * smooth
        bot_y = (y0_top - h_l) + ((y1_top - h_r) - (y0_top - h_l)) * smooth
        is_strong = (a, b) in strong
        ax.fill_between(
            0.1 + 0.8 * t,
            bot_y,
            top_y,
            color=_color(a),
            alpha=0.65 if is_strong else 0.12,
            linewidth=0,
        )
    sides: tuple[tuple[list[str], dict[str, list[float]], float, str], ...] = (
        (left, lpos, 0.1, "right"),
        (right, rpos, 0.9, "left"),
    )
    for states, pos, x, ha in sides:
        names = lnames if ha == "right" else rnames
        for s in states:
            lo, hi = pos[s]
            ax.fill_between([x - 0.012, x + 0.012], lo, hi, color=_color(s), linewidth=0)
            ax.text(
                x + (-0.02 if ha == "right" else 0.02),
                (lo + hi) / 2,
                _label(s, names[s]),
                ha=ha,
                va="center",
                fontsize=9,
                color=INK,
            )
    ax.text(0.1, 1.04, p0, ha="center", color=MUTED, fontsize=10, fontweight="bold")
    ax.text(0.9, 1.04, p1, ha="center", color=MUTED, fontsize=10, fontweight="bold")
    ax.set_xlim(-0.25, 1.25)
    ax.set_ylim(-0.02, 1.08)
    ax.set_title(f"Who moved where, {p0} to {p1} (the largest movements strong)")
    fig.tight_layout()
    return fig


def _style() -> str:
    """The run report's CSS, so that both pages look alike."""
    text = (
        resources.files("segmint.report").joinpath("templates", "report.html.j2").read_text("utf-8")
    )
    match = re.search(r"<style>.*?</style>", text, flags=re.S)
    return match.group(0) if match else ""


def _image(png: bytes) -> dict[str, Any]:
    width, height = png_size(png)
    return {
        "src": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
        "width": width,
        "height": height,
    }


def render_timeline(page: Mapping[str, Any]) -> dict[str, bytes]:
    """The ``track`` page as bytes.

    Parameters
    ----------
    page : mapping
        ``source``, ``window`` (words), ``summary`` (sentences), ``warnings``, ``timeline``
        (rows of ``timeline.csv``), ``pair`` (rows of ``transitions.csv`` for the last two
        period ends, may be empty), ``movers`` (rows: ``customer_id``, ``from_name``,
        ``to_name``, ``net_spend_from``, ``net_spend_to``, ``lost_spend``).

    Returns
    -------
    dict of str to bytes
        ``{"timeline.html": ...}``; the same page gives the same bytes.
    """
    import jinja2

    from segmint.report.plots import figure_to_png

    images = {"sizes": _image(figure_to_png(sizes_figure(page["timeline"])))}
    pair = list(page["pair"])
    if pair:
        p0, p1 = str(pair[0]["period_from"]), str(pair[0]["period_to"])
        images["flow"] = _image(figure_to_png(flow_figure(pair, p0, p1)))
    env = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(count=_count, num=_num, pct=_pct)
    source = resources.files("segmint.report").joinpath("templates", "timeline.html.j2")
    html = env.from_string(source.read_text("utf-8")).render(
        s=page, images=images, style=jinja2.utils.markupsafe.Markup(_style())
    )
    return {TIMELINE_FILE: html.encode("utf-8")}
