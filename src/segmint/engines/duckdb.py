"""The default engine: embedded DuckDB, in-process, spilling to disk when memory is short."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from segmint.engines.base import Engine
from segmint.errors import SegmintError

if TYPE_CHECKING:
    import pyarrow as pa

    from segmint.io.sources import Source

__all__ = ["MAX_LINE_BYTES", "DuckDBEngine", "default_memory_limit"]

#: Longest CSV line read; a longer one means the file is not a transaction log.
MAX_LINE_BYTES = 16 * 2**20


def default_memory_limit() -> str:
    """A safe share of RAM: a quarter of physical memory, at most 1.5 GiB, as ``"<n>MB"``.

    Enough for tens of millions of rows (DuckDB spills to disk beyond it), and small enough
    that a run stays within 2 GiB beside other work on a laptop; raise it with
    ``--memory-limit`` for speed on a large machine.
    """
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - non-POSIX
        total = 4 * 2**30
    return f"{int(min(total / 4, 1.5 * 2**30) / 2**20)}MiB"


def _bytes(size: str) -> int | None:
    """``"2GB"``, ``"512MiB"``, ``"1.5 GB"`` as bytes (None when unreadable)."""
    import re

    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*", size, re.IGNORECASE)
    if not match:
        return None
    power = " kmgt".index(match.group(2).lower() or " ")
    return int(float(match.group(1)) * 1024**power)


def _estimated_rows(source: Source) -> int:
    """Rows of a source: exact for Parquet and tables, from the size for CSV (gzip: x6)."""
    if source.table is not None:
        return int(source.table.num_rows)
    if source.format == "parquet":
        import pyarrow.parquet as pq

        return sum(pq.ParquetFile(p).metadata.num_rows for p in source.paths)
    total = 0
    for path in source.paths:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(1 << 20)
        if path.name.lower().endswith(".gz"):
            size, head = size * 6, b"x" * 100 + b"\n"  # compressed: assume short lines
        total += size * max(head.count(b"\n"), 1) // max(len(head), 1)
    return total


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class DuckDBEngine(Engine):
    """Run segmint's SQL in an in-memory DuckDB database.

    Parameters
    ----------
    threads : int, optional
        Worker threads; default all cores.
    memory_limit : str, optional
        Memory limit before spilling, e.g. ``"2GB"``; default :func:`default_memory_limit`.
    temp_directory : str, optional
        Spill directory; default a fresh folder in the system's temporary directory, removed
        on :meth:`close`.
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

        self.memory_limit = memory_limit or default_memory_limit()
        config: dict[str, Any] = {"memory_limit": self.memory_limit}
        if threads:
            config["threads"] = int(threads)
        # spill into a private folder (DuckDB's own default is ./.tmp, beside the user's files)
        self._spill: str | None = None
        if not temp_directory:
            import tempfile

            temp_directory = self._spill = tempfile.mkdtemp(prefix="segmint-spill-")
            # removed on close, or at exit when an engine is never closed
            import shutil
            import weakref

            weakref.finalize(self, shutil.rmtree, temp_directory, ignore_errors=True)
        config["temp_directory"] = self.temp_directory = temp_directory
        self._source: Source | None = None
        # Insertion order is not needed by any rule; dropping it lets DuckDB stream and spill.
        config["preserve_insertion_order"] = False
        try:
            self.con = duckdb.connect(":memory:", config=config)
        except duckdb.Error as exc:
            raise SegmintError(f"cannot start DuckDB: {exc}".splitlines()[0]) from None

    def register(self, source: Source, view: str) -> list[tuple[str, str]]:
        """Expose ``source`` (CSV, Parquet, Excel via Arrow, or a DataFrame) as ``view``."""
        import duckdb

        self._source = source
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
                # DuckDB's read buffer defaults to 16 lines of the longest allowed: keep it at
                # 64 MiB (a 128 MiB limit meant 2 GiB buffers, over any small memory limit)
                f"max_line_size = {MAX_LINE_BYTES}",
                f"buffer_size = {4 * MAX_LINE_BYTES}",
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

    def derive(self, view: str, query: str) -> None:
        """Replace the view ``view`` by the rows of ``query``, kept as a temporary table."""
        self.materialize(f"{view}__rows", query)
        self.con.execute(f'CREATE OR REPLACE VIEW "{view}" AS SELECT * FROM "{view}__rows"')

    def fingerprint(self, columns: Sequence[str]) -> str:
        """SQL of a 64-bit hash of whole rows: duplicate rows are counted by it.

        Grouping by one hash is about twice as fast as grouping by every column; two rows that
        differ merge only if their hashes collide (odds about n**2 / 2**65: 1 in 15,000 for a
        log of 50 million distinct rows, 1 in 10**9 for one of 200,000).
        """
        return "hash(" + ", ".join('"' + c.replace('"', '""') + '"' for c in columns) + ")"

    def sorted_counts(
        self,
        query: str,
        flags: Sequence[str],
        *,
        lines: str | None = None,
        duplicates: str | None = None,
    ) -> pa.Table:
        """Distinct counts over one pass of ``query``, by sorting 64-bit keys with NumPy.

        See :mod:`segmint.engines._sorting`: several times faster than hash-aggregating tens
        of millions of distinct keys, in the same memory at any number of rows (the keys
        go to partition files in the temporary directory, about 16 bytes a row).

        Parameters
        ----------
        query : str
            One row per input row, with ``__fp`` (the fingerprint, UBIGINT) and the boolean
            columns ``flags`` (functions of the row); with ``lines`` also ``__kept`` (bool),
            ``__cid``, ``__cinv`` (NULL on purchase rows) and ``__stock``.
        flags : sequence of str
            At most 8 flag columns (see :class:`segmint.engines._sorting.SortCounter`).
        lines : str, optional
            Also create this table: per customer (``__cid`` of the kept rows, as
            ``customer_key``) one row with ``cancel_invoice`` NULL and ``n_products``, the
            number of distinct non-NULL ``__stock`` of its kept purchase rows, and one row per
            distinct ``__cinv`` of its kept rows (``n_products`` 0); and the table
            ``<lines>__values`` of the distinct stock codes and invoices met there (``value``).
        duplicates : str, optional
            Also create this table: the fingerprints (``__fp``) met on more than one row with
            the same flags, each once; the rows not in it are distinct.

        Returns
        -------
        pyarrow.Table
            What ``SELECT flags, COUNT(*) AS rows, COUNT(DISTINCT __fp) AS lines ... GROUP BY
            flags`` gives.
        """
        import shutil
        import tempfile

        import pyarrow as pa

        from segmint.engines import _sorting as sorting

        n = len(flags)
        cancel_bit, kept_bit, item_bit = 1 << n, 1 << (n + 1), 1 << (n + 2)
        kind = "UTINYINT" if n + 3 <= 8 else "USMALLINT"
        packed = " + ".join(
            f"(CASE WHEN {f} THEN {1 << i} ELSE 0 END)" for i, f in enumerate(flags)
        )
        if lines:  # the customer and, for a purchase its stock code, for a cancellation its invoice
            packed = " + ".join(
                ([packed] if packed else [])
                + [
                    f"(CASE WHEN __cinv IS NULL THEN 0 ELSE {cancel_bit} END)",
                    f"(CASE WHEN __c IS NULL THEN 0 ELSE {kept_bit} END)",
                    f"(CASE WHEN __i IS NULL THEN 0 ELSE {item_bit} END)",
                ]
            )
            text = ", hash(__c) AS __hc, hash(__i) AS __hi, __c AS __cid, __i AS __item"
            query = (
                "SELECT *, CASE WHEN __kept THEN __cid END AS __c, "
                "CASE WHEN __kept THEN COALESCE(__cinv, __stock) END AS __i "
                f"FROM ({query}) AS k"
            )
        else:
            text = ""
        reader = self.con.sql(
            f"SELECT __fp, CAST({packed or '0'} AS {kind}) AS __flags{text} FROM ({query}) AS q"
        ).to_arrow_reader(sorting.BATCH_ROWS)
        folder = None
        try:
            try:
                os.makedirs(self.temp_directory, exist_ok=True)
                folder = tempfile.mkdtemp(prefix="sort-", dir=self.temp_directory)
            except OSError as exc:
                raise sorting.SortFilesError(exc) from None
            counter = sorting.SortCounter(
                flags,
                folder,
                _estimated_rows(self._source) if self._source else 0,
                cancel_bit=cancel_bit if lines else None,
                pair_bits=kept_bit | item_bit if lines else None,
                duplicates=duplicates is not None,
            )
            for batch in reader:
                if batch.num_rows:
                    counter.add(batch)
                del batch  # the last batch too: its rows are copied
            del reader
            counts, table, values = counter.finish()
            repeated = counter.duplicates
        except sorting.SortFilesError as exc:
            raise SegmintError(
                f"cannot write sort files to {self.temp_directory}: {exc.strerror}; "
                "choose a writable folder with room for about 16 bytes a row with --temp-dir"
            ) from None
        finally:
            if folder:
                shutil.rmtree(folder, ignore_errors=True)
        tables: list[tuple[str, pa.Table]] = []
        if lines:
            assert table is not None and values is not None
            tables += [(lines, table), (f"{lines}__values", pa.table({"value": values}))]
        if duplicates:
            assert repeated is not None
            tables.append((duplicates, pa.table({"__fp": pa.array(repeated, pa.uint64())})))
        for target, data in tables:
            view = f"{target}__arrow"
            self.con.register(view, data)
            try:
                self.materialize(target, f'SELECT * FROM "{view}"')
            finally:
                self.con.unregister(view)
        return counts

    def drop(self, name: str) -> None:
        """Forget the temporary table ``name`` and free its memory."""
        self.con.execute(f'DROP TABLE IF EXISTS "{name}"')

    def fetch(self, sql: str) -> pa.Table:
        """Run a query and return an Arrow table."""
        return self.con.sql(sql).to_arrow_table()

    def close(self) -> None:
        """Close the connection (and remove the spill folder it made)."""
        self.con.close()
        if self._spill:
            import shutil

            shutil.rmtree(self._spill, ignore_errors=True)

    def can_sort(self, source: Source) -> bool:
        """Whether :meth:`sorted_counts` suits ``source`` within the memory limit.

        Its partitions take the same memory at any size; its dictionaries grow with the
        distinct customers and items (about 30 bytes each). Up to ``memory_limit / 8`` rows
        it runs (200 million at 1.5 GB: a new customer or item every four rows would still
        fit); beyond, the SQL rules run instead, spilling to disk.
        """
        limit = _bytes(self.memory_limit)
        return limit is not None and _estimated_rows(source) * 8 <= limit
