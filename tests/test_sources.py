"""Every supported form of one table gives the same customer table."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from conftest import EXPECTED
from segmint.errors import SegmintError
from segmint.io.sources import resolve_source
from segmint.pipeline import customer_features, load

RETAIL_II = {"InvoiceNo": "Invoice", "UnitPrice": "Price", "CustomerID": "Customer ID"}


def _forms(tmp_path: Path, frame: pd.DataFrame) -> dict[str, list[Path]]:
    forms: dict[str, list[Path]] = {}
    p = tmp_path / "plain.csv"
    frame.to_csv(p, index=False)
    forms["csv"] = [p]
    p = tmp_path / "latin1.csv"
    frame.to_csv(p, index=False, encoding="latin-1")
    forms["latin-1"] = [p]
    p = tmp_path / "semicolon.csv"
    frame.to_csv(p, index=False, sep=";")
    forms["semicolon"] = [p]
    p = tmp_path / "tab.tsv"
    frame.to_csv(p, index=False, sep="\t")
    forms["tab"] = [p]
    p = tmp_path / "bom_crlf.csv"
    frame.to_csv(p, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    forms["bom+crlf"] = [p]
    p = tmp_path / "us_dates.csv"
    us = frame.copy()
    us["InvoiceDate"] = pd.to_datetime(us["InvoiceDate"]).map(
        lambda t: f"{t.month}/{t.day}/{t.year} {t.hour}:{t.minute:02d}"
    )
    us.to_csv(p, index=False)
    forms["us dates"] = [p]
    p = tmp_path / "retail_ii.csv"
    frame.rename(columns=RETAIL_II).to_csv(p, index=False)
    forms["Online Retail II names"] = [p]
    p = tmp_path / "typed.parquet"
    typed = frame.copy()
    typed["InvoiceDate"] = pd.to_datetime(typed["InvoiceDate"])
    typed["CustomerID"] = pd.to_numeric(typed["CustomerID"])
    typed.to_parquet(p, index=False)
    forms["parquet"] = [p]
    p = tmp_path / "two_sheets.xlsx"
    half = len(frame) // 2
    xl = typed.copy()
    with pd.ExcelWriter(p, engine="openpyxl") as writer:
        xl.iloc[:half].to_excel(writer, sheet_name="Year 2009-2010", index=False)
        xl.iloc[half:].to_excel(writer, sheet_name="Year 2010-2011", index=False)
        pd.DataFrame({"note": ["not data"]}).to_excel(writer, sheet_name="readme", index=False)
    forms["xlsx, two sheets"] = [p]
    day1, day2 = tmp_path / "day-1.csv", tmp_path / "day-2.csv"
    frame.iloc[:5].to_csv(day1, index=False)
    frame.iloc[5:].to_csv(day2, index=False)
    forms["one CSV per day"] = [day1, day2]
    return forms


def test_every_form_gives_the_same_customer_table(
    tmp_path: Path, transactions: pd.DataFrame
) -> None:
    for name, paths in _forms(tmp_path, transactions).items():
        result = customer_features(paths, features="all")
        pd.testing.assert_frame_equal(
            result.table, EXPECTED, check_dtype=False, atol=1e-9, obj=name
        )


def test_excel_notes_skipped_sheets(tmp_path: Path, transactions: pd.DataFrame) -> None:
    result = customer_features(_forms(tmp_path, transactions)["xlsx, two sheets"])
    assert result.notes == ["two_sheets.xlsx, sheet 'readme': header differs, sheet skipped"]
    assert result.audit.rows_read == len(transactions)


def test_glob(tmp_path: Path, transactions: pd.DataFrame) -> None:
    _forms(tmp_path, transactions)
    result = customer_features(str(tmp_path / "day-*.csv"))
    assert result.audit.rows_read == len(transactions)


def test_sniffing(tmp_path: Path, transactions: pd.DataFrame) -> None:
    forms = _forms(tmp_path, transactions)
    assert resolve_source(forms["latin-1"]).encoding == "latin-1"
    assert resolve_source(forms["csv"]).encoding == "utf-8"
    assert resolve_source(forms["semicolon"]).delimiter == ";"
    assert resolve_source(forms["tab"]).delimiter == "\t"


def test_load_returns_canonical_rows(log_csv: Path) -> None:
    frame = load(log_csv)
    assert list(frame.columns[:8]) == [
        "invoice",
        "stock_code",
        "description",
        "quantity",
        "invoice_date",
        "unit_price",
        "customer_id",
        "country",
    ]
    assert len(frame) == 14
    assert frame["customer_id"].iloc[0] == "12345"
    assert frame["is_cancel"].sum() == 4
    assert str(frame["invoice_date"].dtype).startswith("datetime64")


def _file(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda d: d / "missing.csv", "does not exist"),
        (lambda d: d, "is a folder"),
        (_file("e.csv", b""), "is empty"),
        (_file("j.csv", b'{"a": 1}\n'), "holds JSON"),
        (_file("x.json", b"{}"), "unknown file type"),
        (_file("p.parquet", b"nope"), "not a Parquet"),
        (_file("t.xlsx", b"PK\x03\x04broken"), "not a readable Excel"),
    ],
)
def test_bad_paths_raise_one_clear_error(
    tmp_path: Path, setup: Callable[[Path], Path], message: str
) -> None:
    with pytest.raises(SegmintError, match=message):
        customer_features(setup(tmp_path))
