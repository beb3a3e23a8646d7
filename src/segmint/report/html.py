"""Render the report summary and its figures into one self-contained HTML page.

One Jinja template (``templates/report.html.j2``, autoescaped) turns the dict of
:func:`segmint.report.summarize.summarize` and the PNG bytes of the figures into HTML. The
figures are inlined as base64 ``data:`` URIs and the CSS is inline: the page fetches nothing,
so it opens from disk or from an e-mail attachment.
"""

from __future__ import annotations

import base64
import functools
import math
import struct
from collections.abc import Mapping
from importlib import resources
from typing import Any

import jinja2

from segmint.report.style import DPI

__all__ = ["png_size", "render_html"]

_TEMPLATE = "report.html.j2"
_DASH = "\N{EN DASH}"
_TIMES = "\N{MULTIPLICATION SIGN}"
_FULL_WIDTH = 10 * DPI  # pixels of a full-width (10-inch) figure


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels of a PNG, read from its header.

    Parameters
    ----------
    png : bytes
        A PNG file.

    Returns
    -------
    (int, int)
        ``(width, height)``.

    Raises
    ------
    ValueError
        When ``png`` is not a PNG file.
    """
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG file: the figure must be PNG bytes")
    width, height = struct.unpack(">II", png[16:24])
    return int(width), int(height)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def _count(value: Any) -> str:
    """``4372 -> '4,372'``; a missing value -> an en dash."""
    return f"{round(float(value)):,}" if _is_number(value) else _DASH


def _num(value: Any) -> str:
    """A number as people write it, e.g. ``3058.2 -> '3,058'``, ``24.37 -> '24.4'``.

    Below 1 three decimals (``0.48 -> '0.480'``); a missing value reads as an en dash.
    """
    if not _is_number(value):
        return _DASH if value is None else str(value)
    number = float(value)
    magnitude = abs(number)
    if number.is_integer() or magnitude >= 100:
        return f"{number:,.0f}"
    if magnitude >= 10:
        return f"{number:.1f}"
    if magnitude >= 1:
        return f"{number:.2f}"
    return f"{number:.3f}"


def _pct(value: Any, digits: int = 1) -> str:
    """A share as a percentage: ``0.5817 -> '58.2%'``."""
    if not _is_number(value):
        return _DASH
    return f"{100 * float(value):.{digits}f}%"


def _lift(value: Any) -> str:
    """A lift as a multiple of the average customer: ``1.853 -> '1.85x'`` (a times sign)."""
    if not _is_number(value):
        return _DASH
    return f"{float(value):.2f}{_TIMES}"


def _fixed(value: Any, digits: int = 2) -> str:
    if not _is_number(value):
        return _DASH
    return f"{float(value):.{digits}f}"


@functools.lru_cache(maxsize=1)
def _template() -> jinja2.Template:
    """The report template (package data), in an autoescaping, strict environment."""
    env = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    from segmint.report.business import money

    env.filters.update(count=_count, num=_num, pct=_pct, lift=_lift, fixed=_fixed, money=money)
    env.tests["number"] = _is_number
    source = resources.files("segmint.report").joinpath("templates", _TEMPLATE)
    return env.from_string(source.read_text("utf-8"))


def render_html(summary: Mapping[str, Any], figures: Mapping[str, bytes]) -> str:
    """The report page: the summary rendered by the one template, the figures inlined.

    Parameters
    ----------
    summary : mapping
        The dict of :func:`segmint.report.summarize.summarize`.
    figures : mapping of str to bytes
        PNG bytes by figure key (the keys of ``summary["figures"]``); a figure without bytes
        is left out of the page.

    Returns
    -------
    str
        The HTML document. The same arguments give the same string.
    """
    images: dict[str, dict[str, Any]] = {}
    for meta in summary["figures"]:
        png = figures.get(meta["key"])
        if png is None:
            continue
        width, height = png_size(png)
        images[meta["key"]] = {
            **meta,
            "src": "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            "width": width,
            "height": height,
            # one scale for every figure, so text is the same size in all of them
            "percent": round(min(100.0, 100.0 * width / _FULL_WIDTH), 2),
        }
    return _template().render(s=summary, images=images)
