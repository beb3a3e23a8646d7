"""Writing a table as CSV or Parquet: pandas' bytes, at the speed of Arrow's compute kernels.

:func:`write_table` writes every output table of segmint (the customer table, ``segments.csv``,
``profiles.csv``, scored customers). CSV bytes are always those of pandas' ``to_csv`` with
``float_format="%.10g"``; the tables Arrow can write with those bytes (text, integers, short
floats: every table of a default run) take the fast path, the others go to pandas.

Text written to CSV is made safe for spreadsheets (OWASP's advice on CSV injection): a text
cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return, which Excel and
LibreOffice would open as a live formula (``=HYPERLINK(...)``, ``+cmd|' /C calc'!A0``), is
written with a single quote in front (``'=HYPERLINK(...)``). Text that is a plain number
(``-5``, ``+3.5``, ``-1e3``) is left as it is, and numeric columns are never touched, so
negative numbers stay numbers. Parquet is written as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["FORMULA_START", "neutralise", "write_segment_lists", "write_table"]

#: A text cell a spreadsheet would open as a formula starts with one of these.
FORMULA_START = "^[=+\\-@\t\r]"
#: ... unless it is a plain number (``-5``, ``+3.5``, ``-1e3``).
_PLAIN_NUMBER = "^[-+]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][-+]?[0-9]+)?$"


def write_table(table: pd.DataFrame, path: Path) -> None:
    """Write a table as CSV or Parquet by the extension of ``path`` (not atomic by itself)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".parquet", ".pq"):
        table.to_parquet(path, index=False)
    elif suffix in (".csv", ".txt", ".tmp", ""):
        if not _write_csv_with_arrow(table, path):
            _neutralised(table).to_csv(path, index=False, lineterminator="\n", float_format="%.10g")
    else:
        raise SegmintError(f"{Path(path).name}: write .csv or .parquet")


def neutralise(value: object) -> object:
    """One cell as written to CSV: text a spreadsheet would run as a formula gets a ``'``."""
    import re

    if (
        isinstance(value, str)
        and re.match(FORMULA_START, value)
        and not re.match(_PLAIN_NUMBER, value)
    ):
        return "'" + value
    return value


def _neutralised(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with :func:`neutralise` applied to its text cells (a copy only if needed)."""
    import pandas as pd

    out = table
    for i in range(table.shape[1]):
        values = table.iloc[:, i]
        if values.dtype != object and not isinstance(values.dtype, pd.StringDtype):
            continue
        changed = values.map(neutralise)
        if not changed.equals(values):
            if out is table:
                out = table.copy()
            out.iloc[:, i] = changed
    return out


def _text(value: str) -> Any:
    """``value`` as an Arrow large_string scalar (the kernels below want one string type)."""
    import pyarrow as pa

    return pa.scalar(value, pa.large_string())


#: Rows converted and written at a time by :func:`_write_csv_with_arrow` (bounds its memory).
_CSV_ROWS = 1 << 18


def _write_csv_with_arrow(table: pd.DataFrame, path: Path) -> bool:
    """Write a table as CSV with Arrow's compute kernels; False when it does not apply.

    The bytes are those of pandas' ``to_csv`` in :func:`write_table`, 6-8x faster (a million
    customers with their segments: 1 s against 6.2 s). Text is quoted as Python's ``csv``
    module quotes it (a comma, quote or newline inside), integers are written as they are,
    and 64-bit floats as Arrow's shortest round-trip text, which is what ``%.10g`` writes for
    finite values from 1e-4 to 1e10 with at most 10 significant digits (0 included). Anything
    else (booleans, a float outside that range or longer, 32-bit floats, a carriage return in
    text, a lone column, where pandas writes an empty value as ``""``) is left to pandas.
    """
    import csv
    import io

    import pyarrow as pa

    if table.shape[1] < 2:
        return False
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow(str(name) for name in table.columns)
    with open(path, "wb") as handle:  # a table that turns out not to apply is written again
        handle.write(header.getvalue().encode("utf-8"))
        for start in range(0, len(table), _CSV_ROWS):
            try:
                rows = pa.Table.from_pandas(
                    table.iloc[start : start + _CSV_ROWS], preserve_index=False
                ).combine_chunks()
            except (pa.ArrowException, TypeError, ValueError):
                return False
            fields = [_csv_field(column.chunk(0)) for column in rows.columns]
            if any(field is None for field in fields):
                return False
            handle.write(_csv_lines(fields))
    return True


def _csv_field(column: Any) -> Any:
    """One column as CSV text (pyarrow large_string, NULL for empty), or None if unsure."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_integer(kind):
        return pc.cast(column, pa.large_string())
    if pa.types.is_float64(kind):  # float32: pandas writes the double it widens to
        values = column.to_numpy(zero_copy_only=False)
        size = np.abs(values[~np.isnan(values)])
        if not np.all((size == 0) | ((size >= 1e-4) & (size < 1e10))):
            return None
        text = pc.cast(column, pa.large_string())
        if (pc.max(pc.binary_length(text)).as_py() or 0) > 11:  # else <= 10 digits for sure
            digits = pc.utf8_ltrim(pc.replace_substring_regex(text, "[-.]", ""), "0")
            if pc.any(pc.greater(pc.utf8_length(digits), 10)).as_py():
                return None
        return text
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        text = pc.cast(column, pa.large_string())
        formula = pc.match_substring_regex(text, FORMULA_START)
        if pc.any(formula).as_py():  # as :func:`neutralise`
            formula = pc.and_(formula, pc.invert(pc.match_substring_regex(text, _PLAIN_NUMBER)))
            quoted = pc.binary_join_element_wise(_text("'"), text, _text(""))
            text = pc.if_else(formula, quoted, text)
        if len(text) and (pc.sum(pc.binary_length(text)).as_py() or 0) >= 16 * len(text):
            # long text repeats (segment names): quote each distinct value once
            coded = pc.dictionary_encode(text)
            words = _csv_quoted(coded.dictionary)
            return None if words is None else words.take(coded.indices)
        return _csv_quoted(text)
    return None


def _csv_quoted(text: Any) -> Any:
    """Text quoted as Python's ``csv`` quotes it (QUOTE_MINIMAL), or None for a CR in it."""
    import pyarrow.compute as pc

    special = pc.match_substring_regex(text, '[,"\n\r]')
    if not pc.any(special).as_py():
        return text
    if pc.any(pc.match_substring(text, "\r")).as_py():
        return None  # pandas' writer and Python's csv module differ here across versions
    escaped = pc.replace_substring(text, '"', '""')
    quoted = pc.binary_join_element_wise(_text('"'), escaped, _text('"'), _text(""))
    return pc.if_else(special, quoted, text)


def _csv_lines(fields: list[Any]) -> Any:
    """The bytes of the CSV lines of columns of text (:func:`_csv_field`), each ending in LF."""
    import numpy as np
    import pyarrow.compute as pc

    filled = [pc.fill_null(field, _text("")) for field in fields]
    filled[-1] = pc.binary_join_element_wise(filled[-1], _text(""), _text("\n"))  # "x\n"
    lines = pc.binary_join_element_wise(*filled, _text(","))
    _, offsets, data = lines.buffers()
    ends = np.frombuffer(offsets, dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    return data.slice(int(ends[0]), int(ends[-1] - ends[0]))


def write_segment_lists(frame: pd.DataFrame, folder: Path) -> None:
    """Write one CSV per segment into ``folder`` (created): ``segment_<n>_<name>.csv``.

    ``frame`` has ``customer_id``, ``kmeans_segment``, ``kmeans_name`` and optionally
    ``net_spend``; each file holds ``customer_id`` (and ``net_spend``) of one segment, in
    the order of ``frame``.
    """
    import re

    folder.mkdir()
    cols = [c for c in ("customer_id", "net_spend") if c in frame]
    for (segment, name), part in frame.groupby(["kmeans_segment", "kmeans_name"], sort=True):
        slug = re.sub(r"[^a-z0-9]+", "-", str(name).lower()).strip("-")[:60]
        write_table(part[cols].reset_index(drop=True), folder / f"segment_{segment}_{slug}.csv")
