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
    "FEATURE_DTYPES",
    "FEATURE_SQL",
    "PARTIALS",
    "PRICE_TYPE",
    "QUANTITY_TYPE",
    "WHITESPACE",
    "canonical_select",
    "customer_rule",
    "feature_sql",
    "ident",
    "lines_query",
    "row_query",
    "text_of",
    "text_value",
    "trim",
    "value_checks",
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

#: Partial columns of the table ``clean`` that each feature reads (besides ``n_products``).
PARTIALS: dict[str, tuple[str, ...]] = {
    "n_orders": ("n_orders",),
    "cancel_rate": ("n_orders",),
    "recency_days": ("last_date",),
    "monetary": ("monetary",),
}


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
    # exact sum, then the nearest double (through text: the decimal-to-double casts of the
    # engines may be off by one unit in the last place, their text-to-double ones are not)
    "monetary": "CAST(CAST(COALESCE(SUM(monetary), 0) AS VARCHAR) AS DOUBLE)",
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
    tries = ", ".join(f"TRY_STRPTIME({text}, '{fmt}')" for fmt in DATE_FORMATS)
    return f"COALESCE({tries})"


def canonical_select(
    found: Mapping[str, str], types: Mapping[str, str], wanted: Sequence[str]
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
            f"COALESCE(UPPER({text_value(found['invoice'])}) LIKE 'C%', FALSE) AS is_cancel"
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
) -> tuple[str, list[str]]:
    """One row per input row: fingerprint, flags and the grouping keys of the features.

    With ``raw_keys`` the customer id, stock code and invoice are kept as read (the rules are
    applied to the distinct values afterwards, see :func:`clean`); otherwise as the rules
    give them. Returns the query and the names of the fingerprint columns.
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
    if "last_date" in need:
        exprs.append(f"{_timestamp(found['invoice_date'], kind('invoice_date'))} AS __date")
    if "monetary" in need:
        qty = _exact(found["quantity"], kind("quantity"), QUANTITY_TYPE)
        exact_price = _exact(found["unit_price"], kind("unit_price"), PRICE_TYPE)
        # TRY_CAST: a value that does not fit must reach the value check (raised after the
        # pass that counts it), not fail the pass
        exprs.append(f"{qty} * {exact_price} AS __amount")
    return f"SELECT {', '.join(exprs)} FROM raw", fp_cols


def lines_query(rows: str, fp_cols: Sequence[str], kept: str, need: Sequence[str]) -> str:
    """Per customer and cancellation invoice (NULL for purchases): the feature partials.

    Two plain GROUP BYs, no DISTINCT aggregate unless ``n_orders`` is needed: first
    (customer, cancellation invoice, stock code [, invoice]), then (customer, cancellation
    invoice). Distinct counts need no de-duplication; only spend (``monetary``) sums the
    distinct lines, so with it the rows are first made distinct by their fingerprint.
    """
    keys = ["__cid", "__cinv", "__stock"] + (["__oinv"] if "n_orders" in need else [])
    inner: list[str] = []
    if "last_date" in need:
        inner.append("MAX(__date) AS __date")
    if "monetary" in need:
        inner.append("SUM(__amount) AS __amount")
        cols = ", ".join(keys + (["__date"] if "last_date" in need else []) + ["__amount"])
        rows = (
            f"(SELECT {cols} FROM {rows} WHERE {kept} GROUP BY {', '.join(fp_cols)}, {cols}) AS d"
        )
        kept = "TRUE"
    first = f"SELECT {', '.join(keys + inner)} FROM {rows} WHERE {kept} GROUP BY {', '.join(keys)}"
    if "n_orders" in need:
        outer = [
            "COUNT(DISTINCT __stock) FILTER (WHERE __cinv IS NULL) AS n_products",
            "COUNT(DISTINCT __oinv) AS n_orders",
            f"COUNT(*) FILTER (WHERE __oinv = '' OR __oinv <> {trim('__oinv')}) AS __odd",
        ]
    else:
        outer = ["COUNT(__stock) FILTER (WHERE __cinv IS NULL) AS n_products", "0 AS __odd"]
    if "last_date" in need:
        outer.append("MAX(__date) AS last_date")
    if "monetary" in need:
        outer.append("SUM(__amount) FILTER (WHERE __cinv IS NULL) AS monetary")
    return (
        f"SELECT __cid AS customer_key, __cinv AS cancel_invoice, {', '.join(outer)} "
        f"FROM ({first}) AS k GROUP BY __cid, __cinv"
    )


def feature_sql(features: Sequence[str]) -> str:
    """The query producing one row per customer from the table ``clean``."""
    cols = ", ".join(f"{FEATURE_SQL[f]} AS {f}" for f in features)
    return f"SELECT customer_id, {cols} FROM clean GROUP BY customer_id ORDER BY customer_id"
