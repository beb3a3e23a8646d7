from __future__ import annotations

import pytest

from conftest import UCI_COLUMNS
from segmint.errors import SegmintError
from segmint.schema import normalise_name, required_columns, resolve_columns

RETAIL = UCI_COLUMNS
RETAIL_II = [
    "Invoice",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "Price",
    "Customer ID",
    "Country",
]


@pytest.mark.parametrize(
    "columns",
    [
        RETAIL,
        RETAIL_II,
        [c.upper() for c in RETAIL_II],
        [" customer_id" if c == "CustomerID" else c for c in RETAIL],
    ],
)
def test_uci_names_are_recognised(columns: list[str]) -> None:
    found = resolve_columns(columns)
    assert set(found) == {
        "invoice",
        "stock_code",
        "description",
        "quantity",
        "invoice_date",
        "unit_price",
        "customer_id",
        "country",
    }
    assert found["customer_id"] in columns


def test_mapping_wins_and_names_the_missing_column() -> None:
    cols = ["Order", "Sku", "Client"]
    found = resolve_columns(
        cols,
        {"invoice": "Order", "stock_code": "sku", "customer_id": "Client"},
        required=required_columns(["n_products"]),
        source="x.csv",
    )
    assert found == {"invoice": "Order", "stock_code": "Sku", "customer_id": "Client"}
    with pytest.raises(
        SegmintError,
        match=r"x.csv has no customer id column; columns are .*"
        r"--column customer_id=NAME",
    ):
        resolve_columns(
            ["Order", "Sku"],
            {"invoice": "Order"},
            required=("invoice", "customer_id"),
            source="x.csv",
        )


def test_only_needed_columns_are_required() -> None:
    assert required_columns(["n_products", "n_canceled_orders"]) == (
        "invoice",
        "stock_code",
        "customer_id",
    )
    assert "invoice_date" in required_columns(["recency_days"])
    # a file without price or date is fine for the default features
    resolve_columns(
        ["InvoiceNo", "StockCode", "CustomerID"],
        required=required_columns(["n_products", "n_canceled_orders"]),
    )


def test_bad_mapping_and_ambiguous_columns() -> None:
    with pytest.raises(SegmintError, match="not a canonical column"):
        resolve_columns(RETAIL, {"client": "CustomerID"})
    with pytest.raises(SegmintError, match="names no column"):
        resolve_columns(RETAIL, {"customer_id": "Nope"})
    with pytest.raises(SegmintError, match="both read as customer_id"):
        resolve_columns([*RETAIL, "Customer ID"])


def test_normalise_name() -> None:
    assert normalise_name("\ufeffCustomer ID") == "customerid"
    assert normalise_name("Unit_Price") == normalise_name("unitprice")
