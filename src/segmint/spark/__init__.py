"""segmint for pipelines that already hold a Spark DataFrame.

:func:`customer_features` runs the same cleaning and feature SQL as ``segmint features`` (the
rules of :mod:`segmint.clean` and :mod:`segmint.features`, translated to Spark SQL by
:mod:`segmint.spark.engine`) on a DataFrame of transaction lines, and returns the customer
table as a Spark DataFrame, so nothing is collected to the driver::

    from segmint.spark import customer_features
    lines = spark.read.parquet("s3a://lake/sales/transactions/")
    customers = customer_features(lines, features="all")
    customers.write.parquet("s3a://lake/marts/customers/")

Install with ``pip install 'segmint[spark]'``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["SPARK_TYPES", "customer_features", "typed_features"]

#: Spark type of each feature column, matching the pandas dtypes of the local table.
SPARK_TYPES: dict[str, str] = {
    "n_products": "bigint",
    "n_canceled_orders": "bigint",
    "n_orders": "bigint",
    "recency_days": "bigint",
    "monetary": "double",
    "cancel_rate": "double",
}


def customer_features(
    df: DataFrame,
    columns: Mapping[str, str] | None = None,
    features: str | Sequence[str] | None = None,
    exclude_service_codes: bool = False,
) -> DataFrame:
    """Turn a Spark DataFrame of transaction lines into one row per customer, in Spark.

    Parameters
    ----------
    df : pyspark.sql.DataFrame
        Transaction lines with the columns of a log (``InvoiceNo``, ``StockCode``,
        ``CustomerID``, ... or their Online Retail II names); strings or typed columns.
    columns : mapping of str to str, optional
        ``{canonical: their_name}`` for column names segmint does not recognise, e.g.
        ``{"customer_id": "ClientRef"}``.
    features : str or sequence of str, optional
        Extra features besides ``n_products`` and ``n_canceled_orders``: any of ``n_orders``,
        ``recency_days``, ``monetary``, ``cancel_rate``, or ``"all"``.
    exclude_service_codes : bool, default=False
        Drop service-code lines and lines with a zero or negative price.

    Returns
    -------
    pyspark.sql.DataFrame
        Shape ``(n_customers, 1 + n_features)``: ``customer_id`` (string) then the features
        (``bigint`` counts and days, ``double`` money and rates), sorted by ``customer_id``; the
        same rows as :func:`segmint.customer_features` gives for the same log.

    Raises
    ------
    SegmintError
        For a missing column, a non-numeric quantity or price, undatable dates, or a log
        without customer ids, as on the command line.

    Notes
    -----
    The value checks and the audit run at once (one pass over ``df``); the cleaned lines are
    then cached in the session (memory, then disk) and the aggregation stays lazy. The cached
    rows live under temporary views named ``segmint_<id>_lines`` and ``segmint_<id>_clean``;
    ``spark.catalog.clearCache()`` frees them.

    Examples
    --------
    >>> customers = customer_features(lines, features=["monetary"])  # doctest: +SKIP
    >>> customers.columns  # doctest: +SKIP
    ['customer_id', 'n_products', 'n_canceled_orders', 'monetary']
    """
    from segmint.clean import clean
    from segmint.features import parse_features
    from segmint.io.sources import Source
    from segmint.rules import feature_sql
    from segmint.spark.engine import SparkEngine

    names = parse_features(features)
    engine = SparkEngine(session=df.sparkSession)
    view = engine.view("input")
    df.createOrReplaceTempView(view)
    source = Source(paths=[], format="table", table_name=view, name="the Spark DataFrame")
    try:
        clean(
            engine,
            source,
            features=names,
            columns=columns,
            exclude_service_codes=exclude_service_codes,
        )
        table = engine.sql(feature_sql(names))
    except BaseException:
        engine.close()
        raise
    engine.release()  # the returned DataFrame reads the engine's cached views
    return typed_features(table, names)


def typed_features(table: DataFrame, features: Sequence[str]) -> DataFrame:
    """Give the result of :func:`segmint.features.feature_sql` the contract's column types.

    Parameters
    ----------
    table : pyspark.sql.DataFrame
        ``customer_id`` and the feature columns as the SQL produced them.
    features : sequence of str
        The feature columns.

    Returns
    -------
    pyspark.sql.DataFrame
        ``customer_id`` (string), then the features (see :data:`SPARK_TYPES`), a missing value
        read as 0 as in :func:`segmint.features.customer_table`.
    """
    from segmint.spark.engine import is_connect

    if is_connect(table):  # pyspark.sql.functions follows the process's mode, not the frame's
        from pyspark.sql.connect import functions as F
    else:
        from pyspark.sql import functions as F  # type: ignore[no-redef]

    return table.select(
        F.col("customer_id").cast("string").alias("customer_id"),
        *(F.coalesce(F.col(n), F.lit(0)).cast(SPARK_TYPES[n]).alias(n) for n in features),
    )
