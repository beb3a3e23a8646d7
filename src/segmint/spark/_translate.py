"""The translation of segmint's DuckDB SQL into Spark SQL (sqlglot and a few rewrites).

Every rule is written once, in DuckDB's dialect (:mod:`segmint.clean`, :mod:`segmint.features`).
The Spark engine translates each statement with sqlglot (``read="duckdb", write="spark"``) and then
applies the few rewrites below, where a plain transpile would be wrong or would not run on Spark
(each is checked against DuckDB by ``tests/test_spark.py``):

``TRY_STRPTIME(text, '%m/%d/%Y %H:%M')``
    sqlglot leaves it as it is, and Spark has no such function. It becomes
    ``TRY_TO_TIMESTAMP(text, 'M/d/y H:m')``: DuckDB parses ``12/1/2010 8:26`` with ``%m/%d``, so
    the Java pattern must use the single-letter (any width) fields, not ``MM/dd``, which would
    return NULL for one-digit days.
``timezone('UTC', x)``
    DuckDB's UTC wall clock of a ``TIMESTAMP WITH TIME ZONE`` (a date read with ``%z``, which
    becomes the Java offset fields ``[xxx][xx][x]``: ``+0000``, ``+01:00``, ``+01``). It becomes
    ``TO_UTC_TIMESTAMP(x, CURRENT_TIMEZONE())``: a timestamp whose wall clock in the session
    time zone is the UTC wall clock, as a date without offset reads in that zone, whatever
    ``spark.sql.session.timeZone`` is; the ``CAST(... AS TIMESTAMP)`` around it (Spark's
    ``TIMESTAMP_NTZ``) keeps that wall clock.
``isfinite(x)``
    Not a Spark function: ``(NOT ISNAN(x) AND ABS(x) < CAST('Infinity' AS DOUBLE))``, NULL for
    NULL as in DuckDB.
``a / b``
    DuckDB divides doubles by zero to ``inf``/``NaN``; Spark 4 (ANSI mode, the default) raises.
    Division becomes ``TRY_DIVIDE(a, b)`` (NULL on zero); the only division in the rules,
    ``cancel_rate``, is 0/0 at worst and the feature table fills that with 0 on either engine.
``DATE_DIFF('day', a, b)``
    sqlglot writes ``DATEDIFF(DAY, a, b)``, Spark's ``TIMESTAMPDIFF``, which goes through
    timestamps in the session time zone; the rule means calendar days between two dates, which
    is Spark's two-argument ``DATEDIFF(b, a)``.
``raw``, ``lines``, ``clean``
    The views the rules name are renamed to names private to this engine
    (``segmint_<id>_raw`` ...), so they never replace a view of the same name in a shared session.

Checked and left to sqlglot: ``FILTER (WHERE ...)`` clauses (Spark 3.2+), ``TRY_CAST``,
``DECIMAL`` sums (the exact spend: Spark types ``SUM(DECIMAL(38, 14))`` as DuckDB does), and
``REGEXP_REPLACE``: DuckDB replaces the first match, Spark every match, which is the same for the
anchored patterns the rules use; :func:`translate` refuses an unanchored one.

Known differences on malformed values only (the rules then raise a "not finite numbers" error on
one engine and not the other): Spark's ``TRY_CAST('1d' AS DOUBLE)`` is 1.0 and DuckDB's NULL;
DuckDB's ``TRY_CAST('1_000' AS DOUBLE)`` is 1000.0 and Spark's NULL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import sqlglot
from sqlglot import exp

from segmint.errors import SegmintError

__all__ = ["java_date_pattern", "spark_size", "translate"]

#: Python ``strptime`` directives used in segmint's rules, as lenient Java pattern fields.
#: DuckDB reads ``%m``, ``%d``, ``%H``, ``%M``, ``%S`` and ``%Y`` with or without zero padding;
#: a single Java letter parses any width, so the two engines accept the same strings.
_JAVA_FIELDS: dict[str, str] = {
    "Y": "y",
    "m": "M",
    "d": "d",
    "H": "H",
    "M": "m",
    "S": "s",
    "%": "%",
    # DuckDB's %z reads +HHMM, +HH:MM and +HH (not Z): optional Java offset fields, widest first.
    "z": "[xxx][xx][x]",
}


def java_date_pattern(strptime_format: str) -> str:
    """Turn a DuckDB ``strptime`` format into the equivalent Spark (Java) datetime pattern.

    Parameters
    ----------
    strptime_format : str
        A format such as ``"%m/%d/%Y %H:%M"``, using only ``%Y %m %d %H %M %S %%``.

    Returns
    -------
    str
        The Java pattern, letters other than fields quoted, e.g. ``"M/d/y H:m"``.

    Raises
    ------
    ValueError
        For a directive without a mapping (add one rather than let the engines disagree).

    Examples
    --------
    >>> java_date_pattern("%Y-%m-%dT%H:%M:%S")
    "y-M-d'T'H:m:s"
    """
    out: list[str] = []
    i = 0
    while i < len(strptime_format):
        ch = strptime_format[i]
        if ch == "%":
            directive = strptime_format[i + 1 : i + 2]
            if directive not in _JAVA_FIELDS:
                raise ValueError(
                    f"strptime directive %{directive} in {strptime_format!r} has no Spark "
                    "mapping; add it to segmint.spark._translate._JAVA_FIELDS"
                )
            out.append(_JAVA_FIELDS[directive])
            i += 2
            continue
        if ch.isalpha():
            out.append(f"'{ch}'")
        elif ch == "'":
            out.append("''")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _rewrite(node: exp.Expression, tables: Mapping[str, str]) -> exp.Expression:
    """The Spark rewrites listed in the module docstring, applied to one node."""
    if isinstance(node, exp.Anonymous):
        name = str(node.this).upper()
        args = node.expressions
        if name == "TRY_STRPTIME" and len(args) == 2 and isinstance(args[1], exp.Literal):
            pattern = exp.Literal.string(java_date_pattern(args[1].this))
            return exp.Anonymous(this="TRY_TO_TIMESTAMP", expressions=[args[0], pattern])
        if (
            name == "TIMEZONE"
            and len(args) == 2
            and isinstance(args[0], exp.Literal)
            and str(args[0].this).upper() == "UTC"
        ):
            # The UTC wall clock of an instant, as a timestamp read in the session time zone.
            zone = exp.Anonymous(this="CURRENT_TIMEZONE", expressions=[])
            return exp.Anonymous(this="TO_UTC_TIMESTAMP", expressions=[args[1], zone])
        if name == "ISFINITE" and len(args) == 1:
            value = args[0]
            infinity = exp.cast(exp.Literal.string("Infinity"), exp.DataType.Type.DOUBLE)
            return exp.paren(
                exp.and_(
                    exp.not_(exp.Anonymous(this="ISNAN", expressions=[value.copy()])),
                    exp.LT(this=exp.Abs(this=value.copy()), expression=infinity),
                )
            )
    if isinstance(node, exp.Div):
        return exp.Anonymous(this="TRY_DIVIDE", expressions=[node.this, node.expression])
    if isinstance(node, exp.DateDiff) and str(node.args.get("unit") or "DAY").upper() == "DAY":
        # exp.DateDiff holds (end, start); two-argument DATEDIFF(end, start) counts days.
        return exp.Anonymous(this="DATEDIFF", expressions=[node.this, node.expression])
    if isinstance(node, exp.RegexpReplace) and node.args.get("single_replace"):
        pattern = node.expression
        text = pattern.this if isinstance(pattern, exp.Literal) else ""
        if not (text.startswith("^") or text.endswith("$")):
            raise ValueError(
                f"REGEXP_REPLACE pattern {text!r}: DuckDB replaces the first match and Spark "
                "every match; anchor the pattern (^ or $) so both engines agree"
            )
    if isinstance(node, exp.Table) and not node.args.get("db") and node.name in tables:
        renamed = node.copy()
        renamed.set("this", exp.to_identifier(tables[node.name]))
        return renamed
    return node


def translate(sql: str, tables: Mapping[str, str] | None = None) -> str:
    """Translate one statement of segmint's DuckDB SQL into Spark SQL.

    Parameters
    ----------
    sql : str
        A query in DuckDB's dialect, as :mod:`segmint.clean` and :mod:`segmint.features` write.
    tables : mapping of str to str, optional
        Table names to replace, ``{name_in_sql: name_in_spark}``.

    Returns
    -------
    str
        The query in Spark's dialect, with the rewrites of the module docstring.

    Examples
    --------
    >>> translate("SELECT TRY_STRPTIME(d, '%m/%d/%Y %H:%M') FROM raw", {"raw": "v1"})
    "SELECT TRY_TO_TIMESTAMP(d, 'M/d/y H:m') FROM v1"
    """
    names = dict(tables or {})
    tree = sqlglot.parse_one(sql, read="duckdb")
    # Bottom-up (children before parents), so a rewritten node keeps rewritten arguments.
    for node in reversed(list(tree.walk(bfs=False))):
        if not isinstance(node, exp.Expression):  # pragma: no cover - sqlglot internals
            continue
        new = _rewrite(node, names)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree.sql(dialect="spark")


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def spark_size(text: str) -> str:
    """Turn a memory size such as ``"2GB"`` or ``"512MiB"`` into Spark's form (``"2048m"``).

    Parameters
    ----------
    text : str
        A number with an optional unit K, M, G or T (``B``, ``iB`` suffixes allowed).

    Returns
    -------
    str
        Whole mebibytes with Spark's ``m`` suffix (at least ``1m``).

    Raises
    ------
    SegmintError
        When the text is not a size.

    Examples
    --------
    >>> spark_size("2GB"), spark_size("1536m")
    ('2048m', '1536m')
    """
    match = _SIZE.match(text)
    if not match:
        raise SegmintError(f"--memory-limit {text}: write a size such as 4GB or 512MB")
    number, unit = float(match.group(1)), match.group(2).lower()
    factor = {"": 1 / 2**20, "k": 1 / 2**10, "m": 1.0, "g": 2.0**10, "t": 2.0**20}[unit]
    return f"{max(1, int(number * factor))}m"
