"""The knee of a WCSS curve: known knees, no knee, and how strong a knee is."""

from __future__ import annotations

import numpy as np
import pytest
from kneed import KneeLocator

from segmint.cluster.knee import Knee, find_knee

K = list(range(1, 11))
#: KMeans WCSS of the full UCI Online Retail customer table (measured by an earlier session),
#: k = 1..6, then
#: continued smoothly: a bend without a sharp elbow.
ONLINE_RETAIL = [8744, 4835, 3058, 2257, 1759, 1354, 1150, 990, 870, 770]


@pytest.mark.parametrize(
    ("curve", "knee"),
    [
        ([100, 10, 9, 8, 7, 6, 5, 4, 3, 2], 2),  # L-shaped
        ([1000, 500, 60, 55, 50, 46, 42, 39, 36, 33], 3),  # three well-separated blobs
        ([900, 700, 500, 300, 80, 70, 62, 55, 50, 46], 5),
    ],
)
def test_known_knee_is_found_and_is_sharp(curve: list[float], knee: int) -> None:
    result = find_knee(K, curve)
    assert result.x == knee
    assert result.is_sharp
    assert result.band == (knee,)
    assert result.strength > 0.5
    assert "clear knee" in result.describe()


@pytest.mark.parametrize(
    "curve",
    [
        [100, 10, 9, 8, 7, 6, 5, 4, 3, 2],
        [1000, 500, 60, 55, 50, 46, 42, 39, 36, 33],
        ONLINE_RETAIL,
        list(1000 * np.exp(-0.3 * np.arange(10))),
    ],
)
def test_agrees_with_kneed_on_clean_curves(curve: list[float]) -> None:
    theirs = KneeLocator(K, curve, curve="convex", direction="decreasing").knee
    assert find_knee(K, curve).x == theirs


def test_an_early_wiggle_does_not_capture_the_knee() -> None:
    # kneed's offline mode returns the first local maximum of the difference curve, which
    # here is the flat start; the real bend is at k=5.
    curve = [1000, 990, 985, 300, 60, 55, 50, 45, 40, 35]
    assert find_knee(K, curve).x == 5


def test_smooth_bend_is_reported_as_weak() -> None:
    result = find_knee(K, ONLINE_RETAIL)
    assert result.x == 3
    assert result.band == (3, 4)
    assert not result.is_sharp
    assert 0.4 < result.strength < 0.6
    assert "bends smoothly" in result.describe()
    assert "k=4 is within 10%" in result.describe()


@pytest.mark.parametrize(
    "curve",
    [
        [10, 9, 8, 7, 6, 5, 4, 3, 2, 1],  # a straight line
        [100, 99.5, 99, 98, 96, 93, 89, 83, 75, 60],  # concave: bends the wrong way
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],  # increasing
        [5, 5, 5, 5, 5, 5, 5, 5, 5, 5],  # flat
        [100, 96, 91, 87, 82, 78, 73, 69, 64, 61],  # barely bent
    ],
)
def test_no_knee(curve: list[float]) -> None:
    result = find_knee(K, curve)
    assert result.x is None
    assert result.band == ()
    assert result.describe().startswith("no knee")


def test_too_short_curve_has_no_knee() -> None:
    assert find_knee([1, 2], [10, 1]) == Knee(None, 0.0, 1.0, ())


def test_threshold_follows_kneedle_sensitivity() -> None:
    curve = [100, 60, 35, 20, 12, 8, 6, 5, 4, 3]
    assert find_knee(K, curve).x is not None
    assert find_knee(K, curve, sensitivity=10).x is None


@pytest.mark.parametrize(
    ("x", "y", "message"),
    [
        ([1, 2, 3], [3, 2], "equal length"),
        ([1, 3, 2], [3, 2, 1], "strictly increasing"),
        ([1, 2, 3], [3, np.nan, 1], "finite"),
    ],
)
def test_invalid_input(x: list[float], y: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        find_knee(x, y)
