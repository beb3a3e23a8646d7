"""Data quality of the input log: per column its kind, missing and distinct values; the period.

Computed on the engine, in SQL, in one pass over the registered log (the view ``raw`` that
:func:`segmint.clean.clean` left), reusing the row rules of :func:`segmint.rules.row_query`
(so the revenue of rows without a customer id is the same ``quantity x unit price`` as spend).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from segmint.rules import missing_count, row_query

if TYPE_CHECKING:
    from segmint.clean import Cleaned

__all__ = ["KINDS", "data_quality"]

#: Kind of each canonical column, whatever type the file stored it as.
KINDS: dict[str, str] = {
    "invoice": "categorical",
    "stock_code": "categorical",
    "description": "categorical",
    "quantity": "numeric",
    "invoice_date": "date",
    "unit_price": "numeric",
    "customer_id": "categorical",
    "country": "categorical",
}


def _kind(sql_type: str) -> str:
    upper = sql_type.upper()
    if any(t in upper for t in ("TIMESTAMP", "DATE")):
        return "date"
    if any(t in upper for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL", "NUMERIC")):
        return "numeric"
    return "categorical"


def data_quality(cleaned: Cleaned, types: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Per input column: kind, type as read, missing count and share, distinct count.

    Parameters
    ----------
    cleaned : Cleaned
        A cleaned log whose engine still has the view ``raw``.
    types : mapping of str to str, optional
        ``{raw_column: sql_type}``, every column of the log in file order; default
        ``cleaned.types``.

    Returns
    -------
    dict
        ``{"rows", "columns": [{"column", "canonical", "kind", "type", "missing",
        "missing_share", "distinct"}], "first_date", "last_date" (ISO text or None),
        "rows_without_customer_id", "revenue_without_customer_id" (None without prices)}``.
        A value is missing when it is NULL or blank text; distinct counts the values as read.
    """
    found = dict(cleaned.found)
    types = dict(cleaned.types if types is None else types)
    canonical = {raw: name for name, raw in found.items()}
    need = [p for p in ("amount", "last_date") if p in cleaned.partials]
    rows_sql, fp_cols = row_query(found, types, [], fingerprint=None, raw_keys=True, need=need)
    exprs = ["COUNT(*) AS n"]
    for i, (col, sql_type) in enumerate(zip(fp_cols, types.values(), strict=True)):
        exprs.append(f"{missing_count(col, sql_type)} AS m{i}")
        exprs.append(f"COUNT(DISTINCT {col}) AS d{i}")
    exprs.append("COUNT(*) FILTER (WHERE __no_id) AS no_id")
    if "amount" in need:
        exprs.append("CAST(SUM(__amount) FILTER (WHERE __no_id) AS DOUBLE) AS no_id_revenue")
    if "last_date" in need:
        exprs += ["MIN(__date) AS first_date", "MAX(__date) AS last_date"]
    row = cleaned.engine.fetch(f"SELECT {', '.join(exprs)} FROM ({rows_sql}) AS q").to_pylist()[0]
    n = int(row["n"])
    columns = []
    for i, (col, sql_type) in enumerate(types.items()):
        name = canonical.get(col)
        missing = int(row[f"m{i}"])
        columns.append(
            {
                "column": col,
                "canonical": name,
                "kind": KINDS.get(name or "", _kind(sql_type)),
                "type": sql_type,
                "missing": missing,
                "missing_share": missing / n if n else 0.0,
                "distinct": int(row[f"d{i}"]),
            }
        )

    def day(value: Any) -> str | None:
        return None if value is None else value.isoformat(sep=" ")

    revenue = row.get("no_id_revenue")
    return {
        "rows": n,
        "columns": columns,
        "first_date": day(row.get("first_date")),
        "last_date": day(row.get("last_date")),
        "rows_without_customer_id": int(row["no_id"]),
        "revenue_without_customer_id": None if revenue is None else round(float(revenue), 2),
    }
