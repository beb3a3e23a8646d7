"""Cleaning: run the rules on an engine, keep the clean lines per customer, audit every drop.

:func:`clean` registers a source on an engine, maps its columns onto the canonical ones, checks
the values the features need and leaves the clean lines, summarised per customer, in the
engine (:class:`Cleaned`), with the :class:`~segmint.schema.Audit` of what was read, dropped and
kept. The rules themselves are SQL in :mod:`segmint.rules`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from segmint._bad_values import check_values
from segmint._sort_rules import (
    country_lines_query,
    merged_lines_query,
    partials_query,
    repeated_rows,
    several_countries,
)
from segmint.errors import SegmintError
from segmint.io.sources import EncodingError, with_file_encoding
from segmint.presets import DEFAULT_RULE, Layout, Request, resolve_layout
from segmint.rules import (
    DESCRIPTOR_NEEDS,
    PARTIALS,
    cancel_sql,
    customer_rule,
    dated_lines_query,
    descriptor_partials,
    lines_query,
    order_query,
    row_query,
    text_of,
    text_value,
    trim,
    value_checks,
)
from segmint.schema import DEFAULT_FEATURES, Audit, required_columns, resolve_columns

if TYPE_CHECKING:
    from segmint.engines.base import Engine
    from segmint.io.sources import Source

__all__ = ["CLEAN_TABLE", "COUNTRY_TABLE", "MONTH_TABLE", "Cleaned", "clean"]

#: The engine table holding the clean lines per customer (what :mod:`segmint.features` reads).
CLEAN_TABLE = "clean"
#: Per customer and month (with descriptors and a date column): ``customer_id``, ``month``,
#: ``amount`` (net spend), ``n_orders`` (purchase invoices).
MONTH_TABLE = "clean_months"
#: Per customer and country (with descriptors and a country column): ``customer_id``,
#: ``country``, ``n_lines`` (distinct product-invoice lines; where the engine counts by
#: sorting, NULL for a customer with one country: only a choice between countries reads it).
COUNTRY_TABLE = "clean_countries"


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
    partials : tuple of str
        The partials computed (:data:`segmint.rules.PARTIALS`,
        :data:`segmint.rules.DESCRIPTOR_NEEDS`); ``month`` and ``country`` mean that
        :data:`MONTH_TABLE` and :data:`COUNTRY_TABLE` exist.
    found : dict of str to str
        ``{canonical: raw_column}`` of the source.
    types : dict of str to str
        ``{raw_column: sql_type}``, every column of the view ``raw`` as the engine read it
        (after a shop export's order-level fields are filled, :func:`_prepare`).
    dated : bool
        Whether the engine also holds the table ``dated``: the clean lines with their day, for
        features over windows (:mod:`segmint.windows`).
    layout : Layout or None
        How the log was read: preset, columns, cancellation rule (:mod:`segmint.presets`).
    cancellation_rule : str
        The cancellation rule in plain words, naming the file's columns.
    warnings : tuple of str
        Things that may make the figures wrong (no cancellation found, mixed currencies).
    columns : mapping of str to str
        ``{canonical: raw_column}`` as resolved (the same mapping as ``found``).
    """

    engine: Engine
    table: str
    source: Source
    audit: Audit
    features: tuple[str, ...]
    partials: tuple[str, ...] = ()
    found: Mapping[str, str] = field(default_factory=dict)
    types: Mapping[str, str] = field(default_factory=dict)
    dated: bool = False
    layout: Layout | None = None
    cancellation_rule: str = ""
    warnings: tuple[str, ...] = ()
    columns: Mapping[str, str] = field(default_factory=dict)


def clean(
    engine: Engine,
    source: Source,
    *,
    features: Sequence[str] = DEFAULT_FEATURES,
    columns: Mapping[str, str] | None = None,
    exclude_service_codes: bool = False,
    descriptors: bool = False,
    dated: bool = False,
    request: Request | None = None,
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
    descriptors : bool, default=False
        Also keep what the descriptors need (:func:`segmint.features.describe_customers`),
        as far as the log's columns allow: spend over every line, first and last dates, and
        the tables :data:`MONTH_TABLE` and :data:`COUNTRY_TABLE`.
    dated : bool, default=False
        Also keep the clean lines with their day as the table ``dated``, for features over
        windows (:mod:`segmint.windows`).
    request : Request, optional
        Preset, mapping file, cancellation rule (:func:`segmint.presets.request`); by default
        the preset is found in the header. ``columns`` wins over its columns.

    Returns
    -------
    Cleaned

    Raises
    ------
    SegmintError
        For a source without columns, with two columns of one name, without a needed column,
        with values that do not read, or without any row that has a customer id.
    """
    req = request or Request()
    if columns:
        req = replace(req, columns={**req.columns, **columns})
    if source.header is not None:  # known from sniffing: fail before the engine reads it
        _resolve(source.header, features, req, dated, source.label)
    args = (features, req, exclude_service_codes, descriptors, dated)
    try:
        return _clean(engine, source, *args)
    except EncodingError:
        # the first MiB said UTF-8 and a later byte did not: read the whole file as Latin-1
        # if all of it is (the Kaggle copy of Online Retail), else say what mixes
        latin = with_file_encoding(source)
        if latin is None:
            raise
        return _clean(engine, latin, *args)


def _resolve(
    names: Sequence[str], features: Sequence[str], req: Request, dated: bool, label: str
) -> tuple[Layout, tuple[str, ...], dict[str, str]]:
    """The layout, the required canonical columns and ``{canonical: raw_column}``."""
    needed = required_columns(features)
    layout = resolve_layout(names, req, label)
    if dated:  # a window needs the day of every line; spend is kept when it can be
        needed = tuple(dict.fromkeys((*needed, "invoice_date")))
    found = resolve_columns(names, layout.columns, required=needed, source=label)
    return layout, needed, dict(found)


def _clean(
    engine: Engine,
    source: Source,
    features: Sequence[str],
    req: Request,
    exclude_service_codes: bool,
    descriptors: bool,
    dated: bool,
) -> Cleaned:
    """:func:`clean` in one encoding."""
    described = engine.register(source, "raw")
    if not described:
        raise SegmintError(f"{source.label} has no columns; export the transactions again")
    names = [c for c, _ in described]
    if len(set(names)) != len(names):
        dupes = sorted(c for c, n in Counter(names).items() if n > 1)
        raise SegmintError(f"{source.label} has two columns named {dupes[0]!r}; rename one")
    layout, needed, found = _resolve(names, features, req, dated, source.label)
    need = {p for f in features for p in PARTIALS.get(f, ())}
    if descriptors:
        extra = descriptor_partials(found)
        need |= set(extra)
        needed = tuple(
            c for c in found if c in needed or any(c in DESCRIPTOR_NEEDS[p] for p in extra)
        )
    if dated:
        needed += tuple(c for c in ("quantity", "unit_price") if c in found and c not in needed)
    kinds = dict(described)
    for canonical, col in found.items():  # one rule for every format: values are scalars
        kind = kinds.get(col, "VARCHAR").upper()
        if any(t in kind for t in ("STRUCT", "MAP", "[]", "LIST", "UNION", "BLOB")):
            raise SegmintError(
                f"{source.label}: column {col!r} ({canonical}) holds {kind.split('(')[0]} "
                "values, not text, numbers or dates; export it as plain values"
            )
    types, cancel, rule = _prepare(engine, source, layout, found, kinds)
    audit = _clean_lines(
        engine,
        source,
        found,
        types,
        needed,
        exclude_service_codes=exclude_service_codes,
        need=sorted(need),
        dated=dated,
        cancel=cancel,
    )
    if "recency_days" in features:  # (descriptors alone do without a customer's dates)
        _check_dates(engine, source, found)
    warnings: list[str] = []
    if audit.cancellation_invoices == 0:
        warnings.append(
            f"no cancellations found (the rule: {rule}); if this log marks cancelled or "
            "refunded orders another way, say how with --cancelled-when COLUMN=VALUES"
        )
    currency = layout.order_columns.get("currency")
    if currency and "amount" in need:
        found_currencies = engine.fetch(
            f"SELECT DISTINCT {text_value(currency)} AS c FROM raw ORDER BY c LIMIT 6"
        ).column("c")
        listed = [str(c) for c in found_currencies.to_pylist() if c is not None]
        if len(listed) > 1:
            warnings.append(
                f"prices are in more than one currency ({', '.join(listed[:5])}, column "
                f"{currency!r}); monetary adds them as they are"
            )
    return Cleaned(
        engine,
        CLEAN_TABLE,
        source,
        audit,
        tuple(features),
        tuple(sorted(need)),
        dict(found),
        dict(types),
        dated,
        layout,
        rule,
        tuple(warnings),
        dict(found),
    )


def _prepare(
    engine: Engine,
    source: Source,
    layout: Layout,
    found: Mapping[str, str],
    types: dict[str, str],
) -> tuple[dict[str, str], str | None, str]:
    """Carry order-level fields over each order's rows, and the cancellation rule's SQL.

    When the layout has an order key (a shop export) and order-level columns, the view ``raw``
    is replaced by the rows of :func:`segmint.rules.order_query` over the file (registered
    again as ``raw__file``). Returns the columns' types after that, the rule's SQL (None for
    the default rule, an invoice starting with C) and the rule in words.
    """
    rule = layout.rule_columns(found, source.label)
    words = layout.describe_rule(found, source.label)
    cancel = (
        None
        if layout.cancelled_when == DEFAULT_RULE
        else cancel_sql([(col, cond.values) for col, cond in rule])
    )
    fill = layout.fill_columns(found, source.label)
    if not (fill or layout.fallbacks):
        return types, cancel, words
    query, types = order_query(types, layout.order_key, fill, layout.fallbacks, "raw__file")
    try:
        engine.register(source, "raw__file")
        engine.derive("raw", query)
    except SegmintError:
        raise
    except Exception as exc:
        raise source.read_error(exc) from None
    return types, cancel, words


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


def _kept_rows(counts: Sequence[Mapping[str, Any]], exclude: bool) -> int:
    """The rows kept, repeats included (``rows_kept`` counts distinct lines)."""
    return sum(
        int(c["rows"])
        for c in counts
        if not c["__no_id"] and not (exclude and (c["__nonpos"] or c["__service"]))
    )


def _clean_lines(
    engine: Engine,
    source: Source,
    found: Mapping[str, str],
    types: Mapping[str, str],
    wanted: Sequence[str],
    *,
    exclude_service_codes: bool = False,
    need: Sequence[str] = (),
    dated: bool = False,
    cancel: str | None = None,
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
    need : sequence of str, default=()
        The partials to keep besides ``n_products`` (:data:`PARTIALS` of the features, and
        the descriptors' ones).
    cancel : str, optional
        SQL of the cancellation rule (:func:`segmint.rules.cancel_sql`); default: the invoice
        starts with C.

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
      repeated with the rules applied row by row, so the result is the same either way;
    - where the engine counts by sorting, the sort gives ``n_products``, the cancellation
      invoices and the audit in one pass; the other partials (purchase invoices, dates,
      spend, months, countries) take one more pass, grouped by invoice rather than by line
      (:mod:`segmint._sort_rules`); spend adds the lines the sort found repeated once each.
    """
    needed = list(wanted)
    need = sorted(need)
    checks = value_checks(found, types, needed)
    fingerprint = engine.fingerprint(list(types))
    sorts = engine.can_sort(source)
    fast_sql, fp_cols = row_query(
        found, types, checks, fingerprint=fingerprint, raw_keys=True, need=need, cancel=cancel
    )
    excluded = "(__nonpos OR __service)" if exclude_service_codes else "FALSE"
    kept = f"NOT __no_id AND NOT {excluded}"
    # with the sort, stock codes the text rule would change are looked for among the
    # distinct values; the partials besides n_products take a second pass
    flags = ["__no_id", "__cancel", "__nonpos", "__service"] + ([] if sorts else ["__odd"])
    flags += [f"__bad_{n}" for n, _, _ in checks]
    staged = fingerprint is not None and source.format == "csv" and (not sorts or bool(need))
    repeats = "amount" in need  # spend sums distinct lines: the sort keeps the repeated ones
    try:
        if staged:  # parse the text once; both passes below read the staged rows
            engine.materialize("staged", fast_sql)
        rows = "staged" if staged else f"({fast_sql}) AS r"
        if sorts:
            counts = engine.sorted_counts(
                f"SELECT *, {kept} AS __kept FROM {rows}",
                flags,
                lines="lines",
                duplicates="lines__repeated" if repeats else None,
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
    partials = sorts and bool(need)
    try:
        if partials:
            repeated = None
            if repeats and figures["rows_kept"] < _kept_rows(counts, exclude_service_codes):
                # the rows of the fingerprints met more than once, filtered before the rules
                dups = "lines__repeated"
                if staged:
                    repeated = repeated_rows("staged", "__fp", dups, alias="r")
                else:
                    assert fingerprint is not None  # (an engine that sorts fingerprints)
                    sql, _ = row_query(
                        found,
                        types,
                        checks,
                        fingerprint=fingerprint,
                        raw_keys=True,
                        need=need,
                        cancel=cancel,
                        source=repeated_rows("raw", fingerprint, dups),
                    )
                    repeated = f"({sql}) AS r"
            engine.materialize("lines__partials", partials_query(rows, kept, need, repeated))
        elif not sorts:
            engine.materialize("lines", lines_query(rows, fp_cols, kept, need))
    except Exception as exc:  # an exact sum that overflows
        raise source.read_error(exc) from None
    customer_id = customer_rule(text_of("customer_key"))
    # the sort path gives every customer key once with cancel_invoice NULL
    keys = (
        "SELECT customer_key FROM lines WHERE cancel_invoice IS NULL"
        if sorts
        else "SELECT DISTINCT customer_key FROM lines"
    )
    # purchase invoices are grouped as read too (n_orders counts them)
    odd_orders = (
        "(SELECT COUNT(*) FROM lines__partials WHERE order_invoice = '' "
        f"OR order_invoice <> {trim('order_invoice')})"
        if partials and "n_orders" in need
        else "0"
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
            if sorts
            else "COALESCE(SUM(__odd), 0)"
        } AS odd_values, {odd_orders} AS odd_orders
          FROM lines
        )
        """
    ).to_pylist()[0]
    extra = {k: check.pop(k) for k in ("customers", "cancellation_invoices")}
    check["merged"] = check.pop("n_keys") - extra["customers"]  # keys one rule makes one
    table = "lines"
    if odd or any(int(v or 0) for v in check.values()):
        # a text rule merges or changes grouped values: group again, rules applied row by row
        exact_sql, _ = row_query(
            found, types, checks, fingerprint=fingerprint, raw_keys=False, need=need, cancel=cancel
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
    elif partials:
        table = "lines__merged"
        try:
            engine.materialize(table, _merged(engine, rows, kept, need))
        except Exception as exc:  # an exact sum that overflows
            raise source.read_error(exc) from None
    if dated:  # the clean lines with their day, the rules applied row by row
        money = "quantity" in found and "unit_price" in found
        day_need = ["last_date", "n_orders", *(["amount"] if money else [])]
        day_sql, _ = row_query(
            found,
            types,
            checks,
            fingerprint=fingerprint,
            raw_keys=False,
            need=day_need,
            cancel=cancel,
        )
        try:
            engine.materialize(
                "dated", dated_lines_query(f"({day_sql}) AS r", fp_cols, kept, money=money)
            )
        except Exception as exc:  # an exact sum that overflows
            raise source.read_error(exc) from None
    for name in ("staged", "lines__partials", "lines__repeated", "lines__several"):
        engine.drop(name)  # (a table that was not made is no error)
    sums = ", ".join(["n_products", *(p for p in need if p not in ("month", "country"))])
    parted = "month" in need or "country" in need
    engine.materialize(
        "clean",
        f"SELECT {customer_id} AS customer_id, cancel_invoice, {sums} FROM {table}"
        + (" WHERE __part = 0" if parted else ""),
    )
    if "month" in need:
        monthly = "".join(f", {p}" for p in ("amount", "n_orders") if p in need)
        engine.materialize(
            MONTH_TABLE,
            f"SELECT {customer_id} AS customer_id, month{monthly} FROM {table} "
            "WHERE __part = 1 AND month IS NOT NULL",
        )
    if "country" in need:
        engine.materialize(
            COUNTRY_TABLE,
            f"SELECT {customer_id} AS customer_id, country, n_lines FROM {table} "
            "WHERE __part = 2 AND country IS NOT NULL",
        )
    for name in ("lines__merged", "lines__countries"):
        engine.drop(name)
    audit = Audit(**figures, **{k: int(v or 0) for k, v in extra.items()})
    if audit.customers == 0:
        raise no_customers
    return audit


def _merged(engine: Engine, rows: str, kept: str, need: Sequence[str]) -> str:
    """The query of the sort path's ``lines`` with its partials, as :func:`lines_query` gives.

    A customer's country is the one of most of its lines: those are counted only for the
    customers with more than one country.
    """
    countries = None
    if "country" in need:
        engine.materialize("lines__several", several_countries("lines__partials"))
        if engine.fetch("SELECT COUNT(*) AS n FROM lines__several").column("n")[0].as_py():
            countries = "lines__countries"
            engine.materialize(countries, country_lines_query(rows, kept, need, "lines__several"))
    return merged_lines_query("lines", "lines__partials", need, countries)


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
