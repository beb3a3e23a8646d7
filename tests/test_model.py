"""The Segmenter estimator: contract, determinism, errors and recovery (files: test_persist)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import check_clustering, parametrize_with_checks

import segmint.model
from segmint.cluster import describe
from segmint.errors import SegmintError
from segmint.model import Segmenter

FEATURES = ["n_products", "n_canceled_orders"]
#: Small settings that keep the suite fast.
FAST: dict[str, Any] = {"k_range": (1, 5), "covariance_types": ("full", "diag"), "n_bootstrap": 3}


def planted(
    sizes: tuple[int, ...] = (300, 200, 100), seed: int = 0
) -> tuple[pd.DataFrame, np.ndarray]:
    """Integer counts of three well-separated customer types (on the log scale)."""
    rng = np.random.default_rng(seed)
    centres = [(3, 0.0), (60, 0.1), (20, 5.0)]  # (products, mean cancellations)
    parts = []
    for n, (products, cancels) in zip(sizes, centres, strict=True):
        p = np.maximum(1, np.round(np.exp(rng.normal(np.log(products), 0.3, n))))
        parts.append(np.column_stack([p, rng.poisson(cancels, n)]))
    X = pd.DataFrame(np.vstack(parts).astype("int64"), columns=FEATURES)
    return X, np.repeat(np.arange(len(sizes)), sizes)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return planted()


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, np.ndarray]) -> Segmenter:
    return Segmenter(**FAST).fit(data[0])


# ---------------------------------------------------------------- the learned attributes
def test_learned_attributes_follow_the_contract(
    fitted: Segmenter, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, truth = data
    s = fitted
    assert list(s.feature_names_in_) == FEATURES
    assert s.n_features_in_ == 2
    assert [name for name, _ in s.transform_.steps] == ["log1p", "scale"]
    assert list(s.kmeans_sweep_.columns) == [
        "k", "wcss", "silhouette", "calinski_harabasz", "davies_bouldin",
    ]  # fmt: skip
    assert s.kmeans_sweep_["k"].tolist() == [1, 2, 3, 4, 5]
    assert (s.knee_, s.k_) == (3, 3)
    assert s.k_reason_.startswith("k=3 from the WCSS curve")
    assert list(s.gmm_grid_.columns) == [
        "n_components", "covariance_type", "bic", "aic", "zero_inflated",
    ]  # fmt: skip
    assert len(s.gmm_grid_) == 5  # the count mixture (the default): one model per n
    assert s.gmm_n_components_ == 3
    assert s.gmm_covariance_type_ == "negative binomial"
    assert s.gmm_reason_.startswith("count mixture: ")
    assert s.jitter_columns_.tolist() == [False, False]  # no jitter for the count mixture
    assert s.gmm_count_features_.tolist() == [True, True]
    assert s.mixture_selection_["n_components"] == 3
    assert 3 in s.mixture_selection_["indistinguishable"]
    assert s.structure_["verdict"] in ("structure", "no clear structure")
    assert s.labels_.dtype == np.int64 and s.gmm_labels_.dtype == np.int64
    assert set(s.labels_) == {0, 1, 2}
    assert np.all((s.gmm_probability_ > 0) & (s.gmm_probability_ <= 1))
    assert adjusted_rand_score(truth, s.labels_) >= 0.9
    assert len(s.kmeans_names_) == 3 and len(set(s.kmeans_names_)) == 3
    assert len(s.gmm_names_) == 3 and len(set(s.gmm_names_)) == 3
    assert list(s.profiles_.columns) == [
        "method", "segment", "name", "size", "share",
        "n_products_median", "n_products_mean", "n_products_lift",
        "n_canceled_orders_median", "n_canceled_orders_mean", "n_canceled_orders_lift",
    ]  # fmt: skip
    assert s.profiles_["method"].tolist() == ["kmeans"] * 3 + ["gmm"] * 3
    assert s.profiles_.groupby("method")["size"].sum().tolist() == [600, 600]
    assert 0.9 <= s.agreement_["ari"] <= 1
    assert s.stability_["n_bootstrap"] == 3
    for method in ("kmeans", "gmm"):
        assert s.stability_[method]["mean_ari"] > 0.9
        assert len(s.stability_[method]["jaccard"]) == 3
    assert isinstance(s.warnings_, list)
    assert s.feature_ranges_ == {f: (float(X[f].min()), float(X[f].max())) for f in FEATURES}
    assert (s.n_samples_fit_, s.fit_sample_size_) == (600, 600)


def test_segments_are_numbered_by_mean_products(fitted: Segmenter) -> None:
    for method in ("kmeans", "gmm"):
        rows = fitted.profiles_[fitted.profiles_["method"] == method]
        assert rows["n_products_mean"].is_monotonic_increasing
    names = fitted.kmeans_names_
    assert names[0].startswith("Occasional buyers")
    assert names[1].endswith("frequent cancellers")
    assert names[2].startswith("Broad buyers")


def test_predict_and_fit_predict_match_labels(
    fitted: Segmenter, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = data
    np.testing.assert_array_equal(fitted.predict(X), fitted.labels_)
    segments, probability = fitted.predict_gmm(X)
    np.testing.assert_array_equal(segments, fitted.gmm_labels_)
    np.testing.assert_allclose(probability, fitted.gmm_probability_)
    np.testing.assert_array_equal(Segmenter(**FAST).fit_predict(X), fitted.labels_)


def test_assign_returns_the_contract_frame(
    fitted: Segmenter, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X = data[0].set_axis(pd.RangeIndex(100, 700))
    out = fitted.assign(X)
    assert list(out.columns) == [
        "kmeans_segment", "kmeans_name", "gmm_segment", "gmm_name", "gmm_probability",
    ]  # fmt: skip
    assert out.index.equals(X.index)
    assert out["kmeans_segment"].dtype == np.int64
    assert out["gmm_segment"].dtype == np.int64
    assert out["gmm_probability"].dtype == np.float64
    np.testing.assert_array_equal(out["kmeans_segment"], fitted.labels_)
    assert out["kmeans_name"].tolist() == [fitted.kmeans_names_[i] for i in fitted.labels_]
    assert out["gmm_name"].tolist() == [fitted.gmm_names_[i] for i in fitted.gmm_labels_]


def test_out_of_range(fitted: Segmenter) -> None:
    lo, hi = fitted.feature_ranges_["n_products"]
    new = pd.DataFrame(
        {"n_products": [lo, hi, hi + 1, lo], "n_canceled_orders": [0, 0, 0, 99]},
        index=list("abcd"),
    )
    flags = fitted.out_of_range(new)
    assert flags.name == "out_of_range"
    assert flags.to_dict() == {"a": False, "b": False, "c": True, "d": True}


# ---------------------------------------------------------------- determinism
def test_same_seed_gives_identical_labels_profiles_and_metrics(
    fitted: Segmenter, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    again = Segmenter(**FAST).fit(data[0])
    np.testing.assert_array_equal(again.labels_, fitted.labels_)
    np.testing.assert_array_equal(again.gmm_labels_, fitted.gmm_labels_)
    pd.testing.assert_frame_equal(again.profiles_, fitted.profiles_)
    assert describe(again) == describe(fitted)
    assert json.dumps(describe(again)) == json.dumps(describe(fitted))


def test_row_order_does_not_change_anything(
    fitted: Segmenter, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    X, _ = data
    perm = np.random.default_rng(5).permutation(len(X))
    shuffled = Segmenter(**FAST).fit(X.iloc[perm])
    np.testing.assert_array_equal(shuffled.labels_, fitted.labels_[perm])
    np.testing.assert_array_equal(shuffled.gmm_labels_, fitted.gmm_labels_[perm])
    pd.testing.assert_frame_equal(shuffled.profiles_, fitted.profiles_)
    assert describe(shuffled) == describe(fitted)


def test_another_seed_gives_the_same_segments_on_clear_data(
    fitted: Segmenter, data: tuple[pd.DataFrame, np.ndarray]
) -> None:
    other = Segmenter(**{**FAST, "random_state": 7}).fit(data[0])
    np.testing.assert_array_equal(other.labels_, fitted.labels_)
    assert other.kmeans_names_ == fitted.kmeans_names_


# ---------------------------------------------------------------- errors
X3 = pd.DataFrame({"n_products": [1, 2, 3], "n_canceled_orders": [0, 0, 1]})


@pytest.mark.parametrize(
    ("X", "params", "message"),
    [
        (X3, {}, r"n_samples=3 should be >= max\(k_range\)=10; pass a smaller --k-range"),
        (X3, {"k_range": (1, 2), "k": 4}, r"k=4 is outside k_range=\(1, 2\); widen it"),
        (X3, {"k_range": (3, 2)}, r"k_range=\(3, 2\) should satisfy 1 <= lo <= hi"),
        (X3, {"k_range": (0, 2)}, r"k_range=\(0, 2\) should satisfy"),
        (X3, {"k_range": "1..3"}, "k_range='1..3' should be two integers"),
        (X3, {"k_range": (1, 2), "scale": "log"}, "scale='log' should be one of"),
        (X3, {"k_range": (1, 2), "covariance_types": ("ful",)}, "covariance_types="),
        (X3, {"k_range": (1, 2), "gmm_criterion": "icl"}, "gmm_criterion='icl'"),
        (X3, {"k_range": (1, 2), "n_bootstrap": -1}, "n_bootstrap=-1 should be"),
        (X3, {"k_range": (1, 2), "random_state": -1}, "random_state=-1 should be >= 0"),
        (
            X3.assign(n_products=[1.0, np.nan, 3.0]),
            {"k_range": (1, 2)},
            "feature 'n_products' has 1 NaN and 0 inf values",
        ),
        (
            X3.assign(n_canceled_orders=[0.0, np.inf, 1.0]),
            {"k_range": (1, 2)},
            "feature 'n_canceled_orders' has 0 NaN and 1 inf values",
        ),
        (
            X3.assign(customer_id=["a", "b", "c"]),
            {"k_range": (1, 2)},
            r"columns \['customer_id'\] are not numeric; pass only the feature columns",
        ),
        (X3.iloc[:0], {"k_range": (1, 2)}, "no customers"),
        (
            pd.DataFrame({"n_products": [1, 1, 1, 2], "n_canceled_orders": [0, 0, 0, 0]}),
            {"k_range": (1, 3), "k": 3},
            "n_distinct_customers=2 should be >= k=3",
        ),
    ],
)
def test_bad_input_raises_a_segmint_error(
    X: pd.DataFrame, params: dict[str, Any], message: str
) -> None:
    with pytest.raises(SegmintError, match=message) as info:
        Segmenter(**params).fit(X)
    assert isinstance(info.value, ValueError)  # scikit-learn's contract, too


def test_signed_features_are_fine_without_the_logarithm() -> None:
    X = X3.assign(n_products=[1, -2, 3])
    seg = Segmenter(k_range=(1, 2), scale="standard", n_bootstrap=0, mixture="gaussian").fit(X)
    assert seg.jitter_columns_.tolist() == [True, True]


def test_rates_are_not_dequantised_even_when_whole() -> None:
    X = X3.assign(cancel_rate=[0.0, 0.0, 1.0])
    seg = Segmenter(
        k_range=(1, 2), n_bootstrap=0, covariance_types=("diag",), mixture="gaussian"
    ).fit(X)
    assert seg.jitter_columns_.tolist() == [True, True, False]


def test_fewer_distinct_customers_than_k_shrinks_the_range_with_a_warning() -> None:
    X = pd.DataFrame({"n_products": [1, 1, 2, 2, 9, 9], "n_canceled_orders": [0, 0, 0, 0, 1, 1]})
    seg = Segmenter(k_range=(1, 5), n_bootstrap=2, covariance_types=("diag",)).fit(X)
    assert seg.kmeans_sweep_["k"].tolist() == [1, 2, 3]
    assert seg.warnings_[0].startswith("only 3 customers differ in their features")


def test_predict_checks_the_features(fitted: Segmenter) -> None:
    with pytest.raises(SegmintError, match="Feature names seen at fit time, yet now missing"):
        fitted.predict(pd.DataFrame({"n_products": [1]}))
    with pytest.raises(SegmintError, match="Negative values in data"):
        fitted.predict(pd.DataFrame({"n_products": [-1], "n_canceled_orders": [0]}))


# ---------------------------------------------------------------- scikit-learn contract
def test_clone_and_params() -> None:
    seg = Segmenter(k=3, k_range=(2, 6), n_jobs=2)
    copy = clone(seg)
    assert copy.get_params() == seg.get_params()
    assert copy.set_params(k=4).k == 4
    assert set(Segmenter().get_params()) == {
        "k", "k_range", "scale", "covariance_types", "gmm_criterion", "jitter",
        "n_bootstrap", "random_state", "large_threshold", "n_jobs", "mixture",
    }  # fmt: skip


@pytest.mark.parametrize("method", ["predict", "assign", "out_of_range", "predict_gmm"])
def test_not_fitted(method: str) -> None:
    with pytest.raises(NotFittedError):
        getattr(Segmenter(), method)(X3)


def test_not_fitted_save_and_describe(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError):
        Segmenter().save(tmp_path / "m.skops")
    with pytest.raises(NotFittedError):
        describe(Segmenter())


#: None: signed data (check_clustering's standardised blobs) take asinh under "log-standard".
EXPECTED_FAILED: dict[str, str] = {}


@parametrize_with_checks(
    [Segmenter(k_range=(1, 4), n_bootstrap=1, covariance_types=("diag",))],
    expected_failed_checks=lambda est: EXPECTED_FAILED,
)
def test_sklearn_estimator_checks(estimator: Segmenter, check: Any) -> None:
    check(estimator)


def test_check_clustering_on_signed_data() -> None:
    seg = Segmenter(scale="standard", k_range=(1, 4), n_bootstrap=1, covariance_types=("diag",))
    check_clustering("Segmenter", seg)
    check_clustering("Segmenter", seg, readonly_memmap=True)


# ---------------------------------------------------------------- large tables
def test_large_tables_fit_on_a_sample_and_assign_everyone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(segmint.model, "LARGE_SAMPLE_SIZE", 400)
    X, truth = planted((600, 400, 200), seed=3)
    seg = Segmenter(**{**FAST, "large_threshold": 1000}).fit(X)
    assert (seg.n_samples_fit_, seg.fit_sample_size_) == (1200, 400)
    assert "seeded sample of 400 customers" in seg.k_reason_
    assert "seeded sample of 400 customers" in seg.gmm_reason_
    assert seg.labels_.shape == (1200,)
    assert seg.k_ == 3
    assert adjusted_rand_score(truth, seg.labels_) >= 0.9
    assert adjusted_rand_score(truth, seg.gmm_labels_) >= 0.9
    np.testing.assert_array_equal(seg.predict(X), seg.labels_)


# ---------------------------------------------------------------- describe
def test_describe_is_json_safe_rounded_and_follows_the_contract(fitted: Segmenter) -> None:
    d = describe(fitted)
    assert list(d) == ["kmeans", "gmm", "agreement", "stability", "warnings"]
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    km = d["kmeans"]
    assert set(km) == {"sweep", "knee", "knee_strength", "k", "reason", "names", "sizes"}
    assert km["sweep"][0] == {
        "k": 1,
        "wcss": float(f"{fitted.kmeans_sweep_['wcss'].iloc[0]:.6g}"),
        "silhouette": None,
        "calinski_harabasz": None,
        "davies_bouldin": None,
    }
    assert km["sizes"] == [int(v) for v in np.bincount(fitted.labels_)]
    gmm = d["gmm"]
    assert set(gmm) == {
        "mixture", "model", "count_features", "selection", "structure",
        "grid", "n_components", "n_segments", "combination", "covariance_type", "criterion",
        "evidence", "reason", "jitter", "names", "sizes",
    }  # fmt: skip
    assert gmm["mixture"] == "count" and gmm["count_features"] == FEATURES
    assert gmm["grid"][0]["covariance_type"] == "negative binomial"
    assert set(gmm["selection"]) >= {"indistinguishable", "criterion", "stability", "reason"}
    assert set(gmm["structure"]) >= {"verdict", "reasons", "delta_bic", "mean_ari"}
    assert (gmm["criterion"], gmm["jitter"]) == ("bic", True)
    assert set(d["stability"]) == {"n_bootstrap", "kmeans", "gmm"}
    assert set(d["stability"]["kmeans"]) == {"mean_ari", "jaccard"}
    for value in (km["knee_strength"], d["agreement"]["ari"], *d["stability"]["gmm"]["jaccard"]):
        assert value == float(f"{value:.6g}")


# ---------------------------------------------------------------- synthetic logs
def test_recovers_the_types_planted_by_segmint_synth() -> None:
    synth = pytest.importorskip("segmint.synth")
    log, truth = synth.generate(40_000, seed=0)
    log = log.drop_duplicates().dropna(subset=["CustomerID"])
    log = log.assign(customer_id=log["CustomerID"].astype(str).str.removesuffix(".0"))
    cancelled = log["InvoiceNo"].astype(str).str.startswith("C")
    ids = pd.Index(sorted(log["customer_id"].unique()), name="customer_id")
    X = pd.DataFrame(
        {
            "n_products": log[~cancelled].groupby("customer_id")["StockCode"].nunique(),
            "n_canceled_orders": log[cancelled].groupby("customer_id")["InvoiceNo"].nunique(),
        }
    )
    X = X.reindex(ids).fillna(0).astype("int64")
    planted_type = truth.set_index("customer_id")["planted_type"].reindex(ids)
    assert planted_type.notna().all()
    k = planted_type.nunique()
    seg = Segmenter(k=k, k_range=(1, 6), covariance_types=("full",), n_bootstrap=0).fit(X)
    assert adjusted_rand_score(planted_type, seg.labels_) >= 0.9
    assert adjusted_rand_score(planted_type, seg.gmm_labels_) >= 0.9


def test_gaussian_mixture_is_selectable_and_chosen_by_the_rule(
    data: tuple[pd.DataFrame, np.ndarray],
) -> None:
    seg = Segmenter(**{**FAST, "mixture": "gaussian"}).fit(data[0])
    assert seg.gmm_covariance_type_ in FAST.get("covariance_types", ("full", "diag"))
    assert {"bic_sd", "aic_sd"} <= set(seg.gmm_grid_.columns)
    assert "averaged over 3 draws" in seg.gmm_reason_ and "1%" not in seg.gmm_reason_
    crit = seg.mixture_selection_["criterion"]
    assert all(row["n_draws"] == 3 for row in crit)
    assert seg.mixture_selection_["n_components"] == seg.gmm_n_components_
    segments, _ = seg.predict_gmm(data[0])
    assert (segments == seg.gmm_labels_).all()
