"""Segment names that say what was measured, each phrase with the rule that gave it.

A name is made of phrases, each from one measure of the segment (its descriptors, see
:func:`segmint.cluster.value.segment_values`), compared with all customers:

================  =====================================  ========================================
measure           phrase                                  rule
================  =====================================  ========================================
net spend         top spenders                            the highest median net spend of the
                                                          segments, and at least 1.5x the median
                                                          of all customers
                  high spend / low spend / mid spend      median net spend at least 1.5x /
                                                          under 2/3 of all customers' / between
frequency         frequent buyers / one-off buyers /      median purchase invoices at least 1.5x
                  occasional buyers / regular buyers /    all customers' and 2+ / at most 1 /
                  cancellations only                      under 2/3 / between / 0
breadth           wide range / narrow range / mid range   median distinct products at least 1.5x
                                                          / under 2/3 of all customers' / between
cancellations     repeat cancellers                       at least half the segment cancelled 2
                                                          or more orders
                  high cancellations                      share of the segment's orders cancelled
                                                          at least 1.5x that of all customers
                  no cancellations                        nobody in the segment cancelled
recency           lapsed                                  median days since the last purchase at
                                                          least 1.5x all customers' median
================  =====================================  ========================================

Mid levels ("mid spend", "regular buyers", "mid range") and cancellations between the rules
are left out of a name, unless two segments would otherwise share it; if they still do, the
one with the higher median net spend is called "more spend" and the other "less spend" (never
a number). The rules are :data:`LEVEL_LOW` and :data:`LEVEL_HIGH`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["LEVEL_HIGH", "LEVEL_LOW", "Phrase", "name_by_measures"]

#: Ratio to all customers' median under which a measure is low.
LEVEL_LOW: float = 2 / 3
#: Ratio to all customers' median from which a measure is high.
LEVEL_HIGH: float = 3 / 2


@dataclass(frozen=True)
class Phrase:
    """One phrase of a name: its measure, its words, the rule with the segment's numbers."""

    measure: str
    text: str
    rule: str
    shown: bool  # False for mid levels, used only to tell segments apart


def _fmt(value: float) -> str:
    if not np.isfinite(value):
        return "n/a"
    return f"{value:,.0f}" if abs(value) >= 100 or float(value).is_integer() else f"{value:.2f}"


def _ratio(value: float, reference: float) -> float:
    if reference > 0 and np.isfinite(value):
        return value / reference
    if np.isfinite(value) and reference == 0:
        return np.inf if value > 0 else 1.0
    return float("nan")


def _level(ratio: float) -> int:
    if not np.isfinite(ratio) and ratio != np.inf:
        return 0
    if ratio >= LEVEL_HIGH:
        return 1
    if ratio < LEVEL_LOW:
        return -1
    return 0


def _spend(row: pd.Series, overall: Mapping[str, float], top: bool) -> Phrase | None:
    if "net_spend_median" not in row:
        return None
    value, ref = float(row["net_spend_median"]), overall["net_spend_median"]
    level = _level(_ratio(value, ref))
    base = f"median net spend {_fmt(value)} vs. {_fmt(ref)} for all customers"
    if level > 0 and top:
        return Phrase("value", "top spenders", f"{base}: the highest of the segments", True)
    if level > 0:
        return Phrase("value", "high spend", f"{base} (at least 1.5x)", True)
    if level < 0:
        return Phrase("value", "low spend", f"{base} (under 2/3)", True)
    return Phrase("value", "mid spend", base, False)


def _frequency(row: pd.Series, overall: Mapping[str, float]) -> Phrase | None:
    if "n_orders_median" not in row:
        return None
    value, ref = float(row["n_orders_median"]), overall["n_orders_median"]
    base = f"median orders {_fmt(value)} vs. {_fmt(ref)} for all customers"
    if value == 0:
        return Phrase(
            "frequency", "cancellations only", f"{base} (half or more never kept an order)", True
        )
    if value >= 2 and _level(_ratio(value, ref)) > 0:
        return Phrase("frequency", "frequent buyers", f"{base} (at least 1.5x and 2+)", True)
    if value <= 1:
        return Phrase("frequency", "one-off buyers", f"{base} (at most one order)", True)
    if _level(_ratio(value, ref)) < 0:
        return Phrase("frequency", "occasional buyers", f"{base} (under 2/3)", True)
    return Phrase("frequency", "regular buyers", base, False)


def _breadth(row: pd.Series, overall: Mapping[str, float]) -> Phrase:
    value, ref = float(row["n_products_median"]), overall["n_products_median"]
    base = f"median distinct products {_fmt(value)} vs. {_fmt(ref)} for all customers"
    level = _level(_ratio(value, ref))
    if level > 0:
        return Phrase("breadth", "wide range", f"{base} (at least 1.5x)", True)
    if level < 0:
        return Phrase("breadth", "narrow range", f"{base} (under 2/3)", True)
    return Phrase("breadth", "mid range", base, False)


def _cancellations(row: pd.Series, overall: Mapping[str, float]) -> Phrase:
    share = float(row["canceller_share"])
    repeat = float(row["repeat_canceller_share"])
    rate = float(row.get("cancel_rate", np.nan))
    ref_rate = float(overall.get("cancel_rate", np.nan))
    how = f"{100 * share:.0f}% cancelled at least once, {100 * repeat:.0f}% twice or more"
    if np.isfinite(rate):
        how += f"; {100 * rate:.0f}% of orders cancelled vs. {100 * ref_rate:.0f}% for all"
    if share == 0:
        return Phrase("cancellations", "no cancellations", "nobody cancelled an order", True)
    if repeat >= 0.5:
        return Phrase("cancellations", "repeat cancellers", f"{how} (half or more: 2+)", True)
    if np.isfinite(rate) and _level(_ratio(rate, ref_rate)) > 0:
        return Phrase("cancellations", "high cancellations", f"{how} (rate at least 1.5x)", True)
    return Phrase("cancellations", "some cancellations", how, False)


def _recency(row: pd.Series, overall: Mapping[str, float]) -> Phrase | None:
    if "recency_days_median" not in row:
        return None
    value, ref = float(row["recency_days_median"]), overall["recency_days_median"]
    base = f"median {_fmt(value)} days since the last purchase vs. {_fmt(ref)} for all"
    if _level(_ratio(value, ref)) > 0:
        return Phrase("recency", "lapsed", f"{base} (at least 1.5x)", True)
    return Phrase("recency", "recent", base, False)


def segment_phrases(values: pd.DataFrame, overall: Mapping[str, float]) -> list[list[Phrase]]:
    """The phrases of every segment (shown and mid-level), in name order."""
    sized = values[values["customers"] > 0]
    top = -1
    if "net_spend_median" in values and len(sized):
        spend = sized["net_spend_median"].to_numpy(dtype=float)
        top = int(sized["segment"].to_numpy()[int(np.nanargmax(spend))])
    out = []
    for _, row in values.iterrows():
        found = [
            _spend(row, overall, int(row["segment"]) == top),
            _frequency(row, overall),
            _breadth(row, overall),
            _cancellations(row, overall),
            _recency(row, overall),
        ]
        out.append([p for p in found if p is not None])
    return out


def name_by_measures(
    values: pd.DataFrame, overall: Mapping[str, float]
) -> tuple[list[str], list[list[Phrase]]]:
    """Unique names and the phrases (with rules) behind them, one per segment.

    Parameters
    ----------
    values : pandas.DataFrame
        :func:`segmint.cluster.value.segment_values` of one method, in segment order.
    overall : mapping of str to float
        :func:`segmint.cluster.value.overall_values` of all customers.

    Returns
    -------
    (list of str, list of list of Phrase)
        The names, e.g. ``"Top spenders, frequent buyers, wide range"``, and per segment the
        phrases used in its name.
    """
    phrases = segment_phrases(values, overall)
    chosen = [[p for p in ps if p.shown] for ps in phrases]
    empty = [int(c) == 0 for c in values["customers"]]

    def text(parts: list[Phrase], i: int) -> str:
        if empty[i]:
            return "Empty component"
        words = ", ".join(p.text for p in parts) or "typical customers"
        return words[0].upper() + words[1:]

    names = [text(c, i) for i, c in enumerate(chosen)]
    for _ in range(2):
        groups: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            groups.setdefault(name, []).append(i)
        for rows in groups.values():
            if len(rows) < 2:
                continue
            for i in rows:  # add the mid-level phrases that differ within the group
                differ = [
                    p
                    for p in phrases[i]
                    if not p.shown
                    and len({q.text for j in rows for q in phrases[j] if q.measure == p.measure})
                    > 1
                ]
                chosen[i] = [p for p in phrases[i] if p in chosen[i] or p in differ]
                names[i] = text(chosen[i], i)
    groups = {}
    for i, name in enumerate(names):
        groups.setdefault(name, []).append(i)
    for rows in groups.values():
        if len(rows) < 2 or "net_spend_median" not in values:
            continue
        spend = values["net_spend_median"].to_numpy(dtype=float)
        ranked = sorted(rows, key=lambda i: (-spend[i], i))
        words = ["more spend"] + ["less spend"] * (len(rows) - 1)
        if len(rows) > 2:
            words = ["most spend"] + ["less spend"] * (len(rows) - 2) + ["least spend"]
        for i, word in zip(ranked, words, strict=True):
            rule = f"of the segments otherwise named alike, median net spend {_fmt(spend[i])}"
            chosen[i] = [*chosen[i], Phrase("value", word, rule, True)]
            names[i] = text(chosen[i], i)
    return names, chosen
