"""The default engine: embedded DuckDB, in-process, spilling to disk when memory is short."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError

if TYPE_CHECKING:
    import pyarrow as pa

    from segmint.loading import Source

__all__ = ["DuckDBEngine", "default_memory_limit"]


def default_memory_limit() -> str:
    """A safe share of RAM for DuckDB: 60 % of physical memory, as ``"<n>MB"``."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        return "4GB"
    return f"{int(total * 0.6 / 2**20)}MB"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine:
    """Run segmint's SQL in an in-memory DuckDB database.

    Parameters
    ----------
    threads : int, optional
        Worker threads; default all cores.
    memory_limit : str, optional
        Memory limit before spilling, e.g. ``"2GB"``; default 60 % of RAM.
    temp_directory : str, optional
        Spill directory; default DuckDB's own (``.tmp`` beside the database, here a temp dir).
    """

    name = "duckdb"
    reads_remote = False

    def __init__(
        self,
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
    ) -> None:
        import duckdb

        config: dict[str, Any] = {"memory_limit": memory_limit or default_memory_limit()}
        if threads:
            config["threads"] = int(threads)
        if temp_directory:
            config["temp_directory"] = temp_directory
        # Insertion order is not needed by any rule; dropping it lets DuckDB stream and spill.
        config["preserve_insertion_order"] = False
        try:
            self.con = duckdb.connect(":memory:", config=config)
        except duckdb.Error as exc:
            raise SegmintError(f"cannot start DuckDB: {exc}".splitlines()[0]) from None

    def register(self, source: Source, view: str) -> list[tuple[str, str]]:
        """Expose ``source`` (CSV, Parquet, Excel via Arrow, or a DataFrame) as ``view``."""
        import duckdb

        if source.format == "csv":
            files = "[" + ", ".join(_quote(str(p)) for p in source.paths) + "]"
            assert source.header is not None and source.delimiter is not None
            names = ", ".join(f"{_quote(n)}: 'VARCHAR'" for n in source.header)
            options = [
                "header = true",
                "auto_detect = false",
                f"columns = {{{names}}}",
                f"delim = {_quote(source.delimiter)}",
                "quote = '\"'",
                "escape = '\"'",
                f"encoding = {_quote(source.encoding)}",
                "strict_mode = true",
                "max_line_size = 134217728",
            ]
            rel = f"read_csv({files}, {', '.join(options)})"
        elif source.format == "parquet":
            files = "[" + ", ".join(_quote(str(p)) for p in source.paths) + "]"
            rel = f"read_parquet({files}, union_by_name = true)"
        elif source.format in ("excel", "frame"):
            assert source.table is not None
            self.con.register(f"{view}__arrow", source.table)
            rel = f"{view}__arrow"
        else:  # pragma: no cover - load.py validates formats
            raise SegmintError(f"unsupported format {source.format!r}")
        try:
            self.con.execute(f'CREATE OR REPLACE VIEW "{view}" AS SELECT * FROM {rel}')
            described = self.con.execute(f'DESCRIBE "{view}"').fetchall()
        except duckdb.Error as exc:
            raise source.read_error(exc) from None
        return [(str(row[0]), str(row[1])) for row in described]

    def materialize(self, name: str, query: str) -> None:
        """Keep the result of ``query`` as the temporary table ``name``."""
        self.con.execute(f'CREATE OR REPLACE TEMP TABLE "{name}" AS {query}')

    def fetch(self, sql: str) -> pa.Table:
        """Run a query and return an Arrow table."""
        return self.con.sql(sql).to_arrow_table()

    def close(self) -> None:
        """Close the connection."""
        self.con.close()
