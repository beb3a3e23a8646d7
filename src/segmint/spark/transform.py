"""The feature transform of the MLlib path, fitted and applied in Spark (one pass to fit).

``z = (g(x) - centre) / spread`` with ``g = log1p`` for ``scale="log-standard"`` and the
identity otherwise, as :func:`segmint.cluster.transform.make_transform` does locally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from segmint.errors import SegmintError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["QUANTILE_ERROR", "SparkTransform", "fit_transform"]

#: Relative error of the approximate quartiles (``scale="robust"``) and medians.
QUANTILE_ERROR: float = 1e-4
_ACCURACY = int(1 / QUANTILE_ERROR)


@dataclass(frozen=True)
class SparkTransform:
    """The fitted feature transform: ``z = (g(x) - centre) / spread``, ``g`` log1p or identity.

    Attributes
    ----------
    features : tuple of str
        Feature columns, in order.
    scale : str
        One of :data:`segmint.cluster.transform.SCALES`.
    centre, spread : ndarray of shape (n_features,)
        Per feature; a spread of 0 is stored as 1 (as scikit-learn's scalers do).
    """

    features: tuple[str, ...]
    scale: str
    centre: np.ndarray
    spread: np.ndarray

    def columns(self, source: Callable[[str], Column]) -> list[Column]:
        """Spark expressions of the transformed features ``z0, z1, ...``.

        Parameters
        ----------
        source : callable
            Gives the (untransformed) value of a feature as a Spark column.
        """
        from pyspark.sql import functions as F

        out = []
        for j, name in enumerate(self.features):
            value = source(name).cast("double")
            if self.scale == "log-standard":
                value = F.log1p(value)
            out.append(((value - float(self.centre[j])) / float(self.spread[j])).alias(f"z{j}"))
        return out

    def inverse(self, Z: np.ndarray) -> np.ndarray:
        """Back to original units (for component centres).

        Parameters
        ----------
        Z : ndarray of shape (n, n_features)

        Returns
        -------
        ndarray of shape (n, n_features)
        """
        X = np.asarray(Z, dtype=np.float64) * self.spread + self.centre
        return np.expm1(X) if self.scale == "log-standard" else X


def fit_transform(frame: DataFrame, features: Sequence[str], scale: str) -> SparkTransform:
    """Fit the transform of ``scale`` on a Spark table of customers (one pass).

    Parameters
    ----------
    frame : pyspark.sql.DataFrame
        One row per customer with the feature columns.
    features : sequence of str
        Feature columns.
    scale : {"log-standard", "standard", "robust", "none"}
        As :func:`segmint.cluster.transform.make_transform`.

    Returns
    -------
    SparkTransform

    Raises
    ------
    SegmintError
        For an unknown scale, or negative values with ``scale="log-standard"``.
    """
    from pyspark.sql import functions as F

    from segmint.cluster.transform import SCALES

    if scale not in SCALES:
        raise SegmintError(f"--scale {scale}: use one of {', '.join(SCALES)}")
    names = tuple(features)
    d = len(names)
    aggs: list[Column] = []
    for j, name in enumerate(names):
        x = F.col(name).cast("double")
        g = F.log1p(x) if scale == "log-standard" else x
        aggs += [
            F.min(x).alias(f"min{j}"),
            F.avg(g).alias(f"mean{j}"),
            F.stddev_pop(g).alias(f"std{j}"),
        ]
        if scale == "robust":
            aggs.append(F.percentile_approx(x, [0.25, 0.5, 0.75], _ACCURACY).alias(f"q{j}"))
    row = frame.agg(*aggs).collect()[0]
    centre, spread = np.zeros(d), np.ones(d)
    for j, name in enumerate(names):
        if scale == "log-standard" and row[f"min{j}"] is not None and row[f"min{j}"] < 0:
            raise SegmintError(
                f"Negative values in data: feature {name!r} has min {row[f'min{j}']:g}; "
                "scale='log-standard' needs counts >= 0; use --scale standard for signed features"
            )
        if scale in ("log-standard", "standard"):
            centre[j], spread[j] = float(row[f"mean{j}"]), float(row[f"std{j}"] or 0.0)
        elif scale == "robust":
            q1, q2, q3 = (float(v) for v in row[f"q{j}"])
            centre[j], spread[j] = q2, q3 - q1
    spread[spread == 0] = 1.0
    return SparkTransform(names, scale, centre, spread)
