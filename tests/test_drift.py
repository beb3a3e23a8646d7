"""Scoring tells what changed: statuses and the population stability index (segmint.drift)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from segmint._synth_moves import moves_log
from segmint.drift import compare, psi, training_record
from segmint.features import FeatureTable
from segmint.schema import Audit

FEATURES = ["n_products", "n_canceled_orders"]


def _month_features(log: pd.DataFrame, month: int) -> pd.DataFrame:
    """The two default features over one calendar month of 2011, by hand."""
    day = pd.to_datetime(log["InvoiceDate"], format="%m/%d/%Y %H:%M")
    part = log[(day.dt.month == month) & (day.dt.year == 2011)]
    cancel = part["InvoiceNo"].str.startswith("C")
    out = pd.DataFrame({"customer_id": sorted(part["CustomerID"].unique())})
    out["n_products"] = out["customer_id"].map(
        part[~cancel].groupby("CustomerID")["StockCode"].nunique()
    )
    out["n_canceled_orders"] = out["customer_id"].map(
        part[cancel].groupby("CustomerID")["InvoiceNo"].nunique()
    )
    return out.fillna(0)


def _segments(table: pd.DataFrame) -> np.ndarray:
    return (table["n_products"] > 10).to_numpy(dtype=int)  # a stand-in for a model


def _record(table: pd.DataFrame, as_of: str) -> dict:
    audit = Audit(**dict.fromkeys(Audit.__dataclass_fields__, 0))
    period = {"as_of": as_of, "window": "1M", "first_day": as_of[:8] + "01"}
    ft = FeatureTable(table, audit, tuple(FEATURES), "log", [], period)
    return training_record(ft, FEATURES, _segments(table), 2)


def test_psi() -> None:
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(0.25 * np.log(2) + 0.25 * np.log(1.5))


def test_a_stationary_log_raises_no_alarm_over_20_seeds() -> None:
    for seed in range(20):
        log, _ = moves_log(150, months=3, change_month=99, new_per_month=0, seed=seed)
        train, later = _month_features(log, 1), _month_features(log, 3)
        status, figures, warnings = compare(_record(train, "2011-01-31"), later, _segments(later))
        assert warnings == [], (seed, figures)
        assert set(status) == {"known"}
        # at 150 customers chance alone reaches PSI 0.1 (seed 2: 0.14), hence the noise bar


def test_planted_drift_is_flagged_and_new_customers_are_counted() -> None:
    log, truth = moves_log(
        200, months=4, change_month=2, new_per_month=15, lapse_share=0.9, grow_share=0.0, seed=1
    )
    train, later = _month_features(log, 1), _month_features(log, 4)
    _status, figures, warnings = compare(_record(train, "2011-01-31"), later, _segments(later))
    # new: arrived in February, March or April; everyone else bought in January
    assert figures["statuses"]["new"] == 45 == int((truth["first_month"] >= 1).sum())
    assert figures["segments_psi"] >= 0.25
    assert any("segment shares moved" in w for w in warnings)


def test_returning_customers_bought_before_the_training_end() -> None:
    train = pd.DataFrame({"customer_id": ["a", "b"], "n_products": [1, 2], "n_canceled_orders": 0})
    scored = pd.DataFrame(
        {"customer_id": ["a", "c", "d"], "n_products": [1, 2, 3], "n_canceled_orders": 0}
    )
    firsts = pd.DataFrame(
        {
            "customer_id": ["a", "c", "d"],
            "first_day": [dt.date(2011, 1, 5), dt.date(2010, 12, 1), dt.date(2011, 3, 1)],
        }
    )
    status, _figures, _ = compare(_record(train, "2011-01-31"), scored, [0, 0, 0], firsts)
    assert status == ["known", "returning", "new"]


def test_another_shop_gets_a_loud_warning() -> None:
    log, _ = moves_log(150, months=2, change_month=99, new_per_month=0, seed=2)
    other, _ = moves_log(
        150, months=2, change_month=99, new_per_month=0, first_id=90000, product_scale=4, seed=3
    )
    train, scored = _month_features(log, 1), _month_features(other, 2)
    status, figures, warnings = compare(_record(train, "2011-01-31"), scored, _segments(scored))
    assert figures["overlap"] == 0 and set(status) == {"new"}
    assert warnings and warnings[0].startswith("THIS LOG LOOKS LIKE A DIFFERENT SHOP")
