"""The mixture's part of the report summary: a plain explanation, the numbers of components the
data cannot tell apart, and the structure check; and what the report calls the mixture.

:data:`_MIXTURE_TEXT` is the one place the words for each kind of mixture (``metrics.json`` ->
``gmm.mixture``: ``"count"`` or ``"gaussian"``) are written: headings, captions, figure titles
and axis labels all take them from :func:`label_of`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["kind_of", "label_of", "mixture_summary"]


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


def kind_of(gmm: Mapping[str, Any]) -> str:
    """The kind of mixture of ``metrics["gmm"]``: ``"count"`` or ``"gaussian"``.

    Runs from before the count mixture have no ``mixture`` key: they fitted Gaussian mixtures.
    """
    kind = str(gmm.get("mixture") or "gaussian")
    return kind if kind in _MIXTURE_TEXT else "gaussian"


def label_of(kind: str | None) -> str:
    """What the report calls a mixture of ``kind``, in running text.

    Parameters
    ----------
    kind : {"count", "gaussian"} or None
        ``metrics["gmm"]["mixture"]`` (see :func:`kind_of`); ``None`` when not known.

    Returns
    -------
    str
        ``"count mixture"``, ``"Gaussian mixture"``, or ``"mixture"`` for ``None`` or an
        unknown kind. Capitalise the first letter at the start of a sentence.
    """
    return _MIXTURE_TEXT[kind][1] if kind in _MIXTURE_TEXT else "mixture"


def mixture_summary(gmm: Mapping[str, Any]) -> dict[str, Any]:
    """Heading, plain explanation, indistinguishable set and structure check of the mixture."""
    kind = kind_of(gmm)
    heading, short, text = _MIXTURE_TEXT[kind]
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
        "label": short[:1].upper() + short[1:],  # at the start of a sentence or caption
        "explanation": text,
        "margin": min([m for m in margins if m is not None], default=10.0),
        "n_draws": max((int(r.get("n_draws") or 1) for r in rows.values()), default=1),
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
