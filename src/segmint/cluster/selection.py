"""One rule to choose the number of mixture components, and a check that there are segments at all.

**The rule** (:func:`choose`). Given a criterion (BIC, lower is better) per number of
components ``n`` -- its mean ``c_n`` and standard error ``se_n`` over jitter draws or starts
(``se_n = 0`` for a single deterministic value) -- every ``n`` with

    ``c_n - c_best <= max(margin, 2 * sqrt(se_n**2 + se_best**2))``,  ``margin = 10``

is *indistinguishable* from the best (10 BIC units is "very strong" evidence on the Kass and
Raftery scale; twice the standard error of the difference covers the noise of the draws).
Among the indistinguishable numbers the most stable one is chosen: the highest bootstrap mean
ARI (:func:`bootstrap_stability`), ties (to 0.01) going to fewer components; when their
stability was not measured (NaN, no bootstrap), the smallest of them. The choice is
``on_edge`` when it is the smallest or the largest number searched and more than one number
was searched: then the range, not the data, decided.

**The structure check** (:func:`structure_check`). Every method finds "stable" segments in a
single population with no clusters, so a chosen mixture is only reported as structure when a
single *correlated* population (:func:`single_population`) fits worse by more than ``margin``
BIC units, the choice is not on the edge, the bootstrap mean ARI is at least 0.75 and every
segment's bootstrap Jaccard is at least 0.6.
"""

from __future__ import annotations

import functools
import itertools
import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import ndtr, ndtri
from sklearn.base import clone
from sklearn.metrics import adjusted_rand_score

from segmint._parallel import run_tasks, single_threaded
from segmint.cluster import json_safe
from segmint.cluster.count_mixture import CountMixture, count_columns, fit_path, signed_log1p
from segmint.cluster.stability import jaccard_per_segment

__all__ = [
    "MARGIN",
    "MAX_SINGLE_COUNTS",
    "MIN_ARI",
    "MIN_JACCARD",
    "Selection",
    "bootstrap_stability",
    "choose",
    "criterion_grid",
    "criterion_table",
    "select",
    "single_population",
    "structure_check",
]

#: BIC units within which two numbers of components are indistinguishable (at least).
MARGIN: float = 10.0
#: Bootstrap mean ARI under which a partition is not reported as structure.
MIN_ARI: float = 0.75
#: Per-segment bootstrap Jaccard under which a segment dissolves.
MIN_JACCARD: float = 0.6
_TIE: float = 0.01  # stability differences below this are ties (to fewer components)


def criterion_table(values: Mapping[int, float | Sequence[float]]) -> pd.DataFrame:
    """Mean and standard error of a criterion per number of components.

    Parameters
    ----------
    values : mapping of int to float or sequence of float
        Criterion value(s) per number of components: one value, or one per jitter draw /
        start (the standard error of their mean is then ``std(ddof=1) / sqrt(count)``).

    Returns
    -------
    DataFrame
        Columns ``n_components`` (int), ``mean``, ``se`` (float), ``n_draws`` (int),
        ascending in ``n_components``.
    """
    rows = []
    for n in sorted(values):
        v = np.atleast_1d(np.asarray(values[n], dtype=np.float64))
        se = float(v.std(ddof=1) / math.sqrt(v.size)) if v.size > 1 else 0.0
        rows.append((int(n), float(v.mean()), se, int(v.size)))
    return pd.DataFrame(rows, columns=["n_components", "mean", "se", "n_draws"])


@dataclass(frozen=True)
class Selection:
    """A chosen number of components and why.

    Attributes
    ----------
    n_components : int
        The choice.
    indistinguishable : tuple of int
        Numbers of components whose criterion is within the margin of the best.
    criterion : DataFrame
        :func:`criterion_table` plus ``delta`` (distance to the best) and ``margin`` (the
        allowance used for that row).
    stability : dict of int to float
        Bootstrap mean ARI of each indistinguishable number of components.
    reason : str
        The choice in one plain sentence.
    on_edge : bool
        The choice is the smallest or largest number searched (range wider than 1).
    criterion_name : str
        Name of the criterion, e.g. ``"BIC"``.
    """

    n_components: int
    indistinguishable: tuple[int, ...]
    criterion: pd.DataFrame
    stability: dict[int, float]
    reason: str
    on_edge: bool
    criterion_name: str = "BIC"
    details: dict[int, dict[str, Any]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (floats with 6 significant digits, NaN as None).

        Returns
        -------
        dict
        """
        out: dict[str, Any] = json_safe(
            {
                "n_components": self.n_components,
                "indistinguishable": list(self.indistinguishable),
                "criterion_name": self.criterion_name,
                "criterion": self.criterion.to_dict(orient="records"),
                "stability": {int(k): v for k, v in self.stability.items()},
                "reason": self.reason,
                "on_edge": self.on_edge,
            }
        )
        return out


def choose(
    table: pd.DataFrame,
    stability: Mapping[int, float] | Callable[[int], float],
    *,
    margin: float = MARGIN,
    criterion_name: str = "BIC",
) -> Selection:
    """Apply the selection rule (see the module docstring) to a criterion table.

    Parameters
    ----------
    table : DataFrame
        :func:`criterion_table` output (``n_components``, ``mean``, ``se``); lower is better.
    stability : mapping of int to float, or callable
        Bootstrap mean ARI per number of components, or a function computing it; it is only
        asked for the indistinguishable numbers. NaN (not measured) never wins; when no
        indistinguishable number was measured, the smallest is chosen and the reason says so.
    margin : float, default=MARGIN
        Minimum allowance in criterion units.
    criterion_name : str, default="BIC"
        Used in the reason.

    Returns
    -------
    Selection

    Raises
    ------
    ValueError
        When the table is empty or has no finite criterion value.
    """
    if len(table) == 0 or not np.isfinite(table["mean"].to_numpy(dtype=float)).any():
        raise ValueError("the criterion table has no finite value; nothing to choose from")
    t = table.sort_values("n_components").reset_index(drop=True).copy()
    mean = t["mean"].to_numpy(dtype=float)
    se = t["se"].to_numpy(dtype=float)
    ns = [int(n) for n in t["n_components"]]
    b = int(np.nanargmin(np.where(np.isfinite(mean), mean, np.nan)))
    allowance = np.maximum(margin, 2.0 * np.sqrt(se**2 + se[b] ** 2))
    delta = mean - mean[b]
    t["delta"] = delta
    t["margin"] = allowance
    near = tuple(n for n, d, a in zip(ns, delta, allowance, strict=True) if d <= a)
    get = stability if callable(stability) else stability.__getitem__
    stab = {n: float(get(n)) for n in near}
    top = max((v for v in stab.values() if math.isfinite(v)), default=math.nan)
    # ties (within _TIE of the most stable) go to fewer components; NaN stability never wins
    chosen = min(n for n in near if stab[n] >= top - _TIE) if np.isfinite(top) else min(near)
    on_edge = len(ns) > 1 and chosen in (min(ns), max(ns))
    name = criterion_name
    if len(near) == 1:
        ari = f"{stab[chosen]:.2f}" if np.isfinite(stab[chosen]) else "not measured"
        reason = (
            f"{name} is lowest at {chosen} components and no other number of components is "
            f"within {allowance[b]:.3g} units of it (bootstrap mean ARI {ari})"
        )
    else:
        reason = (
            f"{name} is lowest at {ns[b]} components, but {len(near)} numbers of components "
            f"are within {margin:g} units (or twice the standard error) of it; "
        )
        if np.isfinite(top):
            listed = ", ".join(f"{n}: {stab[n]:.2f}" for n in near)
            reason += f"chose the most stable, {chosen} (bootstrap mean ARI {listed})"
        else:
            reason += f"their bootstrap stability was not measured, so chose the smallest, {chosen}"
    if on_edge:
        reason += f"; {chosen} is on the edge of the searched range {min(ns)}..{max(ns)}"
    return Selection(chosen, near, t, stab, reason, on_edge, name)


def _fit_one(estimator: Any, X: np.ndarray, n: int, random_state: int) -> tuple[Any, float]:
    model = clone(estimator).set_params(n_components=n, random_state=random_state)
    with single_threaded():
        model.fit(X)
        return model, float(model.bic(X))


def criterion_grid(
    estimator: Any,
    X: np.ndarray,
    n_components: Sequence[int] = range(1, 11),
    *,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> tuple[pd.DataFrame, dict[int, Any]]:
    """Fit one mixture per number of components and tabulate its BIC.

    Parameters
    ----------
    estimator : estimator with ``n_components``, ``random_state``, ``fit`` and ``bic``
        Unfitted; cloned for every number of components (e.g. a
        :class:`~segmint.cluster.count_mixture.CountMixture`).
    X : ndarray of shape (n_samples, n_features)
    n_components : sequence of int, default=range(1, 11)
    random_state : int, default=0
        Seed of every fit.
    n_jobs : int or None, default=None
        Processes fitting side by side (:func:`segmint._parallel.run_tasks`); the results do
        not depend on it.

    Returns
    -------
    table : DataFrame
        :func:`criterion_table` of the BIC values (``se`` 0: one deterministic fit each).
    models : dict of int to estimator
        The fitted mixtures.
    """
    ns = [int(n) for n in n_components]
    X = np.asarray(X, dtype=np.float64)
    if isinstance(estimator, CountMixture):
        # One path 1, 2, ...: each fit also starts from splits of the previous one.
        with single_threaded():
            path = fit_path(clone(estimator).set_params(random_state=random_state), X, ns)
        results = [(path[n], float(path[n].bic(X))) for n in ns]
    else:
        results = run_tasks(
            [functools.partial(_fit_one, estimator, X, n, random_state) for n in ns],
            n_jobs=n_jobs,
        )
    models = {n: r[0] for n, r in zip(ns, results, strict=True)}
    return criterion_table({n: r[1] for n, r in zip(ns, results, strict=True)}), models


def _one_resample(
    estimator: Any,
    X: np.ndarray,
    n: int,
    reference: np.ndarray,
    seed: np.random.SeedSequence,
    n_segments: int,
) -> tuple[float, np.ndarray]:
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, X.shape[0], size=X.shape[0])
    fit_seed = int(rng.integers(np.iinfo(np.int32).max))
    model = clone(estimator).set_params(n_components=n, random_state=fit_seed)
    with single_threaded():
        model.fit(X[idx])
    inbag = np.unique(idx)
    labels = np.asarray(model.predict(X[inbag]))
    ref = reference[inbag]
    return float(adjusted_rand_score(ref, labels)), jaccard_per_segment(ref, labels, n_segments)


def bootstrap_stability(
    estimator: Any,
    X: np.ndarray,
    n_components: int,
    reference: np.ndarray,
    *,
    n_bootstrap: int = 20,
    random_state: int = 0,
    n_jobs: int | None = None,
    n_segments: int | None = None,
) -> dict[str, Any]:
    """How well a partition survives resampling the customers.

    Each resample draws ``n_samples`` customers with replacement, refits a clone of
    ``estimator`` at ``n_components`` with a fresh seed, and compares its labels with the
    full-data ``reference`` on the distinct customers of the resample.

    Parameters
    ----------
    estimator : estimator with ``n_components``, ``random_state``, ``fit``, ``predict``
        Unfitted; cloned for every resample.
    X : ndarray of shape (n_samples, n_features)
    n_components : int
    reference : ndarray of int, shape (n_samples,)
        Labels ``0 .. n_components - 1`` of the model fitted on all customers.
    n_bootstrap : int, default=20
    random_state : int, default=0
        Seeds the resamples and the refits (one child seed each).
    n_jobs : int or None, default=None
        Processes refitting side by side; the results do not depend on it.
    n_segments : int or None, default=None
        Labels of ``reference`` and of the refits when they are not ``n_components`` (a
        :class:`~segmint.cluster.combine.CombinedMixture` combines components into segments).

    Returns
    -------
    dict
        ``{"n_components", "n_bootstrap", "ari": list, "mean_ari": float,
        "jaccard": list (per segment, mean over resamples), "min_jaccard": float}``.
    """
    X = np.asarray(X, dtype=np.float64)
    reference = np.asarray(reference)
    segments = int(n_components if n_segments is None else n_segments)
    seeds = np.random.SeedSequence(random_state).spawn(n_bootstrap)
    results = run_tasks(
        [
            functools.partial(_one_resample, estimator, X, n_components, reference, s, segments)
            for s in seeds
        ],
        n_jobs=n_jobs,
    )
    aris = [r[0] for r in results]
    if results:
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # an empty reference segment: NaN
            jac = np.nanmean(np.vstack([r[1] for r in results]), axis=0)
    else:
        jac = np.full(segments, np.nan)
    return {
        "n_components": int(n_components),
        "n_bootstrap": int(n_bootstrap),
        "ari": aris,
        "mean_ari": float(np.mean(aris)) if aris else float("nan"),
        "jaccard": [float(j) for j in jac],
        "min_jaccard": float(np.nanmin(jac)) if np.isfinite(jac).any() else float("nan"),
    }


def select(
    estimator: Any,
    X: np.ndarray,
    n_components: Sequence[int] = range(1, 11),
    *,
    n_bootstrap: int = 20,
    margin: float = MARGIN,
    random_state: int = 0,
    n_jobs: int | None = None,
) -> tuple[Selection, dict[int, Any]]:
    """Fit the grid, then choose with the rule (bootstrap only the indistinguishable numbers).

    Parameters
    ----------
    estimator : estimator
        See :func:`criterion_grid`.
    X : ndarray of shape (n_samples, n_features)
    n_components : sequence of int, default=range(1, 11)
    n_bootstrap : int, default=20
        Resamples per indistinguishable number of components.
    margin : float, default=MARGIN
    random_state : int, default=0
        Seeds the fits and the resamples.
    n_jobs : int or None, default=None

    Returns
    -------
    selection : Selection
        ``selection.details[n]`` holds :func:`bootstrap_stability` of every indistinguishable
        ``n`` (mean ARI and per-segment Jaccard).
    models : dict of int to estimator
        The fitted mixtures of the grid.
    """
    X = np.asarray(X, dtype=np.float64)
    table, models = criterion_grid(
        estimator, X, n_components, random_state=random_state, n_jobs=n_jobs
    )
    details: dict[int, dict[str, Any]] = {}

    def stab(n: int) -> float:
        if n == 1:
            details[n] = {
                "n_components": 1,
                "n_bootstrap": 0,
                "ari": [],
                "mean_ari": 1.0,
                "jaccard": [1.0],
                "min_jaccard": 1.0,
            }
        else:
            details[n] = bootstrap_stability(
                estimator,
                X,
                n,
                models[n].predict(X),
                n_bootstrap=n_bootstrap,
                random_state=random_state + 1_000 * n,
                n_jobs=n_jobs,
            )
        return float(details[n]["mean_ari"])

    sel = choose(table, stab, margin=margin)
    sel.details.update(details)
    return sel, models


# -- a single correlated population ------------------------------------------------------------


def _interval(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``Phi(hi) - Phi(lo)`` without cancellation in the upper tail."""
    upper = lo > 0
    return np.where(upper, ndtr(-lo) - ndtr(-hi), ndtr(hi) - ndtr(lo))


def _inverse_in(lo: np.ndarray, hi: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The point a share ``w`` of the way (in probability) from ``lo`` to ``hi``."""
    upper = lo > 0
    p_low = ndtr(np.where(upper, -lo, lo))
    p_high = ndtr(np.where(upper, -hi, hi))
    u = p_low + w * (p_high - p_low)
    u = np.clip(u, 1e-300, 1 - 1e-16)
    return np.where(upper, -ndtri(u), ndtri(u))


def _gauss_legendre(dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Product Gauss-Legendre nodes on ``[0, 1]**dim`` (at most ~1,000 nodes) and weights."""
    if dim == 0:
        return np.zeros((1, 0)), np.ones(1)
    per = max(3, min(32, int(1000 ** (1 / dim))))
    x, w = np.polynomial.legendre.leggauss(per)
    x, w = (x + 1) / 2, w / 2
    nodes = np.array(list(itertools.product(x, repeat=dim)))
    weights = np.prod(np.array(list(itertools.product(w, repeat=dim))), axis=1)
    return nodes, weights


@dataclass
class _Cells:
    lo: np.ndarray  # (m, dc) latent lower bounds (-inf for a zero count)
    hi: np.ndarray  # (m, dc)
    y: np.ndarray  # (m, dg) observed signed log1p of the non-count features
    log_jac: np.ndarray  # (m,)
    weight: np.ndarray  # (m,)


def _cells(X: np.ndarray, counts: np.ndarray) -> _Cells:
    rows, weight = np.unique(X, axis=0, return_counts=True)
    c = rows[:, counts]
    lo = np.where(c > 0, np.log1p(c), -np.inf)
    hi = np.log1p(c + 1)
    g = rows[:, ~counts]
    return _Cells(lo, hi, signed_log1p(g), -np.log1p(np.abs(g)).sum(axis=1), weight.astype(float))


def _unpack(theta: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    mu = theta[:d]
    L = np.zeros((d, d))
    L[np.tril_indices(d)] = theta[d:]
    L[np.diag_indices(d)] = np.exp(np.diag(L))
    return mu, L


def _pack(mu: np.ndarray, S: np.ndarray) -> np.ndarray:
    L = np.linalg.cholesky(S)
    L[np.diag_indices(S.shape[0])] = np.log(np.diag(L))
    return np.concatenate([mu, L[np.tril_indices(S.shape[0])]])


def _single_loglik(
    theta: np.ndarray, cells: _Cells, counts: np.ndarray, nodes: np.ndarray, wq: np.ndarray
) -> np.ndarray:
    """Log-likelihood of every distinct row under the censored Gaussian: shape (m,)."""
    d = counts.size
    mu, L = _unpack(theta, d)
    S = L @ L.T
    c, g = np.flatnonzero(counts), np.flatnonzero(~counts)
    m = cells.weight.size
    out = cells.log_jac.copy()
    cmean = np.broadcast_to(mu[c], (m, c.size)).copy()
    Sc = S[np.ix_(c, c)]
    if g.size:
        Sg = S[np.ix_(g, g)]
        Lg = np.linalg.cholesky(Sg)
        r = np.linalg.solve(Lg, (cells.y - mu[g]).T).T
        out += (
            -0.5 * (r**2).sum(axis=1) - np.log(np.diag(Lg)).sum() - 0.5 * g.size * np.log(2 * np.pi)
        )
        if c.size:
            B = np.linalg.solve(Sg, S[np.ix_(g, c)]).T  # (dc, dg)
            cmean += (cells.y - mu[g]) @ B.T
            Sc = Sc - B @ S[np.ix_(g, c)]
    if c.size:
        C = np.linalg.cholesky(Sc)
        a = (cells.lo - cmean)[:, None, :]  # (m, 1, dc)
        b = (cells.hi - cmean)[:, None, :]
        q = nodes.shape[0]
        lo0, hi0 = a[..., 0] / C[0, 0], b[..., 0] / C[0, 0]
        f = np.broadcast_to(_interval(lo0, hi0), (m, q)).copy()
        ys = []
        lo_prev, hi_prev = np.broadcast_to(lo0, (m, q)), np.broadcast_to(hi0, (m, q))
        for i in range(1, c.size):
            ys.append(_inverse_in(lo_prev, hi_prev, nodes[None, :, i - 1]))
            shift = sum(C[i, j] * ys[j] for j in range(i))
            lo_prev = (a[..., i] - shift) / C[i, i]
            hi_prev = (b[..., i] - shift) / C[i, i]
            f = f * _interval(lo_prev, hi_prev)
        prob = f @ wq
        out += np.log(np.maximum(prob, 1e-300))
    return out


#: The single-population comparison integrates count cells with product quadrature: fast for
#: 1-2 count features, minutes for 3 or more, so above this it is not made (and said so).
MAX_SINGLE_COUNTS: int = 2


def single_population(
    X: np.ndarray, *, count_features: Any = "auto", maxiter: int = 500
) -> dict[str, Any]:
    """Fit one correlated population: a censored multivariate Gaussian on the log scale.

    The model: a latent ``z ~ N(mu, Sigma)`` over all features. A non-count feature is
    observed as ``x = g^{-1}(z)`` with ``g(x) = sign(x) log1p(|x|)``, so its density in the
    original units carries the Jacobian ``1 / (1 + |x|)`` -- the same as in
    :class:`~segmint.cluster.count_mixture.CountMixture`. A count feature is observed as the
    integer ``x = max(0, floor(expm1(z)))``: ``z`` falls in the cell
    ``[log1p(x), log1p(x + 1))`` (``(-inf, log 2)`` for ``x = 0``). This is the dequantisation
    treatment of :mod:`segmint.cluster.transform` (``x + U(0, 1)``, then ``log1p``) with the
    jitter *integrated out* rather than drawn: the probability of the cell, not the density
    at a jittered point. Cell probabilities sum to 1 over the integers, so the likelihood is
    a probability for counts and a density in original units for the rest -- exactly the
    scale of the mixture's likelihood, and the BICs are comparable. (A density at jittered
    points would only be a lower bound on ``log P(cell)`` by Jensen's inequality, worth
    hundreds of BIC units against the single population on data with many zeros.)

    Cell probabilities of correlated counts are computed by Genz's separation of variables
    (conditioning on the observed non-count features) with product Gauss-Legendre nodes;
    ``mu`` and the Cholesky factor of ``Sigma`` are fitted by L-BFGS from the moments of
    ``log1p(x + 0.5)``. The cost grows with the number of count features (fast for 2-3).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    count_features : "auto" or array-like of bool, default="auto"
        Count columns; ``"auto"`` marks the all non-negative-integer columns.
    maxiter : int, default=500
        L-BFGS iterations.

    Returns
    -------
    dict
        ``{"loglik", "bic", "n_parameters", "mean": list, "covariance": list of list,
        "converged": bool}`` (log scale parameters).
    """
    X = np.asarray(X, dtype=np.float64)
    counts = (
        count_columns(X)
        if isinstance(count_features, str)
        else np.asarray(count_features, dtype=bool)
    )
    n, d = X.shape
    cells = _cells(X, counts)
    nodes, wq = _gauss_legendre(max(int(counts.sum()) - 1, 0))
    z0 = signed_log1p(X + 0.5 * counts)
    S0 = np.cov(z0.T).reshape(d, d) + 1e-3 * np.eye(d)
    theta0 = _pack(z0.mean(axis=0), S0)

    def objective(theta: np.ndarray) -> float:
        return float(-(cells.weight @ _single_loglik(theta, cells, counts, nodes, wq)))

    with np.errstate(over="ignore", under="ignore"):
        res = minimize(objective, theta0, method="L-BFGS-B", options={"maxiter": maxiter})
    loglik = -float(res.fun)
    p = d + d * (d + 1) // 2
    mu, L = _unpack(res.x, d)
    return {
        "loglik": loglik,
        "bic": -2 * loglik + p * math.log(n),
        "n_parameters": p,
        "mean": [float(v) for v in mu],
        "covariance": (L @ L.T).tolist(),
        "converged": bool(res.success),
    }


def structure_check(
    X: np.ndarray | None,
    selection: Selection,
    *,
    count_features: Any = "auto",
    margin: float = MARGIN,
    min_ari: float = MIN_ARI,
    min_jaccard: float = MIN_JACCARD,
    single: dict[str, Any] | None = None,
    not_compared: str | None = None,
) -> dict[str, Any]:
    """Is the chosen mixture structure, or a single population cut into pieces?

    Reports ``"no clear structure"`` when any of: the single correlated population
    (:func:`single_population`) is within ``margin`` BIC units of the best mixture or better;
    the choice is on the edge of the searched range; the chosen number's bootstrap mean ARI
    is below ``min_ari``; some segment's bootstrap Jaccard is below ``min_jaccard``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), or None
        The data the mixtures of ``selection`` were fitted on (None with ``not_compared``).
    selection : Selection
        From :func:`select` (criterion BIC; ``details`` holds the chosen number's bootstrap).
    count_features : "auto" or array-like of bool, default="auto"
    margin : float, default=MARGIN
    min_ari : float, default=MIN_ARI
    min_jaccard : float, default=MIN_JACCARD
    single : dict or None, default=None
        A :func:`single_population` result to reuse.
    not_compared : str or None, default=None
        Why the single population cannot be compared with these mixtures (their BIC is not on
        its scale, e.g. MLlib's); the comparison is then not made, this is recorded in
        ``single_population`` and the other checks still apply.

    Returns
    -------
    dict
        JSON-safe: ``{"verdict": "structure" | "no clear structure", "reasons": [str],
        "n_components", "bic_mixture", "bic_single", "delta_bic" (single - mixture; > margin
        favours segments), "mean_ari", "min_jaccard", "jaccard", "on_edge"}``.
    """
    if selection.criterion_name.upper() != "BIC":
        raise ValueError(
            f"criterion_name={selection.criterion_name!r} should be 'BIC' for the structure check"
        )
    if not_compared is not None:
        single = None
        not_made = f"not compared: {not_compared}; the other checks still apply"
    else:
        if X is None:
            raise ValueError("X is None: pass the data, or not_compared with the reason")
        counts = (
            count_columns(np.asarray(X, dtype=np.float64))
            if isinstance(count_features, str)
            else np.asarray(count_features, dtype=bool)
        )
        if single is None and int(counts.sum()) <= MAX_SINGLE_COUNTS:
            single = single_population(X, count_features=counts)
        not_made = (
            f"not compared: more than {MAX_SINGLE_COUNTS} count features (its cell "
            "probabilities cost too much); the other checks still apply"
        )
    bic_mix = float(selection.criterion["mean"].min())
    delta = float(single["bic"]) - bic_mix if single is not None else float("nan")
    k = selection.n_components
    det = selection.details.get(k, {})
    ari = float(det.get("mean_ari", selection.stability.get(k, float("nan"))))
    jac = list(det.get("jaccard", []))
    min_jac = float(np.nanmin(jac)) if jac and np.isfinite(jac).any() else float("nan")
    reasons = []
    if single is not None and delta <= margin:
        reasons.append(
            f"a single correlated population fits about as well or better (BIC {delta:+.1f} "
            f"units against the best mixture; needs more than +{margin:g})"
        )
    if selection.on_edge:
        reasons.append(f"the choice, {k} components, is on the edge of the searched range")
    if math.isfinite(ari) and ari < min_ari:  # not measured (no bootstrap): no verdict on it
        reasons.append(f"bootstrap mean ARI {ari:.3f} is below {min_ari:g}")
    if jac and math.isfinite(min_jac) and min_jac < min_jaccard:
        reasons.append(f"a segment's bootstrap Jaccard is {min_jac:.3f}, below {min_jaccard:g}")
    out: dict[str, Any] = json_safe(
        {
            "verdict": "no clear structure" if reasons else "structure",
            "reasons": reasons,
            "n_components": k,
            "bic_mixture": bic_mix,
            "bic_single": float(single["bic"]) if single is not None else None,
            "single_population": "compared" if single is not None else not_made,
            "delta_bic": delta,
            "mean_ari": ari,
            "min_jaccard": min_jac,
            "jaccard": jac,
            "on_edge": selection.on_edge,
        }
    )
    return out
