"""Per-customer features, as SQL written once for every engine.

Definitions (DESIGN.md, "Feature definitions"), over the clean lines:

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from segmint.errors import SegmintError
from segmint.schema import DEFAULT_FEATURES, FEATURE_COLUMNS, required_columns

if TYPE_CHECKING:
    import pandas as pd

    from segmint.clean import Audit
    from segmint.engines import Engine
    from segmint.loading import Inputs, Source

__all__ = ["FeatureTable", "customer_features", "feature_sql", "parse_features"]

#: SQL of each feature over the table ``clean`` grouped by customer (DuckDB dialect). ``clean``
#: has one row per customer for its purchases (``cancel_invoice`` NULL) and one per cancellation
#: invoice, with partial counts over the clean lines (see :func:`segmint.clean.clean`).
FEATURE_SQL: dict[str, str] = {
    "n_products": "CAST(COALESCE(SUM(n_products), 0) AS BIGINT)",
    "n_canceled_orders": "COUNT(cancel_invoice)",
    "n_orders": "CAST(COALESCE(SUM(n_orders), 0) AS BIGINT)",
    "recency_days": (
        "DATE_DIFF('day', CAST(COALESCE(MAX(last_date) FILTER (WHERE cancel_invoice IS NULL), "
        "MAX(last_date)) AS DATE), CAST((SELECT MAX(last_date) FROM clean) AS DATE))"
    ),
    "monetary": "CAST(COALESCE(SUM(monetary), 0) AS DOUBLE)",
    # every invoice is either a cancellation or not, so all invoices = both counts
    "cancel_rate": (
        "CAST(COUNT(cancel_invoice) AS DOUBLE) / "
        "(COUNT(cancel_invoice) + COALESCE(SUM(n_orders), 0))"
    ),
}

#: dtype of each feature in the returned table.
FEATURE_DTYPES: dict[str, str] = {
    "n_products": "int64",
    "n_canceled_orders": "int64",
    "n_orders": "int64",
    "recency_days": "int64",
    "monetary": "float64",
    "cancel_rate": "float64",
}


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


def feature_sql(features: Sequence[str]) -> str:
    """The query producing one row per customer from the table ``clean``."""
    cols = ", ".join(f"{FEATURE_SQL[f]} AS {f}" for f in features)
    return f"SELECT customer_id, {cols} FROM clean GROUP BY customer_id ORDER BY customer_id"


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
    """

    table: pd.DataFrame
    audit: Audit
    features: tuple[str, ...]
    source: str
    notes: list[str] = field(default_factory=list)


def prepare(
    engine: Engine,
    inputs: Inputs,
    *,
    features: Sequence[str] = DEFAULT_FEATURES,
    columns: Mapping[str, str] | None = None,
    exclude_service_codes: bool = False,
    encoding: str | None = None,
) -> tuple[Source, Audit]:
    """Load and clean on ``engine``, leaving the clean lines there as the table ``clean``.

    :func:`feature_sql` then gives the customer table on the same engine: :func:`compute`
    fetches it; the Spark paths keep it in Spark.

    Returns
    -------
    source : Source
        The input, as resolved (its ``label`` names it in messages).
    audit : Audit
        Rows read, dropped and kept.
    """
    from segmint.clean import clean
    from segmint.loading import resolve_source
    from segmint.schema import resolve_columns

    source = resolve_source(inputs, encoding=encoding, remote=engine.reads_remote)
    described = engine.register(source, "raw")
    if not described:
        raise SegmintError(f"{source.label} has no columns; export the transactions again")
    names = [c for c, _ in described]
    if len(set(names)) != len(names):
        dupes = sorted({c for c in names if names.count(c) > 1})
        raise SegmintError(f"{source.label} has two columns named {dupes[0]!r}; rename one")
    needed = required_columns(features)
    found = resolve_columns(names, columns, required=needed, source=source.label)
    audit = clean(
        engine,
        source,
        found,
        dict(described),
        needed,
        exclude_service_codes=exclude_service_codes,
        features=features,
    )
    return source, audit


def customer_table(engine: Engine, features: Sequence[str]) -> pd.DataFrame:
    """Fetch the customer table from an engine after :func:`prepare` (contract dtypes)."""
    table = engine.fetch(feature_sql(features)).to_pandas()
    table["customer_id"] = table["customer_id"].astype(str)
    for name in features:
        table[name] = table[name].fillna(0).astype(FEATURE_DTYPES[name])
    return table


def compute(
    engine: Engine,
    inputs: Inputs,
    *,
    features: Sequence[str] = DEFAULT_FEATURES,
    columns: Mapping[str, str] | None = None,
    exclude_service_codes: bool = False,
    encoding: str | None = None,
) -> FeatureTable:
    """Load, clean and aggregate on a given engine (see :func:`customer_features`)."""
    features = tuple(features)
    source, audit = prepare(
        engine,
        inputs,
        features=features,
        columns=columns,
        exclude_service_codes=exclude_service_codes,
        encoding=encoding,
    )
    table = customer_table(engine, features)
    return FeatureTable(table, audit, features, source.label, list(source.notes))


def customer_features(
    inputs: Inputs,
    *,
    features: str | Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    exclude_service_codes: bool = False,
    encoding: str | None = None,
    engine: str = "duckdb",
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    spark_master: str | None = None,
) -> FeatureTable:
    """Turn a transaction log into one row per customer.

    Parameters
    ----------
    inputs : path, glob, sequence of them, or pandas.DataFrame
        The log: CSV, Parquet or Excel files (one format), or a table in memory.
    features : str or sequence of str, optional
        Extra features besides ``n_products`` and ``n_canceled_orders``: any of
        ``n_orders``, ``recency_days``, ``monetary``, ``cancel_rate``, or ``"all"``.
    columns : mapping of str to str, optional
        ``{canonical: their_name}`` for column names segmint does not recognise.
    exclude_service_codes : bool, default=False
        Drop service-code lines and lines with a zero or negative price.
    encoding : {"utf-8", "latin-1"}, optional
        Force the CSV encoding (sniffed by default).
    engine : {"duckdb", "spark"}, default="duckdb"
        Where the SQL runs.
    threads, memory_limit, temp_directory, spark_master
        Engine settings, see :func:`segmint.engines.get_engine`.

    Returns
    -------
    FeatureTable
        ``.table`` has shape ``(n_customers, 1 + n_features)``: ``customer_id`` then the
        features, sorted by ``customer_id``; ``.audit`` has the cleaning figures.

    Examples
    --------
    >>> result = customer_features("online_retail.csv")  # doctest: +SKIP
    >>> result.table.head()  # doctest: +SKIP
    """
    from segmint.engines import get_engine

    names = parse_features(features)
    eng = get_engine(
        engine,
        threads=threads,
        memory_limit=memory_limit,
        temp_directory=temp_directory,
        spark_master=spark_master,
    )
    try:
        return compute(
            eng,
            inputs,
            features=names,
            columns=columns,
            exclude_service_codes=exclude_service_codes,
            encoding=encoding,
        )
    finally:
        eng.close()
