"""Per-customer features: which ones, and the customer table they make.

Definitions (the contract; ``docs/CONTRACTS.md``), over the clean lines:

- ``n_products``: distinct ``stock_code`` over the customer's non-cancelled lines;
- ``n_canceled_orders``: distinct cancelled ``invoice`` (starting with ``C``, or as the
  cancellation rule says, :mod:`segmint.presets`);
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
from typing import TYPE_CHECKING

from segmint._display import summary_html
from segmint.errors import SegmintError
from segmint.presets import DEFAULT_RULE
from segmint.rules import FEATURE_DTYPES, feature_sql
from segmint.schema import AUDIT_LABELS, DEFAULT_FEATURES, FEATURE_COLUMNS, Audit

if TYPE_CHECKING:
    import pandas as pd

    from segmint.clean import Cleaned

__all__ = ["FeatureTable", "aggregate", "feature_table", "needs_tokens", "parse_features"]


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
        Things a user should know (for example Excel sheets skipped, the preset used, how
        customer ids were pseudonymised).
    warnings : list of str
        Things that may make the figures wrong (for example no cancellation found).
    cancellation_rule : str
        Which rule counted the cancellations, in plain words.
    pseudonymized : bool
        Whether ``customer_id`` holds keyed-hash tokens (:mod:`segmint._pseudonym`).
    """

    table: pd.DataFrame
    audit: Audit
    features: tuple[str, ...]
    source: str
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    cancellation_rule: str = ""
    pseudonymized: bool = False

    def _repr_html_(self) -> str:
        """A compact summary for notebooks: sizes, the audit, warnings and notes."""
        audit = self.audit.to_dict()
        rows = [
            ("source", self.source),
            ("customers", f"{len(self.table):,}"),
            ("features", ", ".join(self.features)),
        ]
        rows += [(AUDIT_LABELS[k], f"{audit[k]:,}") for k in ("rows_read", "rows_kept")]
        if self.cancellation_rule:
            rows.append(("cancellations counted where", self.cancellation_rule))
        head = self.table.head(5)
        return summary_html(
            "segmint FeatureTable",
            rows,
            table=[[str(v) for v in r] for r in head.itertuples(index=False)],
            header=[str(c) for c in head.columns],
            warnings=self.warnings,
            notes=self.notes,
        )


def feature_table(
    cleaned: Cleaned,
    table: pd.DataFrame | None = None,
    *,
    pseudonymize: bool | None = None,
    pseudonymize_key: str | None = None,
) -> FeatureTable:
    """The :class:`FeatureTable` of a cleaned log, its ids pseudonymised where they should be.

    Parameters
    ----------
    cleaned : Cleaned
        What :func:`segmint.clean.clean` left on its engine.
    table : pandas.DataFrame, optional
        The customer table, when already fetched; default :func:`aggregate`.
    pseudonymize : bool, optional
        Replace ``customer_id`` by keyed-hash tokens (:mod:`segmint._pseudonym`); by default
        when the ids look like emails (or their column is named so).
    pseudonymize_key : str, optional
        The key; default ``$SEGMINT_PSEUDONYMIZE_KEY``, else the user's key file.

    Returns
    -------
    FeatureTable
        With the preset, the cancellation rule (when not the default) and the handling of
        customer ids in ``notes``, and the cleaning's warnings.
    """
    from segmint._pseudonym import TOKEN_HEX, looks_like_email, resolve_key
    from segmint._pseudonym import pseudonymize as tokens

    names = cleaned.features
    table = aggregate(cleaned) if table is None else table
    notes = list(cleaned.source.notes)
    layout = cleaned.layout
    if layout is not None and layout.preset is not None:
        notes.append(f"read as a {layout.preset.title} (--preset {layout.preset.name})")
    if layout is not None and layout.cancelled_when != DEFAULT_RULE:
        notes.append(f"cancelled orders: those where {cleaned.cancellation_rule}")
    column = cleaned.columns.get("customer_id", "")
    ids = table["customer_id"]
    emails = looks_like_email(ids[ids.str.contains("@", regex=False)], column)
    on = emails if pseudonymize is None else pseudonymize
    if on:
        key, origin = resolve_key(pseudonymize_key)
        table = table.assign(customer_id=tokens(list(table["customer_id"]), key))
        table = table.sort_values("customer_id", kind="stable", ignore_index=True)
        notes.append(
            f"customer ids are pseudonymised: c_ and {TOKEN_HEX} hex digits of HMAC-SHA256 "
            f"keyed from {origin}; no id of the input is in the outputs"
        )
    elif emails:
        notes.append(
            "customer ids are shown as in the input, emails included (pseudonymisation off)"
        )
    return FeatureTable(
        table,
        cleaned.audit,
        names,
        cleaned.source.label,
        notes,
        list(cleaned.warnings),
        cleaned.cancellation_rule,
        bool(on),
    )


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


def needs_tokens(cleaned: Cleaned, pseudonymize: bool | None) -> bool:
    """Whether :func:`feature_table` would pseudonymise, judged from 1,000 ids on the engine."""
    from segmint._pseudonym import looks_like_email

    if pseudonymize is not None:
        return pseudonymize
    ids = cleaned.engine.fetch(f"SELECT customer_id FROM {cleaned.table} LIMIT 1000").column(0)
    column = cleaned.columns.get("customer_id", "")
    return looks_like_email([str(v) for v in ids.to_pylist()], column)
