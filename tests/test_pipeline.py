"""Atomic outputs: nothing half-written, an existing folder replaced only with force; CSV bytes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from segmint.errors import SegmintError
from segmint.pipeline import _write_plain_csv, atomic_file, atomic_folder, check_folder, write_table


def test_atomic_folder_leaves_nothing_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_folder(out) as tmp:
        (tmp / "segments.csv").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_folder_replaces_only_with_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_folder(out) as tmp:
        (tmp / "a.txt").write_text("first")
    assert (out / "a.txt").read_text() == "first"
    with pytest.raises(SegmintError, match="already exists; pass --force"):
        check_folder(out)
    with atomic_folder(out, force=True) as tmp:
        (tmp / "b.txt").write_text("second")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_check_folder_errors(tmp_path: Path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("x")
    with pytest.raises(SegmintError, match="is a file, not a folder"):
        check_folder(a_file, force=True)
    with pytest.raises(SegmintError, match="does not exist"):
        check_folder(tmp_path / "missing" / "out")


def test_atomic_file(tmp_path: Path) -> None:
    target = tmp_path / "c.csv"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_file(target) as tmp:
        tmp.write_text("new, half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["c.csv"]
    with atomic_file(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


_TABLES = {
    "text and integers": pd.DataFrame(
        {
            "customer_id": ["17850", "", None, "é ü", " a\t"],
            "n_products": np.array([1, 0, 3, 4, -5]),
            "n_cancelled": pd.array([1, None, 3, 0, 2], dtype="Int64"),
        }
    ),
    "text dtype, odd header": pd.DataFrame(
        {"a,b": pd.array(["x", None], dtype="string"), 'say "n"': [1, 2]}
    ),
    "comma in text": pd.DataFrame({"customer_id": ["a,b", "x"], "n": [1, 2]}),
    "quote in text": pd.DataFrame({"customer_id": ['a"b', "x"], "n": [1, 2]}),
    "newline in text": pd.DataFrame({"customer_id": ["a\nb", "x"], "n": [1, 2]}),
    "floats": pd.DataFrame({"customer_id": ["a", "x"], "monetary": [1.5, 1 / 3]}),
    "booleans": pd.DataFrame({"customer_id": ["a", "x"], "flag": [True, False]}),
    "one column": pd.DataFrame({"customer_id": ["a", ""]}),
    "no rows": pd.DataFrame(
        {"customer_id": pd.Series([], dtype=object), "n": pd.Series([], dtype="int64")}
    ),
}


@pytest.mark.parametrize("name", list(_TABLES))
def test_write_table_csv_bytes_are_pandas(name: str, tmp_path: Path) -> None:
    table = _TABLES[name]
    expected = table.to_csv(index=False, lineterminator="\n", float_format="%.10g")
    write_table(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_bytes() == expected.encode("utf-8")


def test_plain_csv_writer_takes_text_and_integers_only(tmp_path: Path) -> None:
    taken = {name for name, t in _TABLES.items() if _write_plain_csv(t, tmp_path / "p.csv")}
    assert taken == {"text and integers", "text dtype, odd header"}
