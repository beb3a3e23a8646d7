"""``segmint.engines._sorting``: distinct counts by sorting, in partitions, against plain pandas.

Random rows (repeated fingerprints, flags, runs of one customer, NULL customers and items)
go through :class:`SortCounter` in batches, with one partition and with many; the flag
counts, the per-customer pair counts and the values must equal what pandas computes from
the same rows. The same path through DuckDB is checked against the feature definitions in
``test_invariants.py``.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from segmint.engines import _sorting as sorting

FLAGS = ["__a", "__b"]
CANCEL, KEPT, ITEM = 4, 8, 16  # the bits above the two flags


def _hash(text: str | None) -> int:
    if text is None or pd.isna(text):
        return 7  # any fixed value: only equal texts need equal hashes
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


def _rows(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    customer = np.repeat(rng.integers(0, 40, n), rng.integers(1, 6, n))[:n]  # runs
    kept = rng.random(n) < 0.8
    cancel = rng.random(n) < 0.2
    stock = rng.integers(0, 15, n)
    has_item = rng.random(n) < 0.95
    cid = [f"c{c}" if k else None for c, k in zip(customer, kept, strict=True)]
    item = [
        None if not (k and h) else (f"C{s % 7}" if x else f"S{s}")
        for k, h, x, s in zip(kept, has_item, cancel, stock, strict=True)
    ]
    flags = rng.integers(0, 4, n)
    bits = flags + CANCEL * cancel + KEPT * kept + ITEM * (kept & has_item)
    fp = rng.integers(0, n // 2, n).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    return pd.DataFrame(
        {"fp": fp, "bits": bits.astype(np.uint8), "cid": cid, "item": item, "flags": flags}
    )


def _batches(rows: pd.DataFrame, size: int) -> list[pa.RecordBatch]:
    out = []
    for start in range(0, len(rows), size):
        part = rows.iloc[start : start + size]
        out.append(
            pa.record_batch(
                {
                    "__fp": pa.array(part["fp"].to_numpy(), pa.uint64()),
                    "__flags": pa.array(part["bits"].to_numpy(), pa.uint8()),
                    "__hc": pa.array([_hash(c) for c in part["cid"]], pa.uint64()),
                    "__hi": pa.array([_hash(i) for i in part["item"]], pa.uint64()),
                    "__cid": pa.array(part["cid"], pa.string(), from_pandas=True),
                    "__item": pa.array(part["item"], pa.string(), from_pandas=True),
                }
            )
        )
    return out


@pytest.mark.parametrize("expected_rows", [0, 10**9])  # the 4 the flags need; 256
@pytest.mark.parametrize("seed", [0, 1])
def test_counts_equal_pandas(
    tmp_path: Path, seed: int, expected_rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sorting, "ENCODE_ROWS", 1_100)  # groups of 5 batches, 2 left at the end
    rows = _rows(seed, 3_000)
    counter = sorting.SortCounter(
        FLAGS,
        str(tmp_path),
        expected_rows,
        cancel_bit=CANCEL,
        pair_bits=KEPT | ITEM,
        duplicates=True,
    )
    assert counter.n == (4 if expected_rows == 0 else 256)
    for batch in _batches(rows, 250):
        counter.add(batch)
    counts, lines, values = counter.finish()
    assert list(tmp_path.iterdir()) == []  # partition files are removed once read

    got = counts.to_pandas().set_index(FLAGS).sort_index()
    grouped = rows.assign(__a=rows["flags"] & 1 == 1, __b=rows["flags"] & 2 == 2)
    expected = grouped.groupby(FLAGS).agg(rows=("fp", "size"), lines=("fp", "nunique"))
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)

    counted = rows[rows["cid"].notna() & rows["item"].notna()]
    cancel = (counted["bits"] & CANCEL) != 0
    products = counted[~cancel].groupby("cid")["item"].nunique()
    assert lines is not None and values is not None
    table = lines.to_pandas()
    own = table[table["cancel_invoice"].isna()].set_index("customer_key")["n_products"]
    assert sorted(own.index) == sorted(rows["cid"].dropna().unique())  # every kept customer
    pd.testing.assert_series_equal(
        own.sort_index(),
        products.reindex(own.index, fill_value=0).sort_index(),
        check_names=False,
    )
    cancels = table[table["cancel_invoice"].notna()]
    expected_pairs = set(map(tuple, counted[cancel][["cid", "item"]].drop_duplicates().values))
    assert set(zip(cancels["customer_key"], cancels["cancel_invoice"], strict=True)) == (
        expected_pairs
    )
    assert (cancels["n_products"] == 0).all()
    assert sorted(values.to_pylist()) == sorted(counted["item"].unique())

    # the fingerprints (as read) met on more than one row with the same flags, once each
    assert counter.duplicates is not None
    repeated = rows.groupby(["fp", "flags"]).size()
    expected_fps = set(repeated[repeated > 1].index.get_level_values("fp").tolist())
    assert len(counter.duplicates) == len(set(counter.duplicates.tolist()))
    assert set(counter.duplicates.tolist()) == expected_fps


def test_without_pairs_counts_flags_only(tmp_path: Path) -> None:
    rows = _rows(2, 1_000)
    counter = sorting.SortCounter(FLAGS, str(tmp_path), 10**6)
    for batch in _batches(rows, 300):
        counter.add(batch.select(["__fp", "__flags"]))
    counts, lines, values = counter.finish()
    assert lines is None and values is None
    assert counter.duplicates is None  # not asked for
    assert counts.column("rows").to_pylist() and sum(counts.column("rows").to_pylist()) == 1_000
    per_flags = rows.groupby("flags")["fp"].nunique()  # flags 0-3: __a + 2 * __b
    got = {r["__a"] + 2 * r["__b"]: r["lines"] for r in counts.to_pylist()}
    assert got == per_flags.to_dict()


def test_dictionary_codes_in_order_of_first_sight() -> None:
    dictionary = sorting.Dictionary()
    first = dictionary.add(np.array([30, 10], np.uint64), pa.array(["c", "a"]))
    second = dictionary.add(np.array([20, 30, 40], np.uint64), pa.array(["b", "c", "d"]))
    assert first.tolist() == [0, 1]
    assert second.tolist() == [2, 0, 3]
    assert dictionary.texts().to_pylist() == ["c", "a", "b", "d"]
    assert dictionary.hashes.tolist() == [10, 20, 30, 40]  # kept sorted for the look-ups


def test_dictionary_takes_repeats_and_text_at_rows() -> None:
    dictionary = sorting.Dictionary()
    text = pa.array(["x", "b", "a", "b", "c"])
    codes = dictionary.add(np.array([20, 10, 20, 30], np.uint64), text, np.array([1, 2, 3, 4]))
    assert codes.tolist() == [0, 1, 0, 2]  # a repeat gets its first code
    again = dictionary.add(np.array([30, 40, 40, 10], np.uint64), pa.array(["c", "d", "d", "a"]))
    assert again.tolist() == [2, 3, 3, 1]
    assert dictionary.texts().to_pylist() == ["b", "a", "c", "d"]
    assert dictionary.hashes.tolist() == [10, 20, 30, 40]


def test_no_flags_one_partition(tmp_path: Path) -> None:
    rows = _rows(3, 500)
    counter = sorting.SortCounter([], str(tmp_path), 0)
    assert counter.n == 1
    for batch in _batches(rows, 128):
        counter.add(batch.select(["__fp", "__flags"]))
    counts, _, _ = counter.finish()
    assert counts.to_pylist() == [{"rows": 500, "lines": rows["fp"].nunique()}]
