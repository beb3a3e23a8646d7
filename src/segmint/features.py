"""Per-customer features: which ones, and the customer table they make.

Definitions (the contract; ``docs/CONTRACTS.md``), over the clean lines:

- ``n_products``: distinct ``stock_code`` over the customer's non-cancelled lines;
- ``n_canceled_orders``: distinct cancelled ``invoice`` (starting with ``C``, or as the
  cancellation rule says, :mod:`segmint.presets`);
- ``n_orders``: distinct non-cancelled ``invoice``;
- ``recency_days``: whole days from the customer's last purchase (or, for a customer who only
  cancelled, last cancellation) to the last date in the clean data;
- ``monetary``: net spend, ``sum(quantity * unit_price)`` over every line (cancellation lines
  have negative quantities, so cancelled orders are taken off; a cancellation line never adds,
  so a shop export's cancelled order, positive quantities, counts 0), exact to the cent;
- ``cancel_rate``: cancelled orders over all orders.

Every customer with at least one clean line is in the table.

Descriptors (:func:`describe_customers`) are a wider, fixed set computed in the same pass, so
that every segment is described the same way whatever it was clustered on (see
:data:`DESCRIPTORS`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from segmint._display import summary_html
from segmint.errors import SegmintError
from segmint.presets import DEFAULT_RULE
from segmint.rules import DESCRIPTOR_DTYPES, FEATURE_DTYPES, descriptor_sql, feature_sql
from segmint.schema import AUDIT_LABELS, DEFAULT_FEATURES, FEATURE_COLUMNS, Audit

if TYPE_CHECKING:
    import pandas as pd

    from segmint.clean import Cleaned

__all__ = [
    "DESCRIPTORS",
    "FeatureTable",
    "aggregate",
    "describe_customers",
    "feature_table",
    "monthly_activity",
    "needs_tokens",
    "parse_features",
    "pseudonymous_ids",
]

#: Descriptor columns of :func:`describe_customers` and their meaning (what the report and
#: ``profiles.csv`` describe every segment by). Money is quantity x unit price, exact to the
#: cent before it is returned as a float.
DESCRIPTORS: dict[str, str] = {
    "net_spend": "purchases minus cancellations",
    "gross_spend": "purchases only",
    "cancelled_value": "value of the cancellation lines",
    "n_orders": "distinct purchase invoices",
    "avg_order_value": "gross spend per purchase invoice",
    "n_canceled_orders": "distinct cancellation invoices",
    "cancel_rate": "cancelled orders over all orders",
    "n_products": "distinct products bought",
    "recency_days": "days since the last purchase",
    "tenure_days": "days since the first purchase",
}


def parse_features(features: str | Sequence[str] | None) -> tuple[str, ...]:
    """Validate a feature list; ``None`` (or nothing) means the defaults, ``"all"`` every one.

    Accepts a comma-separated string. Exactly the features named are returned (in the order
    of :data:`segmint.schema.FEATURE_COLUMNS`): ``n_orders,recency_days,monetary`` is an RFM
    segmentation without the default features.
    """
    if features is None:
        return DEFAULT_FEATURES
    items = features.split(",") if isinstance(features, str) else list(features)
    names = [f.strip() for f in items if f.strip()]
    if not names:
        return DEFAULT_FEATURES
    if names == ["all"]:
        return FEATURE_COLUMNS
    unknown = [f for f in names if f not in FEATURE_COLUMNS]
    if unknown:
        raise SegmintError(
            f"unknown feature {unknown[0]!r}; choose from {', '.join(FEATURE_COLUMNS)} or all"
        )
    return tuple(f for f in FEATURE_COLUMNS if f in names)


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
    period : dict
        With ``--as-of`` or ``--window``: ``as_of``, ``window`` and ``first_day`` (ISO dates and
        the window's text, :mod:`segmint.windows`); empty for the whole log.
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
    period: dict[str, Any] = field(default_factory=dict)
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
        warnings=list(cleaned.warnings),
        cancellation_rule=cleaned.cancellation_rule,
        pseudonymized=bool(on),
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


def describe_customers(cleaned: Cleaned) -> pd.DataFrame:
    """The descriptors of every customer, from a log cleaned with ``descriptors=True``.

    Parameters
    ----------
    cleaned : Cleaned
        What :func:`segmint.clean.clean` left on its engine.

    Returns
    -------
    pandas.DataFrame
        One row per customer, sorted by ``customer_id`` (same rows as :func:`aggregate`):
        ``customer_id`` then the :data:`DESCRIPTORS` the log's columns allow, and
        ``country`` (the country on most of the customer's lines, ties alphabetical; missing
        without a country column). Spend is rounded to the cent.
    """
    import numpy as np
    import pandas as pd

    from segmint.clean import COUNTRY_TABLE

    query, names = descriptor_sql(cleaned.partials)
    table = cleaned.engine.fetch(query).to_pandas()
    table["customer_id"] = table["customer_id"].astype(str)
    for name in names:
        table[name] = table[name].fillna(0).astype(DESCRIPTOR_DTYPES[name])
        if name.endswith(("_spend", "_value")):
            table[name] = table[name].round(2)
    if "gross_spend" in table and "n_orders" in table:
        orders = table["n_orders"].to_numpy(dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            aov = np.where(orders > 0, table["gross_spend"].to_numpy() / orders, np.nan)
        table.insert(table.columns.get_loc("n_orders") + 1, "avg_order_value", np.round(aov, 2))
    if "country" in cleaned.partials:
        countries = cleaned.engine.fetch(
            f"SELECT customer_id, country, n_lines FROM {COUNTRY_TABLE}"
        ).to_pandas()
        countries["customer_id"] = countries["customer_id"].astype(str)
        countries = countries.sort_values(
            ["customer_id", "n_lines", "country"], ascending=[True, False, True]
        ).drop_duplicates("customer_id")
        table = table.merge(countries[["customer_id", "country"]], on="customer_id", how="left")
    else:
        table["country"] = pd.Series([None] * len(table), dtype=object)
    return table.reset_index(drop=True)


def monthly_activity(cleaned: Cleaned) -> pd.DataFrame | None:
    """Net spend and purchase invoices per customer and calendar month.

    Returns
    -------
    pandas.DataFrame or None
        ``customer_id``, ``month`` (``YYYY-MM``), ``amount`` (net spend of the month, rounded
        to the cent), ``n_orders``, sorted by customer and month; None when the log has no
        dates or no prices.
    """
    from segmint.clean import MONTH_TABLE

    if not {"month", "amount", "n_orders"} <= set(cleaned.partials):
        return None
    table = cleaned.engine.fetch(
        f"SELECT customer_id, STRFTIME(month, '%Y-%m') AS month, "
        f"CAST(amount AS DOUBLE) AS amount, n_orders FROM {MONTH_TABLE}"
    ).to_pandas()
    table["customer_id"] = table["customer_id"].astype(str)
    table["amount"] = table["amount"].fillna(0.0).round(2)
    table["n_orders"] = table["n_orders"].fillna(0).astype("int64")
    return table.sort_values(["customer_id", "month"]).reset_index(drop=True)


def needs_tokens(cleaned: Cleaned, pseudonymize: bool | None) -> bool:
    """Whether :func:`feature_table` would pseudonymise, judged from 1,000 ids on the engine."""
    from segmint._pseudonym import looks_like_email

    if pseudonymize is not None:
        return pseudonymize
    ids = cleaned.engine.fetch(f"SELECT customer_id FROM {cleaned.table} LIMIT 1000").column(0)
    column = cleaned.columns.get("customer_id", "")
    return looks_like_email([str(v) for v in ids.to_pylist()], column)


def pseudonymous_ids(frame: pd.DataFrame, pseudonymize_key: str | None = None) -> pd.DataFrame:
    """``frame`` with its ``customer_id`` turned into the tokens :func:`feature_table` gives.

    The same key (``pseudonymize_key``, else the environment's or the user's) gives the same
    tokens, so tables of one log join on them. Rows are sorted by token, stably.
    """
    from segmint._pseudonym import pseudonymize, resolve_key

    key, _ = resolve_key(pseudonymize_key)
    ids = frame["customer_id"].astype(str)
    unique = ids.drop_duplicates().tolist()
    tokens = dict(zip(unique, pseudonymize(unique, key), strict=True))
    out = frame.assign(customer_id=ids.map(tokens))
    return out.sort_values("customer_id", kind="stable", ignore_index=True)
