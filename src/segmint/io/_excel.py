"""Excel workbooks into Arrow (calamine): every sheet whose header equals the first sheet's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["read_workbooks"]


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
