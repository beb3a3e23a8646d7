"""Cleaning rules, as SQL written once for every engine, with an audit of every row dropped.

The rule (DESIGN.md): drop exact duplicate rows (equal in every column of the input) and rows
without a customer id. Optionally (``exclude_service_codes``) also drop lines with a zero or
negative price and lines whose stock code is a service code (postage, fees, manual entries).

The SQL here is DuckDB's dialect; other engines translate it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError
from segmint.schema import DEFAULT_FEATURES, SERVICE_CODES

if TYPE_CHECKING:
    from segmint.engines import Engine
    from segmint.loading import Source

__all__ = ["AUDIT_LABELS", "Audit", "canonical_select", "clean"]

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

COPIES = "__segmint_copies"

#: Human labels of the audit figures, in the order they are printed.
AUDIT_LABELS: dict[str, str] = {
    "rows_read": "rows read",
    "duplicate_rows": "exact duplicate rows",
    "rows_without_customer_id": "rows without customer id",
    "rows_excluded": "service-code or non-positive-price lines excluded",
    "rows_kept": "rows kept",
    "customers": "customers",
    "cancellation_lines": "cancellation lines",
    "cancellation_invoices": "cancellation invoices",
    "nonpositive_price_lines": "lines with zero or negative price",
    "service_code_lines": "lines with service codes",
}


@dataclass(frozen=True)
class Audit:
    """What cleaning read, dropped and kept.

    ``duplicate_rows`` and ``rows_without_customer_id`` are both counted on the input, so a
    duplicated row without customer id counts in both; ``rows_kept`` is exact:
    distinct rows with a customer id (less ``rows_excluded`` when service codes are dropped).
    The last four figures describe the kept rows.
    """

    rows_read: int
    duplicate_rows: int
    rows_without_customer_id: int
    rows_excluded: int
    rows_kept: int
    customers: int
    cancellation_lines: int
    cancellation_invoices: int
    nonpositive_price_lines: int
    service_code_lines: int

    def to_dict(self) -> dict[str, int]:
        """The figures as a plain dict, in print order."""
        return {k: int(v) for k, v in asdict(self).items()}


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(col: str) -> str:
    return _text_of(_ident(col))


def _text_of(expr: str) -> str:
    return f"NULLIF(TRIM(CAST({expr} AS VARCHAR)), '')"


def _number(col: str, sql_type: str) -> str:
    if _is_numeric(sql_type):
        return f"CAST({_ident(col)} AS DOUBLE)"
    # blank text casts to NULL as it is: no NULLIF, which DuckDB expands to a CASE naming
    # the TRIM twice, and its optimizer then trims every row ahead of the COALESCE in _price
    return f"TRY_CAST(TRIM(CAST({_ident(col)} AS VARCHAR)) AS DOUBLE)"


def _is_numeric(sql_type: str) -> bool:
    upper = sql_type.upper()
    return any(t in upper for t in ("INT", "DOUBLE", "FLOAT", "DECIMAL", "REAL", "NUMERIC"))


def _timestamp(col: str, sql_type: str) -> str:
    if any(t in sql_type.upper() for t in ("TIMESTAMP", "DATE")):
        return f"CAST({_ident(col)} AS TIMESTAMP)"
    text = _text(col)
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
            expr = f"NULLIF(REGEXP_REPLACE({_text(col)}, '[.]0+$', ''), '')"
        elif name in ("quantity", "unit_price"):
            expr = _number(col, kind)
        elif name == "invoice_date":
            expr = _timestamp(col, kind)
        else:
            expr = _text(col)
        exprs.append(f"{expr} AS {name}")
    if "invoice" in wanted:
        exprs.append(f"COALESCE(UPPER({_text(found['invoice'])}) LIKE 'C%', FALSE) AS is_cancel")
    return ", ".join(exprs)


def _service_list() -> str:
    return ", ".join("'" + code + "'" for code in SERVICE_CODES)


def _check_values(
    engine: Engine,
    source: Source,
    found: Mapping[str, str],
    types: Mapping[str, str],
    wanted: Sequence[str],
    counts: Mapping[str, int] | None = None,
) -> None:
    """Fail with the first bad value of a needed numeric or date column.

    ``counts`` (``{canonical: number of bad values}``) saves the counting scan when a pass
    over the rows has already counted them (see :func:`_value_checks`).
    """
    checks = _value_checks(found, types, wanted)
    if not checks:
        return
    if counts is None:
        sums = ", ".join(f"COUNT(*) FILTER (WHERE {bad}) AS {name}" for name, _, bad in checks)
        try:
            row = engine.fetch(f"SELECT {sums} FROM raw").to_pylist()[0]
        except Exception as exc:
            raise source.read_error(exc) from None
    else:
        row = dict(counts)
    for name, col, bad in checks:
        n_bad = int(row[name] or 0)
        if n_bad == 0:
            continue
        sample = engine.fetch(f"SELECT {_text(col)} AS v FROM raw WHERE {bad} LIMIT 1")
        value = sample.to_pylist()[0]["v"] if sample.num_rows else "?"
        first = f"first: {value!r}{_csv_line(source, col, value)}"
        if name == "invoice_date":
            raise SegmintError(
                f"{source.label}: {n_bad} value(s) in column {col!r} are not dates "
                f"({first}); use a form like 2010-12-01 08:26:00, or leave out "
                "the date features"
            )
        comma = isinstance(value, str) and re.fullmatch(r"[-+]?\d+,\d+", value)
        raise SegmintError(
            f"{source.label}: {n_bad} value(s) in column {col!r} are not finite numbers "
            f"({first}); "
            + (
                "write numbers with a decimal point (2.55, not 2,55)"
                if comma
                else "fix or remove those rows"
            )
        )


def _csv_line(source: Source, col: str, value: object, max_rows: int = 5_000_000) -> str:
    """``", line N"`` where ``value`` first stands in column ``col`` of a CSV source.

    Only called on the error path: it re-reads the files with Python's csv module (up to
    ``max_rows`` rows), and gives ``""`` when it cannot tell.
    """
    import csv
    import gzip

    if source.format != "csv" or not source.paths or not source.header or value is None:
        return ""
    if col not in source.header or source.delimiter is None:
        return ""
    index, rows = source.header.index(col), 0
    encoding = "utf-8-sig" if source.encoding == "utf-8" else source.encoding
    for path in source.paths:
        opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
        try:
            with opener(path, "rt", encoding=encoding, errors="replace", newline="") as handle:
                reader = csv.reader(handle, delimiter=source.delimiter)
                next(reader, None)
                for row in reader:
                    rows += 1
                    if index < len(row) and row[index].strip() == value:
                        of = f" of {path.name}" if len(source.paths) > 1 else ""
                        return f", line {reader.line_num}{of}"
                    if rows >= max_rows:
                        return ""
        except (OSError, EOFError, csv.Error):
            return ""
    return ""


def _value_checks(
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
            bad = f"{_text(col)} IS NOT NULL AND {_timestamp(col, kind)} IS NULL"
        elif _is_numeric(kind):  # a number is never blank: skip the text round trip
            bad = f"{_ident(col)} IS NOT NULL AND NOT isfinite({_number(col, kind)})"
        else:
            value = _number(col, kind)
            bad = f"{_text(col)} IS NOT NULL AND ({value} IS NULL OR NOT isfinite({value}))"
        checks.append((name, col, bad))
    return checks


def _is_text(sql_type: str) -> bool:
    upper = sql_type.upper()
    return upper.startswith(("VARCHAR", "STRING", "TEXT", "CHAR"))


def _customer(text: str) -> str:
    """The customer id rule on a text expression: ``17850.0`` reads ``17850``, blank is NULL."""
    return f"NULLIF(REGEXP_REPLACE({text}, '[.]0+$', ''), '')"


def _no_customer(col: str, kind: str) -> str:
    """True when a row has no customer id, with the costly rule only where it can matter.

    A text id that is not blank and starts with a character from ``0`` to ``~`` (so neither
    a space, which TRIM strips, nor a dot, nor a non-ASCII character, which TRIM may strip)
    is never empty after the rule.
    """
    ident = _ident(col)
    if not _is_text(kind):
        return f"({ident} IS NULL)"
    return (
        f"(CASE WHEN {ident} IS NULL THEN TRUE WHEN {ident} < '0' OR {ident} >= chr(128) "
        f"THEN {_customer(_text(col))} IS NULL ELSE FALSE END)"
    )


def _is_cancel(col: str, kind: str) -> str:
    """``UPPER(TRIM(invoice)) LIKE 'C%'``, trimming and upper-casing only where it can matter."""
    full = f"COALESCE(UPPER({_text(col)}) LIKE 'C%', FALSE)"
    if not _is_text(kind):
        return full
    ident = _ident(col)
    return (
        f"(CASE WHEN {ident} LIKE 'C%' OR {ident} LIKE 'c%' THEN TRUE "
        f"WHEN {ident} LIKE ' %' OR {ident} >= chr(128) THEN {full} ELSE FALSE END)"
    )


def _plain(ident: str) -> str:
    """True when TRIM cannot change this text: no space or non-ASCII character at either end.

    Checking that is cheaper than trimming every row; only text that fails the check goes
    through the full rule.
    """
    return (
        f"NOT ({ident} LIKE ' %' OR {ident} LIKE '% ' OR {ident} >= chr(128) "
        f"OR RIGHT({ident}, 1) >= chr(128))"
    )


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
    full = f"COALESCE(UPPER({_text(col)}) IN ({_service_list()}), FALSE)"
    if not _is_text(kind):
        return full
    ident = _ident(col)
    return f"(CASE WHEN {ident} < 'A' AND NOT {ident} LIKE ' %' THEN FALSE ELSE {full} END)"


def _rows(
    found: Mapping[str, str],
    types: Mapping[str, str],
    checks: Sequence[tuple[str, str, str]],
    *,
    fingerprint: Any,
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
        exprs = [f"{fingerprint(list(types))} AS __fp"]
    else:
        fp_cols = [f"__r{i}" for i in range(len(types))]
        exprs = [f"{_ident(c)} AS __r{i}" for i, c in enumerate(types)]

    def kind(name: str) -> str:
        return types.get(found[name], "VARCHAR")

    def key(name: str) -> str:
        if name not in found:
            return "CAST(NULL AS VARCHAR)"
        raw = raw_keys and _is_text(kind(name))
        return _ident(found[name]) if raw else _text(found[name])

    cid = found["customer_id"]
    cancel = _is_cancel(found["invoice"], kind("invoice")) if "invoice" in found else "FALSE"
    stock = _text(found["stock_code"]) if "stock_code" in found else None
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
        f"{_ident(cid) if raw_keys else _customer(_text(cid))} AS __cid",
        f"{key('stock_code')} AS __stock",
        f"CASE WHEN {cancel} THEN {key('invoice')} END AS __cinv",
    ]
    if "n_orders" in need:
        exprs.append(f"CASE WHEN NOT {cancel} THEN {key('invoice')} END AS __oinv")
    if "last_date" in need:
        exprs.append(f"{_timestamp(found['invoice_date'], kind('invoice_date'))} AS __date")
    if "monetary" in need:
        qty = _number(found["quantity"], kind("quantity"))
        # TRY_CAST: a value that is not finite must reach the value check (raised after the
        # pass that counts it), not fail the pass
        exprs.append(
            f"TRY_CAST({qty} AS DECIMAL(18, 3)) * TRY_CAST({price} AS DECIMAL(18, 4)) AS __amount"
        )
    return f"SELECT {', '.join(exprs)} FROM raw", fp_cols


def _lines_query(rows: str, fp_cols: Sequence[str], kept: str, need: Sequence[str]) -> str:
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
            "COUNT(*) FILTER (WHERE __oinv = '' OR __oinv <> TRIM(__oinv)) AS __odd",
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


def _figures(counts: Sequence[Mapping[str, Any]], exclude: bool) -> dict[str, int]:
    """The audit figures from ``rows`` and ``lines`` (distinct rows) per combination of flags."""

    def total(column: str, keep: Any) -> int:
        return sum(int(c[column] or 0) for c in counts if keep(c))

    def excluded(c: Mapping[str, Any]) -> bool:
        return exclude and bool(c["__nonpos"] or c["__service"])

    def ok(c: Mapping[str, Any]) -> bool:
        return not c["__no_id"] and not excluded(c)

    rows = total("rows", lambda c: True)
    return {
        "rows_read": rows,
        "duplicate_rows": rows - total("lines", lambda c: True),
        "rows_without_customer_id": total("rows", lambda c: c["__no_id"]),
        "rows_excluded": total("lines", lambda c: not c["__no_id"] and excluded(c)),
        "rows_kept": total("lines", ok),
        "cancellation_lines": total("lines", lambda c: ok(c) and c["__cancel"]),
        "nonpositive_price_lines": total("lines", lambda c: ok(c) and c["__nonpos"]),
        "service_code_lines": total("lines", lambda c: ok(c) and c["__service"]),
    }


#: Partial columns of the table ``clean`` that each feature reads (besides ``n_products``).
PARTIALS: dict[str, tuple[str, ...]] = {
    "n_orders": ("n_orders",),
    "cancel_rate": ("n_orders",),
    "recency_days": ("last_date",),
    "monetary": ("monetary",),
}


def clean(
    engine: Engine,
    source: Source,
    found: Mapping[str, str],
    types: Mapping[str, str],
    wanted: Sequence[str],
    *,
    exclude_service_codes: bool = False,
    features: Sequence[str] = DEFAULT_FEATURES,
) -> Audit:
    """Summarise the clean lines per customer as the table ``clean`` and return the audit.

    Parameters
    ----------
    engine : Engine
        An engine on which ``source`` is registered as the view ``raw``. Optional speed-ups
        an engine may offer (DuckDB does): ``fingerprint(columns) -> sql``, a 64-bit hash of
        the whole row, to count duplicate rows by instead of grouping by every column; and
        ``sorted_counts(query, flags, lines=None)``, the same counts by sorting, where
        ``can_sort(source)`` says they fit in memory.
    source : Source
        For error messages.
    found : mapping of str to str
        ``{canonical: raw_column}``.
    types : mapping of str to str
        ``{raw_column: sql_type}``.
    wanted : sequence of str
        Canonical columns the features need (``customer_id`` included).
    exclude_service_codes : bool, default=False
        Also drop lines with a service stock code or a zero or negative price.
    features : sequence of str, default=("n_products", "n_canceled_orders")
        The features that will be asked of ``clean`` (see :mod:`segmint.features`).

    Returns
    -------
    Audit
        The figures. The table ``clean`` then holds, per customer, one row for its purchases
        (``cancel_invoice`` NULL) and one per cancellation invoice: ``customer_id`` (text, by
        the rule), ``cancel_invoice``, ``n_products`` (distinct stock codes of the purchase
        lines), and the partials :data:`PARTIALS` lists for ``features``: ``n_orders``
        (distinct purchase invoices), ``last_date`` (latest line), ``monetary`` (spend on
        the distinct purchase lines).

    Notes
    -----
    At scale (tens of millions of rows) the cost lies in hash tables over many distinct
    keys and in text functions, so the rules are arranged to need few of either:

    - distinct counts do not change when exact duplicates are removed, so the features are
      counted on the rows as read; only the audit counts (and ``monetary`` sums) distinct
      lines, by a whole-row fingerprint and a few flags;
    - customer ids, stock codes and invoices are grouped as read, and the text rules (trim,
      blank is NULL, ``17850.0`` reads ``17850``) are applied afterwards to the distinct
      values. Should a rule merge two values or change one that counts, the grouping is
      repeated with the rules applied row by row, so the result is the same either way.
    """
    needed = list(wanted)
    need = sorted({p for f in features for p in PARTIALS.get(f, ())})
    checks = _value_checks(found, types, needed)
    fingerprint = getattr(engine, "fingerprint", None)
    fits = getattr(engine, "can_sort", None)
    sorter = getattr(engine, "sorted_counts", None) if fits and fits(source) else None
    fast_sql, fp_cols = _rows(
        found, types, checks, fingerprint=fingerprint, raw_keys=True, need=need
    )
    excluded = "(__nonpos OR __service)" if exclude_service_codes else "FALSE"
    kept = f"NOT __no_id AND NOT {excluded}"
    sort_lines = sorter is not None and not need  # the default features, in one pass
    # (with it, stock codes the text rule would change are looked for among distinct values)
    flags = ["__no_id", "__cancel", "__nonpos", "__service"] + ([] if sort_lines else ["__odd"])
    flags += [f"__bad_{n}" for n, _, _ in checks]
    staged = fingerprint is not None and source.format == "csv" and not sort_lines
    try:
        if staged:  # parse the text once; both passes below read the staged rows
            engine.materialize("staged", fast_sql)
        rows = "staged" if staged else f"({fast_sql}) AS r"
        if sorter is not None:
            counts = sorter(
                f"SELECT *, {kept} AS __kept FROM {rows}",
                flags,
                lines="lines" if sort_lines else None,
            ).to_pylist()
        else:
            counts = engine.fetch(
                f"SELECT {', '.join(flags)}, SUM(__copies) AS rows, COUNT(*) AS lines FROM ("
                f"SELECT COUNT(*) AS __copies, {', '.join(flags)} FROM {rows} "
                f"GROUP BY {', '.join(fp_cols + flags)}) AS g GROUP BY {', '.join(flags)}"
            ).to_pylist()
    except SegmintError:
        raise
    except Exception as exc:
        raise source.read_error(exc) from None
    figures = _figures(counts, exclude_service_codes)
    _check_values(
        engine,
        source,
        found,
        types,
        needed,
        counts={n: sum(int(c["rows"]) for c in counts if c[f"__bad_{n}"]) for n, _, _ in checks},
    )
    if figures["rows_read"] == 0:
        raise SegmintError(f"{source.label} has a header but no rows; export the transactions")
    no_customers = SegmintError(
        f"{source.label}: every row lacks a customer id (column {found['customer_id']!r}); "
        "map the right column with --column customer_id=NAME"
    )
    if figures["rows_kept"] == 0:
        raise no_customers

    odd = sum(int(c["rows"]) for c in counts if c.get("__odd") and not c["__no_id"])
    if not sort_lines:
        engine.materialize("lines", _lines_query(rows, fp_cols, kept, need))
    customer_id = _customer(_text_of("customer_key"))
    # the sort path gives every customer key once with cancel_invoice NULL
    keys = (
        "SELECT customer_key FROM lines WHERE cancel_invoice IS NULL"
        if sort_lines
        else "SELECT DISTINCT customer_key FROM lines"
    )
    check = engine.fetch(
        f"""
        SELECT * FROM (
          SELECT COUNT(customer_key) AS n_keys, COUNT(DISTINCT {customer_id}) AS customers
          FROM ({keys}) AS k
        ), (
          SELECT COUNT(DISTINCT cancel_invoice) AS cancellation_invoices,
            COUNT(*) FILTER (WHERE cancel_invoice <> TRIM(cancel_invoice)) AS odd_cancel,
            {
            "(SELECT COUNT(*) FROM lines__values WHERE value = '' OR value <> TRIM(value))"
            if sort_lines
            else "COALESCE(SUM(__odd), 0)"
        } AS odd_values
          FROM lines
        )
        """
    ).to_pylist()[0]
    extra = {k: check.pop(k) for k in ("customers", "cancellation_invoices")}
    check["merged"] = check.pop("n_keys") - extra["customers"]  # keys one rule makes one
    if odd or any(int(v or 0) for v in check.values()):
        # a text rule merges or changes grouped values: group again, rules applied row by row
        exact_sql, _ = _rows(
            found, types, checks, fingerprint=fingerprint, raw_keys=False, need=need
        )
        engine.materialize("lines", _lines_query(f"({exact_sql}) AS r", fp_cols, kept, need))
        customer_id = "customer_key"
        extra = engine.fetch(
            "SELECT COUNT(DISTINCT customer_key) AS customers, "
            "COUNT(DISTINCT cancel_invoice) AS cancellation_invoices FROM lines"
        ).to_pylist()[0]
    if staged:
        getattr(engine, "drop", lambda name: None)("staged")
    partials = ", ".join(["n_products", *need])
    engine.materialize(
        "clean",
        f"SELECT {customer_id} AS customer_id, cancel_invoice, {partials} FROM lines",
    )
    audit = Audit(**figures, **{k: int(v or 0) for k, v in extra.items()})
    if audit.customers == 0:
        raise no_customers
    return audit
