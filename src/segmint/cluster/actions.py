"""What to do with each segment: a small table of heuristics, not model output.

The brief a segmentation serves has three uses: personalised marketing, customer retention and
order fulfilment. Each rule of :data:`ACTIONS` ties one phrase of a segment's name
(:mod:`segmint.cluster.naming`) to one of those uses, an action, and the money at stake: the
segment's turnover (net spend over the period), or for cancellations the value cancelled.
A segment gets every action whose phrase its name has, in table order; a segment that matches
none gets :data:`DEFAULT_ACTION`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from segmint.cluster.naming import Phrase

__all__ = ["ACTIONS", "DEFAULT_ACTION", "Action", "segment_actions"]


@dataclass(frozen=True)
class Action:
    """One rule: when a segment's name has one of ``phrases``, do ``action``."""

    key: str
    phrases: tuple[str, ...]
    use: str
    action: str
    at_stake: str  # "turnover" or "cancelled_value": the column of segment_values


#: The rules, in the order they are listed for a segment.
ACTIONS: tuple[Action, ...] = (
    Action(
        "retain",
        ("top spenders", "high spend"),
        "customer retention",
        "Keep them: VIP care (a named contact, early access to new ranges, loyalty rewards) "
        "and watch for any drop in orders.",
        "turnover",
    ),
    Action(
        "fulfil",
        ("repeat cancellers", "high cancellations"),
        "order fulfilment",
        "Find out why they cancel: check stock availability, delivery times and order "
        "accuracy on their cancelled orders, and follow each cancellation up.",
        "cancelled_value",
    ),
    Action(
        "cross_sell",
        ("wide range",),
        "personalised marketing",
        "Cross-sell: they already buy across the catalogue; send the full catalogue and "
        "recommend the ranges they have not bought yet.",
        "turnover",
    ),
    Action(
        "win_back",
        ("lapsed",),
        "customer retention",
        "Win them back: a reactivation offer or a reminder of what they bought, before they "
        "are lost.",
        "turnover",
    ),
)

#: For a segment no rule matches.
DEFAULT_ACTION = Action(
    "grow",
    (),
    "personalised marketing",
    "Grow: personalised offers built on what they bought, to bring a second order or a "
    "larger basket.",
    "turnover",
)


def segment_actions(
    values: pd.DataFrame, phrases: Sequence[Sequence[Phrase]]
) -> list[list[dict[str, object]]]:
    """The actions of every segment, with the money at stake.

    Parameters
    ----------
    values : pandas.DataFrame
        :func:`segmint.cluster.value.segment_values` of one method.
    phrases : sequence of sequence of Phrase
        The phrases of each segment's name (:func:`segmint.cluster.naming.name_by_measures`).

    Returns
    -------
    list of list of dict
        Per segment: ``{"key", "use", "action", "at_stake", "amount"}`` (``amount`` is None
        when the log has no prices); empty for an empty segment.
    """
    out: list[list[dict[str, object]]] = []
    for (_, row), parts in zip(values.iterrows(), phrases, strict=True):
        if int(row["customers"]) == 0:
            out.append([])
            continue
        words = {p.text for p in parts}
        rules = [a for a in ACTIONS if words & set(a.phrases)] or [DEFAULT_ACTION]
        out.append(
            [
                {
                    "key": a.key,
                    "use": a.use,
                    "action": a.action,
                    "at_stake": a.at_stake,
                    "amount": float(row[a.at_stake]) if a.at_stake in row else None,
                }
                for a in rules
            ]
        )
    return out
