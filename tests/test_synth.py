"""Tests for segmint.synth: layout, rates, skew, determinism, files, and recoverable types."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score

from segmint import _synth_rows, synth
from segmint.errors import SegmintError

N_ROWS = 50_000


def customer_features(transactions: pd.DataFrame) -> pd.DataFrame:
    """The two default features, by the definitions of docs/CONTRACTS.md, in plain pandas."""
    clean = transactions.drop_duplicates().dropna(subset=["CustomerID"])
    customer = clean["CustomerID"].str.removesuffix(".0")
    cancelled = clean["InvoiceNo"].str.startswith("C")
    n_products = clean.loc[~cancelled, "StockCode"].groupby(customer[~cancelled]).nunique()
    n_canceled = clean.loc[cancelled, "InvoiceNo"].groupby(customer[cancelled]).nunique()
    features = pd.DataFrame({"n_products": n_products, "n_canceled_orders": n_canceled})
    features = features.reindex(customer.unique()).fillna(0).astype("int64").sort_index()
    features.index.name = "customer_id"
    return features


@pytest.fixture(scope="module")
def log() -> tuple[pd.DataFrame, pd.DataFrame]:
    return synth.generate(N_ROWS, seed=0)


@pytest.fixture(scope="module")
def features(log: tuple[pd.DataFrame, pd.DataFrame]) -> pd.DataFrame:
    transactions, truth = log
    return customer_features(transactions).join(truth.set_index("customer_id"))


def test_columns_and_dtypes(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    transactions, truth = log
    assert tuple(transactions.columns) == synth.COLUMNS
    assert isinstance(transactions.index, pd.RangeIndex)
    for column in ("InvoiceNo", "StockCode", "Description", "CustomerID", "Country"):
        assert pd.api.types.is_string_dtype(transactions[column]), column
    assert transactions["Quantity"].dtype == np.int64
    assert transactions["UnitPrice"].dtype == np.float64
    assert pd.api.types.is_datetime64_dtype(transactions["InvoiceDate"])
    assert list(truth.columns) == ["customer_id", "planted_type"]
    assert isinstance(truth.index, pd.RangeIndex)


def test_value_formats(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    transactions, _ = log
    assert transactions["InvoiceNo"].str.fullmatch(r"C?\d{6,}").all()
    assert transactions["StockCode"].str.fullmatch(r"\d{5}[A-Z]?|POST|M|DOT").all()
    ids = transactions["CustomerID"].dropna()
    assert ids.str.fullmatch(r"\d{5,}\.0").all()
    cancelled = transactions["InvoiceNo"].str.startswith("C")
    assert (transactions.loc[cancelled, "Quantity"] < 0).all()
    assert (transactions.loc[~cancelled, "Quantity"] > 0).all()
    assert transactions["Description"].notna().all()
    assert (transactions["Country"] == "United Kingdom").mean() > 0.5
    dates = transactions["InvoiceDate"]
    assert dates.min() >= pd.Timestamp("2010-12-01") and dates.max() < pd.Timestamp("2011-12-10")
    numbers = transactions["InvoiceNo"].str.removeprefix("C").astype("int64")
    assert numbers.is_monotonic_increasing  # invoice numbers follow the date
    assert dates.is_monotonic_increasing


@pytest.mark.parametrize("n_rows", [1, 2, 3, 7, 100, 1_234, 5_000])
def test_exact_rows_and_truth_matches_customers(n_rows: int) -> None:
    transactions, truth = synth.generate(n_rows, seed=4)
    assert len(transactions) == n_rows
    present = set(transactions["CustomerID"].dropna().str.removesuffix(".0"))
    assert present == set(truth["customer_id"])
    assert truth["customer_id"].is_unique
    assert truth["customer_id"].is_monotonic_increasing
    assert set(truth["planted_type"]) <= set(synth.PLANTED_TYPES)


def test_explicit_customers() -> None:
    transactions, truth = synth.generate(5_000, n_customers=30, seed=2)
    assert len(transactions) == 5_000
    assert len(truth) == 30
    assert transactions["CustomerID"].dropna().nunique() == 30


def test_default_customers_is_uci_like() -> None:
    assert synth.default_customers(1) == 1
    assert synth.default_customers(541_909) == round(541_909 / synth.ROWS_PER_CUSTOMER)


def test_rates(log: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    transactions, _ = log
    cancel_share = transactions["InvoiceNo"].str.startswith("C").mean()
    assert 0.015 <= cancel_share <= 0.025
    anonymous_share = transactions["CustomerID"].isna().mean()
    assert 0.18 <= anonymous_share <= 0.22
    duplicate_share = transactions.duplicated().mean()
    assert 0 < duplicate_share < 0.03
    zero_price_share = (transactions["UnitPrice"] == 0).mean()
    assert 0 < zero_price_share < 0.001
    service = transactions["StockCode"].isin(["POST", "M", "DOT"])
    assert set(transactions.loc[service, "StockCode"]) == {"POST", "M", "DOT"}
    assert service.mean() < 0.02


def test_skew(features: pd.DataFrame) -> None:
    assert features["n_products"].max() >= 20 * features["n_products"].median()
    assert (features["n_canceled_orders"] == 0).mean() > 0.5


def test_planted_types(features: pd.DataFrame) -> None:
    shares = features["planted_type"].value_counts(normalize=True)
    assert set(shares.index) == set(synth.PLANTED_TYPES)
    assert shares.min() >= 0.05
    assert shares.idxmax() == "one_off"
    # At the default number of customers the planted numbers hold exactly.
    ranges = {
        "one_off": ((1, 8), (0, 0)),
        "loyal_broad": ((40, 150), (0, 1)),
        "frequent_canceller": ((10, 40), (3, 10)),
        "wholesaler": ((200, 800), (1, 4)),
    }
    for name, ((p_lo, p_hi), (c_lo, c_hi)) in ranges.items():
        group = features[features["planted_type"] == name]
        assert group["n_products"].between(p_lo, p_hi).all(), name
        assert group["n_canceled_orders"].between(c_lo, c_hi).all(), name


def test_types_are_recoverable(features: pd.DataFrame) -> None:
    x = np.log1p(features[["n_products", "n_canceled_orders"]].to_numpy(dtype=np.float64))
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    labels = KMeans(n_clusters=4, n_init=10, random_state=0).fit_predict(x)
    assert adjusted_rand_score(features["planted_type"], labels) >= 0.9


def test_same_seed_same_frames() -> None:
    first = synth.generate(3_000, seed=7)
    second = synth.generate(3_000, seed=7)
    pd.testing.assert_frame_equal(first[0], second[0])
    pd.testing.assert_frame_equal(first[1], second[1])


def test_different_seed_differs() -> None:
    first, _ = synth.generate(3_000, seed=7)
    second, _ = synth.generate(3_000, seed=8)
    assert not first.equals(second)


def test_small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_synth_rows, "_CHUNK_ROWS", 500)
    transactions, truth = synth.generate(6_000, seed=1)
    assert len(transactions) == 6_000
    assert 0 < transactions.duplicated().mean() < 0.03
    invoice = transactions["InvoiceNo"]
    assert invoice.ne(invoice.shift()).sum() == invoice.nunique()  # invoices stay whole
    present = set(transactions["CustomerID"].dropna().str.removesuffix(".0"))
    assert present == set(truth["customer_id"])


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_write_is_readable_and_byte_identical(tmp_path: Path, suffix: str) -> None:
    path, truth_file = synth.write(tmp_path / "a" / f"log{suffix}", 4_000, seed=3)
    assert path == tmp_path / "a" / f"log{suffix}"
    assert truth_file == tmp_path / "a" / "log.truth.csv"
    again, _ = synth.write(tmp_path / "b" / f"log{suffix}", 4_000, seed=3)
    assert path.read_bytes() == again.read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == sorted([path.name, truth_file.name])

    transactions, truth = synth.generate(4_000, seed=3)
    if suffix == ".csv":
        text = path.read_text().splitlines()
        assert text[0] == ",".join(synth.COLUMNS)
        read = pd.read_csv(
            path,
            dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str},
            keep_default_na=False,
            na_values={"CustomerID": [""]},
        )
        expected = transactions.assign(
            InvoiceDate=transactions["InvoiceDate"].dt.strftime("%Y-%m-%d %H:%M:%S")
        )
        assert len(read) == 4_000
        for column in synth.COLUMNS:
            assert read[column].tolist() == expected[column].tolist() or (
                column == "CustomerID"
                and read[column].fillna("").tolist() == expected[column].fillna("").tolist()
            ), column
    else:
        assert pq.read_schema(path).field("InvoiceDate").type.unit == "ms"
        pd.testing.assert_frame_equal(pd.read_parquet(path), transactions)

    read_truth = pd.read_csv(truth_file, dtype=str)
    assert list(read_truth.columns) == ["customer_id", "planted_type"]
    assert read_truth["customer_id"].tolist() == truth["customer_id"].tolist()
    assert read_truth["planted_type"].tolist() == truth["planted_type"].tolist()


def test_different_seed_different_file(tmp_path: Path) -> None:
    first, _ = synth.write(tmp_path / "one.parquet", 2_000, seed=1)
    second, _ = synth.write(tmp_path / "two.parquet", 2_000, seed=2)
    assert first.read_bytes() != second.read_bytes()


def test_truth_path() -> None:
    assert synth.truth_path("data/log.parquet") == Path("data/log.truth.csv")
    assert synth.truth_path("log.csv") == Path("log.truth.csv")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_rows": 0}, r"--rows must be >= 1, got 0"),
        ({"n_rows": -5}, r"--rows must be >= 1, got -5"),
        ({"n_rows": 10.5}, r"--rows must be a whole number, got 10.5"),
        ({"n_rows": 100, "n_customers": 0}, r"--customers must be >= 1, got 0"),
        ({"n_rows": 100, "n_customers": 80}, r"--customers must be <= 79 .* got 80"),
        ({"n_rows": 100, "seed": -1}, r"--seed must be >= 0, got -1"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SegmintError, match=message):
        synth.generate(**kwargs)  # type: ignore[arg-type]


def test_bad_extension(tmp_path: Path) -> None:
    with pytest.raises(SegmintError, match=r"use a name ending in \.csv or \.parquet"):
        synth.write(tmp_path / "log.txt", 100)
    assert list(tmp_path.iterdir()) == []
