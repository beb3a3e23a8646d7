"""Gaussian-mixture grid, the evidence rule, and why integer counts need dequantisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from segmint.cluster.gmm import choose, grid
from segmint.cluster.transform import dequantise, integer_columns, make_transform


def planted(sizes: tuple[int, ...] = (300, 200, 100), seed: int = 0) -> np.ndarray:
    """Integer counts of three customer types; many customers share exact values."""
    rng = np.random.default_rng(seed)
    centres = [(3, 0.0), (60, 0.1), (20, 5.0)]  # (products, mean cancellations)
    parts = []
    for n, (products, cancels) in zip(sizes, centres, strict=True):
        p = np.maximum(1, np.round(np.exp(rng.normal(np.log(products), 0.3, n))))
        parts.append(np.column_stack([p, rng.poisson(cancels, n)]))
    return np.vstack(parts).astype(float)


def _grid(bic_by_n: dict[int, float], aic_by_n: dict[int, float] | None = None) -> pd.DataFrame:
    """A two-covariance-type grid whose "diag" cells are 1% worse than "full"."""
    rows = []
    for n, bic in bic_by_n.items():
        aic = (aic_by_n or bic_by_n)[n]
        rows.append((n, "full", bic, aic))
        rows.append((n, "diag", bic + abs(bic) * 0.01, aic + abs(aic) * 0.01))
    return pd.DataFrame(rows, columns=["n_components", "covariance_type", "bic", "aic"])


def test_grid_has_every_cell() -> None:
    Z = make_transform().fit_transform(planted(seed=0))
    table, models, messages = grid(Z, [1, 2, 3], ["full", "spherical"], random_state=0)
    assert list(table.columns) == ["n_components", "covariance_type", "bic", "aic"]
    assert table[["n_components", "covariance_type"]].values.tolist() == [
        [1, "full"], [1, "spherical"], [2, "full"], [2, "spherical"], [3, "full"], [3, "spherical"],
    ]  # fmt: skip
    assert table["n_components"].dtype == np.int64
    assert set(models) == {(n, c) for n in (1, 2, 3) for c in ("full", "spherical")}
    assert table.loc[4, "bic"] == pytest.approx(models[(3, "full")].bic(Z))
    assert messages == []
    again, _, _ = grid(Z, [1, 2, 3], ["full", "spherical"], random_state=0)
    pd.testing.assert_frame_equal(table, again)


def test_clear_minimum_is_chosen() -> None:
    choice = choose(_grid({1: 3000.0, 2: 2000.0, 3: 1500.0, 4: 1600.0, 5: 1700.0}))
    assert (choice.n_components, choice.covariance_type, choice.evidence) == (3, "full", "clear")
    assert choice.reason == (
        "lowest BIC at 3 components (full); no other number of components is within 1% of it"
    )
    assert choice.warnings == []


def test_weak_evidence_prefers_the_smallest_within_tolerance() -> None:
    # The real-data shape (measured on the full UCI year): flat within 1% from 3 on, minimum at 5.
    choice = choose(_grid({1: 3000.0, 2: 2000.0, 3: 1510.0, 4: 1505.0, 5: 1500.0, 6: 1503.0}))
    assert (choice.n_components, choice.evidence) == (3, "weak")
    assert "lowest BIC at 5 components (full), but BIC for 3..6 components is within 1%" in (
        choice.reason
    )
    assert "chose the smallest: 3 components (full)" in choice.reason
    assert choice.warnings == [
        "GMM: weak evidence for the number of components: BIC for 3..6 components is within "
        "1% of the lowest (5); chose the smallest, 3"
    ]


def test_negative_bic_uses_its_magnitude() -> None:
    choice = choose(_grid({1: -1000.0, 2: -2000.0, 3: -2015.0}))
    assert (choice.n_components, choice.evidence) == (2, "weak")


def test_aic_criterion() -> None:
    table = _grid({1: 300.0, 2: 200.0, 3: 250.0}, aic_by_n={1: 300.0, 2: 250.0, 3: 200.0})
    assert choose(table, "bic").n_components == 2
    aic = choose(table, "aic")
    assert aic.n_components == 3
    assert aic.reason.startswith("lowest AIC at 3 components")
    with pytest.raises(ValueError, match="criterion='icl'"):
        choose(table, "icl")


def test_top_edge_warns_and_says_how_to_widen() -> None:
    choice = choose(_grid({1: 3000.0, 2: 2000.0, 3: 1000.0}))
    assert choice.n_components == 3
    assert "sits on the top of the range 1..3" in choice.reason
    assert choice.warnings == [
        "GMM: n_components=3 is the top of the searched range 1..3; widen it upwards, "
        "e.g. --k-range 1..6"
    ]


def test_bottom_edge_warns_when_the_range_does_not_start_at_1() -> None:
    choice = choose(_grid({2: 1000.0, 3: 2000.0, 4: 3000.0}))
    assert choice.n_components == 2
    assert "widen it downwards, e.g. --k-range 1..4" in choice.warnings[-1]


def test_fixed_k_only_chooses_the_covariance_type() -> None:
    choice = choose(_grid({1: 3000.0, 2: 2000.0, 3: 1500.0}), k=2)
    assert (choice.n_components, choice.covariance_type, choice.evidence) == (2, "full", "fixed")
    assert "lowest BIC overall: 3 components, full" in choice.reason


@pytest.mark.parametrize("seed", [0, 1])
def test_jitter_stops_the_runaway_bic_on_integer_counts(seed: int) -> None:
    X = planted(seed=seed)
    transform = make_transform().fit(X)
    n_values = range(1, 7)

    raw, _, _ = grid(transform.transform(X), n_values, ["full"], random_state=0)
    raw_per_n = raw.groupby("n_components")["bic"].min()
    # Without jitter components collapse onto repeated integer values: the BIC keeps
    # falling past the 3 planted types and its minimum lands on the top of the range.
    assert raw_per_n.idxmin() == 6
    assert raw_per_n[6] < raw_per_n[3] < raw_per_n[2]

    Xj = dequantise(X, integer_columns(X), np.random.default_rng(seed))
    jittered, _, _ = grid(transform.transform(Xj), n_values, ["full"], random_state=0)
    choice = choose(jittered)
    assert choice.n_components == 3
    assert choice.warnings == [] or "weak evidence" in choice.warnings[0]
