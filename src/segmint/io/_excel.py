"""Excel workbooks into Arrow (calamine): every sheet whose header equals the first sheet's.

A workbook is bounded before calamine reads it, since calamine holds a sheet's whole used range
in memory (and aborts the process when it cannot allocate it): a zipped workbook (.xlsx, .xlsm,
.xlsb, .ods) may expand to at most :data:`MAX_UNCOMPRESSED` bytes, as its zip directory says,
and each .xlsx/.xlsm sheet may span at most :data:`MAX_CELLS` cells (rows x columns of its
used range: from its ``<dimension>`` and from the cell references, scanned as the sheet
streams out of the zip, without parsing it).
"""

from __future__ import annotations

import re
import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["MAX_CELLS", "MAX_UNCOMPRESSED", "read_workbooks"]

#: Most bytes a zipped workbook may expand to (a full Online Retail year is about 200 MB).
MAX_UNCOMPRESSED = 1 << 30
#: Most cells a sheet's used range may span: 1,048,576 rows (Excel's maximum) x 20 columns.
MAX_CELLS = 20 * (1 << 20)

_CELL_REF = re.compile(rb'<c [^>]*?r="([A-Z]{1,3})([0-9]{1,7})"')
_DIMENSION = re.compile(rb'<dimension ref="([A-Z]{1,3})([0-9]{1,7})(?::([A-Z]{1,3})([0-9]{1,7}))?"')


def _column(letters: bytes) -> int:
    number = 0
    for byte in letters:
        number = number * 26 + byte - 64
    return number


def _sheet_cells(book: zipfile.ZipFile, name: str) -> int:
    """Cells of the used range of one sheet (rows x columns), from a stream of its XML."""
    rows: list[int] = []
    cols: list[int] = []
    tail = b""
    with book.open(name) as handle:
        while chunk := handle.read(4 << 20):
            text = tail + chunk
            cut = text.rfind(b"<")
            text, tail = (text[:cut], text[cut:]) if cut > 0 else (text, b"")
            if not rows:  # the declared range, if any, comes first
                found = _DIMENSION.search(text)
                if found and found.group(3):
                    rows += [int(found.group(2)), int(found.group(4))]
                    cols += [_column(found.group(1)), _column(found.group(3))]
            refs = _CELL_REF.findall(text)
            if refs:
                letters = {c for c, _ in refs}
                cols += [min(map(_column, letters)), max(map(_column, letters))]
                numbers = [int(r) for _, r in refs]
                rows += [min(numbers), max(numbers)]
    if not rows:
        return 0
    return (max(rows) - min(rows) + 1) * (max(cols) - min(cols) + 1)


def _check_size(path: Path) -> None:
    """Fail before calamine reads a workbook that would expand past the limits."""
    if not zipfile.is_zipfile(path):
        return  # .xls: at most 65,536 x 256 cells by its format
    fix = "export the sheet as CSV (segmint reads CSV of any size)"
    try:
        with zipfile.ZipFile(path) as book:
            entries = book.infolist()
            total = sum(entry.file_size for entry in entries)
            if total > MAX_UNCOMPRESSED:
                raise SegmintError(
                    f"{path.name} expands to {total / 2**20:,.0f} MiB, more than segmint reads "
                    f"from a workbook ({MAX_UNCOMPRESSED >> 20:,} MiB); {fix}"
                )
            for entry in entries:
                name = entry.filename
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    cells = _sheet_cells(book, name)
                    if cells > MAX_CELLS:
                        raise SegmintError(
                            f"{path.name}: sheet {name.rsplit('/', 1)[-1]} spans {cells:,} cells "
                            f"(its used range, stray cells included), more than segmint reads "
                            f"from a sheet ({MAX_CELLS:,}); delete the stray cells, or {fix}"
                        )
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error):
        return  # calamine's read says what is wrong


def read_workbooks(paths: Sequence[Path]) -> tuple[pa.Table, list[str]]:
    """Read every sheet that shares the first sheet's header, from every workbook."""
    import datetime as dt

    import pyarrow as pa
    from python_calamine import CalamineWorkbook

    def cell(value: Any) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, dt.datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(value, dt.date):
            return value.strftime("%Y-%m-%d 00:00:00")
        if isinstance(value, float) and value.is_integer():
            return str(int(value)) if abs(value) < 2**53 else repr(value)
        return str(value)

    header: list[str] | None = None
    columns: list[list[str | None]] = []
    notes: list[str] = []
    for path in paths:
        _check_size(path)
        try:
            book = CalamineWorkbook.from_path(str(path))
            sheets = list(book.sheet_names)
        except Exception as exc:  # calamine raises several private types
            raise SegmintError(
                f"{path.name} is not a readable Excel workbook ({str(exc).splitlines()[0]}); "
                "open and re-save it, or export CSV"
            ) from None
        for name in sheets:
            try:
                rows = book.get_sheet_by_name(name).to_python(skip_empty_area=True)
            except Exception as exc:
                raise SegmintError(
                    f"{path.name}, sheet {name!r}: cannot read it ({str(exc).splitlines()[0]})"
                ) from None
            if not rows:
                continue
            head = [str(h).strip() for h in rows[0]]
            while head and head[-1] == "":
                head.pop()
            if header is None:
                header = head
                columns = [[] for _ in header]
            elif head != header:
                notes.append(f"{path.name}, sheet {name!r}: header differs, sheet skipped")
                continue
            width = len(header)
            for row in rows[1:]:
                if not any(v not in (None, "") for v in row):
                    continue
                for i in range(width):
                    columns[i].append(cell(row[i]) if i < len(row) else None)
    if header is None:
        raise SegmintError(f"{paths[0].name} has no rows in any sheet")
    if len(set(header)) != len(header):
        from collections import Counter

        dupes = sorted(h for h, n in Counter(header).items() if n > 1)
        raise SegmintError(f"{paths[0].name} has two columns named {dupes[0]!r}; rename one")
    table = pa.table(
        {h: pa.array(col, type=pa.string()) for h, col in zip(header, columns, strict=True)}
    )
    return table, notes
