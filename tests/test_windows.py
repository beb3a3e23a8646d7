"""Features as of a date over a window (segmint.windows), against pandas on the same lines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from segmint._synth_moves import moves_log
from segmint.clean import clean
from segmint.errors import SegmintError
from segmint.features import aggregate
from segmint.io.sources import resolve_source
from segmint.pipeline import customer_features, get_engine
from segmint.schema import FEATURE_COLUMNS
from segmint.windows import (
    log_days,
    parse_as_of,
    parse_window,
    period_ends,
    window_features,
    window_start,
)

D = dt.date


def test_parse_window() -> None:
    assert parse_window(None) is None and parse_window("all") is None
    assert [parse_window(t) for t in ("90", "90d", "13W", "12M", "1y")] == [
        "90D",
        "90D",
        "91D",
        "12M",
        "12M",
    ]
    for bad in ("0D", "twelve", "3Q", "-5"):
        with pytest.raises(SegmintError, match="--window"):
            parse_window(bad)
    with pytest.raises(SegmintError, match="YYYY-MM-DD"):
        parse_as_of("31/01/2011")


def test_window_start_counts_days_and_calendar_months() -> None:
    assert window_start(D(2011, 2, 28), "30D") == D(2011, 1, 29)
    assert window_start(D(2011, 2, 28), "1M") == D(2011, 1, 31)  # a month end to a month end
    assert window_start(D(2011, 3, 31), "1M") == D(2011, 2, 28)
    assert window_start(D(2011, 3, 15), "12M") == D(2010, 3, 15)


def test_period_ends() -> None:
    assert period_ends(D(2010, 12, 1), D(2011, 2, 28), "month") == [
        D(2010, 12, 31),
        D(2011, 1, 31),
        D(2011, 2, 28),
    ]
    # the log's last day closes the list when it falls between two ends
    assert period_ends(D(2010, 12, 1), D(2011, 12, 9), "quarter") == [
        D(2010, 12, 31),
        D(2011, 3, 31),
        D(2011, 6, 30),
        D(2011, 9, 30),
        D(2011, 12, 9),
    ]
    with pytest.raises(SegmintError, match="--every"):
        period_ends(D(2011, 1, 1), D(2011, 2, 1), "week")


def test_no_window_is_the_whole_log(log_csv: Path) -> None:
    engine = get_engine()
    try:
        cleaned = clean(engine, resolve_source(log_csv), features=FEATURE_COLUMNS, dated=True)
        _, last = log_days(cleaned)
        whole = window_features(cleaned, [last], None, FEATURE_COLUMNS)
        expected = aggregate(cleaned)
    finally:
        engine.close()
    pd.testing.assert_frame_equal(whole.drop(columns="period_end"), expected, atol=1e-9)


def _pandas_window(log: pd.DataFrame, end: dt.date, days: int) -> pd.DataFrame:
    """The features over ``(end - days, end]`` computed by hand from the raw log."""
    frame = log.drop_duplicates().copy()
    frame["day"] = pd.to_datetime(frame["InvoiceDate"], format="%m/%d/%Y %H:%M").dt.date
    start = end - dt.timedelta(days=days)
    frame = frame[(frame["day"] > start) & (frame["day"] <= end)]
    cancel = frame["InvoiceNo"].str.startswith("C")
    buys, cancels = frame[~cancel], frame[cancel]
    out = pd.DataFrame({"customer_id": sorted(frame["CustomerID"].unique())})
    out["n_products"] = out["customer_id"].map(buys.groupby("CustomerID")["StockCode"].nunique())
    out["n_canceled_orders"] = out["customer_id"].map(
        cancels.groupby("CustomerID")["InvoiceNo"].nunique()
    )
    out["n_orders"] = out["customer_id"].map(buys.groupby("CustomerID")["InvoiceNo"].nunique())
    last = buys.groupby("CustomerID")["day"].max()
    out["recency_days"] = out["customer_id"].map(lambda c: (end - last[c]).days)
    # net spend: purchases less cancellations (cancelled lines carry negative quantities)
    spend = (frame["Quantity"] * frame["UnitPrice"]).groupby(frame["CustomerID"]).sum()
    out["monetary"] = out["customer_id"].map(spend)
    return out.fillna(0).astype({"n_products": "int64", "n_canceled_orders": "int64"})


def test_every_period_end_in_one_query_matches_pandas(tmp_path: Path) -> None:
    log, _ = moves_log(60, months=4, change_month=2, new_per_month=5, seed=3)
    path = tmp_path / "moves.csv"
    log.to_csv(path, index=False)
    names = ["n_products", "n_canceled_orders", "n_orders", "recency_days", "monetary"]
    engine = get_engine()
    try:
        cleaned = clean(engine, resolve_source(path), features=names, dated=True)
        first, last = log_days(cleaned)
        ends = period_ends(first, last, "month")
        table = window_features(cleaned, ends, "45D", names)
    finally:
        engine.close()
    assert len(ends) == 4
    for end in ends:
        got = table[table["period_end"] == end].drop(columns="period_end").reset_index(drop=True)
        want = _pandas_window(log, end, 45)
        pd.testing.assert_frame_equal(got, want[got.columns], check_dtype=False, atol=1e-6)


def test_customer_features_as_of_a_date(tmp_path: Path) -> None:
    log, truth = moves_log(60, months=4, change_month=2, new_per_month=5, seed=4)
    path = tmp_path / "moves.csv"
    log.to_csv(path, index=False)
    result = customer_features(path, as_of="2011-02-28", window="1M")
    # the change comes in March: in February every customer who has arrived buys
    active = truth[truth["first_month"] <= 1]
    assert result.table["customer_id"].tolist() == active["customer_id"].tolist()
    assert result.period == {"as_of": "2011-02-28", "window": "1M", "first_day": "2011-02-01"}
    with pytest.raises(SegmintError, match="no customer with a purchase in the window"):
        customer_features(path, as_of="2010-01-31", window="1M")
