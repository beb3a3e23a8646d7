"""The error path of the value checks: name the first bad value and the line it stands on.

Only called when a pass over the rows has counted values of a numeric or date column that do
not read (see :func:`segmint.rules.value_checks`); it may re-read the input files.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError
from segmint.rules import ident, value_checks

if TYPE_CHECKING:
    from segmint.engines.base import Engine
    from segmint.io.sources import Source

__all__ = ["check_values"]


def check_values(
    engine: Engine,
    source: Source,
    found: Mapping[str, str],
    types: Mapping[str, str],
    wanted: Sequence[str],
    counts: Mapping[str, int] | None = None,
) -> None:
    """Fail with the first bad value of a needed numeric or date column.

    ``counts`` (``{canonical: number of bad values}``) saves the counting scan when a pass
    over the rows has already counted them (see :func:`value_checks`).
    """
    checks = value_checks(found, types, wanted)
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
        sample = engine.fetch(
            f"SELECT NULLIF(TRIM(CAST({ident(col)} AS VARCHAR)), '') AS v FROM raw "
            f"WHERE {bad} LIMIT 1"
        )
        value = sample.to_pylist()[0]["v"] if sample.num_rows else "?"
        first = f"first: {value!r}{_csv_line(source, col, value)}"
        if name == "invoice_date":
            raise SegmintError(
                f"{source.label}: {n_bad} value(s) in column {col!r} are not dates "
                f"({first}); use a form like 2010-12-01 08:26:00, or leave out "
                "the date features"
            )
        if _finite(value):  # read, but not exactly (too large, or too many decimals)
            what = "quantities with up to 12 digits before the point and 6 after"
            if name == "unit_price":
                what = "prices with up to 11 digits before the point and 8 after"
            raise SegmintError(
                f"{source.label}: {n_bad} value(s) in column {col!r} cannot be counted exactly "
                f"({first}); segmint reads {what}: "
                "fix those rows, or round them"
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


def _finite(value: object) -> bool:
    """Whether a sample value reads as a finite number (Python's reading, as the engines')."""
    import math

    try:
        return math.isfinite(float(str(value).strip()))
    except ValueError:
        return False


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
