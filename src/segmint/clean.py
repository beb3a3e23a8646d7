"""Cleaning: run the rules on an engine, keep the clean lines per customer, audit every drop.

:func:`clean` registers a source on an engine, maps its columns onto the canonical ones, checks
the values the features need and leaves the clean lines, summarised per customer, in the
engine (:class:`Cleaned`), with the :class:`~segmint.schema.Audit` of what was read, dropped and
kept. The rules themselves are SQL in :mod:`segmint.rules`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segmint._bad_values import check_values
from segmint.errors import SegmintError
from segmint.io.sources import EncodingError, with_file_encoding
from segmint.rules import (
    PARTIALS,
    customer_rule,
    lines_query,
    row_query,
    text_of,
    trim,
    value_checks,
)
from segmint.schema import DEFAULT_FEATURES, Audit, required_columns, resolve_columns

if TYPE_CHECKING:
    from segmint.engines.base import Engine
    from segmint.io.sources import Source

__all__ = ["CLEAN_TABLE", "Cleaned", "clean"]

#: The engine table holding the clean lines per customer (what :mod:`segmint.features` reads).
CLEAN_TABLE = "clean"


@dataclass(frozen=True)
class Cleaned:
    """The clean lines of a source, summarised per customer on an engine.

    Attributes
    ----------
    engine : Engine
        Where the table lives; valid until the engine is closed.
    table : str
        The engine table (:data:`CLEAN_TABLE`): per customer one row for its purchases
        (``cancel_invoice`` NULL) and one per cancellation invoice, with the partial counts
        :data:`segmint.rules.PARTIALS` lists for ``features``.
    source : Source
        The input, as resolved (its ``label`` names it in messages).
    audit : Audit
        Rows read, dropped and kept.
    features : tuple of str
        The features the table can give.
    """

    engine: Engine
    table: str
    source: Source
    audit: Audit
    features: tuple[str, ...]


def clean(
    engine: Engine,
    source: Source,
    *,
    features: Sequence[str] = DEFAULT_FEATURES,
    columns: Mapping[str, str] | None = None,
    exclude_service_codes: bool = False,
) -> Cleaned:
    """Register ``source`` on ``engine``, clean it and keep the clean lines per customer.

    Parameters
    ----------
    engine : Engine
        Where the SQL runs.
    source : Source
        The resolved input (:func:`segmint.io.sources.resolve_source`).
    features : sequence of str, default=("n_products", "n_canceled_orders")
        The features that will be asked of the result (:mod:`segmint.features`); they decide
        which columns are required.
    columns : mapping of str to str, optional
        ``{canonical: their_name}`` for column names segmint does not recognise.
    exclude_service_codes : bool, default=False
        Also drop lines with a service stock code or a zero or negative price.

    Returns
    -------
    Cleaned

    Raises
    ------
    SegmintError
        For a source without columns, with two columns of one name, without a needed column,
        with values that do not read, or without any row that has a customer id.
    """
    if source.header is not None:  # known from sniffing: fail before the engine reads it
        resolve_columns(
            source.header, columns, required=required_columns(features), source=source.label
        )
    try:
        return _clean(engine, source, features, columns, exclude_service_codes)
    except EncodingError:
        # the first MiB said UTF-8 and a later byte did not: read the whole file as Latin-1
        # if all of it is (the Kaggle copy of Online Retail), else say what mixes
        latin = with_file_encoding(source)
        if latin is None:
            raise
        return _clean(engine, latin, features, columns, exclude_service_codes)


def _clean(
    engine: Engine,
    source: Source,
    features: Sequence[str],
    columns: Mapping[str, str] | None,
    exclude_service_codes: bool,
) -> Cleaned:
    """:func:`clean` in one encoding."""
    described = engine.register(source, "raw")
    if not described:
        raise SegmintError(f"{source.label} has no columns; export the transactions again")
    names = [c for c, _ in described]
    if len(set(names)) != len(names):
        dupes = sorted(c for c, n in Counter(names).items() if n > 1)
        raise SegmintError(f"{source.label} has two columns named {dupes[0]!r}; rename one")
    needed = required_columns(features)
    found = resolve_columns(names, columns, required=needed, source=source.label)
    kinds = dict(described)
    for canonical, col in found.items():  # one rule for every format: values are scalars
        kind = kinds.get(col, "VARCHAR").upper()
        if any(t in kind for t in ("STRUCT", "MAP", "[]", "LIST", "UNION", "BLOB")):
            raise SegmintError(
                f"{source.label}: column {col!r} ({canonical}) holds {kind.split('(')[0]} "
                "values, not text, numbers or dates; export it as plain values"
            )
    audit = _clean_lines(
        engine,
        source,
        found,
        dict(described),
        needed,
        exclude_service_codes=exclude_service_codes,
        features=features,
    )
    return Cleaned(engine, CLEAN_TABLE, source, audit, tuple(features))


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


def _clean_lines(
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
        An engine on which ``source`` is registered as the view ``raw``. Its capabilities
        (:class:`~segmint.engines.base.Engine`) choose the fastest way: a whole-row
        ``fingerprint`` to count duplicate rows by instead of grouping by every column, and
        ``sorted_counts``, the same counts by sorting, where ``can_sort(source)`` says so.
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
    checks = value_checks(found, types, needed)
    fingerprint = engine.fingerprint(list(types))
    sorts = engine.can_sort(source)
    fast_sql, fp_cols = row_query(
        found, types, checks, fingerprint=fingerprint, raw_keys=True, need=need
    )
    excluded = "(__nonpos OR __service)" if exclude_service_codes else "FALSE"
    kept = f"NOT __no_id AND NOT {excluded}"
    sort_lines = sorts and not need  # the default features, in one pass
    # (with it, stock codes the text rule would change are looked for among distinct values)
    flags = ["__no_id", "__cancel", "__nonpos", "__service"] + ([] if sort_lines else ["__odd"])
    flags += [f"__bad_{n}" for n, _, _ in checks]
    staged = fingerprint is not None and source.format == "csv" and not sort_lines
    try:
        if staged:  # parse the text once; both passes below read the staged rows
            engine.materialize("staged", fast_sql)
        rows = "staged" if staged else f"({fast_sql}) AS r"
        if sorts:
            counts = engine.sorted_counts(
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
    check_values(
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
        try:
            engine.materialize("lines", lines_query(rows, fp_cols, kept, need))
        except Exception as exc:  # an exact sum that overflows
            raise source.read_error(exc) from None
    customer_id = customer_rule(text_of("customer_key"))
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
            COUNT(*) FILTER (WHERE cancel_invoice <> {trim("cancel_invoice")}) AS odd_cancel,
            {
            f"(SELECT COUNT(*) FROM lines__values WHERE value = '' OR value <> {trim('value')})"
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
        exact_sql, _ = row_query(
            found, types, checks, fingerprint=fingerprint, raw_keys=False, need=need
        )
        try:
            engine.materialize("lines", lines_query(f"({exact_sql}) AS r", fp_cols, kept, need))
        except Exception as exc:  # an exact sum that overflows
            raise source.read_error(exc) from None
        customer_id = "customer_key"
        extra = engine.fetch(
            "SELECT COUNT(DISTINCT customer_key) AS customers, "
            "COUNT(DISTINCT cancel_invoice) AS cancellation_invoices FROM lines"
        ).to_pylist()[0]
    if staged:
        engine.drop("staged")
    partials = ", ".join(["n_products", *need])
    engine.materialize(
        "clean",
        f"SELECT {customer_id} AS customer_id, cancel_invoice, {partials} FROM lines",
    )
    audit = Audit(**figures, **{k: int(v or 0) for k, v in extra.items()})
    if audit.customers == 0:
        raise no_customers
    if "last_date" in need:
        _check_dates(engine, source, found)
    return audit


def _check_dates(engine: Engine, source: Source, found: Mapping[str, str]) -> None:
    """Fail when a customer has no date on any line: its recency cannot be told.

    (A silent 0 would call it a customer of the last day; a NULL would stop the clustering
    further on. The fix is the user's: fill the dates in, or leave out ``recency_days``.)
    """
    row = engine.fetch(
        "SELECT COUNT(*) AS n, MIN(customer_id) AS first FROM ("
        "SELECT customer_id FROM clean GROUP BY customer_id HAVING MAX(last_date) IS NULL) AS u"
    ).to_pylist()[0]
    if int(row["n"] or 0):
        raise SegmintError(
            f"{source.label}: {row['n']} customer(s) have no date on any line (first: "
            f"{row['first']!r}); fill in column {found['invoice_date']!r}, or leave out "
            "recency_days"
        )
