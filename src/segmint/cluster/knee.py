"""Knee (elbow) of a decreasing convex curve such as KMeans WCSS against k: kneedle, honestly.

The rule is kneedle (Satopaa et al., 2011) for a convex, decreasing curve, with one change that
makes it robust on short, noisy curves:

1. Normalise both axes to ``[0, 1]``; the chord from the first to the last point becomes the
   line ``y = 1 - x``.
2. The *difference curve* is how far each point lies below that chord,
   ``d_i = (1 - x_i) - y_i`` (0 at both ends; larger means a sharper bend there).
3. The knee is the point of the **largest** ``d`` (kneedle's offline mode takes the *first*
   local maximum, which a small wiggle early in the curve can capture).
4. Kneedle's threshold decides whether there is a knee at all: the difference curve must fall
   from its peak by at least ``sensitivity * mean(diff(x))`` before the end of the curve, which
   (because ``d`` ends at 0) means ``max(d) > sensitivity * mean(diff(x))``. A straight line,
   a concave curve or a barely bent one has no knee.

How strong the knee is, is reported, not hidden: ``strength`` is ``max(d)`` (about 0.8 for an
L-shaped curve, about 0.5 for the smooth bend of the Online Retail WCSS, 0 for a line), and
``band`` lists every x whose ``d`` is within ``band_tolerance`` (10%) of the peak: a band of
more than one point means the curve bends smoothly and the neighbours are about as good.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Knee", "find_knee"]


@dataclass(frozen=True)
class Knee:
    """Where a curve bends, and how clearly.

    Attributes
    ----------
    x : int or None
        The knee, or None when the curve has none.
    strength : float
        Height of the normalised difference curve at the knee, in ``[0, 1)``; 0 without a knee.
    threshold : float
        The height a knee needed to exceed (kneedle's ``sensitivity * mean(diff(x))``).
    band : tuple of int
        The x values whose difference is within the band tolerance of the knee's (the knee
        included); empty without a knee.
    """

    x: int | None
    strength: float
    threshold: float
    band: tuple[int, ...]

    @property
    def is_sharp(self) -> bool:
        """True when the knee exists and no other point comes close to it."""
        return self.x is not None and len(self.band) == 1

    def describe(self, name: str = "k") -> str:
        """One plain sentence about the knee, e.g. for a reason string.

        Parameters
        ----------
        name : str, default="k"
            What the x axis is called.

        Returns
        -------
        str
        """
        if self.x is None:
            return (
                f"no knee: the curve bends too little (kneedle distance {self.strength:.2f}, "
                f"needs > {self.threshold:.2f})"
            )
        if self.is_sharp:
            return f"clear knee at {name}={self.x} (kneedle distance {self.strength:.2f})"
        others = ", ".join(str(v) for v in self.band if v != self.x)
        return (
            f"knee at {name}={self.x} (kneedle distance {self.strength:.2f}), but the curve bends "
            f"smoothly: {name}={others} {'is' if len(self.band) == 2 else 'are'} within 10% of it"
        )


def find_knee(
    x: Sequence[int] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    sensitivity: float = 1.0,
    band_tolerance: float = 0.1,
) -> Knee:
    """Find the knee of a convex, decreasing curve (kneedle with a global maximum).

    Parameters
    ----------
    x : sequence of int
        Increasing x values, e.g. the k of a KMeans sweep.
    y : sequence of float
        The curve, e.g. WCSS; NaN values are not allowed.
    sensitivity : float, default=1.0
        Kneedle's ``S``: larger values need a sharper bend before a knee is declared.
    band_tolerance : float, default=0.1
        Points whose difference is at least ``(1 - band_tolerance)`` times the knee's join the
        ``band``.

    Returns
    -------
    Knee
        The knee (or none), its strength and the band of near-equivalent points.

    Raises
    ------
    ValueError
        When ``x`` and ``y`` differ in length, ``x`` is not strictly increasing or ``y`` is not
        finite.

    Examples
    --------
    >>> find_knee([1, 2, 3, 4, 5, 6], [100, 20, 10, 8, 7, 6]).x
    2
    >>> find_knee([1, 2, 3, 4], [4, 3, 2, 1]).x is None
    True
    """
    xs = np.asarray(x, dtype=np.float64)
    ys = np.asarray(y, dtype=np.float64)
    if xs.shape != ys.shape or xs.ndim != 1:
        raise ValueError(f"x and y must be 1-d and of equal length, got {xs.shape} and {ys.shape}")
    if not np.all(np.isfinite(ys)):
        raise ValueError("y must be finite")
    if xs.size and np.any(np.diff(xs) <= 0):
        raise ValueError("x must be strictly increasing")
    if xs.size < 3 or np.ptp(ys) == 0:
        return Knee(None, 0.0, 1.0, ())
    xn = (xs - xs[0]) / (xs[-1] - xs[0])
    yn = (ys - ys.min()) / np.ptp(ys)
    # Below the chord from (0, y_0) to (1, y_last); for a decreasing curve that is 1 - x.
    chord = yn[0] + (yn[-1] - yn[0]) * xn
    diff = chord - yn
    threshold = float(sensitivity * np.mean(np.diff(xn)))
    peak = int(np.argmax(diff))
    strength = float(diff[peak])
    decreasing = ys[0] > ys[-1]
    if not decreasing or strength <= threshold:
        return Knee(None, max(strength, 0.0), threshold, ())
    band = tuple(int(v) for v in xs[diff >= (1.0 - band_tolerance) * strength])
    return Knee(int(xs[peak]), strength, threshold, band)
