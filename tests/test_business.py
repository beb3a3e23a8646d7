"""Segments for the business reader: turnover against pandas, names against their profile."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import REAL_LOG
from segmint.cluster.actions import ACTIONS, DEFAULT_ACTION
from segmint.cluster.naming import LEVEL_HIGH, LEVEL_LOW
from segmint.pipeline import run


def _pandas_net_spend(log: Path) -> pd.Series:
    """Net spend per customer, computed independently of segmint's SQL."""
    raw = pd.read_csv(log, dtype={"CustomerID": str, "InvoiceNo": str, "StockCode": str})
    raw = raw.drop_duplicates()
    raw = raw[raw["CustomerID"].notna()]
    raw["cid"] = raw["CustomerID"].str.replace(r"\.0+$", "", regex=True)
    cents = (raw["Quantity"] * raw["UnitPrice"] * 10_000).round()  # exact in 1/10000
    return (cents.groupby(raw["cid"]).sum() / 10_000).round(2)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not REAL_LOG.exists():
        pytest.skip(f"{REAL_LOG} not present")
    out = tmp_path_factory.mktemp("business") / "out"
    run(REAL_LOG, out, n_bootstrap=2, report=False, segment_lists=True, currency="GBP")
    return out


def test_turnover_per_segment_matches_pandas(real_log: Path, real_run: Path) -> None:
    net = _pandas_net_spend(real_log)
    segments = pd.read_csv(real_run / "segments.csv", dtype={"customer_id": str})
    profiles = pd.read_csv(real_run / "profiles.csv")
    for method in ("kmeans", "gmm"):
        labels = segments.set_index("customer_id")[f"{method}_segment"]
        expected = net.groupby(labels.reindex(net.index)).sum().round(2)
        mine = profiles[profiles["method"] == method].set_index("segment")
        got = mine["turnover"].reindex(expected.index)
        np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), atol=0.011)
        np.testing.assert_allclose(mine["turnover_share"].sum(), 1.0, rtol=1e-9)
        # top customers: the highest net spenders of the segment, by the independent figure
        for segment, row in mine.iterrows():
            ids = labels.index[labels == segment]
            top = net.reindex(ids).sort_values(ascending=False).head(10)
            listed = [c.rsplit(" ", 1) for c in str(row["top_customers"]).split("; ")]
            assert [float(v) for _, v in listed] == pytest.approx(top.to_numpy(), abs=0.011)


def test_name_phrases_agree_with_the_profile(real_log: Path, real_run: Path) -> None:
    profiles = pd.read_csv(real_run / "profiles.csv")
    metrics = json.loads((real_run / "metrics.json").read_text())
    net = _pandas_net_spend(real_log)
    overall_spend = float(net.median())
    segments = pd.read_csv(real_run / "segments.csv", dtype={"customer_id": str})
    overall_products = float(segments["n_products"].median())
    for method in ("kmeans", "gmm"):
        rows = profiles[profiles["method"] == method]
        assert rows["name"].is_unique
        assert not rows["name"].str.contains(r"\d").any()  # no numeric suffixes
        top = rows.loc[rows["net_spend_median"].idxmax(), "segment"]
        for _, row in rows.iterrows():
            words = set(str(row["name"]).lower().split(", "))
            ratio = row["net_spend_median"] / overall_spend
            if "top spenders" in words:
                assert row["segment"] == top and ratio >= LEVEL_HIGH
            if "low spend" in words:
                assert ratio < LEVEL_LOW
            products = row["n_products_median"] / overall_products
            if "wide range" in words:
                assert products >= LEVEL_HIGH
            if "narrow range" in words:
                assert products < LEVEL_LOW
            if "repeat cancellers" in words:
                assert row["repeat_canceller_share"] >= 0.5
            if "no cancellations" in words:
                assert row["cancellers"] == 0
            if "one-off buyers" in words:
                assert row["n_orders_median"] <= 1
            # every phrase of the name has its rule printed
            for phrase in str(row["name"]).lower().split(", "):
                assert phrase + ":" in str(row["definition"]).lower()
        assert [s["name"] for s in metrics["segments"][method]] == rows["name"].tolist()


def test_actions_follow_the_table(real_run: Path) -> None:
    metrics = json.loads((real_run / "metrics.json").read_text())
    profiles = pd.read_csv(real_run / "profiles.csv").set_index(["method", "segment"])
    for item in metrics["segments"]["kmeans"]:
        words = {p["text"] for p in item["phrases"]}
        expected = [a.key for a in ACTIONS if words & set(a.phrases)] or [DEFAULT_ACTION.key]
        assert [a["key"] for a in item["actions"]] == expected
        row = profiles.loc[("kmeans", item["segment"])]
        for action in item["actions"]:
            assert action["amount"] == pytest.approx(row[action["at_stake"]])


def test_data_quality_lists_every_column(real_log: Path, real_run: Path) -> None:
    quality = json.loads((real_run / "metrics.json").read_text())["data_quality"]
    raw = pd.read_csv(real_log, dtype=str, keep_default_na=False)
    assert [c["column"] for c in quality["columns"]] == list(raw.columns)
    for column in quality["columns"]:
        values = raw[column["column"]].str.strip()
        assert column["missing"] == int((values == "").sum())
        assert column["distinct"] == raw[column["column"]].replace("", np.nan).nunique()
    assert quality["rows_without_customer_id"] == int((raw["CustomerID"].str.strip() == "").sum())
    dates = pd.to_datetime(raw["InvoiceDate"])
    assert quality["first_date"] == str(dates.min())
    assert quality["last_date"] == str(dates.max())
    kinds = {c["column"]: c["kind"] for c in quality["columns"]}
    assert kinds["Quantity"] == "numeric" and kinds["InvoiceDate"] == "date"
    assert kinds["Country"] == "categorical"


def test_monthly_turnover_adds_up(real_run: Path) -> None:
    metrics = json.loads((real_run / "metrics.json").read_text())
    profiles = pd.read_csv(real_run / "profiles.csv")
    monthly = pd.DataFrame(metrics["monthly"]["kmeans"])
    by_segment = monthly.groupby("segment")["turnover"].sum()
    turnover = profiles[profiles["method"] == "kmeans"].set_index("segment")["turnover"]
    np.testing.assert_allclose(by_segment.to_numpy(), turnover.to_numpy(), atol=0.05)


def test_segment_lists_hold_every_customer_once(real_run: Path) -> None:
    segments = pd.read_csv(real_run / "segments.csv", dtype={"customer_id": str})
    files = sorted((real_run / "segment_lists").glob("segment_*.csv"))
    assert len(files) == segments["kmeans_segment"].nunique()
    ids = pd.concat([pd.read_csv(f, dtype={"customer_id": str}) for f in files])
    assert sorted(ids["customer_id"]) == sorted(segments["customer_id"])
