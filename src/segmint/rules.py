"""The cleaning and feature rules, as SQL written once for every engine.

The rule (see ``docs/ARCHITECTURE.md`` and the README): drop exact duplicate rows (equal in every
column of the input) and rows without a customer id. Optionally (``exclude_service_codes``) also
drop lines with a zero or negative price and lines whose stock code is a service code (postage,
fees, manual entries). The features are aggregates of the clean lines per customer.

Everything here builds SQL text in DuckDB's dialect and runs nothing: :mod:`segmint.clean` and
:mod:`segmint.features` run it on an engine, and other engines translate it
(:mod:`segmint.spark.engine`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from segmint.schema import SERVICE_CODES

__all__ = [
    "DATE_FORMATS",
    "DESCRIPTOR_DTYPES",
    "DESCRIPTOR_NEEDS",
    "DESCRIPTOR_SQL",
    "FEATURE_DTYPES",
    "FEATURE_SQL",
    "OFFSET_DATE_FORMATS",
    "PARTIALS",
    "PRICE_TYPE",
    "QUANTITY_TYPE",
    "WHITESPACE",
    "WINDOW_FEATURE_SQL",
    "cancel_sql",
    "canonical_select",
    "customer_rule",
    "dated_lines_query",
    "descriptor_partials",
    "descriptor_sql",
    "exact_double",
    "feature_sql",
    "ident",
    "lines_query",
    "missing_count",
    "needs_dates",
    "order_query",
    "row_query",
    "text_of",
    "text_value",
    "trim",
    "value_checks",
    "window_feature_sql",
]

#: Every character Python's ``str.strip()`` removes (tabs, no-break and other Unicode spaces):
#: text values of every format are trimmed of these, and blank ones are missing.
WHITESPACE = "".join(chr(i) for i in range(0x3001) if chr(i).isspace())

#: Exact types quantities and prices are read as: 12 integer digits and 6 decimals, 11 and 8.
#: Their product (DECIMAL(37, 14); Spark: DECIMAL(38, 14)) is exact on both engines; a value
#: that does not fit, or needs more decimals than the double it reads as, is refused.
QUANTITY_TYPE = "DECIMAL(18, 6)"
PRICE_TYPE = "DECIMAL(19, 8)"
_EXACT_TYPES = {"quantity": QUANTITY_TYPE, "unit_price": PRICE_TYPE}

#: Text written for a missing value by pandas (``nan``, ``None``) and databases (``NULL``),
#: in any letter case: a customer id spelt so is missing, as a NaN or blank one is.
MISSING_WORDS = ("nan", "none", "null")

#: Date layouts found in exports of these files, tried in order.
DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %H:%M:%S",
    "%Y-%m-%d",
    "%m/%d/%Y",
)

#: Date layouts with a time-zone offset (``2024-03-01 10:12:00 +0000``, as Shopify writes, or
#: ISO ``2024-03-01T10:12:00+01:00``), tried after :data:`DATE_FORMATS`; the instant is read as
#: its wall clock in UTC (a naive TIMESTAMP, as the other layouts give).
OFFSET_DATE_FORMATS: tuple[str, ...] = (
    "%Y-%m-%d %H:%M:%S %z",
    "%Y-%m-%dT%H:%M:%S%z",
)

#: Partial columns of the table ``clean`` that each feature reads (besides ``n_products``).
PARTIALS: dict[str, tuple[str, ...]] = {
    "n_orders": ("n_orders",),
    "cancel_rate": ("n_orders",),
    "recency_days": ("last_date",),
    "monetary": ("amount",),
}

#: Partials the descriptors read, and the canonical columns each needs: a descriptor is
#: computed when its columns are in the log (``month`` and ``country`` are not columns of
#: ``clean`` but the extra grouping sets of ``lines``, see :func:`lines_query`).
DESCRIPTOR_NEEDS: dict[str, tuple[str, ...]] = {
    "n_orders": ("invoice",),
    "amount": ("quantity", "unit_price"),
    "last_date": ("invoice_date",),
    "first_date": ("invoice_date",),
    "month": ("invoice_date",),
    "country": ("country",),
}


def exact_double(expr: str) -> str:
    """An exact (DECIMAL) sum of spend as the nearest double, rounded once.

    Through text: the decimal-to-double casts of the engines may be off by one unit in the
    last place, their text-to-double ones are not.
    """
    return f"CAST(CAST({expr} AS VARCHAR) AS DOUBLE)"


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
    # net spend: purchases less cancellations (cancellation lines have negative quantities);
    # the exact sum, then the nearest double (see exact_double)
    "monetary": exact_double("COALESCE(SUM(amount), 0)"),
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


#: SQL of each descriptor over ``clean`` grouped by customer, with the partials it reads.
#: Descriptors describe segments whatever was clustered on (``avg_order_value`` is
#: ``gross_spend / n_orders``, computed after the fetch).
DESCRIPTOR_SQL: dict[str, tuple[str, tuple[str, ...]]] = {
    "net_spend": (FEATURE_SQL["monetary"], ("amount",)),
    "gross_spend": (
        exact_double("COALESCE(SUM(amount) FILTER (WHERE cancel_invoice IS NULL), 0)"),
        ("amount",),
    ),
    "cancelled_value": (
        exact_double("COALESCE(-SUM(amount) FILTER (WHERE cancel_invoice IS NOT NULL), 0)"),
        ("amount",),
    ),
    "n_orders": (FEATURE_SQL["n_orders"], ("n_orders",)),
    "n_canceled_orders": (FEATURE_SQL["n_canceled_orders"], ()),
    "cancel_rate": (FEATURE_SQL["cancel_rate"], ("n_orders",)),
    "n_products": (FEATURE_SQL["n_products"], ()),
    "recency_days": (FEATURE_SQL["recency_days"], ("last_date",)),
    "tenure_days": (
        "DATE_DIFF('day', CAST(COALESCE(MIN(first_date) FILTER (WHERE cancel_invoice IS NULL), "
        "MIN(first_date)) AS DATE), CAST((SELECT MAX(last_date) FROM clean) AS DATE))",
        ("first_date", "last_date"),
    ),
}

#: dtype of each descriptor in the fetched table.
DESCRIPTOR_DTYPES: dict[str, str] = {
    "net_spend": "float64",
    "gross_spend": "float64",
    "cancelled_value": "float64",
    "n_orders": "int64",
    "n_canceled_orders": "int64",
    "cancel_rate": "float64",
    "n_products": "int64",
    "recency_days": "int64",
    "tenure_days": "int64",
}


def descriptor_partials(found: Mapping[str, str]) -> tuple[str, ...]:
    """The descriptor partials the columns of a log allow (``found``: canonical -> raw)."""
    return tuple(p for p, cols in DESCRIPTOR_NEEDS.items() if all(c in found for c in cols))


def descriptor_sql(partials: Sequence[str]) -> tuple[str, tuple[str, ...]]:
    """The query of the descriptors that ``partials`` allow, one row per customer.

    Returns the query and the descriptor names, in :data:`DESCRIPTOR_SQL` order.
    """
    have = set(partials)
    names = tuple(d for d, (_, needs) in DESCRIPTOR_SQL.items() if set(needs) <= have)
    cols = ", ".join(f"{DESCRIPTOR_SQL[d][0]} AS {d}" for d in names)
    query = f"SELECT customer_id, {cols} FROM clean GROUP BY customer_id ORDER BY customer_id"
    return query, names


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def ident(name: str) -> str:
    """A column name quoted for SQL."""
    return _ident(name)


def text_value(col: str) -> str:
    return text_of(_ident(col))


def trim(expr: str) -> str:
    """``expr`` (text) without :data:`WHITESPACE` at either end.

    Trimming a set of characters costs far more than the check that nothing needs trimming
    (:func:`_plain`), which most values pass; only the others are trimmed.
    """
    return f"(CASE WHEN {_plain(expr)} THEN {expr} ELSE TRIM({expr}, '{WHITESPACE}') END)"


def text_of(expr: str) -> str:
    return f"NULLIF({trim(f'CAST({expr} AS VARCHAR)')}, '')"


def _value_text(col: str) -> str:
    """A number or date column as text trimmed of spaces, blank as NULL.

    Spaces only: the costlier :func:`trim` of every kind of whitespace is for the text that
    names things (ids, codes, invoices); a number or date with a tab in it does not read.
    """
    return f"NULLIF(TRIM(CAST({_ident(col)} AS VARCHAR)), '')"


def _number(col: str, sql_type: str) -> str:
    if _is_numeric(sql_type):
        return f"CAST({_ident(col)} AS DOUBLE)"
    # blank text casts to NULL as it is: no NULLIF, which DuckDB expands to a CASE naming
    # the TRIM twice, and its optimizer then trims every row ahead of the COALESCE in _price
    return f"TRY_CAST(TRIM(CAST({_ident(col)} AS VARCHAR)) AS DOUBLE)"


def _exact(col: str, sql_type: str, exact_type: str) -> str:
    """A quantity or price as the exact DECIMAL ``exact_type`` (NULL when it does not fit).

    Text is read as written (``0.123456`` is 0.123456, not the double nearest to it); only
    text the cast does not read as it stands (blank, say) is trimmed.
    """
    if _is_numeric(sql_type):
        return f"TRY_CAST({_ident(col)} AS {exact_type})"
    trimmed = f"TRIM(CAST({_ident(col)} AS VARCHAR))"
    return f"COALESCE(TRY_CAST({_ident(col)} AS {exact_type}), TRY_CAST({trimmed} AS {exact_type}))"


def _is_numeric(sql_type: str) -> bool:
    upper = sql_type.upper()
    return any(t in upper for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL", "NUMERIC"))


def _timestamp(col: str, sql_type: str) -> str:
    if any(t in sql_type.upper() for t in ("TIMESTAMP", "DATE")):
        return f"CAST({_ident(col)} AS TIMESTAMP)"
    text = _value_text(col)
    tries = [f"TRY_STRPTIME({text}, '{fmt}')" for fmt in DATE_FORMATS]
    tries += [
        f"CAST(timezone('UTC', TRY_STRPTIME({text}, '{fmt}')) AS TIMESTAMP)"
        for fmt in OFFSET_DATE_FORMATS
    ]
    return f"COALESCE({', '.join(tries)})"


def canonical_select(
    found: Mapping[str, str],
    types: Mapping[str, str],
    wanted: Sequence[str],
    cancel: str | None = None,
) -> str:
    """SQL select list that maps raw columns onto typed canonical ones.

    Parameters
    ----------
    found : mapping of str to str
        ``{canonical: raw_column}``, from :func:`segmint.schema.resolve_columns`.
    types : mapping of str to str
        ``{raw_column: sql_type}`` as the engine described the source.
    wanted : sequence of str
        Canonical columns to emit; ``is_cancel`` is added when ``invoice`` is wanted.
    cancel : str, optional
        SQL of the cancellation rule (:func:`cancel_sql`); default: the invoice starts with C.

    Returns
    -------
    str
        ``expr AS name, ...``: text columns trimmed with blanks as NULL, ``customer_id`` with a
        float artifact removed (``17850.0`` reads ``17850``), numbers as DOUBLE, dates parsed.
    """
    exprs: list[str] = []
    for name in wanted:
        col = found[name]
        kind = types.get(col, "VARCHAR")
        if name == "customer_id":
            expr = customer_rule(text_value(col))
        elif name in ("quantity", "unit_price"):
            expr = _number(col, kind)
        elif name == "invoice_date":
            expr = _timestamp(col, kind)
        else:
            expr = text_value(col)
        exprs.append(f"{expr} AS {name}")
    if "invoice" in wanted:
        exprs.append(
            f"{cancel} AS is_cancel"
            if cancel is not None
            else f"COALESCE(UPPER({text_value(found['invoice'])}) LIKE 'C%', FALSE) AS is_cancel"
        )
    return ", ".join(exprs)


def _service_list() -> str:
    return ", ".join("'" + code + "'" for code in SERVICE_CODES)


def value_checks(
    found: Mapping[str, str], types: Mapping[str, str], wanted: Sequence[str]
) -> list[tuple[str, str, str]]:
    """``(canonical, raw_column, bad_sql)`` for each needed numeric or date column."""
    checks = []
    for name in ("quantity", "unit_price", "invoice_date"):
        if name not in wanted:
            continue
        col = found[name]
        kind = types.get(col, "VARCHAR")
        if name == "invoice_date":
            if any(t in kind.upper() for t in ("TIMESTAMP", "DATE")):
                continue
            bad = f"{_value_text(col)} IS NOT NULL AND {_timestamp(col, kind)} IS NULL"
        elif _is_numeric(kind):  # a number is never blank: skip the text round trip
            value = _number(col, kind)
            bad = (
                f"{_ident(col)} IS NOT NULL AND (NOT isfinite({value}){_inexact(name, col, kind)})"
            )
        else:
            value = _number(col, kind)
            bad = (
                f"{_value_text(col)} IS NOT NULL AND ({value} IS NULL OR NOT isfinite({value})"
                f"{_inexact(name, col, kind)})"
            )
        checks.append((name, col, bad))
    return checks


def _inexact(name: str, col: str, kind: str) -> str:
    """`` OR ...`` true when a finite quantity or price has no exact reading (see _exact)."""
    if name not in _EXACT_TYPES:
        return ""
    exact = _exact(col, kind, _EXACT_TYPES[name])
    return f" OR {exact} IS NULL OR CAST({exact} AS DOUBLE) <> {_number(col, kind)}"


def _is_text(sql_type: str) -> bool:
    upper = sql_type.upper()
    return upper.startswith(("VARCHAR", "STRING", "TEXT", "CHAR"))


def missing_count(col: str, sql_type: str) -> str:
    """SQL of the number of rows where ``col`` (as read, of type ``sql_type``) is missing:
    NULL, or text that is blank once trimmed.

    A number, date or boolean is never blank: it is missing when NULL, the cheap test (every
    value cast to text and trimmed cost more than the rest of the data-quality pass). Text
    can be blank only when it starts with whitespace: an ASCII character up to a space, or
    a non-ASCII one (TRIM strips Unicode spaces); only those values are trimmed (a CASE, so
    that the engine trims no other: a FILTER clause computed the TRIM of every row).
    """
    upper = sql_type.upper()
    if _is_numeric(sql_type) or any(t in upper for t in ("TIMESTAMP", "DATE", "BOOL")):
        return f"COUNT(*) - COUNT({col})"
    text = f"CAST({col} AS VARCHAR)"
    return (
        f"COUNT(CASE WHEN {col} IS NULL THEN 1 WHEN {text} < '!' OR {text} >= chr(128) "
        f"THEN CASE WHEN TRIM({text}) = '' THEN 1 END END)"
    )


def customer_rule(text: str) -> str:
    """The customer id rule on trimmed text: ``17850.0`` reads ``17850``; blank, ``nan``,
    ``None`` and ``NULL`` (any case: what pandas and databases write for a missing value,
    and a NaN number reads as) are NULL."""
    words = ", ".join(f"'{w}'" for w in MISSING_WORDS)
    return (
        f"CASE WHEN LOWER({text}) IN ({words}) THEN NULL "
        f"ELSE NULLIF(REGEXP_REPLACE({text}, '[.]0+$', ''), '') END"
    )


def _no_customer(col: str, kind: str) -> str:
    """True when a row has no customer id, with the costly rule only where it can matter.

    A text id that is not blank and starts with a character from ``0`` to ``~`` (so neither
    whitespace, which the trim strips, nor a dot, nor a non-ASCII character, which the trim
    may strip) other than ``n`` or ``N`` (``nan``, ``None``, ``NULL``) is never empty after
    the rule. A number is missing when NULL or NaN (or infinite).
    """
    ident = _ident(col)
    if _is_numeric(kind) and any(t in kind.upper() for t in ("DOUBLE", "FLOAT", "REAL")):
        # not isnan(): DuckDB answers it from Parquet statistics, which leave NaN out
        return f"({ident} IS NULL OR NOT isfinite({ident}))"
    if not _is_text(kind):
        return f"({ident} IS NULL)"
    return (
        f"(CASE WHEN {ident} IS NULL THEN TRUE WHEN {ident} < '0' OR {ident} >= chr(128) "
        f"OR ({ident} >= 'N' AND {ident} < 'O') OR ({ident} >= 'n' AND {ident} < 'o') "
        f"THEN {customer_rule(text_value(col))} IS NULL ELSE FALSE END)"
    )


def _is_cancel(col: str, kind: str) -> str:
    """``UPPER(TRIM(invoice)) LIKE 'C%'``, trimming and upper-casing only where it can matter."""
    full = f"COALESCE(UPPER({text_value(col)}) LIKE 'C%', FALSE)"
    if not _is_text(kind):
        return full
    ident = _ident(col)
    return (
        f"(CASE WHEN {ident} LIKE 'C%' OR {ident} LIKE 'c%' THEN TRUE "
        f"WHEN {ident} < '!' OR {ident} >= chr(128) THEN {full} ELSE FALSE END)"
    )


def _plain(ident: str) -> str:
    """True when the trim cannot change this text: nothing up to a space (tabs, line breaks)
    and no non-ASCII character at either end.

    Checking that is cheaper than trimming every row; only text that fails the check goes
    through the full rule.
    """
    return f"({ident} >= '!' AND {ident} < chr(128) AND RIGHT({ident}, 1) BETWEEN '!' AND '~')"


def _price(col: str, kind: str) -> str:
    """:func:`_number` of a price, trimming only the text that does not read as it stands.

    DuckDB's cast skips ASCII spaces around a number itself, so a text it reads gives the
    same number trimmed; only text it cannot read (blank, or with Unicode spaces at an end,
    which TRIM strips) goes through the full rule.
    """
    if _is_numeric(kind) or not _is_text(kind):
        return _number(col, kind)
    return f"COALESCE(TRY_CAST({_ident(col)} AS DOUBLE), {_number(col, kind)})"


def _service(col: str, kind: str) -> str:
    """Whether a stock code is a service code; text starting with a digit never is."""
    full = f"COALESCE(UPPER({text_value(col)}) IN ({_service_list()}), FALSE)"
    if not _is_text(kind):
        return full
    ident = _ident(col)
    return f"(CASE WHEN {ident} < 'A' AND {ident} >= '!' THEN FALSE ELSE {full} END)"


def row_query(
    found: Mapping[str, str],
    types: Mapping[str, str],
    checks: Sequence[tuple[str, str, str]],
    *,
    fingerprint: str | None,
    raw_keys: bool,
    need: Sequence[str],
    cancel: str | None = None,
    source: str = "raw",
) -> tuple[str, list[str]]:
    """One row per input row: fingerprint, flags and the grouping keys of the features.

    With ``raw_keys`` the customer id, stock code and invoice are kept as read (the rules are
    applied to the distinct values afterwards, see :func:`clean`); otherwise as the rules
    give them. ``cancel`` is the SQL of the cancellation rule (:func:`cancel_sql`), by
    default the invoice starting with C. The rows are read from ``source``, the view ``raw``
    or some of its rows (``(SELECT ... FROM raw ...) AS raw``). Returns the query and the
    names of the fingerprint columns.
    """
    if fingerprint is not None:
        fp_cols = ["__fp"]
        exprs = [f"{fingerprint} AS __fp"]
    else:
        fp_cols = [f"__r{i}" for i in range(len(types))]
        exprs = [f"{_ident(c)} AS __r{i}" for i, c in enumerate(types)]

    def kind(name: str) -> str:
        return types.get(found[name], "VARCHAR")

    def key(name: str) -> str:
        if name not in found:
            return "CAST(NULL AS VARCHAR)"
        raw = raw_keys and _is_text(kind(name))
        return _ident(found[name]) if raw else text_value(found[name])

    cid = found["customer_id"]
    if cancel is None:
        cancel = _is_cancel(found["invoice"], kind("invoice")) if "invoice" in found else "FALSE"
    stock = text_value(found["stock_code"]) if "stock_code" in found else None
    price = _price(found["unit_price"], kind("unit_price")) if "unit_price" in found else None
    exprs += [
        f"{_no_customer(cid, types.get(cid, 'VARCHAR'))} AS __no_id",
        f"{cancel} AS __cancel",
        f"COALESCE({price} <= 0, FALSE) AS __nonpos" if price else "FALSE AS __nonpos",
        f"{_service(found['stock_code'], kind('stock_code'))} AS __service"
        if stock
        else "FALSE AS __service",
    ]
    exprs += [f"COALESCE({bad}, FALSE) AS __bad_{name}" for name, _, bad in checks]
    if raw_keys and "stock_code" in found and _is_text(kind("stock_code")):
        code = _ident(found["stock_code"])  # a stock code the text rule would change
        exprs.append(f"COALESCE({code} = '' OR NOT {_plain(code)}, FALSE) AS __odd")
    else:
        exprs.append("FALSE AS __odd")
    exprs += [
        f"{_ident(cid) if raw_keys else customer_rule(text_value(cid))} AS __cid",
        f"{key('stock_code')} AS __stock",
        f"CASE WHEN {cancel} THEN {key('invoice')} END AS __cinv",
    ]
    if "n_orders" in need:
        exprs.append(f"CASE WHEN NOT {cancel} THEN {key('invoice')} END AS __oinv")
    if needs_dates(need):
        stamp = _timestamp(found["invoice_date"], kind("invoice_date"))
        exprs.append(f"{stamp} AS __date")
    if "month" in need:
        exprs.append(f"DATE_TRUNC('month', {stamp}) AS __month")
    if "country" in need:
        exprs.append(f"{text_value(found['country'])} AS __country")
    if "amount" in need:
        qty = _exact(found["quantity"], kind("quantity"), QUANTITY_TYPE)
        exact_price = _exact(found["unit_price"], kind("unit_price"), PRICE_TYPE)
        # exact: DECIMAL(18, 6) x DECIMAL(19, 8); TRY_CAST: a value that does not fit must
        # reach the value check (raised after the pass that counts it), not fail the pass
        amount = f"{qty} * {exact_price}"
        # a cancellation never adds to spend: a UCI reversal line (negative quantity)
        # subtracts; a shop export's cancelled order keeps its positive quantities (it is the
        # purchase and its reversal at once), so its lines count 0
        amount = f"CASE WHEN {cancel} THEN LEAST({amount}, 0) ELSE {amount} END"
        exprs.append(f"{amount} AS __amount")
    return f"SELECT {', '.join(exprs)} FROM {source}", fp_cols


def needs_dates(need: Sequence[str]) -> bool:
    """Whether the partials ``need`` read each row's date (``__date`` of :func:`row_query`)."""
    return any(p in need for p in ("last_date", "first_date", "month"))


def lines_query(rows: str, fp_cols: Sequence[str], kept: str, need: Sequence[str]) -> str:
    """Per customer and cancellation invoice (NULL for purchases): the feature partials.

    Two plain GROUP BYs, no DISTINCT aggregate unless ``n_orders`` (or a month or country
    grouping) is needed: first (customer, cancellation invoice, stock code [, invoice]
    [, month] [, country]), then (customer, cancellation invoice). Distinct counts need no
    de-duplication; only spend (``amount``: quantity x price over every line, so negative for
    cancellations) sums the distinct lines, so with it the rows are first made distinct by
    their fingerprint.

    With ``month`` or ``country`` in ``need`` the second GROUP BY has more grouping sets,
    told apart by ``__part``: 0 for (customer, cancellation invoice), 1 for (customer,
    month), 2 for (customer, country); ``n_lines`` counts the distinct (product, invoice)
    lines of a row.
    """
    by_invoice = "n_orders" in need
    sets = [p for p in ("month", "country") if p in need]
    distinct = by_invoice or bool(sets)
    keys = ["__cid", "__cinv", "__stock"] + (["__oinv"] if by_invoice else [])
    keys += [f"__{p}" for p in sets]
    dated = needs_dates(need)
    inner: list[str] = []
    if dated:
        inner += ["MAX(__date) AS __date", "MIN(__date) AS __first"]
    if "amount" in need:
        inner.append("SUM(__amount) AS __amount")
        cols = ", ".join(keys + (["__date"] if dated else []) + ["__amount"])
        rows = (
            f"(SELECT {cols} FROM {rows} WHERE {kept} GROUP BY {', '.join(fp_cols)}, {cols}) AS d"
        )
        kept = "TRUE"
    first = f"SELECT {', '.join(keys + inner)} FROM {rows} WHERE {kept} GROUP BY {', '.join(keys)}"
    if distinct:
        outer = [
            "COUNT(DISTINCT __stock) FILTER (WHERE __cinv IS NULL) AS n_products",
            f"COUNT(*) FILTER (WHERE __oinv = '' OR __oinv <> {trim('__oinv')}) AS __odd"
            if by_invoice
            else "0 AS __odd",
        ]
        if by_invoice:
            outer.append("COUNT(DISTINCT __oinv) AS n_orders")
    else:
        outer = ["COUNT(__stock) FILTER (WHERE __cinv IS NULL) AS n_products", "0 AS __odd"]
    if "last_date" in need:
        outer.append("MAX(__date) AS last_date")
    if "first_date" in need:
        outer.append("MIN(__first) AS first_date")
    if "amount" in need:
        outer.append("SUM(__amount) AS amount")
    head = "SELECT __cid AS customer_key, __cinv AS cancel_invoice"
    if not sets:
        return f"{head}, {', '.join(outer)} FROM ({first}) AS k GROUP BY __cid, __cinv"
    part = "CASE" + "".join(
        f" WHEN GROUPING(__{p}) = 0 THEN {1 + ('month', 'country').index(p)}" for p in sets
    )
    grouping = ", ".join(["(__cid, __cinv)"] + [f"(__cid, __{p})" for p in sets])
    cols = "".join(f", __{p} AS {p}" for p in sets)
    return (
        f"{head}{cols}, {part} ELSE 0 END AS __part, COUNT(*) AS n_lines, {', '.join(outer)} "
        f"FROM ({first}) AS k GROUP BY GROUPING SETS ({grouping})"
    )


def feature_sql(features: Sequence[str]) -> str:
    """The query producing one row per customer from the table ``clean``."""
    cols = ", ".join(f"{FEATURE_SQL[f]} AS {f}" for f in features)
    return f"SELECT customer_id, {cols} FROM clean GROUP BY customer_id ORDER BY customer_id"


# --- Windows (features as of a date, over a window) -------------------------------------------
# The clean lines kept with their day, so that the features of any window (as of a date) and of
# many windows at once (one per period end, :mod:`segmint.windows`) come from one GROUP BY.

#: SQL of each feature over the table ``dated`` joined to the table ``ends`` (``e``): one row per
#: (period end, customer). ``net_spend`` (purchases less cancellations) is for ``track``.
WINDOW_FEATURE_SQL: dict[str, str] = {
    "n_products": "COUNT(DISTINCT stock_code) FILTER (WHERE cancel_invoice IS NULL)",
    "n_canceled_orders": "COUNT(DISTINCT cancel_invoice)",
    "n_orders": "COUNT(DISTINCT order_invoice)",
    "recency_days": (
        "DATE_DIFF('day', COALESCE(MAX(day) FILTER (WHERE cancel_invoice IS NULL), MAX(day)), "
        "e.period_end)"
    ),
    "monetary": FEATURE_SQL["monetary"],  # net spend, as FEATURE_SQL
    "cancel_rate": (
        "CAST(COUNT(DISTINCT cancel_invoice) AS DOUBLE) / "
        "(COUNT(DISTINCT cancel_invoice) + COUNT(DISTINCT order_invoice))"
    ),
    "net_spend": FEATURE_SQL["monetary"],
}


def dated_lines_query(rows: str, fp_cols: Sequence[str], kept: str, *, money: bool) -> str:
    """The clean lines per (customer, cancellation invoice, stock code, invoice, day).

    ``rows`` is :func:`row_query` with the rules applied row by row (``raw_keys=False``) and
    ``need`` holding ``n_orders`` and ``last_date`` (and ``amount`` when ``money``). With
    ``money`` the rows are first made distinct by their fingerprint, as in :func:`lines_query`,
    and ``amount`` sums the distinct lines (negative on cancellation lines).
    """
    keys = ["__cid", "__cinv", "__stock", "__oinv", "CAST(__date AS DATE)"]
    if money:
        cols = "__cid, __cinv, __stock, __oinv, __date, __amount"
        rows = f"(SELECT {cols} FROM {rows} WHERE {kept} GROUP BY {', '.join(fp_cols)}, {cols}) d"
        kept = "TRUE"
    amount = ", SUM(__amount) AS amount" if money else ""
    return (
        "SELECT __cid AS customer_id, __cinv AS cancel_invoice, __stock AS stock_code, "
        f"__oinv AS order_invoice, CAST(__date AS DATE) AS day{amount} "
        f"FROM {rows} WHERE {kept} GROUP BY {', '.join(keys)}"
    )


def window_feature_sql(features: Sequence[str]) -> str:
    """One row per (period end, customer with a line in its window) from ``dated`` and ``ends``.

    ``ends`` holds ``period_end`` and ``window_start`` (DATE): a window is the days in
    ``(window_start, period_end]``; recency is measured to ``period_end``.
    """
    cols = ", ".join(f"{WINDOW_FEATURE_SQL[f]} AS {f}" for f in features)
    return (
        f"SELECT e.period_end, d.customer_id, {cols} FROM dated AS d JOIN ends AS e "
        "ON d.day > e.window_start AND d.day <= e.period_end "
        "GROUP BY e.period_end, d.customer_id ORDER BY e.period_end, d.customer_id"
    )


# --- end of windows ---------------------------------------------------------------------------


# -- shop exports: the cancellation rule of any column, order-level fields per order ---------


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def cancel_sql(conditions: Sequence[tuple[str, tuple[str, ...]]]) -> str:
    """SQL of a cancellation rule: true when any condition holds, never NULL.

    Parameters
    ----------
    conditions : sequence of (str, tuple of str)
        ``(raw_column, values)``: the column's text, trimmed and lower-cased, equals one of the
        values (one ending in ``*`` is a prefix); no values: the text is not blank.
    """
    tests: list[str] = []
    for col, values in conditions:
        text = text_value(col)
        if not values:
            tests.append(f"COALESCE({text} IS NOT NULL, FALSE)")
            continue
        exact = [v.lower() for v in values if not v.endswith("*")]
        prefixes = [v[:-1].lower() for v in values if v.endswith("*")]
        parts = [f"LOWER({text}) IN ({', '.join(_literal(v) for v in exact)})"] if exact else []
        parts += [f"LEFT(LOWER({text}), {len(p)}) = {_literal(p)}" for p in prefixes]
        tests.append(f"COALESCE({' OR '.join(parts)}, FALSE)")
    return "(" + " OR ".join(tests) + ")" if tests else "FALSE"


def order_query(
    types: Mapping[str, str],
    order_key: str | None,
    fill: Sequence[str],
    fallbacks: Mapping[str, Sequence[str]],
    view: str,
) -> tuple[str, dict[str, str]]:
    """Every row of ``view`` with the order's value where an order-level field is blank.

    Shop exports write one row per line item and the order's fields (email, status, dates)
    on its first row only. A row whose ``fill`` column is blank takes the order's value:
    the largest non-blank value over the rows with its order number (``order_key``), the one
    value the export wrote for the order. It reads order numbers, not row order, so it holds
    however an engine splits or reorders the rows; a row without order number keeps its own
    values. A column of ``fallbacks`` reads its fallback columns where it is blank (a line
    item without SKU: its name). Other columns are passed on as they are.

    Returns
    -------
    (str, dict of str to str)
        The query, and ``types`` with the columns it turned into text.
    """
    key = text_value(order_key) if order_key is not None else None
    out_types = dict(types)
    exprs: list[str] = []
    for col in types:
        value = _ident(col)
        if key is not None and col in fill and _is_text(types[col]):
            value = text_value(col)
        if col in fallbacks:
            value = f"COALESCE({', '.join([text_value(col), *map(text_value, fallbacks[col])])})"
            out_types[col] = "VARCHAR"
        if key is not None and col in fill and col != order_key:
            value = (
                f"CASE WHEN {key} IS NULL THEN {value} "
                f"ELSE COALESCE({value}, MAX({value}) OVER (PARTITION BY {key})) END"
            )
        exprs.append(f"{value} AS {_ident(col)}" if value != _ident(col) else value)
    return f"SELECT {', '.join(exprs)} FROM {_ident(view)}", out_types
