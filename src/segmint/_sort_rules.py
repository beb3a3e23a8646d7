"""The sort path's second pass: the partials besides ``n_products``, as SQL (DuckDB dialect).

Part of the rules (:mod:`segmint.rules`), kept apart for its size. Where an engine counts by
sorting (:meth:`segmint.engines.base.Engine.sorted_counts`: ``n_products``, cancellation
invoices, the audit, the fingerprints met more than once), what else the features and
descriptors need (purchase invoices, dates, spend, months, countries) is grouped in one
more pass over the rows (:func:`partials_query`) at the level of invoices, not of lines, and
joined to what the sort counted into the table :func:`segmint.rules.lines_query` would give
(:func:`merged_lines_query`). :mod:`segmint.clean` runs them; it runs nothing here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from segmint.rules import needs_dates

__all__ = [
    "country_lines_query",
    "merged_lines_query",
    "partials_query",
    "repeated_rows",
    "several_countries",
]

#: Names of the sort path's partial keys (:func:`partials_query`) in its tables.
_KEY_NAMES = {
    "__cid": "customer_key",
    "__cinv": "cancel_invoice",
    "__oinv": "order_invoice",
    "__month": "month",
    "__country": "country",
}


def partials_query(rows: str, kept: str, need: Sequence[str], repeated: str | None) -> str:
    """The sort path's second pass: the partials ``need`` asks for besides ``n_products``.

    One row per customer key, cancellation invoice and, as ``need`` asks, purchase invoice
    (``order_invoice``), month and country, over the kept rows of
    :func:`segmint.rules.row_query` (raw keys); :func:`merged_lines_query` adds them up.
    Grouped as read: distinct counts and dates are the same over the rows as over the
    distinct lines. Spend is not: it is summed over every row, and ``repeated`` (the rows,
    as ``rows`` gives them, whose fingerprint the sort met more than once:
    :func:`repeated_rows`; None when no kept row repeats) adds rows of its own that take the
    extra copies of each distinct line (by fingerprint and every key, as
    :func:`segmint.rules.lines_query`) off again.
    """
    keys = ["__cid", "__cinv"] + (["__oinv"] if "n_orders" in need else [])
    keys += [f"__{p}" for p in ("month", "country") if p in need]
    cols = ", ".join(f"{k} AS {_KEY_NAMES[k]}" for k in keys)
    dates = [(f"{f}(__date)", p) for f, p in (("MAX", "last_date"), ("MIN", "first_date"))]
    dates = [(expr, p) for expr, p in dates if p in need]
    aggs = "".join(f", {expr} AS {p}" for expr, p in dates)
    aggs += ", SUM(__amount) AS amount" if "amount" in need else ""
    query = f"SELECT {cols}{aggs} FROM {rows} WHERE {kept} GROUP BY {', '.join(keys)}"
    if "amount" not in need or repeated is None:
        return query
    line = ", ".join(
        ["__fp", *keys, "__stock", *(["__date"] if needs_dates(need) else []), "__amount"]
    )
    nulls = "".join(f", NULL AS {p}" for _, p in dates)
    return (
        f"{query} UNION ALL SELECT {cols}{nulls}, -(COUNT(*) - 1) * __amount AS amount "
        f"FROM {repeated} WHERE {kept} GROUP BY {line} HAVING COUNT(*) > 1"
    )


def repeated_rows(relation: str, fingerprint: str, duplicates: str, alias: str = "raw") -> str:
    """The rows of ``relation`` whose ``fingerprint`` (SQL over its columns) is in the table
    ``duplicates`` (``__fp``), as the relation ``alias``.

    Over ``raw``, the rows are filtered as read, before any rule, so that the rules of
    :func:`segmint.rules.row_query` (``source``) run on those rows only.
    """
    return (
        f"(SELECT * FROM {relation} WHERE {fingerprint} IN "
        f"(SELECT __fp FROM {duplicates})) AS {alias}"
    )


def several_countries(partials: str) -> str:
    """The customer keys of :func:`partials_query` with lines in more than one country."""
    return (
        f"SELECT customer_key FROM {partials} WHERE country IS NOT NULL "
        "GROUP BY customer_key HAVING COUNT(DISTINCT country) > 1"
    )


def country_lines_query(rows: str, kept: str, need: Sequence[str], customers: str) -> str:
    """``n_lines`` per customer key and country, as :func:`segmint.rules.lines_query` counts
    them, for the customers of the table ``customers`` only (those with a country to choose)."""
    keys = ["__cid", "__cinv", "__stock"] + (["__oinv"] if "n_orders" in need else [])
    keys += [f"__{p}" for p in ("month", "country") if p in need]
    return (
        "SELECT __cid AS customer_key, __country AS country, COUNT(*) AS n_lines FROM ("
        f"SELECT __cid, __country FROM {rows} WHERE {kept} AND __country IS NOT NULL "
        f"AND __cid IN (SELECT customer_key FROM {customers}) GROUP BY {', '.join(keys)}) AS k "
        "GROUP BY __cid, __country"
    )


def merged_lines_query(
    lines: str, partials: str, need: Sequence[str], countries: str | None = None
) -> str:
    """The table :func:`segmint.rules.lines_query` gives, from the sort path's tables.

    ``lines`` holds what the sort counted (``customer_key``, ``cancel_invoice``,
    ``n_products``: every customer once with ``cancel_invoice`` NULL, then its cancellation
    invoices), ``partials`` :func:`partials_query`, ``countries`` :func:`country_lines_query`
    (``n_lines`` is NULL for a customer not in it: one country, nothing to choose).
    """
    sums = {"last_date": "MAX(last_date)", "first_date": "MIN(first_date)", "amount": "SUM(amount)"}
    sums = {p: expr for p, expr in sums.items() if p in need}
    if "n_orders" in need:
        sums = {"n_orders": "COUNT(order_invoice)", **sums}
    sets = [p for p in ("month", "country") if p in need]
    names = ["customer_key", "cancel_invoice", *sets]
    names += [*(["__part", "n_lines"] if sets else []), "n_products", "__odd", *sums]

    def part(values: Mapping[str, str], rest: str) -> str:
        cols = ", ".join(f"{values.get(n, 'NULL')} AS {n}" for n in names)
        return f"SELECT {cols} FROM {rest}"

    def summed(keys: str, wanted: Sequence[str]) -> str:
        aggs = "".join(f", {sums[p]} AS {p}" for p in wanted)
        if "n_orders" not in wanted:
            return f"(SELECT {keys}{aggs} FROM {partials} GROUP BY {keys})"
        # distinct purchase invoices: grouped by them first (two plain GROUP BYs cost less
        # than a DISTINCT aggregate beside the others)
        inner = "".join(f", {sums[p]} AS {p}" for p in wanted if p != "n_orders")
        by_order = f"{keys}, order_invoice"
        return (
            f"(SELECT {keys}{aggs} FROM (SELECT {by_order}{inner} FROM {partials} "
            f"GROUP BY {by_order}) AS o GROUP BY {keys})"
        )

    own = {n: f"l.{n}" for n in ("customer_key", "cancel_invoice", "n_products")}
    parts = [
        part(
            {**own, "__part": "0", "__odd": "0", **{p: f"p.{p}" for p in sums}},
            f"{lines} AS l LEFT JOIN {summed('customer_key, cancel_invoice', list(sums))} AS p "
            "ON l.customer_key = p.customer_key "
            "AND l.cancel_invoice IS NOT DISTINCT FROM p.cancel_invoice",
        )
    ]
    if "month" in sets:
        month = [p for p in ("n_orders", "amount") if p in sums]
        values = {"customer_key": "customer_key", "month": "month", "__part": "1", "__odd": "0"}
        parts.append(
            part({**values, **{p: p for p in month}}, f"{summed('customer_key, month', month)} m")
        )
    if "country" in sets:
        values = {"customer_key": "p.customer_key", "country": "p.country", "__part": "2"}
        values |= {"__odd": "0", "n_lines": "c.n_lines" if countries else "NULL"}
        join = (
            f" LEFT JOIN {countries} AS c ON p.customer_key = c.customer_key "
            "AND p.country = c.country"
            if countries
            else ""
        )
        parts.append(
            part(values, f"(SELECT DISTINCT customer_key, country FROM {partials}) AS p{join}")
        )
    return " UNION ALL ".join(parts)
