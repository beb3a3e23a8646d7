"""The MLlib path's choice of the number of mixture components (``segmint.spark._choice``).

The rule is the one of every mixture (:func:`segmint.cluster.selection.choose`); these tests
feed it MLlib-shaped grids and a stand-in for the Spark refits, so they need no Spark session
(``tests/test_spark.py`` runs the whole MLlib path on real Spark).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from segmint.spark._choice import NOT_COMPARED, choose_mixture


def _grid(bic: dict[int, float], aic: dict[int, float] | None = None) -> pd.DataFrame:
    """A grid as :func:`segmint.spark.mllib._gmm_grid` gives it: one full-covariance row per n."""
    rows = [(n, "full", b, (aic or bic)[n]) for n, b in bic.items()]
    frame = pd.DataFrame(rows, columns=["n_components", "covariance_type", "bic", "aic"])
    return frame.astype({"n_components": "int64"})


class Refits:
    """Stands in for the Spark refits: a fixed mean ARI per number of components, and a log."""

    def __init__(self, mean_ari: dict[int, float]) -> None:
        self.mean_ari = mean_ari
        self.asked: list[int] = []

    def __call__(self, m: int) -> dict[str, Any]:
        self.asked.append(m)
        return {
            "n_components": m,
            "n_bootstrap": 2,
            "ari": [self.mean_ari[m]] * 2,
            "mean_ari": self.mean_ari[m],
            "jaccard": [0.9] * m,
            "jaccard_runs": np.full((2, m), 0.9),
            "seconds": 1.5,
        }


def _choose(grid: pd.DataFrame, refits: Refits, **options: Any) -> Any:
    options = {"k": None, "criterion": "bic", "n_bootstrap": 0, **options}
    return choose_mixture(grid, starts=3, resample=refits, **options)


def test_within_10_units_without_stability_chooses_the_smaller_and_says_why() -> None:
    refits = Refits({})
    choice = _choose(_grid({1: 1000.0, 2: 900.0, 3: 893.0, 4: 950.0}), refits)
    assert choice.n_components == 2 and choice.evidence == "indistinguishable"
    assert refits.asked == []  # --bootstrap 0: nothing refitted in Spark
    assert choice.selection["indistinguishable"] == [2, 3]
    assert choice.selection["stability"] == {"2": None, "3": None}
    assert choice.reason.startswith(
        "Gaussian mixture (Spark MLlib, full covariance): BIC is lowest at 3 components, but 2 "
        "numbers of components are within 10 units (or twice the standard error) of it; their "
        "bootstrap stability was not measured, so chose the smallest, 2"
    )
    assert "standard error 0" in choice.reason
    rows = {r["n_components"]: r for r in choice.selection["criterion"]}
    assert rows[2]["delta"] == 7.0 and rows[2]["se"] == 0.0 and rows[2]["margin"] == 10.0
    assert choice.notes == []


def test_one_percent_of_bic_no_longer_matters() -> None:
    # |BIC| about 10^5: 15 units is 0.015 % of it. The evidence rule (1 % of |BIC|) called all of
    # 1..4 equally good and took 1; 15 units is clear evidence now.
    grid = _grid({1: 100_200.0, 2: 100_015.0, 3: 100_000.0, 4: 100_040.0})
    choice = _choose(grid, Refits({}))
    assert (choice.n_components, choice.evidence) == (3, "clear")
    assert choice.selection["indistinguishable"] == [3]
    assert choice.reason.startswith(
        "Gaussian mixture (Spark MLlib, full covariance): BIC is lowest at 3 components and no "
        "other number of components is within 10 units of it (bootstrap mean ARI not measured)"
    )


def test_stability_is_refitted_only_for_the_indistinguishable_candidates() -> None:
    refits = Refits({2: 0.70, 3: 0.95})
    grid = _grid({1: 1000.0, 2: 900.0, 3: 893.0, 4: 950.0})
    choice = _choose(grid, refits, n_bootstrap=2)
    assert choice.n_components == 3 and sorted(refits.asked) == [2, 3]
    assert "chose the most stable, 3 (bootstrap mean ARI 2: 0.70, 3: 0.95)" in choice.reason
    assert choice.selection["stability"] == {"2": 0.7, "3": 0.95}
    assert set(choice.details) == {2, 3}  # the chosen one's resamples are reused, not refitted
    assert choice.notes == [
        "mixture selection: the stability of 1 more candidate number(s) of components (2) "
        "refitted with Spark MLlib on 2 bootstrap resamples each in 1.5 s"
    ]
    # ties (within 0.01) go to fewer components
    tie = _choose(grid, Refits({2: 0.945, 3: 0.95}), n_bootstrap=2)
    assert tie.n_components == 2


def test_a_single_candidate_costs_no_extra_refit() -> None:
    refits = Refits({3: 0.9})
    choice = _choose(_grid({1: 1000.0, 2: 950.0, 3: 900.0, 4: 930.0}), refits, n_bootstrap=2)
    assert choice.n_components == 3 and refits.asked == [3]  # needed for the stability anyway
    assert "(bootstrap mean ARI 0.90)" in choice.reason and choice.notes == []


def test_fixed_k_is_kept_and_the_rule_still_reported() -> None:
    refits = Refits({4: 0.8})
    grid = _grid({1: 1000.0, 2: 900.0, 3: 893.0, 4: 950.0})
    choice = _choose(grid, refits, k=4, n_bootstrap=2)
    assert (choice.n_components, choice.evidence) == (4, "fixed")
    assert refits.asked == [4]
    assert choice.reason.startswith(
        "Gaussian mixture (Spark MLlib, full covariance): n_components=4 fixed by the user (the "
        "rule's candidates: 2, 3)"
    )
    assert choice.selection["n_components"] == 4 and choice.notes == []


def test_edges_keep_their_notes() -> None:
    top = _choose(_grid({1: 300.0, 2: 200.0, 3: 100.0}), Refits({}))
    assert top.n_components == 3 and top.selection["on_edge"]
    assert "3 is on the edge of the searched range 1..3" in top.reason
    assert top.notes == [
        "GMM: n_components=3 is the top of the searched range 1..3; widen it upwards, "
        "e.g. --k-range 1..6"
    ]
    bottom = _choose(_grid({2: 100.0, 3: 200.0, 4: 300.0}), Refits({}))
    assert bottom.n_components == 2
    assert bottom.notes == [
        "GMM: n_components=2 is the bottom of the searched range 2..4; widen it downwards, "
        "e.g. --k-range 1..4"
    ]
    one = _choose(_grid({1: 100.0, 2: 200.0, 3: 300.0}), Refits({}))
    assert one.n_components == 1 and one.notes == []  # nothing below 1 to search
    fixed = _choose(_grid({1: 300.0, 2: 200.0, 3: 100.0}), Refits({}), k=3)
    assert fixed.notes == []


def test_aic_chooses_and_the_structure_check_uses_bic_without_a_single_population() -> None:
    grid = _grid({1: 300.0, 2: 200.0, 3: 250.0}, aic={1: 300.0, 2: 250.0, 3: 200.0})
    assert _choose(grid, Refits({})).n_components == 2
    aic = _choose(grid, Refits({}), criterion="aic")
    assert aic.n_components == 3 and "AIC is lowest at 3 components" in aic.reason
    assert aic.selection["criterion_name"] == "AIC"
    structure = aic.structure
    assert structure["bic_mixture"] == 200.0  # the BIC grid, not the AIC one
    assert structure["bic_single"] is None and structure["delta_bic"] is None
    assert structure["single_population"] == (
        f"not compared: {NOT_COMPARED}; the other checks still apply"
    )
    assert structure["verdict"] == "no clear structure"  # on the edge of 1..3
    assert "no clear structure" in aic.reason


@pytest.mark.parametrize("mean_ari", [0.5, 0.95])
def test_the_structure_check_judges_the_measured_stability(mean_ari: float) -> None:
    grid = _grid({1: 1000.0, 2: 900.0, 3: 800.0, 4: 850.0})
    choice = _choose(grid, Refits({3: mean_ari}), n_bootstrap=2)
    assert choice.structure["mean_ari"] == mean_ari
    assert (choice.structure["verdict"] == "structure") == (mean_ari >= 0.75)
