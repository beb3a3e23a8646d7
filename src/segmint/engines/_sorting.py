"""Distinct counts by sorting 64-bit keys, in partitions on disk: the DuckDB engine's fast path.

Hash-aggregating tens of millions of distinct keys is the slow part of the cleaning rules at
scale. Sorting 64-bit keys with NumPy is several times faster, and it releases the GIL, so
two sorts run on two cores. DuckDB streams one row per input row (see
:meth:`segmint.engines.duckdb.DuckDBEngine.sorted_counts`) and :class:`SortCounter` counts:

- rows and distinct fingerprints per combination of the flags, for the audit;
- distinct (customer, stock code) and (customer, cancellation invoice) pairs, for the
  features;
- the fingerprints met on more than one row, for the sums over distinct lines (spend) that
  the engine computes in a second pass.

Memory stays flat as the rows grow. Each batch is split by value into partitions appended
to files (fingerprints by their top bits, pair keys by customer), so every distinct count is
a sum over partitions, each sorted on its own once the stream ends. What stays in memory
grows with the distinct customers and items only: their dictionaries, about 30 bytes each.

Customers and items arrive as 64-bit hashes beside their text. The rows of one invoice
share a customer, so only the first row of each run of one customer is looked up; the text
is kept once per distinct value. Two different customer ids (or items) would merge only if
their hashes collided: odds about n**2 / 2**65, 1 in 10**7 for a million of them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

__all__ = [
    "BATCH_ROWS",
    "ROWS_PER_PARTITION",
    "Dictionary",
    "SortCounter",
    "SortFilesError",
    "trim_heap",
]

#: Rows of one partition (rounded to a power of two partitions): about 70 MB of keys.
ROWS_PER_PARTITION = 1 << 22

#: Rows of a batch as DuckDB streams it: small enough that the memory of its Arrow buffers
#: is reused from batch to batch rather than mapped afresh (half the page faults of 2M rows).
BATCH_ROWS = 1 << 18

#: Rows encoded together on the second thread: each encoding has a fixed cost (the new
#: values are inserted into the dictionaries' sorted arrays), so not batch by batch.
ENCODE_ROWS = 1 << 21


class SortFilesError(Exception):
    """A partition file could not be written or read (``strerror`` says why)."""

    def __init__(self, exc: OSError) -> None:
        super().__init__(str(exc))
        self.strerror = exc.strerror or str(exc)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim``, or None elsewhere (looked up once: ``find_library`` forks)."""
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def trim_heap() -> None:
    """Hand freed heap memory back to the system (glibc keeps it otherwise), best effort."""
    import pyarrow as pa

    pa.default_memory_pool().release_unused()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _codes(hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Dictionary codes (int32) of 64-bit hashes, and the distinct hashes."""
    import pyarrow as pa
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(pa.array(hashes))
    return encoded.indices.to_numpy(), encoded.dictionary.to_numpy()


def _firsts(values: np.ndarray) -> np.ndarray:
    """A mask of where each run of equal ``values`` starts (each distinct value, if sorted)."""
    import numpy as np

    first = np.ones(len(values), dtype=bool)
    np.not_equal(values[1:], values[:-1], out=first[1:])
    return first


class Dictionary:
    """Codes for 64-bit hashes in order of first sight, and the text of each.

    Kept as a sorted array of the hashes with their codes: values are looked up with one
    binary search each, and only values seen for the first time are inserted.
    """

    def __init__(self) -> None:
        import numpy as np

        self.hashes = np.empty(0, dtype=np.uint64)  # sorted
        self.codes = np.empty(0, dtype=np.int32)  # the code of each of ``hashes``
        self.size = 0
        self._texts: list[pa.Array] = []

    def add(
        self, hashes: np.ndarray, text: pa.Array | pa.ChunkedArray, rows: np.ndarray | None = None
    ) -> np.ndarray:
        """The codes of ``hashes`` (repeats allowed), coding the new ones.

        The text of ``hashes[i]`` is ``text[rows[i]]`` (``text[i]`` without ``rows``).
        """
        import numpy as np
        import pyarrow as pa

        # in sorted order: the binary searches then walk the dictionary once, front to back
        order = np.argsort(hashes)
        wanted = hashes[order]
        at = np.searchsorted(self.hashes, wanted)
        known = np.zeros(len(wanted), dtype=bool)
        inside = at < self.size
        known[inside] = self.hashes[at[inside]] == wanted[inside]
        found = np.empty(len(wanted), dtype=np.int32)
        found[known] = self.codes[at[known]]
        unknown = np.flatnonzero(~known)
        if len(unknown):
            values = wanted[unknown]  # sorted, with repeats
            fresh = _firsts(values)
            starts, group = np.flatnonzero(fresh), np.cumsum(fresh) - 1
            first = np.minimum.reduceat(order[unknown], starts)  # where each new value is first
            sight = np.argsort(first, kind="stable")  # new values in order of first sight
            rank = np.empty(len(starts), dtype=np.int32)
            rank[sight] = np.arange(self.size, self.size + len(starts), dtype=np.int32)
            found[unknown] = rank[group]
            where = first[sight]
            taken = text.take(pa.array(where if rows is None else rows[where]))
            self._texts.append(
                taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken
            )
            self.size += len(starts)
            self.hashes = np.insert(self.hashes, at[unknown[starts]], values[starts])
            self.codes = np.insert(self.codes, at[unknown[starts]], rank)
        codes = np.empty(len(hashes), dtype=np.int32)
        codes[order] = found
        return codes

    def texts(self) -> pa.Array:
        """The text of every code, in code order (NULL for the rows that are not kept)."""
        import pyarrow as pa

        return pa.concat_arrays(self._texts) if self._texts else pa.array([], pa.string())


def _split(part: np.ndarray, n: int, *arrays: np.ndarray) -> list[list[np.ndarray]]:
    """``arrays`` cut by partition number ``part`` (uint8): ``[array][partition]``."""
    import numpy as np

    if n == 1:
        return [[a] for a in arrays]
    order = np.argsort(part, kind="stable")  # a radix sort on 8-bit numbers
    bounds = np.cumsum(np.bincount(part, minlength=n))[:-1]
    return [np.split(a[order], bounds) for a in arrays]


class SortCounter:
    """Rows and distinct fingerprints per combination of flags, and distinct pairs per customer.

    Parameters
    ----------
    flags : sequence of str
        Names of the flags, the low bits of the ``__flags`` column.
    folder : str
        An empty folder for the partition files (removed by the caller).
    rows : int
        Rows expected (an estimate), to choose the number of partitions.
    cancel_bit, pair_bits : int, optional
        With pairs: the bit of ``__flags`` that marks a cancellation (its item is an
        invoice), and the bits all set on a row whose pair counts (kept, with an item).
        Batches then also carry ``__hc``, ``__hi`` (hashes of customer and item, UBIGINT),
        ``__cid`` and ``__item`` (their text).
    duplicates : bool, default=False
        Also keep the fingerprints met on more than one row (:attr:`duplicates`).

    Attributes
    ----------
    duplicates : numpy.ndarray or None
        After :meth:`finish`, with ``duplicates``: every fingerprint (uint64, as read) met on
        more than one row with the same flags, each once, in no particular order.

    Notes
    -----
    A fingerprint is stored with its flags in place of its top bits, so that sorting groups
    it by flags. Those bits are the partition's number, the same for every fingerprint of a
    partition, and there are at least ``2**len(flags)`` partitions: nothing is lost (at most
    8 flags; the default features use 4, all of them 8).
    """

    def __init__(
        self,
        flags: Sequence[str],
        folder: str,
        rows: int,
        *,
        cancel_bit: int | None = None,
        pair_bits: int | None = None,
        duplicates: bool = False,
    ) -> None:
        if len(flags) > 8:
            raise ValueError(f"at most 8 flags, not {len(flags)}")
        self.flags = list(flags)
        self.folder = folder
        want = max(1, -(-rows // ROWS_PER_PARTITION))
        # 2**depth partitions, at most 256: enough to hold the flags in the top bits
        self.depth = min(max((want - 1).bit_length(), len(self.flags)), 8)
        self.n = 1 << self.depth
        self.cancel_bit, self.pair_bits = cancel_bit, pair_bits
        self.pairs = pair_bits is not None
        self.keep_duplicates = duplicates
        self.duplicates: np.ndarray | None = None
        self.customers, self.items = Dictionary(), Dictionary()
        self._files: dict[str, Any] = {}
        self._encoding: Future[None] | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_rows = 0
        self._pool = ThreadPoolExecutor(max_workers=1)  # encodes while DuckDB reads on

    def _write(self, name: str, parts: list[np.ndarray]) -> None:
        try:
            for p, values in enumerate(parts):
                key = f"{name}{p}"
                if key not in self._files:
                    self._files[key] = open(os.path.join(self.folder, key), "wb")  # noqa: SIM115
                values.tofile(self._files[key])
        except OSError as exc:
            raise SortFilesError(exc) from None

    def add(self, batch: pa.RecordBatch) -> None:
        """Count one batch of rows."""
        import numpy as np

        fp = batch.column(0).to_numpy()
        part = (fp >> np.uint64(64 - self.depth)).astype(np.uint8) if self.depth else fp[:0]
        key = fp & np.uint64((1 << (64 - len(self.flags))) - 1)
        del fp
        low = batch.column(1).to_numpy() & ((1 << len(self.flags)) - 1)
        key |= low.astype(np.uint64) << np.uint64(64 - len(self.flags))  # the flags on top
        del low
        (keys,) = _split(part, self.n, key)
        self._write("fp", keys)
        if self.pairs:
            self._pending.append(batch)
            self._pending_rows += batch.num_rows
            if self._pending_rows >= ENCODE_ROWS:
                self._flush()

    def _flush(self) -> None:
        # one group encodes while the next is read: if encoding falls behind, reading
        # waits for it, so batches never pile up in memory
        self._wait()
        if self._pending:
            self._encoding = self._pool.submit(self._encode, self._pending)
            self._pending, self._pending_rows = [], 0
            trim_heap()

    def _wait(self) -> None:
        if self._encoding is not None:
            self._encoding.result()  # and a failure is raised early
            self._encoding = None

    @staticmethod
    def _lookup(
        dictionary: Dictionary,
        hashes: np.ndarray,
        text: pa.Array | pa.ChunkedArray,
        rows: np.ndarray | None = None,
    ) -> np.ndarray:
        """Codes of ``hashes``, whose text is at ``rows`` of ``text`` (at the same row without).

        The distinct values are found by hashing first, so ``dictionary`` searches each once.
        """
        import numpy as np

        local, distinct = _codes(hashes)
        at = np.empty(len(distinct), dtype=np.int64)
        at[local] = np.arange(len(hashes)) if rows is None else rows  # equal hashes, equal text
        return dictionary.add(distinct, text, at)[local]

    def _encode(self, batches: list[pa.RecordBatch]) -> None:
        """Customer and item codes of a group of batches, written as pair keys."""
        import numpy as np
        import pyarrow as pa

        names = ("__flags", "__hc", "__hi", "__cid", "__item")
        columns = {n: [b.column(n) for b in batches] for n in names}
        del batches

        def column(name: str) -> Any:
            return columns.pop(name)

        bits = np.concatenate([c.to_numpy() for c in column("__flags")])
        hc = np.concatenate([c.to_numpy() for c in column("__hc")])
        n = len(hc)
        # consecutive rows mostly share a customer (one invoice): look up the first of each run
        heads = np.flatnonzero(_firsts(hc))
        cid = pa.chunked_array(column("__cid"))
        customer = self._lookup(self.customers, hc[heads], cid, heads)
        customer = np.repeat(customer, np.diff(heads, append=n))
        del hc, heads, cid
        assert self.pair_bits is not None and self.cancel_bit is not None
        counted = np.flatnonzero((bits & self.pair_bits) == self.pair_bits)  # items: these only
        hi = np.concatenate([c.to_numpy() for c in column("__hi")])[counted]
        item = self._lookup(self.items, hi, pa.chunked_array(column("__item")), counted)
        del hi
        key = customer[counted].astype(np.uint64) << np.uint64(32)
        key |= ((bits[counted] & self.cancel_bit) != 0).astype(np.uint64) << np.uint64(31)
        key |= item.astype(np.uint64)
        del customer, item, bits, counted
        part = (key >> np.uint64(32)).astype(np.uint8) & np.uint8(self.n - 1)
        (keys,) = _split(part, self.n, key)
        self._write("key", keys)

    def finish(self) -> tuple[pa.Table, pa.Table | None, pa.Array | None]:
        """Close the stream and count.

        Returns
        -------
        counts : pyarrow.Table
            The flags, ``rows`` and ``lines`` (distinct fingerprints) per combination met.
        lines : pyarrow.Table or None
            With pairs: ``customer_key`` (text), ``cancel_invoice`` (NULL on the one row of a
            customer's purchases), ``n_products`` (0 on the cancellation rows); every customer
            once with ``cancel_invoice`` NULL, then one row per distinct cancellation invoice.
        values : pyarrow.Array or None
            With pairs: the distinct items (stock codes and invoices) met.
        """
        import numpy as np
        import pyarrow as pa

        try:
            self._flush()
            self._wait()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            try:
                for handle in self._files.values():
                    handle.close()
            except OSError as exc:
                raise SortFilesError(exc) from None
        trim_heap()
        tasks: list[tuple[str, int]] = []
        for p in range(self.n):
            tasks.append(("fp", p))
            if self.pairs:
                tasks.append(("key", p))
        width = 1 << len(self.flags)
        rows = np.zeros(width, dtype=np.int64)
        lines = np.zeros(width, dtype=np.int64)
        n_products = np.zeros(self.customers.size, dtype=np.int64)
        cancels: list[np.ndarray] = []
        repeated: list[np.ndarray] = []

        def load(name: str) -> np.ndarray:
            path = os.path.join(self.folder, name)
            if not os.path.exists(path):
                return np.empty(0, dtype=np.uint64)
            try:
                values = np.fromfile(path, dtype=np.uint64)
                os.remove(path)
            except OSError as exc:
                raise SortFilesError(exc) from None
            return values

        def count(task: tuple[str, int]) -> Any:
            name, p = task
            if name == "fp":
                fp = load(f"fp{p}")
                fp.sort()  # so by flags first: one stretch of keys per combination
                tops = np.arange(width, dtype=np.uint64) << np.uint64(64 - len(self.flags))
                bounds = [*np.searchsorted(fp, tops[1:]).tolist(), len(fp)]
                first = _firsts(fp)
                start, n_rows, n_lines = 0, np.zeros(width, np.int64), np.zeros(width, np.int64)
                for value, end in enumerate(bounds):
                    n_rows[value] = end - start
                    n_lines[value] = np.count_nonzero(first[start:end])
                    start = end
                return n_rows, n_lines, self._repeated(fp, first, p)
            key = load(f"key{p}")
            key.sort()
            pairs = key[_firsts(key)]
            del key
            cancel = (pairs >> np.uint64(31)) & np.uint64(1) == 1
            buyers = (pairs[~cancel] >> np.uint64(32)).astype(np.int64)
            return np.bincount(buyers, minlength=self.customers.size), pairs[cancel]

        with ThreadPoolExecutor(max_workers=2) as pool:
            for (name, _), result in zip(tasks, pool.map(count, tasks), strict=True):
                if name == "fp":
                    rows += result[0]
                    lines += result[1]
                    if result[2] is not None:
                        repeated.append(result[2])
                else:
                    n_products += result[0]
                    cancels.append(result[1])
        if self.keep_duplicates:
            self.duplicates = np.concatenate(repeated) if repeated else np.empty(0, dtype=np.uint64)
        met = np.flatnonzero(rows).tolist()
        counts = pa.table(
            {
                **{f: [bool(v >> i & 1) for v in met] for i, f in enumerate(self.flags)},
                "rows": rows[met].tolist(),
                "lines": lines[met].tolist(),
            }
        )
        if not self.pairs:
            return counts, None, None
        return counts, *self._lines(n_products, cancels)

    def _repeated(self, keys: np.ndarray, first: np.ndarray, p: int) -> np.ndarray | None:
        """The fingerprints (as read) repeated among the sorted ``keys`` of partition ``p``.

        A key holds the flags in place of the fingerprint's top bits; those bits are the
        partition's number (see the class notes), so the fingerprint is put back from it.
        """
        import numpy as np

        if not self.keep_duplicates:
            return None
        again = keys[~first]  # the second and later copies
        if self.depth:
            low = np.uint64((1 << (64 - self.depth)) - 1)
            again = (again & low) | (np.uint64(p) << np.uint64(64 - self.depth))
        # once each (met with other flags too, a fingerprint repeats here): a partition holds
        # every row of its fingerprints, so no other partition has these
        return np.unique(again)

    def _lines(self, n_products: np.ndarray, cancels: list[np.ndarray]) -> tuple[pa.Table, Any]:
        """The per-customer table of :meth:`finish` from the pair counts."""
        import numpy as np
        import pyarrow as pa

        customers = self.customers.texts()
        items = self.items.texts()
        valid = customers.is_valid().to_numpy(zero_copy_only=False)  # NULL: rows not kept
        cancel = np.concatenate(cancels) if cancels else np.empty(0, dtype=np.uint64)
        cancel_customer = pa.array((cancel >> np.uint64(32)).astype(np.int64))
        cancel_item = pa.array((cancel & np.uint64(0x7FFFFFFF)).astype(np.int64))
        table = pa.table(
            {
                "customer_key": pa.concat_arrays(
                    [customers.filter(pa.array(valid)), customers.take(cancel_customer)]
                ),
                "cancel_invoice": pa.concat_arrays(
                    [pa.nulls(int(valid.sum()), pa.string()), items.take(cancel_item)]
                ),
                "n_products": np.concatenate([n_products[valid], np.zeros(len(cancel), np.int64)]),
            }
        )
        return table, items.drop_null()
