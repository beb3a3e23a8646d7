"""Per-customer features: which ones, and the customer table they make.

Definitions (the contract; ``docs/CONTRACTS.md``), over the clean lines:

- ``n_products``: distinct ``stock_code`` over the customer's non-cancelled lines;
- ``n_canceled_orders``: distinct ``invoice`` starting with ``C``;
- ``n_orders``: distinct non-cancelled ``invoice``;
- ``recency_days``: whole days from the customer's last purchase (or, for a customer who only
  cancelled, last cancellation) to the last date in the clean data;
- ``monetary``: spend, ``sum(quantity * unit_price)`` over non-cancelled lines, exact to the cent;
- ``cancel_rate``: cancelled orders over all orders.

Every customer with at least one clean line is in the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError
from segmint.rules import FEATURE_DTYPES, feature_sql
from segmint.schema import DEFAULT_FEATURES, FEATURE_COLUMNS, Audit

if TYPE_CHECKING:
    import pandas as pd

    from segmint.clean import Cleaned

__all__ = ["FeatureTable", "aggregate", "parse_features"]


def parse_features(features: str | Sequence[str] | None) -> tuple[str, ...]:
    """Validate a feature list; ``None`` means the defaults, ``"all"`` every feature.

    Accepts a comma-separated string. The defaults are always included, in front.
    """
    if features is None:
        return DEFAULT_FEATURES
    items = features.split(",") if isinstance(features, str) else list(features)
    names = [f.strip() for f in items if f.strip()]
    if names == ["all"]:
        return FEATURE_COLUMNS
    unknown = [f for f in names if f not in FEATURE_COLUMNS]
    if unknown:
        raise SegmintError(
            f"unknown feature {unknown[0]!r}; choose from {', '.join(FEATURE_COLUMNS)} or all"
        )
    extra = tuple(f for f in FEATURE_COLUMNS if f in names and f not in DEFAULT_FEATURES)
    return DEFAULT_FEATURES + extra


@dataclass
class FeatureTable:
    """The per-customer table with the audit of the cleaning that produced it.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per customer, sorted by ``customer_id`` (str), then one column per feature:
        ``n_products``, ``n_canceled_orders`` (int64) and the optional ones asked for.
    audit : Audit
        Rows read, dropped and kept.
    features : tuple of str
        The feature columns, in order.
    source : str
        How the input is named in messages.
    notes : list of str
        Things a user should know (for example Excel sheets skipped).
    period : dict
        With ``--as-of`` or ``--window``: ``as_of``, ``window`` and ``first_day`` (ISO dates and
        the window's text, :mod:`segmint.windows`); empty for the whole log.
    """

    table: pd.DataFrame
    audit: Audit
    features: tuple[str, ...]
    source: str
    notes: list[str] = field(default_factory=list)
    period: dict[str, Any] = field(default_factory=dict)


def aggregate(cleaned: Cleaned, features: Sequence[str] | None = None) -> pd.DataFrame:
    """Fetch the customer table from the engine that cleaned the log (contract dtypes).

    Parameters
    ----------
    cleaned : Cleaned
        What :func:`segmint.clean.clean` left on its engine.
    features : sequence of str, optional
        The features to compute; default those ``cleaned`` was made for.

    Returns
    -------
    pandas.DataFrame
        Shape ``(n_customers, 1 + n_features)``: ``customer_id`` (str) then the features,
        sorted by ``customer_id``.
    """
    names = tuple(features) if features is not None else cleaned.features
    table = cleaned.engine.fetch(feature_sql(names)).to_pandas()
    table["customer_id"] = table["customer_id"].astype(str)
    for name in names:
        table[name] = table[name].fillna(0).astype(FEATURE_DTYPES[name])
    return table
