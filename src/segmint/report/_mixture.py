"""The mixture's part of the report summary: a plain explanation, the numbers of components the
data cannot tell apart, and the structure check.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["mixture_summary"]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


_MIXTURE_TEXT = {
    "count": (
        "Mixture segments",
        "count mixture",
        "The mixture describes the customers as a blend of a few groups. Within a group, each "
        "count (products, cancelled orders, orders) follows a negative binomial distribution, "
        "the usual model for counts that vary more than chance alone would make them vary, "
        "with an extra share of zeros when that fits better; other features follow a bell "
        "curve on the log scale. Every customer gets a probability of belonging to each group "
        "and is shown in the most probable one. The counts are modelled as the whole numbers "
        "they are, so no random jitter is involved and the same data give the same answer.",
    ),
    "gaussian": (
        "Gaussian mixture segments",
        "Gaussian mixture",
        "A Gaussian mixture is a second, softer view: it describes the customers as a blend of "
        "bell-shaped groups on the log scale that may have different shapes and sizes, and "
        "gives each customer a probability of belonging to each group.",
    ),
}


def mixture_summary(gmm: Mapping[str, Any]) -> dict[str, Any]:
    """Heading, plain explanation, indistinguishable set and structure check of the mixture."""
    kind = str(gmm.get("mixture") or "gaussian")
    heading, short, text = _MIXTURE_TEXT.get(kind, _MIXTURE_TEXT["gaussian"])
    selection: Mapping[str, Any] = gmm.get("selection") or {}
    stab = selection.get("stability") or {}
    rows = {int(r["n_components"]): r for r in selection.get("criterion") or []}
    near = [int(n) for n in selection.get("indistinguishable") or []]
    margins = [_number(r.get("margin")) for r in rows.values()]
    structure: Mapping[str, Any] = gmm.get("structure") or {}
    return {
        "mixture": kind,
        "heading": heading,
        "short_name": short,
        "explanation": text,
        "margin": min([m for m in margins if m is not None], default=10.0),
        "indistinguishable": [
            {
                "n_components": n,
                "delta": _number(rows.get(n, {}).get("delta")),
                "se": _number(rows.get(n, {}).get("se")),
                "mean_ari": _number(stab.get(str(n), stab.get(n))),
                "chosen": n == gmm.get("n_components"),
            }
            for n in near
        ],
        "structure": {
            "flagged": structure.get("verdict") == "no clear structure",
            "verdict": str(structure.get("verdict") or ""),
            "reasons": [str(r) for r in structure.get("reasons") or []],
            "delta_bic": _number(structure.get("delta_bic")),
        }
        if structure
        else {},
    }
