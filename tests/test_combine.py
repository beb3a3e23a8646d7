"""Tests of segmint.cluster.combine: mixture components combined into clearly separated segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import adjusted_rand_score

from segmint import _synth_customers as synth
from segmint._synth_plan import CANCEL, make_plan
from segmint.cluster.combine import (
    SEPARATED,
    CombinedMixture,
    combine,
    group_proba,
    misclassification,
)
from segmint.cluster.count_mixture import CountMixture, fit_path
from segmint.model import Segmenter, load

FEATURES = ["n_products", "n_canceled_orders"]


def planted(n_customers: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Customers of ``segmint synth``'s plan (its four planted types), without writing a log.

    The types spread their counts evenly over ranges with hard ends (``_synth_plan.TYPES``),
    a shape no single negative binomial has: the mixture needs several components for some.
    """
    plan = make_plan(n_customers * 50, n_customers, seed)
    cancelled = (plan.inv_kind == CANCEL) & (plan.inv_cust >= 0)
    n_cancel = np.bincount(plan.inv_cust[cancelled], minlength=plan.cust_type.size)
    table = pd.DataFrame({"n_products": plan.cust_products, "n_canceled_orders": n_cancel})
    return table, plan.cust_type


def test_misclassification_of_separated_and_of_identical_groups() -> None:
    apart = np.array([[1.0, 0.0], [0.999, 0.001], [0.0, 1.0], [0.002, 0.998]])
    M = misclassification(apart)
    assert M[0, 1] < 0.002 and M[1, 0] < 0.002
    assert M[0, 0] == M[1, 1] == 0.0
    same = np.full((6, 2), 0.5)  # every customer as likely in either: argmax takes the first
    M = misclassification(same)
    assert M[1, 0] == pytest.approx(1.0) and M[0, 1] == 0.0
    weighted = misclassification(apart, weight=np.array([1.0, 100.0, 1.0, 1.0]))
    assert weighted[0, 1] == pytest.approx(0.002 / (1 + 99.9 + 0.002), rel=1e-9)


def test_group_proba_sums_the_columns_of_each_group() -> None:
    P = np.array([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    out = group_proba(P, np.array([0, 1, 0, 1]), 2)
    np.testing.assert_allclose(out, [[0.4, 0.6], [0.6, 0.4]])
    np.testing.assert_allclose(out.sum(axis=1), 1.0)


def test_overlapping_types_keep_their_components() -> None:
    # planted negative-binomial types overlap: no grouping is clearly apart, nothing changes
    table, _ = synth.nb_types(5000, random_state=0)
    X = table[FEATURES].to_numpy(dtype=float)
    model = CountMixture(4, random_state=0).fit(X)
    comb = combine(model.predict_proba(X))
    assert not comb.combined
    assert comb.n_groups == 4
    np.testing.assert_array_equal(comb.groups, np.arange(4))
    assert all(level["worst"] >= SEPARATED for level in comb.levels)


def test_components_that_shape_one_type_are_combined() -> None:
    table, truth = planted(8000, seed=1)
    X = table.to_numpy(dtype=float)
    path = fit_path(CountMixture(random_state=0), X, range(1, 11))
    best = min(path, key=lambda n: path[n].bic(X))
    assert best > 4  # BIC describes the flat ranges with more components than types
    comb = combine(path[best].predict_proba(X))
    assert comb.combined and comb.n_groups == 4
    assert comb.levels[-1]["worst"] < SEPARATED <= comb.levels[-2]["worst"]
    labels = group_proba(path[best].predict_proba(X), comb.groups, 4).argmax(axis=1)
    assert adjusted_rand_score(truth, labels) > 0.99
    assert list(comb.groups) == sorted(comb.groups)  # numbered by first component
    assert comb.to_dict()["n_segments"] == 4


def test_combined_mixture_refits_and_combines() -> None:
    table, truth = planted(4000, seed=2)
    X = table.to_numpy(dtype=float)
    model = CombinedMixture(CountMixture(), n_components=6, random_state=0).fit(X)
    assert model.n_groups_ == 4 and model.groups_.size == 6
    proba = model.predict_proba(X)
    assert proba.shape == (len(X), 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert adjusted_rand_score(truth, model.predict(X)) > 0.99


@pytest.mark.parametrize("seed", [0, 1])
def test_segmenter_recovers_the_planted_types(seed: int, tmp_path) -> None:
    table, truth = planted(8000, seed)
    seg = Segmenter(n_bootstrap=5, random_state=seed).fit(table)
    assert seg.gmm_n_segments_ == 4 < seg.gmm_n_components_
    assert adjusted_rand_score(truth, seg.gmm_labels_) > 0.99
    assert seg.structure_["verdict"] == "structure", seg.structure_["reasons"]
    assert seg.structure_["n_segments"] == 4 and seg.structure_["mean_ari"] > 0.9
    assert len(seg.gmm_names_) == 4 and seg.stability_["gmm"]["mean_ari"] > 0.9
    assert seg.gmm_combination_["combined"] and "clearly apart" in seg.gmm_reason_
    # the saved model keeps the groups: the same segments after loading
    seg.save(tmp_path / "model.skops")
    back = load(tmp_path / "model.skops")
    labels, proba = back.predict_gmm(table)
    np.testing.assert_array_equal(labels, seg.gmm_labels_)
    np.testing.assert_allclose(proba, seg.gmm_probability_)
    assert back.gmm_n_segments_ == 4
