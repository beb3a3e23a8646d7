"""Writing tables: CSV bytes exactly as pandas writes them, whichever writer took the table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segmint.errors import SegmintError
from segmint.io import tables
from segmint.io.tables import _write_csv_with_arrow, write_table

_TABLES = {  # name: (table, written by the Arrow path?)
    "text and integers": (
        pd.DataFrame(
            {
                "customer_id": ["17850", "", None, "é ü", " a\t"],
                "n_products": np.array([1, 0, 3, 4, -5]),
                "n_cancelled": pd.array([1, None, 3, 0, 2], dtype="Int64"),
            }
        ),
        True,
    ),
    "text dtype, odd header": (
        pd.DataFrame({"a,b": pd.array(["x", None], dtype="string"), 'say "n"': [1, 2]}),
        True,
    ),
    "comma, quote, newline in text": (
        pd.DataFrame(
            {"name": ["Broad buyers, rare", 'say "hi"', "a\nb", "plain"], "n": [1, 2, 3, 4]}
        ),
        True,
    ),
    "probabilities": (
        pd.DataFrame(
            {
                "segment": [0, 1, 2, 3, 4, 5],
                "p": [0.999885, 1.0, 0.5, 0.0, np.nan, 0.000123],
                "x": [-0.0, 1e-4, 9999999999.0, 123456.789, 12.5, -3.25],
            }
        ),
        True,
    ),
    "carriage return in text": (pd.DataFrame({"name": ["a\rb", "x"], "n": [1, 2]}), False),
    "float with 16 digits": (pd.DataFrame({"name": ["a", "x"], "f": [1.5, 1 / 3]}), False),
    "float below 1e-4": (pd.DataFrame({"name": ["a", "x"], "f": [1.5, 2.5e-5]}), False),
    "float of 1e10": (pd.DataFrame({"name": ["a", "x"], "f": [1.5, 1e10]}), False),
    "32-bit floats": (
        pd.DataFrame({"name": ["a", "x"], "f": np.array([0.1, 2.5], dtype=np.float32)}),
        False,
    ),
    "booleans": (pd.DataFrame({"customer_id": ["a", "x"], "flag": [True, False]}), False),
    "one column": (pd.DataFrame({"customer_id": ["a", ""]}), False),
    "no rows": (
        pd.DataFrame(
            {"customer_id": pd.Series([], dtype=object), "n": pd.Series([], dtype="int64")}
        ),
        True,
    ),
}


def _pandas_csv(table: pd.DataFrame) -> bytes:
    return table.to_csv(index=False, lineterminator="\n", float_format="%.10g").encode("utf-8")


@pytest.mark.parametrize("name", list(_TABLES))
def test_write_table_csv_bytes_are_pandas(name: str, tmp_path: Path) -> None:
    table, fast = _TABLES[name]
    write_table(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == _pandas_csv(table)
    assert _write_csv_with_arrow(table, tmp_path / "p.csv") is fast  # and which path wrote it


def test_write_table_csv_bytes_random_floats(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "_CSV_ROWS", 1_000)  # three slices
    rng = np.random.default_rng(0)
    values = rng.uniform(-1e5, 1e5, 3_000) * 10.0 ** rng.integers(-4, 5, 3_000)
    decimals = rng.integers(0, 7, 3_000)
    table = pd.DataFrame(
        {
            "i": np.arange(3_000),
            "rounded": [round(v, int(d)) for v, d in zip(values, decimals, strict=True)],
            "probability": np.round(rng.random(3_000), 6),
        }
    )
    write_table(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == _pandas_csv(table)
    small = table[table["rounded"].abs().between(1e-4, 1e4)]
    assert _write_csv_with_arrow(small, tmp_path / "p.csv")  # the fast path did write these
    assert (tmp_path / "p.csv").read_bytes() == _pandas_csv(small)


def test_write_table_csv_slice_that_does_not_apply(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tables, "_CSV_ROWS", 2)
    table = pd.DataFrame({"name": ["a", "b,c", "d", "e", "f"], "f": [0.5, 1.0, 2.0, 3.0, 1 / 3]})
    assert not _write_csv_with_arrow(table, tmp_path / "p.csv")  # 1/3, in the last slice
    write_table(table, tmp_path / "t.csv")  # so pandas writes the whole file again
    assert (tmp_path / "t.csv").read_bytes() == _pandas_csv(table)
    assert _write_csv_with_arrow(table.iloc[:4], tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_bytes() == _pandas_csv(table.iloc[:4])


def test_write_table_parquet_and_unknown_suffix(tmp_path: Path) -> None:
    table, _ = _TABLES["probabilities"]
    write_table(table, tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "t.parquet"), table)
    with pytest.raises(SegmintError, match=r"t\.json: write \.csv or \.parquet"):
        write_table(table, tmp_path / "t.json")
    assert not (tmp_path / "t.json").exists()
