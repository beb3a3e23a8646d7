"""The feature transform applied before any distance or density, and integer dequantisation.

Customer counts are integer-valued and heavily right-skewed, so by default they go through
``log1p`` and are then standardised (``scale="log-standard"``). The fitted transform is a plain
scikit-learn :class:`~sklearn.pipeline.Pipeline` (a ``FunctionTransformer(np.log1p)`` and a
scaler), which skops serialises without any custom type: it is part of the saved model.

Integer data also break Gaussian mixtures: many customers share exactly the same value (most
never cancel), a component can shrink onto such a lattice line, and the likelihood (so the BIC)
improves without bound as components are added. :func:`dequantise` adds a seeded uniform jitter
``U(0, 1)`` to the integer-valued columns before the transform when mixtures are fitted, which
turns the point masses into densities on ``[x, x + 1)``; :func:`cell_centres` is the matching
deterministic point ``x + 0.5`` used when a fitted mixture assigns customers.
"""

from __future__ import annotations

import numpy as np
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, RobustScaler, StandardScaler

from segmint.cluster import SCALES

__all__ = ["SCALES", "cell_centres", "dequantise", "integer_columns", "make_transform"]


def make_transform(scale: str = "log-standard", *, signed: bool = False) -> Pipeline:
    """Build the (unfitted) feature transform for a ``scale`` option.

    Parameters
    ----------
    scale : {"log-standard", "standard", "robust", "none"}, default="log-standard"
        Which transform; see :data:`SCALES`.
    signed : bool, default=False
        With ``"log-standard"``: some feature takes negative values (net spend of a customer
        whose refunds exceed the purchases of the period), where ``log1p`` is undefined. The
        logarithmic step is then the inverse hyperbolic sine, ``asinh(x) = log(x +
        sqrt(x**2 + 1))``: defined for every value, odd, and like ``log(2x)`` for large x, the
        usual log-like transform of signed money.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Steps ``log1p`` (only for ``"log-standard"``) and ``scale`` (a scaler, or an identity
        ``FunctionTransformer`` for ``"none"``). Every step maps feature names one to one.

    Raises
    ------
    ValueError
        When ``scale`` is not one of :data:`SCALES`.
    """
    if scale == "log-standard" and signed:
        steps = [
            (
                "asinh",
                FunctionTransformer(
                    np.arcsinh, inverse_func=np.sinh, feature_names_out="one-to-one"
                ),
            ),
            ("scale", StandardScaler()),
        ]
    elif scale == "log-standard":
        steps = [
            (
                "log1p",
                FunctionTransformer(
                    np.log1p, inverse_func=np.expm1, feature_names_out="one-to-one"
                ),
            ),
            ("scale", StandardScaler()),
        ]
    elif scale == "standard":
        steps = [("scale", StandardScaler())]
    elif scale == "robust":
        steps = [("scale", RobustScaler())]
    elif scale == "none":
        steps = [("scale", FunctionTransformer(feature_names_out="one-to-one"))]
    else:
        raise ValueError(f"scale={scale!r} is not one of {', '.join(SCALES)}")
    return Pipeline(steps)


def integer_columns(X: np.ndarray) -> np.ndarray:
    """Mark the columns whose values are all whole numbers (counts).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite feature values.

    Returns
    -------
    ndarray of bool, shape (n_features,)
        True where every value of the column is integral.
    """
    X = np.asarray(X, dtype=np.float64)
    return np.all(np.round(X) == X, axis=0)


def dequantise(X: np.ndarray, columns: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Add uniform ``U(0, 1)`` jitter to the integer columns (a new array; ``X`` is unchanged).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Raw feature values, in original units.
    columns : ndarray of bool, shape (n_features,)
        Columns to jitter, usually :func:`integer_columns` of the training data.
    rng : numpy.random.Generator
        Source of the jitter; a seeded generator makes the result reproducible.

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        ``X`` with ``U(0, 1)`` added to the chosen columns.
    """
    out = np.array(X, dtype=np.float64, copy=True)
    idx = np.flatnonzero(columns)
    if idx.size:
        out[:, idx] += rng.random((out.shape[0], idx.size))
    return out


def cell_centres(X: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Move integer values to the centre ``x + 0.5`` of their dequantisation cell.

    A mixture fitted on :func:`dequantise`-d data models each integer ``x`` as the interval
    ``[x, x + 1)``; its centre is the expected jittered value, so it is the point at which
    customers are assigned (deterministically, without new jitter).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Raw feature values, in original units.
    columns : ndarray of bool, shape (n_features,)
        Columns that were jittered when the mixture was fitted.

    Returns
    -------
    ndarray of shape (n_samples, n_features)
        A new array with ``0.5`` added to the chosen columns.
    """
    out = np.array(X, dtype=np.float64, copy=True)
    out[:, np.asarray(columns, dtype=bool)] += 0.5
    return out
