"""Gaussian mixtures over n_components x covariance types: the BIC/AIC grid.

:func:`grid` fits one :class:`~sklearn.mixture.GaussianMixture` per cell of
``n_components x covariance_type`` (cells run side by side in forked processes, see
:mod:`segmint._parallel`) and records BIC and AIC.
Fit it on dequantised data (:func:`segmint.cluster.transform.dequantise`): on raw integer counts
the BIC keeps falling as components collapse onto repeated values, and the "best" model lands on
the top of whatever range was searched.

The Segmenter uses :func:`grid_draws`: every fit has :data:`GMM_N_INIT` EM starts, and the
criterion of a cell is averaged over :data:`JITTER_DRAWS` jitter draws (mean and spread); the
number of components is then chosen by the one rule of :mod:`segmint.cluster.selection`, with
:class:`JitteredGMM` (fresh jitter in every resample) for the bootstrap.

The MLlib path (:mod:`segmint.spark.mllib`) fits its own grid in Spark and chooses with the
same rule.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.mixture import GaussianMixture

from segmint._parallel import run_tasks, single_threaded
from segmint.cluster import CRITERIA
from segmint.cluster.transform import cell_centres, dequantise

__all__ = [
    "COVARIANCE_TYPES",
    "CRITERIA",
    "GMM_MAX_ITER",
    "GMM_N_INIT",
    "JITTER_DRAWS",
    "JitteredGMM",
    "grid",
    "grid_draws",
    "make_gmm",
]

#: Covariance structures searched by default, in the order they are reported.
COVARIANCE_TYPES: tuple[str, ...] = ("full", "tied", "diag", "spherical")
#: EM iterations per fit.
GMM_MAX_ITER: int = 200


def make_gmm(
    n_components: int, covariance_type: str, random_state: int, n_init: int = 1
) -> GaussianMixture:
    """The Gaussian mixture segmint fits for one grid cell.

    Parameters
    ----------
    n_components : int
        Number of components.
    covariance_type : {"full", "tied", "diag", "spherical"}
        Covariance structure.
    random_state : int
        Seed of the (KMeans) initialisation.
    n_init : int, default=1
        EM starts (the best is kept).

    Returns
    -------
    GaussianMixture
        Unfitted; ``max_iter=GMM_MAX_ITER``.
    """
    return GaussianMixture(
        n_components=n_components,
        covariance_type=covariance_type,
        max_iter=GMM_MAX_ITER,
        n_init=n_init,
        random_state=random_state,
    )


def _fit_cell(
    Z: np.ndarray, n_components: int, covariance_type: str, random_state: int, n_init: int = 1
) -> tuple[GaussianMixture, float, float, list[str]]:
    """Fit one cell; return (model, BIC, AIC, convergence messages).

    BLAS and OpenMP run single-threaded: the fit is small, threads cost more than they gain
    (far more on a busy machine), and parallelism comes from ``n_jobs`` processes.
    """
    model = make_gmm(n_components, covariance_type, random_state, n_init)
    with single_threaded(), warnings.catch_warnings(record=True) as caught:
        # Non-convergence is reported to the user (Segmenter.warnings_), not raised.
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(Z)
        bic, aic = float(model.bic(Z)), float(model.aic(Z))
    messages = [
        f"GMM n_components={n_components}, covariance_type={covariance_type}: {w.message}"
        for w in caught
        if issubclass(w.category, ConvergenceWarning)
    ]
    return model, bic, aic, messages


def grid(
    Z: np.ndarray,
    n_components: Sequence[int],
    covariance_types: Sequence[str],
    random_state: int,
    *,
    n_jobs: int | None = None,
) -> tuple[pd.DataFrame, dict[tuple[int, str], GaussianMixture], list[str]]:
    """Fit a Gaussian mixture for every (n_components, covariance_type) cell.

    Parameters
    ----------
    Z : ndarray of shape (n_samples, n_features)
        Transformed (and, for integer counts, dequantised) features.
    n_components : sequence of int
        Numbers of components to try.
    covariance_types : sequence of str
        Covariance structures to try (see :data:`COVARIANCE_TYPES`).
    random_state : int
        Seed of every fit.
    n_jobs : int or None, default=None
        Processes fitting cells side by side (:func:`segmint._parallel.run_tasks`; default
        one per core). The results do not depend on it.

    Returns
    -------
    grid : DataFrame
        One row per cell, n_components ascending then covariance types in the given order:
        ``n_components`` (int), ``covariance_type`` (str), ``bic``, ``aic`` (float).
    models : dict of (int, str) to GaussianMixture
        The fitted mixture of every cell.
    messages : list of str
        Convergence warnings, with their cell.
    """
    cells = [(int(n), str(c)) for n in n_components for c in covariance_types]
    results = run_tasks(
        [functools.partial(_fit_cell, Z, n, c, random_state) for n, c in cells], n_jobs=n_jobs
    )
    models: dict[tuple[int, str], GaussianMixture] = {}
    rows = []
    messages: list[str] = []
    for (n, c), (model, bic, aic, msgs) in zip(cells, results, strict=True):
        models[(n, c)] = model
        rows.append((n, c, bic, aic))
        messages += msgs
    table = pd.DataFrame(rows, columns=["n_components", "covariance_type", "bic", "aic"])
    return table.astype({"n_components": "int64"}), models, messages


#: EM starts of every Gaussian mixture fit of the sound grid (:func:`grid_draws`).
GMM_N_INIT: int = 5
#: Dequantisation jitter draws the Gaussian criterion is averaged over.
JITTER_DRAWS: int = 3


def grid_draws(
    X: np.ndarray,
    transform: Any,
    jitter_columns: np.ndarray,
    n_components: Sequence[int],
    covariance_types: Sequence[str],
    random_state: int,
    *,
    n_draws: int = JITTER_DRAWS,
    n_init: int = GMM_N_INIT,
    n_jobs: int | None = None,
) -> tuple[
    pd.DataFrame,
    dict[str, dict[tuple[int, str], list[float]]],
    dict[tuple[int, str], GaussianMixture],
    list[str],
]:
    """The grid over several jitter draws, ``n_init`` EM starts per fit.

    Each draw dequantises ``jitter_columns`` of ``X`` afresh (seeded), transforms it and fits
    every cell. The criterion of a cell is then a mean over the draws, with a spread.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Raw features (original units).
    transform : fitted transformer
        The feature transform (``transform_`` of the Segmenter).
    jitter_columns : ndarray of bool
        Columns dequantised by ``U(0, 1)``.
    n_components, covariance_types : sequences
    random_state : int
        Seeds the draws and the fits.
    n_draws : int, default=JITTER_DRAWS
    n_init : int, default=GMM_N_INIT
    n_jobs : int or None, default=None

    Returns
    -------
    grid : DataFrame
        ``n_components``, ``covariance_type``, ``bic``, ``aic`` (means over draws),
        ``bic_sd``, ``aic_sd`` (standard deviations over draws).
    draws : dict
        ``{"bic": {cell: [value per draw]}, "aic": {...}}``.
    models : dict of (int, str) to GaussianMixture
        The fit of the first draw of every cell.
    messages : list of str
    """
    seeds = np.random.SeedSequence(random_state).spawn(n_draws)
    cells = [(int(n), str(c)) for n in n_components for c in covariance_types]
    tasks = []
    for d, seed in enumerate(seeds):
        Z = transform.transform(dequantise(X, jitter_columns, np.random.default_rng(seed)))
        fit_seed = int(random_state) + d
        tasks += [functools.partial(_fit_cell, Z, n, c, fit_seed, n_init) for n, c in cells]
    results = run_tasks(tasks, n_jobs=n_jobs)
    bics: dict[tuple[int, str], list[float]] = {cell: [] for cell in cells}
    aics: dict[tuple[int, str], list[float]] = {cell: [] for cell in cells}
    models: dict[tuple[int, str], GaussianMixture] = {}
    messages: list[str] = []
    for i, (model, bic, aic, msgs) in enumerate(results):
        cell = cells[i % len(cells)]
        bics[cell].append(bic)
        aics[cell].append(aic)
        models.setdefault(cell, model)
        messages += msgs
    rows = [
        (
            n,
            c,
            float(np.mean(bics[(n, c)])),
            float(np.mean(aics[(n, c)])),
            float(np.std(bics[(n, c)], ddof=1)) if n_draws > 1 else 0.0,
            float(np.std(aics[(n, c)], ddof=1)) if n_draws > 1 else 0.0,
        )
        for n, c in cells
    ]
    table = pd.DataFrame(
        rows, columns=["n_components", "covariance_type", "bic", "aic", "bic_sd", "aic_sd"]
    )
    crit = {"bic": bics, "aic": aics}
    return table.astype({"n_components": "int64"}), crit, models, messages


class JitteredGMM(BaseEstimator):
    """A Gaussian mixture fitted on freshly dequantised, transformed counts (for the bootstrap).

    ``fit`` draws new ``U(0, 1)`` jitter for ``jitter_columns`` from ``random_state``, applies
    ``transform`` and fits a :class:`~sklearn.mixture.GaussianMixture`; ``predict`` assigns
    customers at their cell centres (``x + 0.5``), as the Segmenter does.

    Parameters
    ----------
    n_components : int, default=1
    covariance_type : str, default="full"
    transform : callable or None
        ``transform(X)`` of the fitted feature transform.
    jitter_columns : array-like of bool or None
    n_init : int, default=GMM_N_INIT
    random_state : int or None
    """

    def __init__(
        self,
        n_components: int = 1,
        covariance_type: str = "full",
        transform: Any = None,
        jitter_columns: Any = None,
        n_init: int = GMM_N_INIT,
        random_state: Any = None,
    ) -> None:
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.transform = transform
        self.jitter_columns = jitter_columns
        self.n_init = n_init
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: Any = None) -> JitteredGMM:
        """Dequantise afresh, transform, fit."""
        rng = np.random.default_rng(self.random_state)
        cols = np.asarray(self.jitter_columns, dtype=bool)
        Z = self.transform(dequantise(np.asarray(X, dtype=np.float64), cols, rng))
        seed = int(rng.integers(np.iinfo(np.int32).max))
        self.model_ = make_gmm(self.n_components, self.covariance_type, seed, self.n_init)
        self.model_.fit(Z)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Components at the cell centres."""
        cols = np.asarray(self.jitter_columns, dtype=bool)
        out: np.ndarray = self.model_.predict(self.transform(cell_centres(X, cols)))
        return out

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Posterior probabilities of the components at the cell centres."""
        cols = np.asarray(self.jitter_columns, dtype=bool)
        out: np.ndarray = self.model_.predict_proba(self.transform(cell_centres(X, cols)))
        return out
