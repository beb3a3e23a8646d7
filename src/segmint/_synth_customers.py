"""Seeded synthetic customer tables with known segments (or none), for testing mixtures.

Three generators, each returning ``(table, labels)``: a DataFrame with ``customer_id``,
``n_products``, ``n_canceled_orders`` (and ``n_orders`` when asked) and the planted type of
every customer (all 0 for the single population):

- :func:`nb_types`: four overlapping types, features independent negative binomials within a
  type (the model :class:`~segmint.cluster.count_mixture.CountMixture` assumes);
- :func:`lognormal_types`: four types of a Poisson log-normal: within a type the log rates are
  correlated (the mixture's independence assumption is wrong inside a type);
- :func:`single_population`: one correlated Poisson log-normal population with no types, its
  parameters matched to the moments of the real three-month table (December 2010 to February
  2011 of UCI Online Retail, 1,749 customers): means, variances and covariances of the raw
  counts, solved for the log-normal's ``mu`` and ``Sigma``.

numpy only (and pandas for the table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "REAL_MOMENTS",
    "lognormal_parameters",
    "lognormal_types",
    "nb_types",
    "single_population",
]

_COLUMNS = ("n_products", "n_canceled_orders", "n_orders")

#: Moments of the real three-month table, columns as in ``_COLUMNS``: mean, and covariance of
#: the raw counts (measured with ``segmint.customer_features(..., features="all")``).
REAL_MOMENTS: dict[str, np.ndarray] = {
    "mean": np.array([32.58, 0.4351, 1.935]),
    "cov": np.array(
        [
            [1581.0, 11.74, 60.28],
            [11.74, 0.7848, 1.043],
            [60.28, 1.043, 5.991],
        ]
    ),
}


def _table(counts: np.ndarray, with_orders: bool) -> pd.DataFrame:
    n = counts.shape[0]
    data: dict[str, object] = {"customer_id": [f"S{i:06d}" for i in range(n)]}
    for j, name in enumerate(_COLUMNS[: 3 if with_orders else 2]):
        data[name] = counts[:, j].astype(np.int64)
    return pd.DataFrame(data)


def _labels(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    return np.sort(rng.choice(weights.size, size=n, p=weights / weights.sum()))


def nb_types(
    n: int = 5000, *, random_state: int = 0, with_orders: bool = False
) -> tuple[pd.DataFrame, np.ndarray]:
    """Four overlapping types, each feature an independent negative binomial within a type.

    Types (mean products, mean cancellations, mean orders; NB2 dispersion 0.15 for products,
    0.25 for cancellations, 0.2 for orders; shares 40/30/20/10%): occasional (6, 0.05, 1.2),
    regular (25, 0.3, 2), heavy (100, 0.5, 4), and cancellers (40, 4, 3). Neighbouring types
    overlap (a tenth to a quarter of customers sit closer to another type's mean), but four
    types are identifiable from 5,000 customers.

    Parameters
    ----------
    n : int, default=5000
        Customers.
    random_state : int, default=0
    with_orders : bool, default=False
        Add ``n_orders``.

    Returns
    -------
    table : DataFrame
    labels : ndarray of int, shape (n,)
        Planted type of every customer.
    """
    rng = np.random.default_rng(random_state)
    weights = np.array([0.4, 0.3, 0.2, 0.1])
    means = np.array([[6.0, 0.05, 1.2], [25.0, 0.3, 2.0], [100.0, 0.5, 4.0], [40.0, 4.0, 3.0]])
    alpha = np.array([0.15, 0.25, 0.2])
    labels = _labels(rng, n, weights)
    mu = means[labels]
    lam = rng.gamma(shape=1 / alpha, scale=mu * alpha)  # NB2 as a gamma-Poisson
    return _table(rng.poisson(lam), with_orders), labels


def _pln(rng: np.random.Generator, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    z = rng.multivariate_normal(np.zeros(cov.shape[0]), cov, size=mean.shape[0])
    out: np.ndarray = rng.poisson(np.exp(mean + z))
    return out


def lognormal_types(
    n: int = 5000, *, random_state: int = 0, with_orders: bool = False
) -> tuple[pd.DataFrame, np.ndarray]:
    """Four types of a Poisson log-normal with correlated log rates within each type.

    Log rates (products, cancellations, orders) have type means ``log`` of (6, 0.05, 1.2),
    (25, 0.3, 2), (100, 0.5, 4), (40, 4, 3) (the types of :func:`nb_types`), standard
    deviations (0.35, 0.5, 0.3) and correlation 0.5 between every pair; shares 40/30/20/10%.

    Parameters
    ----------
    n : int, default=5000
    random_state : int, default=0
    with_orders : bool, default=False

    Returns
    -------
    table : DataFrame
    labels : ndarray of int, shape (n,)
    """
    rng = np.random.default_rng(random_state)
    weights = np.array([0.4, 0.3, 0.2, 0.1])
    means = np.log(
        np.array([[6.0, 0.05, 1.2], [25.0, 0.3, 2.0], [100.0, 0.5, 4.0], [40.0, 4.0, 3.0]])
    )
    sd = np.array([0.35, 0.5, 0.3])
    corr = np.full((3, 3), 0.5) + 0.5 * np.eye(3)
    cov = corr * np.outer(sd, sd)
    labels = _labels(rng, n, weights)
    return _table(_pln(rng, means[labels], cov), with_orders), labels


def lognormal_parameters(mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log-normal ``mu``, ``Sigma`` of a Poisson log-normal with the given count moments.

    ``E X = exp(mu + s/2)``, ``Var X = E X + (E X)**2 (exp(s) - 1)``,
    ``Cov(X_i, X_j) = E X_i E X_j (exp(s_ij) - 1)``.

    Parameters
    ----------
    mean : ndarray of shape (d,)
    cov : ndarray of shape (d, d)

    Returns
    -------
    mu : ndarray of shape (d,)
    Sigma : ndarray of shape (d, d)
    """
    outer = np.outer(mean, mean)
    excess = cov - np.diag(mean)
    sigma = np.log1p(np.maximum(excess / outer, -0.99))
    sigma[np.diag_indices_from(sigma)] = np.log1p(np.maximum(np.diag(excess) / mean**2, 1e-3))
    w, v = np.linalg.eigh(sigma)
    sigma = (v * np.maximum(w, 1e-3)) @ v.T  # nearest positive definite
    mu = np.log(mean) - np.diag(sigma) / 2
    return mu, sigma


def single_population(
    n: int = 1749, *, random_state: int = 0, with_orders: bool = False
) -> tuple[pd.DataFrame, np.ndarray]:
    """One correlated Poisson log-normal population, matched to the real three months.

    Parameters
    ----------
    n : int, default=1749
    random_state : int, default=0
    with_orders : bool, default=False

    Returns
    -------
    table : DataFrame
    labels : ndarray of int, shape (n,)
        All 0.
    """
    rng = np.random.default_rng(random_state)
    mu, sigma = lognormal_parameters(REAL_MOMENTS["mean"], REAL_MOMENTS["cov"])
    counts = _pln(rng, np.broadcast_to(mu, (n, 3)), sigma)
    return _table(counts, with_orders), np.zeros(n, dtype=np.intp)
