"""Stable segment numbers, profiles and plain-language names."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmint.cluster.profile import name_segments, profile_table, stable_order

FEATURES = ["n_products", "n_canceled_orders"]


def test_stable_order_sorts_by_the_mean_of_the_first_feature_then_the_second() -> None:
    X = np.array([[50, 0], [52, 0], [2, 0], [3, 1], [20, 4], [20, 6], [20, 1], [20, 1]])
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    # means: 0 -> (51, 0), 1 -> (2.5, .5), 2 -> (20, 5), 3 -> (20, 1)
    mapping = stable_order(X, labels, 4)
    np.testing.assert_array_equal(mapping, [3, 0, 2, 1])


def test_stable_order_does_not_depend_on_the_fitted_numbers() -> None:
    rng = np.random.default_rng(0)
    X = rng.poisson(5, (60, 2)) * np.repeat([1, 5, 25], 20)[:, None]
    labels = np.repeat([0, 1, 2], 20)
    ordered = stable_order(X, labels, 3)[labels]
    for perm in ([2, 0, 1], [1, 2, 0]):
        relabelled = np.array(perm)[labels]
        np.testing.assert_array_equal(stable_order(X, relabelled, 3)[relabelled], ordered)


def test_empty_segments_come_last_ordered_by_their_centre() -> None:
    X = np.array([[10.0, 0.0], [1.0, 0.0]])
    labels = np.array([2, 0])
    centres = np.array([[1.0, 0.0], [99.0, 0.0], [10.0, 0.0], [5.0, 0.0]])
    np.testing.assert_array_equal(stable_order(X, labels, 4, centres), [0, 3, 1, 2])


def _frame() -> tuple[pd.DataFrame, np.ndarray]:
    X = pd.DataFrame(
        {
            "n_products": [1, 2, 3, 40, 50, 60, 10, 12, 14, 200],
            "n_canceled_orders": [0, 0, 0, 0, 1, 0, 3, 4, 5, 9],
        }
    )
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 1])
    return X, labels


def test_profile_table_columns_and_values() -> None:
    X, labels = _frame()
    table = profile_table(X, labels, 4, "kmeans")
    assert list(table.columns) == [
        "method", "segment", "size", "share",
        "n_products_median", "n_products_mean", "n_products_lift",
        "n_canceled_orders_median", "n_canceled_orders_mean", "n_canceled_orders_lift",
    ]  # fmt: skip
    assert table["size"].tolist() == [3, 4, 3, 0]
    assert table["share"].tolist() == [0.3, 0.4, 0.3, 0.0]
    assert table.loc[1, "n_products_median"] == 55
    assert table.loc[1, "n_products_mean"] == pytest.approx(87.5)
    assert table.loc[1, "n_products_lift"] == pytest.approx(87.5 / X["n_products"].mean())
    assert table.loc[0, "n_canceled_orders_lift"] == 0
    assert table.loc[3, ["n_products_median", "n_products_mean"]].isna().all()


def test_names_follow_the_vocabulary() -> None:
    X, labels = _frame()
    table = profile_table(X, labels, 3, "kmeans")
    medians = X.median().to_dict()
    assert name_segments(table, FEATURES, medians) == [
        "Occasional buyers, no cancellations",
        "Broad buyers, rare cancellers",
        "Regular buyers, frequent cancellers",
    ]


def test_optional_features_add_words_only_at_the_extremes() -> None:
    X = pd.DataFrame(
        {
            "n_products": [5, 6, 5, 6, 5, 6],
            "n_canceled_orders": [0, 0, 0, 0, 0, 0],
            "recency_days": [300, 320, 5, 6, 100, 110],
            "monetary": [10.0, 12.0, 11.0, 10.0, 11.0, 12.0],
        }
    )
    labels = np.array([0, 0, 1, 1, 2, 2])
    features = list(X.columns)
    names = name_segments(profile_table(X, labels, 3, "gmm"), features, X.median().to_dict())
    assert names == [
        "Regular buyers, no cancellations, lapsed",
        "Regular buyers, no cancellations, recent",
        "Regular buyers, no cancellations",
    ]


def test_colliding_names_are_made_unique_deterministically() -> None:
    X = pd.DataFrame({"n_products": [1, 1, 2, 2, 30, 30], "n_canceled_orders": [0] * 6})
    labels = np.array([0, 0, 1, 1, 2, 2])
    names = name_segments(profile_table(X, labels, 3, "kmeans"), FEATURES)
    assert names == [
        "Occasional buyers, no cancellations (n_products median 1)",
        "Occasional buyers, no cancellations (n_products median 2)",
        "Broad buyers, no cancellations",
    ]


def test_identical_profiles_fall_back_to_segment_numbers() -> None:
    X = pd.DataFrame({"x0": [1.0, 1.0]})
    names = name_segments(profile_table(X, np.array([0, 1]), 2, "kmeans"), ["x0"])
    assert names == ["Typical customers (segment 0)", "Typical customers (segment 1)"]


def test_empty_segment_name() -> None:
    X, labels = _frame()
    names = name_segments(profile_table(X, labels, 4, "gmm"), FEATURES)
    assert names[3] == "Empty component"


def test_customers_who_mostly_only_cancel_are_named_so() -> None:
    X = pd.DataFrame({"n_products": [0, 0, 1, 20, 30, 25], "n_canceled_orders": [1, 2, 1, 0, 0, 1]})
    labels = np.array([0, 0, 0, 1, 1, 1])
    table = profile_table(X, labels, 2, "kmeans")
    names = name_segments(table, FEATURES, X.median().to_dict())
    assert names[0] == "Cancellers with few or no purchases"
    assert names[1].startswith(("Broad buyers", "Regular buyers"))
