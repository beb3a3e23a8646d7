"""The default engine: embedded DuckDB, in-process, spilling to disk when memory is short."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError

if TYPE_CHECKING:
    import pyarrow as pa

    from segmint.loading import Source

__all__ = ["MAX_LINE_BYTES", "DuckDBEngine", "default_memory_limit"]

#: Longest CSV line read; a longer one means the file is not a transaction log.
MAX_LINE_BYTES = 16 * 2**20


def _trim_heap() -> None:
    """Hand freed heap memory back to the system (glibc keeps it otherwise), best effort."""
    import contextlib
    import ctypes
    import ctypes.util

    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    with contextlib.suppress(OSError, AttributeError):  # not glibc
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)


def _flag_counts(fps: list[Any], bits: list[Any], flags: Sequence[str]) -> pa.Table:
    """Rows and distinct fingerprints per combination of the flags (the low bits).

    The subsets are sorted two at a time (NumPy releases the GIL while sorting).
    """
    from concurrent.futures import ThreadPoolExecutor

    import numpy as np
    import pyarrow as pa

    width = 1 << len(flags)
    low = np.uint16(width - 1)
    sizes = np.zeros(width, dtype=np.int64)
    for b in bits:
        sizes += np.bincount(b & low, minlength=width)

    def count(value: int) -> tuple[int, int, int]:
        keys = np.empty(sizes[value], dtype=np.uint64)
        at = 0
        for f, b in zip(fps, bits, strict=True):
            part = f[(b & low) == value]
            keys[at : at + len(part)] = part
            at += len(part)
        keys.sort()
        return value, len(keys), int(np.count_nonzero(keys[1:] != keys[:-1])) + 1

    values = sorted(np.flatnonzero(sizes).tolist(), key=lambda v: -sizes[v])
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = sorted(pool.map(count, values))
    fps.clear()
    _trim_heap()
    return pa.table(
        {
            **{f: [bool(v >> i & 1) for v, _, _ in results] for i, f in enumerate(flags)},
            "rows": [r for _, r, _ in results],
            "lines": [d for _, _, d in results],
        }
    )


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


class DuckDBEngine:
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

    def fingerprint(self, columns: Sequence[str]) -> str:
        """SQL of a 64-bit hash of whole rows: duplicate rows are counted by it.

        Grouping by one hash is about twice as fast as grouping by every column; two rows that
        differ merge only if their hashes collide (odds about n**2 / 2**65: 1 in 15,000 for a
        log of 50 million distinct rows, 1 in 10**9 for one of 200,000).
        """
        return "hash(" + ", ".join('"' + c.replace('"', '""') + '"' for c in columns) + ")"

    def sorted_counts(
        self, query: str, flags: Sequence[str], *, lines: str | None = None
    ) -> pa.Table:
        """Distinct counts over one pass of ``query``, by sorting 64-bit keys with NumPy.

        Hash-aggregating tens of millions of distinct keys is the slow part of the cleaning
        rules at scale; sorting the keys instead (NumPy's vectorised sort) is several times
        faster, and the memory it takes is known: about 17 bytes a row.

        Parameters
        ----------
        query : str
            One row per input row, with ``__fp`` (the fingerprint, UBIGINT) and the boolean
            columns ``flags`` (functions of the row); with ``lines`` also ``__kept`` (bool),
            ``__cid``, ``__cinv`` (NULL on purchase rows) and ``__stock``.
        flags : sequence of str
            At most 15 flag columns.
        lines : str, optional
            Also create this table: per customer (``__cid`` of the kept rows, as
            ``customer_key``) one row with ``cancel_invoice`` NULL and ``n_products``, the
            number of distinct non-NULL ``__stock`` of its kept purchase rows, and one row per
            distinct ``__cinv`` of its kept rows (``n_products`` 0); and the table
            ``<lines>__values`` of the distinct stock codes and invoices met there (``value``).

        Returns
        -------
        pyarrow.Table
            What ``SELECT flags, COUNT(*) AS rows, COUNT(DISTINCT __fp) AS lines ... GROUP BY
            flags`` gives.
        """
        from concurrent.futures import ThreadPoolExecutor

        import pyarrow as pa
        import pyarrow.compute as pc

        if len(flags) > 15:
            raise ValueError(f"at most 15 flags, not {len(flags)}")
        cancel_bit = 1 << len(flags)
        kind = "UTINYINT" if len(flags) < 8 else "USMALLINT"
        packed = " + ".join(
            f"(CASE WHEN {f} THEN {1 << i} ELSE 0 END)" for i, f in enumerate(flags)
        )
        if lines:  # the customer and, for a purchase its stock code, for a cancellation its invoice
            packed += f" + (CASE WHEN __cinv IS NULL THEN 0 ELSE {cancel_bit} END)"
            text = (
                ", CASE WHEN __kept THEN __cid END AS __cid"
                ", CASE WHEN __kept THEN COALESCE(__cinv, __stock) END AS __item"
            )
        else:
            text = ""
        reader = self.con.sql(
            f"SELECT __fp, CAST({packed or '0'} AS {kind}) AS __flags{text} FROM ({query}) AS q"
        ).to_arrow_reader(1 << 20)
        fps: list[Any] = []
        bits: list[Any] = []
        pending: list[list[Any]] = [[], []]  # customers, items: encoded eight batches at a time
        encoded: list[Any] = []  # futures of (customer chunk, item chunk)

        def encode(columns: list[list[Any]]) -> tuple[Any, Any]:
            # one dictionary for the chunks of a group (no copy of the text)
            customers, items = (pc.dictionary_encode(pa.chunked_array(c)) for c in columns)
            return customers, items

        with ThreadPoolExecutor(max_workers=1) as pool:  # encodes while DuckDB reads on
            for n, batch in enumerate((b for b in reader if b.num_rows), start=1):
                # copies: a view would keep the whole exported batch (its text too) alive
                fps.append(batch.column(0).to_numpy().copy())
                bits.append(batch.column(1).to_numpy().copy())
                if lines:
                    pending[0].append(batch.column(2))
                    pending[1].append(batch.column(3))
                    if n % 8 == 0:
                        encoded.append(pool.submit(encode, pending))
                        pending = [[], []]
                        _trim_heap()
                del batch
            del reader
            if lines and pending[0]:
                encoded.append(pool.submit(encode, pending))
            chunks = [f.result() for f in encoded]
        del pending, encoded
        _trim_heap()
        table = _flag_counts(fps, bits, flags)
        if lines:
            self._lines_table(lines, chunks, bits, cancel_bit)
        return table

    def _lines_table(self, name: str, chunks: list[Any], bits: list[Any], cancel_bit: int) -> None:
        """Build the per-customer table of :meth:`sorted_counts` from the encoded groups."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        def unify(groups: list[Any]) -> tuple[Any, list[Any]]:
            """The union of the groups' dictionaries, and each group's codes into it."""
            probes = [
                pa.DictionaryArray.from_arrays(pa.array(np.arange(len(d), dtype=np.int32)), d)
                for d in (g.chunk(0).dictionary for g in groups)
            ]
            unified = pa.chunked_array(probes).unify_dictionaries()
            # a code of -1 (NULL) maps to -1: the last entry
            maps = [np.append(c.indices.to_numpy(), np.int32(-1)) for c in unified.chunks]
            return unified.chunk(0).dictionary, maps

        groups = [g for g in chunks if g[0].num_chunks]
        if groups:
            customers, cid_maps = unify([c for c, _ in groups])
            items, item_maps = unify([i for _, i in groups])
        else:
            customers = items = pa.array([], pa.string())
            cid_maps = item_maps = []
        # keys: customer code, a cancellation bit, then the stock code or invoice code
        shift = np.uint64(32)
        keys: list[Any] = []  # per batch, then moved into one array
        flag_chunks = iter(bits)
        for (cid_group, item_group), cid_map, item_map in zip(
            groups, cid_maps, item_maps, strict=True
        ):
            for cid_chunk, item_chunk in zip(cid_group.chunks, item_group.chunks, strict=True):
                flag = next(flag_chunks)
                if len(flag) != len(cid_chunk) or len(flag) != len(item_chunk):
                    raise RuntimeError("sorted_counts: encoded chunks out of step with the rows")
                cid = cid_map[pc.fill_null(cid_chunk.indices, -1).to_numpy()]
                item = item_map[pc.fill_null(item_chunk.indices, -1).to_numpy()]
                valid = (cid >= 0) & (item >= 0)
                key = cid[valid].astype(np.uint64) << shift
                key |= (flag[valid] >= cancel_bit).astype(np.uint64) << np.uint64(31)
                key |= item[valid].astype(np.uint64)
                keys.append(key)
        del groups, chunks[:], bits[:]
        key = np.empty(sum(len(k) for k in keys), dtype=np.uint64)
        at = 0
        while keys:
            part = keys.pop(0)
            key[at : at + len(part)] = part
            at += len(part)
        _trim_heap()
        key.sort()
        first = np.ones(len(key), dtype=bool)
        np.not_equal(key[1:], key[:-1], out=first[1:])
        pairs = key[first]
        del key, first
        cancel = (pairs >> np.uint64(31)) & np.uint64(1) == 1
        buyer = (pairs[~cancel] >> shift).astype(np.int64)
        n_products = np.bincount(buyer, minlength=len(customers))
        del buyer
        cancels = pairs[cancel]
        del pairs
        cancel_cid = (cancels >> shift).astype(np.int64)
        cancel_inv = (cancels & np.uint64(0x7FFFFFFF)).astype(np.int64)
        table = pa.table(  # every customer of the dictionary has kept rows
            {
                "customer_key": pa.concat_arrays([customers, customers.take(pa.array(cancel_cid))]),
                "cancel_invoice": pa.concat_arrays(
                    [pa.nulls(len(customers), items.type), items.take(pa.array(cancel_inv))]
                ),
                "n_products": np.concatenate([n_products, np.zeros(len(cancels), np.int64)]),
            }
        )
        for target, data in ((name, table), (f"{name}__values", pa.table({"value": items}))):
            view = f"{target}__arrow"
            self.con.register(view, data)
            try:
                self.materialize(target, f'SELECT * FROM "{view}"')
            finally:
                self.con.unregister(view)

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
        """Whether :meth:`sorted_counts` fits ``source`` in the memory limit (24 bytes a row).

        Its arrays grow with the rows; beyond the limit the SQL rules run instead, in bounded
        memory, spilling to disk.
        """
        limit = _bytes(self.memory_limit)
        return limit is not None and _estimated_rows(source) * 24 <= limit
