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
from segmint.schema import SERVICE_CODES

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
    return f"NULLIF(TRIM(CAST({_ident(col)} AS VARCHAR)), '')"


def _number(col: str, sql_type: str) -> str:
    if _is_numeric(sql_type):
        return f"CAST({_ident(col)} AS DOUBLE)"
    return f"TRY_CAST({_text(col)} AS DOUBLE)"


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
    engine: Engine, source: Source, found: Mapping[str, str], types: Mapping[str, str],
    wanted: Sequence[str],
) -> None:
    """Fail with the first bad value of a needed numeric or date column."""
    checks = []
    for name in ("quantity", "unit_price", "invoice_date"):
        if name not in wanted:
            continue
        col = found[name]
        raw = _text(col)
        if name == "invoice_date":
            if any(t in types.get(col, "").upper() for t in ("TIMESTAMP", "DATE")):
                continue
            bad = f"{raw} IS NOT NULL AND {_timestamp(col, types.get(col, 'VARCHAR'))} IS NULL"
        else:
            value = _number(col, types.get(col, "VARCHAR"))
            bad = f"{raw} IS NOT NULL AND ({value} IS NULL OR NOT isfinite({value}))"
        checks.append((name, col, bad))
    if not checks:
        return
    counts = ", ".join(f"COUNT(*) FILTER (WHERE {bad}) AS {name}" for name, _, bad in checks)
    try:
        row = engine.fetch(f"SELECT {counts} FROM raw").to_pylist()[0]
    except Exception as exc:
        raise source.read_error(exc) from None
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
            + ("write numbers with a decimal point (2.55, not 2,55)" if comma
               else "fix or remove those rows")
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


def clean(
    engine: Engine,
    source: Source,
    found: Mapping[str, str],
    types: Mapping[str, str],
    wanted: Sequence[str],
    *,
    exclude_service_codes: bool = False,
) -> Audit:
    """Materialise the clean lines as the table ``clean`` and return the audit.

    Parameters
    ----------
    engine : Engine
        An engine on which ``source`` is registered as the view ``raw``.
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

    Returns
    -------
    Audit
        The figures; the table ``clean`` then holds one row per kept line with the wanted
        canonical columns and ``is_cancel``.
    """
    needed = list(wanted)
    _check_values(engine, source, found, types, needed)
    wanted = [c for c in found if c in needed or c in ("invoice", "stock_code", "unit_price")]
    # (the audit also counts cancellations, prices and service codes when those columns exist;
    # a bad value in a column no feature needs is read as missing, not an error)
    raw_cols = ", ".join(_ident(c) for c in types)
    select = canonical_select(found, types, wanted)
    try:
        engine.materialize(
            "lines",
            f"SELECT {select}, {COPIES} FROM "
            f"(SELECT {raw_cols}, COUNT(*) AS {COPIES} FROM raw GROUP BY {raw_cols}) AS g",
        )
    except SegmintError:
        raise
    except Exception as exc:
        raise source.read_error(exc) from None

    has_price = "unit_price" in wanted
    has_code = "stock_code" in wanted
    nonpositive = "unit_price <= 0" if has_price else "FALSE"
    service = f"UPPER(stock_code) IN ({_service_list()})" if has_code else "FALSE"
    excluded = f"({nonpositive} OR {service})" if exclude_service_codes else "FALSE"
    kept = "customer_id IS NOT NULL"
    cancel = "is_cancel" if "invoice" in wanted else "FALSE"
    invoice = "invoice" if "invoice" in wanted else "NULL"
    figures = engine.fetch(
        f"""
        SELECT
          SUM({COPIES}) AS rows_read,
          SUM({COPIES} - 1) AS duplicate_rows,
          COALESCE(SUM({COPIES}) FILTER (WHERE customer_id IS NULL), 0)
            AS rows_without_customer_id,
          COUNT(*) FILTER (WHERE {kept} AND {excluded}) AS rows_excluded,
          COUNT(*) FILTER (WHERE {kept} AND NOT {excluded}) AS rows_kept,
          COUNT(DISTINCT customer_id) FILTER (WHERE NOT {excluded}) AS customers,
          COUNT(*) FILTER (WHERE {kept} AND NOT {excluded} AND {cancel}) AS cancellation_lines,
          COUNT(DISTINCT {invoice}) FILTER (WHERE {kept} AND NOT {excluded} AND {cancel})
            AS cancellation_invoices,
          COUNT(*) FILTER (WHERE {kept} AND NOT {excluded} AND {nonpositive})
            AS nonpositive_price_lines,
          COUNT(*) FILTER (WHERE {kept} AND NOT {excluded} AND {service}) AS service_code_lines
        FROM lines
        """
    ).to_pylist()[0]
    audit = Audit(**{k: int(v or 0) for k, v in figures.items()})
    if audit.rows_read == 0:
        raise SegmintError(f"{source.label} has a header but no rows; export the transactions")
    if audit.customers == 0:
        raise SegmintError(
            f"{source.label}: every row lacks a customer id (column {found['customer_id']!r}); "
            "map the right column with --column customer_id=NAME"
        )
    engine.materialize("clean", f"SELECT * FROM lines WHERE {kept} AND NOT {excluded}")
    return audit
