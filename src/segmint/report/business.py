"""The business half of the report summary: segments by value, actions, data quality.

:func:`business_summary` reads the parts of ``metrics.json`` and ``profiles.csv`` that
:func:`segmint.pipeline.run` writes from the customer descriptors, and returns plain values
and sentences for the first sections of the page. Runs written before descriptors existed
give ``None``, and the report then shows only its technical sections.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from segmint.cluster.value import MEDIAN_COLUMNS

__all__ = ["business_summary", "money", "plain_warnings"]

_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥"}


def money(value: Any, currency: str | None = None) -> str:
    """``1234.5 -> '£1,234.50'`` with ``currency="GBP"``, ``'1,234.50'`` without one."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "\N{EN DASH}"
    if not math.isfinite(number):
        return "\N{EN DASH}"
    text = f"{abs(number):,.2f}" if abs(number) < 1e5 else f"{abs(number):,.0f}"
    sign = "-" if number < 0 else ""
    if not currency:
        return sign + text
    symbol = _SYMBOLS.get(currency.upper(), currency)
    if len(symbol) == 1:
        return f"{sign}{symbol}{text}"
    return f"{sign}{text} {symbol}"


def _float(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def plain_warnings(metrics: Mapping[str, Any], kmeans_unstable: list[str]) -> list[str]:
    """Warnings in plain words for the top of the page; the technical text stays below."""
    out: list[str] = []
    stability = metrics.get("stability") or {}
    km = _float((stability.get("kmeans") or {}).get("mean_ari"))
    gm = _float((stability.get("gmm") or {}).get("mean_ari"))
    if gm is not None and gm < 0.75 and (km is None or km >= gm):
        out.append(
            "The mixture's groups do not come back when customers are resampled: "
            "use the KMeans segments."
        )
    if km is not None and km < 0.75:
        out.append(
            "The KMeans segments change when customers are resampled: treat the borders "
            "between them as rough."
        )
    if kmeans_unstable:
        out.append(
            "Some segments are not stable (" + "; ".join(kmeans_unstable) + "): do not build "
            "a campaign on them alone."
        )
    if (metrics.get("warnings") or []) and not out:
        out.append("The model selection has caveats: see the technical section.")
    return out


def _exact_amounts(actions: Sequence[Mapping[str, Any]], row: Any) -> list[dict[str, Any]]:
    """The actions, their money at stake read from ``profiles.csv`` (to the cent), not from the
    6-significant-digit copy in metrics.json, so the figures match the segment table."""
    out = []
    for action in actions:
        exact = _float(row.get(str(action.get("at_stake")))) if len(row) else None
        out.append({**action, "amount": action.get("amount") if exact is None else exact})
    return out


def business_summary(
    metrics: Mapping[str, Any],
    profiles: pd.DataFrame,
    colors: Mapping[int, str],
    labels: Mapping[int, str],
) -> dict[str, Any] | None:
    """Segments by value with their definitions and actions; data quality; the period.

    Returns
    -------
    dict or None
        ``{"currency", "segments": [...], "total", "headline": [str], "quality",
        "monthly": bool}``; None for a run without descriptors.
    """
    details = metrics.get("segments") or {}
    if not isinstance(details, Mapping) or "kmeans" not in details:
        return None
    currency = (metrics.get("parameters") or {}).get("currency")
    rows = profiles[profiles["method"].astype(str) == "kmeans"].set_index("segment")
    segments = []
    for item in details["kmeans"]:
        seg = int(item["segment"])
        row = rows.loc[seg] if seg in rows.index else pd.Series(dtype=object)
        top = [
            {"customer": c.rsplit(" ", 1)[0], "spend": _float(c.rsplit(" ", 1)[1])}
            for c in str(row.get("top_customers") or "").split("; ")
            if " " in c
        ]
        segments.append(
            {
                "segment": seg,
                "name": str(item["name"]),
                "label": labels.get(seg, f"{seg}: {item['name']}"),
                "color": colors.get(seg, "#999999"),
                "phrases": list(item.get("phrases") or []),
                "actions": _exact_amounts(item.get("actions") or [], row),
                "customers": int(row.get("size", 0) or 0),
                "customer_share": _float(row.get("share")),
                "turnover": _float(row.get("turnover")),
                "turnover_share": _float(row.get("turnover_share")),
                "cancelled_value": _float(row.get("cancelled_value")),
                "canceller_share": _float(row.get("canceller_share")),
                "cancel_rate": _float(row.get("cancel_rate")),
                "medians": {k: _float(row.get(f"{k}_median")) for k in MEDIAN_COLUMNS},
                "top_countries": str(row.get("top_countries") or ""),
                "top_customers": top,
            }
        )
    turnovers = [float(s["turnover"] or 0.0) for s in segments]  # type: ignore[arg-type]
    total = sum(turnovers)
    order = sorted(range(len(segments)), key=lambda i: (-turnovers[i], i))
    by_value = [segments[i] for i in order]
    headline = []
    if by_value and by_value[0]["turnover"] is not None:
        best = by_value[0]
        headline.append(
            f"“{best['name']}” ({best['customer_share'] or 0:.0%} of customers) bring "
            f"{best['turnover_share'] or 0:.0%} of the turnover, "
            f"{money(best['turnover'], currency)}."
        )
    quality = metrics.get("data_quality")
    return {
        "currency": currency,
        "segments": segments,
        "by_value": [s["segment"] for s in by_value],
        "total": total,
        "headline": headline,
        "quality": quality if isinstance(quality, Mapping) else None,
        "monthly": bool((metrics.get("monthly") or {}).get("kmeans")),
    }
