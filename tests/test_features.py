"""The feature contract (docs/CONTRACTS.md) on the hand-written log and on three real months."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from conftest import EXPECTED, EXPECTED_AUDIT, utc_recency_days
from segmint.errors import SegmintError
from segmint.features import parse_features
from segmint.pipeline import customer_features


def test_default_features_match_the_hand_computed_table(log_csv: Path) -> None:
    result = customer_features(log_csv)
    expected = EXPECTED[["customer_id", "n_products", "n_canceled_orders"]]
    pd.testing.assert_frame_equal(result.table, expected, check_dtype=False)
    assert list(result.table.dtypes.astype(str)[1:]) == ["int64", "int64"]
    assert result.audit.to_dict() == EXPECTED_AUDIT


def test_all_features(log_csv: Path) -> None:
    table = customer_features(log_csv, features="all").table
    pd.testing.assert_frame_equal(table, EXPECTED, check_dtype=False, atol=1e-9)


def test_a_dataframe_is_accepted(transactions: pd.DataFrame) -> None:
    table = customer_features(transactions, features=["monetary"]).table
    assert list(table.columns) == ["customer_id", "monetary"]
    assert table["monetary"].tolist() == pytest.approx(EXPECTED["monetary"].tolist())


def test_excluding_service_codes_and_nonpositive_prices(log_csv: Path) -> None:
    result = customer_features(log_csv, exclude_service_codes=True)
    # POST, the manual cancellation M, and the zero-price P5 line go
    assert result.audit.rows_excluded == 3
    assert result.audit.rows_kept == EXPECTED_AUDIT["rows_kept"] - 3
    row = result.table.set_index("customer_id").loc["12347"]
    assert (row["n_products"], row["n_canceled_orders"]) == (1, 1)


def test_dates_with_offsets_are_read_in_utc(offset_log: Path) -> None:
    """``+0000``, ``-0500``, ISO ``+01:00``: the instant's UTC date, as pandas converts it."""
    result = customer_features(offset_log, features=["recency_days"], pseudonymize=False)
    got = result.table.set_index("customer_id")["recency_days"]
    expected = utc_recency_days(offset_log)
    assert got.to_dict() == expected.to_dict() == {"501": 1, "502": 1, "503": 0, "504": 3}
    assert result.audit.rows_kept == 7


def test_parse_features() -> None:
    assert parse_features(None) == ("n_products", "n_canceled_orders")
    # exactly the features named, in the canonical order; nothing given means the defaults
    assert parse_features("monetary, n_orders") == ("n_orders", "monetary")
    assert parse_features("n_orders,recency_days,monetary") == (
        "n_orders",
        "recency_days",
        "monetary",
    )
    assert parse_features("") == ("n_products", "n_canceled_orders")
    assert len(parse_features("all")) == 6
    with pytest.raises(SegmintError, match="unknown feature 'rfm'"):
        parse_features("rfm")


def test_real_three_months_reproduce_the_published_figures(real_log: Path) -> None:
    result = customer_features(real_log, features="all")
    audit = result.audit
    assert audit.rows_read == 105_335
    assert audit.duplicate_rows == 975
    assert audit.rows_without_customer_id == 36_210
    assert audit.rows_kept == 68_162
    assert audit.customers == 1_749
    assert audit.cancellation_invoices == 761
    table = result.table
    assert len(table) == 1_749
    assert table["n_canceled_orders"].sum() == 761
    assert table["customer_id"].is_monotonic_increasing
    assert not table["customer_id"].str.endswith(".0").any()
    # the same definitions in plain pandas
    raw = pd.read_csv(real_log, dtype=str, keep_default_na=False).drop_duplicates()
    raw = raw[raw["CustomerID"].str.strip() != ""]
    raw["cid"] = raw["CustomerID"].str.replace(r"\.0+$", "", regex=True)
    cancel = raw["InvoiceNo"].str.startswith("C")
    n_products = raw[~cancel].groupby("cid")["StockCode"].nunique()
    n_cancel = raw[cancel].groupby("cid")["InvoiceNo"].nunique()
    got = table.set_index("customer_id")
    assert (got["n_products"] == n_products.reindex(got.index, fill_value=0)).all()
    assert (got["n_canceled_orders"] == n_cancel.reindex(got.index, fill_value=0)).all()
