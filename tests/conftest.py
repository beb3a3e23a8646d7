"""Shared fixtures: a hand-written transaction log whose customer table is known by hand."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
REAL_LOG = DATA / "online_retail_2010-12_to_2011-02.csv"

UCI_COLUMNS = [
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
]

# fmt: off
ROWS = [
    # customer 12345: P1 twice (two invoices), P2 once, and an exact duplicate line
    ("536365", "P1", "CRÈME LANTERN, WHITE", 6, "2010-12-01 08:26:00", 2.55, "12345.0", "United Kingdom"),
    ("536365", "P2", "MUG; BLUE", 2, "2010-12-01 08:26:00", 3.39, "12345.0", "United Kingdom"),
    ("536365", "P2", "MUG; BLUE", 2, "2010-12-01 08:26:00", 3.39, "12345.0", "United Kingdom"),
    ("536370", "P1", "CRÈME LANTERN, WHITE", 1, "2010-12-03 10:00:00", 2.55, "12345.0", "United Kingdom"),
    # customer 12346 only cancelled: one cancellation invoice with two lines
    ("C536380", "P3", "BOX", -1, "2010-12-02 09:00:00", 1.25, "12346.0", "France"),
    ("C536380", "P4", "TIN", -3, "2010-12-02 09:00:00", 0.85, "12346.0", "France"),
    # customer 12347 buys P1 and P5, cancels twice (one of them a service code)
    ("536390", "P1", "CRÈME LANTERN, WHITE", 4, "2010-12-04 11:30:00", 2.55, "12347.0", "Germany"),
    ("536390", "P5", "CANDLE", 12, "2010-12-04 11:30:00", 0.0, "12347.0", "Germany"),
    ("536390", "POST", "POSTAGE", 1, "2010-12-04 11:30:00", 18.0, "12347.0", "Germany"),
    ("C536391", "P5", "CANDLE", -2, "2010-12-05 12:00:00", 0.42, "12347.0", "Germany"),
    ("C536392", "M", "Manual", -1, "2010-12-06 12:00:00", 5.0, "12347.0", "Germany"),
    # no customer id: dropped (one of them also a duplicate)
    ("536400", "P1", "CRÈME LANTERN, WHITE", 1, "2010-12-06 13:00:00", 2.55, None, "United Kingdom"),
    ("536400", "P1", "CRÈME LANTERN, WHITE", 1, "2010-12-06 13:00:00", 2.55, None, "United Kingdom"),
    ("536401", "P9", "LAMP", 1, "2010-12-07 13:00:00", 9.95, None, "United Kingdom"),
]
# fmt: on

#: The customer table the definitions imply for ROWS, worked out by hand.
EXPECTED = pd.DataFrame(
    {
        "customer_id": ["12345", "12346", "12347"],
        "n_products": [2, 0, 3],
        "n_canceled_orders": [0, 1, 2],
        "n_orders": [2, 0, 1],
        # last date in the data is 2010-12-06 (rows without id are dropped first)
        "recency_days": [3, 4, 2],
        # net spend: purchases minus cancellations (12346: -1 x 1.25 - 3 x 0.85)
        "monetary": [
            6 * 2.55 + 2 * 3.39 + 1 * 2.55,
            -1 * 1.25 - 3 * 0.85,
            4 * 2.55 + 0 + 18.0 - 2 * 0.42 - 1 * 5.0,
        ],
        "cancel_rate": [0.0, 1.0, 2 / 3],
    }
)

# fmt: off
#: Dates with time-zone offsets as shop exports write them (and ISO), some crossing midnight in
#: UTC, among dates without one: the recency_days of :func:`utc_recency_days`.
OFFSET_ROWS = [
    ("1001", "P1", "LANTERN", 1, "2024-03-01 22:00:00 -0500", 2.5, "501", "United States"),  # 03-02 03:00
    ("1002", "P2", "MUG", 2, "2024-03-02 00:30:00 +0200", 3.0, "502", "Germany"),  # 03-01 22:30
    ("1003", "P1", "LANTERN", 1, "2024-03-04 10:12:00 +0000", 2.5, "503", "United Kingdom"),
    ("1004", "P3", "BOX", 3, "2024-03-03T23:30:00-01:00", 1.0, "501", "Portugal"),  # 03-04 00:30
    ("1005", "P2", "MUG", 1, "2024-03-05T00:45:00+01:00", 3.0, "502", "France"),  # 03-04 23:45
    ("1006", "P3", "BOX", 2, "2024-03-02 12:00:00", 1.0, "504", "United Kingdom"),
    ("1007", "P1", "LANTERN", 1, "2024-03-06 01:00:00 +05:30", 2.5, "503", "India"),  # 03-05 19:30
]
# fmt: on


def utc_recency_days(path: Path) -> pd.Series:
    """recency_days of a log as pandas computes it: every date in UTC (no offset: already UTC)."""
    frame = pd.read_csv(path, dtype=str)
    stamps = pd.to_datetime(frame["InvoiceDate"], utc=True, format="ISO8601")
    days = stamps.dt.tz_convert(None).dt.normalize()
    last = days.groupby(frame["CustomerID"]).max()
    return (days.max() - last).dt.days.rename("recency_days")


@pytest.fixture
def offset_log(tmp_path: Path) -> Path:
    """OFFSET_ROWS as a UCI-layout CSV."""
    path = tmp_path / "offsets.csv"
    pd.DataFrame(OFFSET_ROWS, columns=UCI_COLUMNS).to_csv(path, index=False)
    return path


#: Audit figures for ROWS.
EXPECTED_AUDIT = {
    "rows_read": 14,
    "duplicate_rows": 2,
    "rows_without_customer_id": 3,
    "rows_excluded": 0,
    "rows_kept": 10,
    "customers": 3,
    "cancellation_lines": 4,
    "cancellation_invoices": 3,
    "nonpositive_price_lines": 1,
    "service_code_lines": 2,
}


@pytest.fixture
def transactions() -> pd.DataFrame:
    """The hand-written log with UCI Online Retail column names (text as in the CSV)."""
    return pd.DataFrame(ROWS, columns=UCI_COLUMNS)


@pytest.fixture
def log_csv(tmp_path: Path, transactions: pd.DataFrame) -> Path:
    """The hand-written log as a plain UTF-8 CSV."""
    path = tmp_path / "orders.csv"
    transactions.to_csv(path, index=False)
    return path


@pytest.fixture
def real_log() -> Path:
    """Three real months of UCI Online Retail (shared data, never copied into the repo)."""
    if not REAL_LOG.exists():
        pytest.skip(f"{REAL_LOG} not present")
    return REAL_LOG


def require(name: str) -> bool:
    """True when the environment demands that tests needing ``name`` run, not skip."""
    return os.environ.get(f"SEGMINT_REQUIRE_{name.upper()}") == "1"
