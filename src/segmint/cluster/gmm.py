"""Gaussian mixtures over n_components x covariance types: BIC/AIC grid and an honest choice.

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

:func:`choose` (kept for the MLlib path, :mod:`segmint.spark.mllib`) picks the cell with the
lowest criterion, then applies the *evidence rule*: when
the best criterion value of other n_components is within ``tolerance`` (1%) of the lowest, the
data hardly tell those models apart, the evidence is reported as weak, and the **smallest**
n_components within the tolerance is chosen (with its best covariance type). The relative
difference is ``(c_n - c_best) / |c_best|`` where ``c_n`` is the lowest criterion over
covariance types at ``n`` components. A choice on the edge of the searched range warns and says
which way to widen ``--k-range``.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    "EVIDENCE_TOLERANCE",
    "GMM_MAX_ITER",
    "GMM_N_INIT",
    "JITTER_DRAWS",
    "GMMChoice",
    "JitteredGMM",
    "choose",
    "grid",
    "grid_draws",
    "make_gmm",
]

#: Covariance structures searched by default, in the order they are reported.
COVARIANCE_TYPES: tuple[str, ...] = ("full", "tied", "diag", "spherical")
#: Relative criterion difference under which two numbers of components count as equally good.
EVIDENCE_TOLERANCE: float = 0.01
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


@dataclass(frozen=True)
class GMMChoice:
    """The chosen mixture and why.

    Attributes
    ----------
    n_components : int
    covariance_type : str
    evidence : {"clear", "weak", "fixed"}
        ``"weak"`` when other numbers of components are within the tolerance of the lowest
        criterion; ``"fixed"`` when the user fixed k.
    reason : str
        Plain-language account of the choice.
    warnings : list of str
        Problems a user should see (weak evidence, a choice on the edge of the range).
    """

    n_components: int
    covariance_type: str
    evidence: str
    reason: str
    warnings: list[str] = field(default_factory=list)


def _span(values: Sequence[int]) -> str:
    values = sorted(values)
    if len(values) > 1 and values == list(range(values[0], values[-1] + 1)):
        return f"{values[0]}..{values[-1]}"
    return ", ".join(str(v) for v in values)


def choose(
    table: pd.DataFrame,
    criterion: str = "bic",
    *,
    k: int | None = None,
    tolerance: float = EVIDENCE_TOLERANCE,
) -> GMMChoice:
    """Choose a cell of the grid: lowest criterion, then the evidence rule (see module doc).

    Parameters
    ----------
    table : DataFrame
        Output of :func:`grid`.
    criterion : {"bic", "aic"}, default="bic"
        Lower is better.
    k : int or None, default=None
        A number of components fixed by the user (one of ``table.n_components``); only the
        covariance type is then chosen.
    tolerance : float, default=EVIDENCE_TOLERANCE
        Relative criterion difference under which numbers of components count as equally good.

    Returns
    -------
    GMMChoice
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion={criterion!r} is not one of {', '.join(CRITERIA)}")
    name = criterion.upper()
    values = table[criterion].to_numpy(dtype=np.float64)
    finite = np.isfinite(values)
    best_row = table.iloc[int(np.argmin(np.where(finite, values, np.inf)))]
    best_n, best_cov = int(best_row["n_components"]), str(best_row["covariance_type"])
    best_value = float(best_row[criterion])
    per_n = table[finite].groupby("n_components")[criterion].min().sort_index()
    ns = [int(v) for v in per_n.index]
    lo, hi = int(table["n_components"].min()), int(table["n_components"].max())

    def cov_at(n: int) -> str:
        sub = table[(table["n_components"] == n) & finite]
        return str(sub.loc[sub[criterion].idxmin(), "covariance_type"])

    notes: list[str] = []
    if k is not None:
        cov = cov_at(int(k))
        reason = (
            f"n_components={k} fixed by the user; covariance_type={cov} has the lowest {name} "
            f"there (lowest {name} overall: {best_n} components, {best_cov})"
        )
        return GMMChoice(int(k), cov, "fixed", reason, notes)

    scale = abs(best_value) if best_value != 0 else 1.0
    near = [n for n in ns if (per_n[n] - best_value) / scale <= tolerance]
    chosen = min(near)
    cov = cov_at(chosen)
    pct = f"{100 * tolerance:g}%"
    if len(near) == 1:
        evidence = "clear"
        reason = (
            f"lowest {name} at {best_n} components ({best_cov}); no other number of components "
            f"is within {pct} of it"
        )
    else:
        evidence = "weak"
        reason = (
            f"lowest {name} at {best_n} components ({best_cov}), but {name} for "
            f"{_span(near)} components is within {pct} of it, so the data barely tell them "
            f"apart (weak evidence); chose the smallest: {chosen} components ({cov})"
        )
        notes.append(
            f"GMM: weak evidence for the number of components: {name} for {_span(near)} "
            f"components is within {pct} of the lowest ({best_n}); chose the smallest, {chosen}"
        )
    if best_n == hi and hi > lo:
        reason += f"; the lowest {name} sits on the top of the range {lo}..{hi}"
    if hi > lo and chosen == hi:
        notes.append(
            f"GMM: n_components={chosen} is the top of the searched range {lo}..{hi}; widen it "
            f"upwards, e.g. --k-range {lo}..{2 * hi}"
        )
    elif hi > lo and chosen == lo and lo > 1:
        notes.append(
            f"GMM: n_components={chosen} is the bottom of the searched range {lo}..{hi}; widen "
            f"it downwards, e.g. --k-range 1..{hi}"
        )
    return GMMChoice(chosen, cov, evidence, reason, notes)


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
