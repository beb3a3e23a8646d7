"""The EM machinery of :class:`segmint.cluster.count_mixture.CountMixture` (no estimator here).

Distinct rows with multiplicities (:class:`_Data`), the negative binomial and log-scale
Gaussian parameters (:class:`_Params`), the E- and M-steps, the starts, and EM accelerated by
SQUAREM. See :mod:`segmint.cluster.count_mixture` for the model.

An EM step is a few dozen numpy calls on small arrays, so the layouts are chosen to keep the
calls few and fast (all count features stacked, the E-step components-first). Every sum still
adds its terms in the order of the plain per-feature, customers-first evaluation, so the fits
do not depend on these choices to the last bit: EM from many starts is sensitive to rounding
(a start that wins by a hair, a stopping test passed one SQUAREM cycle earlier).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.special import digamma, gammaln, zeta
from sklearn.cluster import kmeans_plusplus

_LOG_SIZE_MIN = np.log(1e-3)  # NB size r = 1 / dispersion: bounds of the Newton search
_LOG_SIZE_MAX = np.log(1e6)  # (r = 1e6 is a Poisson for every practical purpose)
_MEAN_MIN = 1e-8
_PI_MAX = 1.0 - 1e-9
_INIT_SMOOTH = 0.01  # a hard start spreads this share of each customer over all components
_SHORT_ITER = 8  # EM steps of every start before the best one is run to convergence
_N_LONG = 1  # starts run to convergence
_N_SPLIT = 3  # widest components of the previous fit split into starts (fit_path)
_PI_START = 0.05  # share of structural zeros a zero-inflated fit starts from
_ZI_MAX_ITER = 300  # EM steps of the zero-inflated refit (pi creeps slowly towards 0)


def signed_log1p(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log1p(|x|)``: ``log1p`` for non-negative values, mirrored for negative ones.

    Parameters
    ----------
    x : ndarray

    Returns
    -------
    ndarray
        Same shape; its derivative is ``1 / (1 + |x|)``.
    """
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log1p(np.abs(x))


def count_columns(X: np.ndarray) -> np.ndarray:
    """Mark the columns whose values are all non-negative integers.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Finite values.

    Returns
    -------
    ndarray of bool, shape (n_features,)
    """
    X = np.asarray(X, dtype=np.float64)
    return np.all((X >= 0) & (np.round(X) == X), axis=0)


#: Largest count for which dispersion updates use exact sums over 0..max (else special functions).
_GRID_MAX = 20_000


@dataclass
class _Data:
    """Distinct rows of X with their multiplicity, prepared for the E- and M-steps.

    The distinct values of all count features are stacked, feature after feature, into one
    column ``values`` (``U`` entries), so that each E- and M-step evaluates every (value,
    component) pair of every count feature in one array operation.
    """

    weight: np.ndarray  # (m,) multiplicity
    inverse: np.ndarray  # (n,) row of X -> distinct row
    values: np.ndarray  # (U, 1) distinct values of every count feature, stacked
    offsets: np.ndarray  # (n_count + 1,) where each feature's values start in ``values``
    sizes: np.ndarray  # (n_count,) distinct values of each feature (np.diff(offsets))
    value_index: np.ndarray  # (n_count, m) distinct row -> its value's row in ``values``
    onehot: sp.csr_matrix  # (U, m) indicator of value_index
    zero_at: list[int]  # per count feature: row of the value 0 in ``values``, or -1
    has_zero: np.ndarray  # (n_count,) bool: the feature takes the value 0
    zero_rows: np.ndarray  # rows of ``values`` holding a 0, one per feature in has_zero
    lgamma_v1: np.ndarray  # (U, 1) log(v!)
    exact: np.ndarray  # (n_count,) bool: largest value <= _GRID_MAX (sums over 0..max)
    exact_at: np.ndarray  # (n_exact,) those features
    cum_blocks: list[tuple[int, int, int]]  # exact features: rows lo:hi of values, block start
    cum_sizes: np.ndarray  # (n_exact,) rows of each block: a 0, then the running sums
    cum_last: np.ndarray  # (n_exact,) row of each exact feature's total
    cum_repeat: np.ndarray  # (cum rows,) how many i in 0..max-1 have the row's running sum
    grid: np.ndarray  # (sum of max, 1) the integers 0..max-1 of every exact feature, stacked
    grid_bounds: list[tuple[int, int]]  # rows of each exact feature in ``grid``
    grid_lengths: list[int]  # rows of each exact feature in ``grid`` (its largest value)
    y: np.ndarray  # (m, n_gauss) signed log1p of the non-count features
    log_jacobian: np.ndarray  # (m, 1) sum of -log1p(|x|) over non-count features
    z: np.ndarray  # (m, n_features) standardised log scale, for the starts

    @property
    def n(self) -> float:
        return float(self.weight.sum())

    @property
    def n_count(self) -> int:
        return int(self.sizes.size)

    def feature_sums(self, A: np.ndarray) -> np.ndarray:
        """Sum the rows of ``A`` (U, K) within each count feature: shape (n_count, K).

        One ``sum`` per feature (not ``np.add.reduceat``), so the result is bitwise that of
        summing each feature's own table: EM trajectories do not move with the stacking.
        """
        o = self.offsets
        return np.stack([A[o[j] : o[j + 1]].sum(axis=0) for j in range(o.size - 1)])

    def weighted_sums(self, W: np.ndarray) -> np.ndarray:
        """``feature_sums(W * values)``, without the product table: shape (n_count, K).

        ``einsum`` multiplies and adds in the same order (no fused multiply-add).
        """
        o, v = self.offsets, self.values[:, 0]
        out = np.empty((o.size - 1, W.shape[1]))
        for j in range(o.size - 1):
            np.einsum("ik,i->k", W[o[j] : o[j + 1]], v[o[j] : o[j + 1]], out=out[j])
        return out


def _unique_rows(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.unique(X, axis=0, return_inverse=True, return_counts=True)``, several times faster.

    Rows sorted lexicographically (first column first) by a stable ``lexsort``; equal rows
    (by ``!=``, as ``np.unique`` compares them) merged.
    """
    order = np.lexsort(X.T[::-1])
    s = X[order]
    new = np.empty(s.shape[0], dtype=bool)
    new[:1] = True
    np.any(s[1:] != s[:-1], axis=1, out=new[1:])
    starts = np.flatnonzero(new)
    inverse = np.empty(s.shape[0], dtype=np.intp)
    inverse[order] = np.cumsum(new) - 1
    return s[starts], inverse, np.diff(np.append(starts, s.shape[0]))


def _prepare(X: np.ndarray, counts: np.ndarray) -> _Data:
    rows, inverse, weight = _unique_rows(X)
    m = rows.shape[0]
    values, index, zero_at, offsets = [], [], [], [0]
    for j in np.flatnonzero(counts):
        vals, idx = np.unique(rows[:, j], return_inverse=True)
        zero_at.append(offsets[-1] if vals[0] == 0 else -1)
        index.append(idx.ravel() + offsets[-1])
        values.append(vals)
        offsets.append(offsets[-1] + vals.size)
    nc = len(values)
    v = np.concatenate(values) if nc else np.empty(0)
    value_index = np.vstack(index) if nc else np.empty((0, m), dtype=np.intp)
    onehot = sp.csr_matrix(
        (np.ones(nc * m), (value_index.ravel(), np.tile(np.arange(m), nc))), shape=(v.size, m)
    )
    exact = np.array([vals[-1] <= _GRID_MAX for vals in values], dtype=bool)
    # Per exact feature, the running sums over its distinct values (a 0 in front) give the
    # running sums over every integer 0..max-1: row u stands for v[u-1] <= i < v[u].
    blocks, repeat, bounds, at = [], [], [], 0
    grid: list[int] = []
    for j in np.flatnonzero(exact):
        vals = values[j].astype(np.intp)
        blocks.append((offsets[j], offsets[j + 1], at))
        repeat.append(np.diff(vals, prepend=0, append=vals[-1]))
        bounds.append((len(grid), len(grid) + int(vals[-1])))
        grid.extend(range(int(vals[-1])))
        at += vals.size + 1
    gauss = rows[:, ~counts]
    z = signed_log1p(rows)
    sd = z.std(axis=0)
    z = (z - z.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    return _Data(
        weight=weight.astype(np.float64),
        inverse=inverse.ravel(),
        values=v[:, None],
        offsets=np.asarray(offsets, dtype=np.intp),
        sizes=np.diff(offsets),
        value_index=value_index,
        onehot=onehot,
        zero_at=zero_at,
        has_zero=np.array([z >= 0 for z in zero_at], dtype=bool),
        zero_rows=np.array([z for z in zero_at if z >= 0], dtype=np.intp),
        lgamma_v1=gammaln(v + 1.0)[:, None],
        exact=exact,
        exact_at=np.flatnonzero(exact),
        cum_blocks=blocks,
        cum_sizes=np.array([hi - lo + 1 for lo, hi, _ in blocks], dtype=np.intp),
        cum_last=np.array([at + hi - lo for lo, hi, at in blocks], dtype=np.intp),
        cum_repeat=np.concatenate(repeat) if repeat else np.empty(0, dtype=np.intp),
        grid=np.array(grid, dtype=np.float64)[:, None],
        grid_bounds=bounds,
        grid_lengths=[hi - lo for lo, hi in bounds],
        y=signed_log1p(gauss),
        log_jacobian=-np.log1p(np.abs(gauss)).sum(axis=1, keepdims=True),
        z=z,
    )


def _nb_m_step(
    data: _Data, W: np.ndarray, log_r: np.ndarray, n_newton: int
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted NB2 maximum likelihood for every (count feature, component) pair at once.

    ``W`` (U, K) holds the weight of each stacked distinct value in each component. The
    mean's MLE is the weighted mean; the size ``r`` is improved by ``n_newton`` Newton steps on
    ``log r`` from ``log_r`` (n_count, K). A step is at most 1 in ``log r``; where the
    objective is not concave the step follows the gradient (0.5). Inside EM one step per
    iteration suffices: EM stops only when the likelihood stops changing, i.e. at a
    stationary ``r``.

    The r-dependent part of the weighted log-likelihood has gradient
    ``sum_v W_v (psi(v + r) - psi(r)) - N log1p(mu / r)`` (``log1p``, not the difference of
    two logarithms, which near the Poisson limit ``r >> mu`` is rounding noise and would turn
    the sign of the step at random). For integers,
    ``psi(v + r) - psi(r) = sum_{i < v} 1 / (r + i)``, so the first term is
    ``sum_i T_i / (r + i)`` with ``T_i`` the weight of values above ``i``: a plain sum over
    ``0..max(v)`` (likewise the curvature), for all features and components at once. ``T``
    is piecewise constant between distinct values, so it is built once per M-step from
    running sums over the distinct values (not over the whole range). A feature with values
    above :data:`_GRID_MAX` uses digamma and trigamma instead. Every sum adds its terms in
    the order of a sum over each feature's own table, so the fits are bitwise those of
    fitting each feature separately. Returns ``mu`` and ``log r``, both (n_count, K).
    """
    nc, K = log_r.shape
    exact = data.exact
    exact_at = data.exact_at
    n_exact = exact_at.size
    every = n_exact == nc
    if n_exact:
        # Running sums of W over each feature's distinct values (a 0 in front): T[i] = total -
        # the running sum at i, for every integer i below the feature's largest value, stacked.
        cw = np.zeros((data.cum_sizes.sum(), K))
        for lo, hi, at in data.cum_blocks:
            np.cumsum(W[lo:hi], axis=0, out=cw[at + 1 : at + 1 + hi - lo])
        ends = np.take(cw, data.cum_last, axis=0)  # weight of each exact feature, component
        T = np.repeat(np.repeat(ends, data.cum_sizes, axis=0) - cw, data.cum_repeat, axis=0)
        total = ends if every else data.feature_sums(W)
        ge, he = np.empty((n_exact, K)), np.empty((n_exact, K))
    else:
        total = data.feature_sums(W)
    Nk = np.maximum(total, 1e-12)
    mu = np.maximum(data.weighted_sums(W) / Nk, _MEAN_MIN)
    theta = log_r
    active = np.ones(nc, dtype=bool) if n_newton > 1 else None  # features still improved
    for _ in range(n_newton):
        r = np.exp(theta)
        if n_exact:
            if active is None or active.all():
                each = np.repeat(r if every else r[exact], data.grid_lengths, axis=0)
                inv = 1.0 / (each + data.grid)
                Ti = T * inv
                Ti2 = Ti * inv
                # einsum adds along i in order (as the sum over axis 0 of an (i, k) table).
                for e, (lo, hi) in enumerate(data.grid_bounds):
                    np.einsum("ik->k", Ti[lo:hi], out=ge[e])
                    np.einsum("ik->k", Ti2[lo:hi], out=he[e])
            else:  # the same numbers, for the features still being improved only
                for e, (lo, hi) in enumerate(data.grid_bounds):
                    if active[exact_at[e]]:
                        inv = 1.0 / (r[exact_at[e]] + data.grid[lo:hi])
                        Ti = T[lo:hi] * inv
                        np.einsum("ik->k", Ti, out=ge[e])
                        np.einsum("ik->k", Ti * inv, out=he[e])
        if every:
            g, h = ge, -he
        else:
            g, h = np.empty((nc, K)), np.empty((nc, K))
            if n_exact:
                g[exact], h[exact] = ge, -he
            for j in np.flatnonzero(~exact if active is None else ~exact & active):
                lo, hi = data.offsets[j], data.offsets[j + 1]
                Wj, vr = W[lo:hi], data.values[lo:hi] + r[j]
                g[j] = (Wj * (digamma(vr) - digamma(r[j]))).sum(axis=0)
                h[j] = (Wj * (zeta(2.0, vr) - zeta(2.0, r[j]))).sum(axis=0)
        ratio = mu / r
        g = g - Nk * np.log1p(ratio)
        h = h + Nk * (ratio / (r + mu))
        d1 = r * g  # derivatives with respect to theta = log r
        d2 = d1 + r * r * h
        concave = d2 < 0
        step = np.where(concave, -d1 / np.where(concave, d2, -1.0), 0.5 * np.sign(d1))
        step = np.minimum(np.maximum(step, -1.0), 1.0)
        if active is None:  # one step
            theta = np.minimum(np.maximum(theta + step, _LOG_SIZE_MIN), _LOG_SIZE_MAX)
            break
        # A feature whose steps all fell below 1e-8 keeps its sizes from then on.
        moved = np.minimum(np.maximum(theta + step, _LOG_SIZE_MIN), _LOG_SIZE_MAX)
        theta = np.where(active[:, None], moved, theta)
        active &= ~np.all(np.abs(step) < 1e-8, axis=1)
        if not active.any():
            break
    return mu, theta


@dataclass
class _Params:
    weights: np.ndarray  # (K,)
    mu: np.ndarray  # (K, n_count)
    log_r: np.ndarray  # (K, n_count)
    pi: np.ndarray  # (K, n_count)
    mean: np.ndarray  # (K, n_gauss)
    var: np.ndarray  # (K, n_gauss)

    def copy(self) -> _Params:
        return _Params(*(np.array(a, copy=True) for a in vars(self).values()))


def _nb_table(data: _Data, p: _Params, zero_inflated: bool) -> np.ndarray:
    """log NB2 pmf (zero-inflated or not) of every stacked distinct value: shape (K, U)."""
    v = data.values.T
    K = p.weights.size
    r = np.exp(p.log_r.T)  # (n_count, K)
    log_rmu = np.log(r + p.mu.T)
    per_feature = [r, gammaln(r), -r * np.log1p(p.mu.T / r), np.log(p.mu.T) - log_rmu]
    if zero_inflated:
        with np.errstate(divide="ignore"):
            per_feature.append(np.log1p(-p.pi.T))
    # One column per stacked value: its feature's parameters.
    each = np.repeat(np.concatenate(per_feature, axis=1).T, data.sizes, axis=1)
    # Same operations, in the same order, as evaluating each feature's own table.
    table: np.ndarray = (
        gammaln(v + each[:K])
        - each[K : 2 * K]
        - data.lgamma_v1.T
        + each[2 * K : 3 * K]
        + v * each[3 * K : 4 * K]
    )
    if zero_inflated:
        has0 = data.has_zero
        with np.errstate(divide="ignore"):
            table = each[4 * K :] + table
            if has0.any():
                z0 = data.zero_rows
                table[:, z0] = np.logaddexp(np.log(p.pi.T[has0]).T, table[:, z0])
    return table


def _log_joint_t(data: _Data, p: _Params, zero_inflated: bool) -> np.ndarray:
    """log(weight_k) + log p(row | k) for every distinct row, components first: (K, m)."""
    with np.errstate(divide="ignore"):
        out = np.log(p.weights)[:, None] + data.log_jacobian.T
    if data.n_count:
        table = _nb_table(data, p, zero_inflated)
        for idx in data.value_index:
            out += np.take(table, idx, axis=1)
    if data.y.shape[1]:
        diff = data.y[:, None, :] - p.mean[None, :, :]
        out += (-0.5 * (np.log(2 * np.pi * p.var)[None] + diff**2 / p.var[None]).sum(axis=2)).T
    return out


def _log_joint(data: _Data, p: _Params, zero_inflated: bool) -> np.ndarray:
    """log(weight_k) + log p(row | k) for every distinct row: shape (m, K), C-ordered."""
    return np.ascontiguousarray(_log_joint_t(data, p, zero_inflated).T)


def _m_step(
    data: _Data,
    R: np.ndarray,
    prev: _Params | None,
    zero_inflated: bool,
    min_variance: float,
    n_newton: int,
) -> _Params:
    """Weighted maximum likelihood given responsibilities ``R`` (m, K)."""
    Rw = R * data.weight[:, None]
    Nk = np.einsum("ik->k", Rw)  # bitwise Rw.sum(axis=0): in order down the rows
    K = R.shape[1]
    weights = np.maximum(Nk / data.n, 1e-300)
    Nk = np.maximum(Nk, 1e-12)
    nc = data.n_count
    pi = np.zeros((nc, K))
    if nc:
        W = np.asarray(data.onehot @ Rw)  # (U, K) weight of each distinct value in each component
        has0 = data.has_zero
        z0 = data.zero_rows
        if zero_inflated and prev is not None and has0.any():
            # E-step of the structural-zero indicator, with the previous parameters.
            pi_old = prev.pi.T[has0]
            r_old = np.exp(prev.log_r.T[has0])
            nb0 = np.exp(r_old * (np.log(r_old) - np.log(r_old + prev.mu.T[has0])))
            denom = pi_old + (1 - pi_old) * nb0
            s = np.where(denom > 0, pi_old / np.where(denom > 0, denom, 1.0), 0.0)
            total = np.maximum(data.feature_sums(W)[has0], 1e-12)
            pi[has0] = np.minimum(W[z0] * s / total, _PI_MAX)
            W = W.copy()
            W[z0] *= 1 - s
        if prev is None:
            total = np.maximum(data.feature_sums(W), 1e-12)
            m0 = np.maximum(data.weighted_sums(W) / total, _MEAN_MIN)
            var0 = (
                data.feature_sums(W * (data.values - np.repeat(m0, data.sizes, axis=0)) ** 2)
                / total
            )
            excess = np.maximum(var0 - m0, 1e-3 * m0)
            start = np.clip(np.log(m0**2 / excess), _LOG_SIZE_MIN, _LOG_SIZE_MAX)
            mu, log_r = _nb_m_step(data, W, start, max(n_newton, 20))
            if zero_inflated and has0.any():
                pi[has0] = 0.5 * W[z0] / total[has0]
        else:
            mu, log_r = _nb_m_step(data, W, prev.log_r.T, n_newton)
    else:
        mu = log_r = np.empty((0, K))
    if data.y.shape[1]:
        mean = (Rw.T @ data.y) / Nk[:, None]
        var = (Rw.T @ data.y**2) / Nk[:, None] - mean**2
        var = np.maximum(var, 0.0) + min_variance
    else:
        mean = np.empty((K, 0))
        var = np.empty((K, 0))
    return _Params(weights / weights.sum(), mu.T, log_r.T, pi.T, mean, var)


def _starts(data: _Data, K: int, n_init: int, rng: np.random.RandomState) -> list[np.ndarray]:
    """Initial responsibilities: one quantile start, then seeded k-means++ starts."""
    m = data.weight.size
    smooth = _INIT_SMOOTH / K

    def soft(labels: np.ndarray) -> np.ndarray:
        R = np.full((m, K), smooth)
        R[np.arange(m), labels] += 1 - _INIT_SMOOTH
        return R

    if K == 1:
        return [np.ones((m, 1))]
    score = data.z.sum(axis=1)
    order = np.argsort(score, kind="stable")
    cum = np.cumsum(data.weight[order]) / data.n
    labels = np.empty(m, dtype=np.intp)
    labels[order] = np.minimum((cum - 0.5 * data.weight[order] / data.n) * K, K - 1).astype(int)
    out = [soft(labels)]
    if m < K:  # fewer distinct customers than components: k-means++ cannot seed
        return out
    for _ in range(n_init - 1):
        seed = int(rng.randint(np.iinfo(np.int32).max))
        centres, _ = kmeans_plusplus(data.z, K, sample_weight=data.weight, random_state=seed)
        d2 = ((data.z[:, None, :] - centres[None]) ** 2).sum(axis=2)
        out.append(soft(np.argmin(d2, axis=1)))
    return out


def _excess_zeros(data: _Data, p: _Params) -> bool:
    """Whether some count feature has more zeros than the fitted NB mixture expects.

    Zero inflation can only raise the probability of a zero; when the NB mixture already
    expects at least the observed zeros of every count feature, the zero-inflated fit ends
    at (or next to) ``pi = 0`` and its extra parameters lose on BIC, so it is not fitted.
    """
    for j, z0 in enumerate(data.zero_at):
        if z0 < 0:
            continue
        r = np.exp(p.log_r[:, j])
        nb0 = np.exp(r * (np.log(r) - np.log(r + p.mu[:, j])))
        observed = float(data.weight[data.value_index[j] == z0].sum())
        if observed > data.n * float(p.weights @ nb0) + 1.0:
            return True
    return False


@dataclass
class _Fit:
    params: _Params
    lower_bound: float  # mean log-likelihood per customer
    n_iter: int
    converged: bool


def _logsumexp_rows(a: np.ndarray) -> np.ndarray:
    """``log(sum(exp(a), axis=1))``, cheaper than scipy's ``logsumexp`` on small arrays."""
    mx = a.max(axis=1)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    with np.errstate(divide="ignore"):
        out: np.ndarray = np.log(np.exp(a - mx[:, None]).sum(axis=1)) + mx
    return out


def _sum_components(e: np.ndarray) -> np.ndarray:
    """``e.T.sum(axis=1)`` for ``e`` of shape (K, m): bitwise numpy's sum along rows of length K.

    numpy sums a contiguous row pairwise: fewer than 8 terms in order, up to 128 in eight
    interleaved partial sums combined as a tree, then the rest in order. Done here row by
    row of ``e`` (whole columns of the (m, K) table at once), which is several times faster
    than reducing over a short last axis.
    """
    K = e.shape[0]
    if K < 8:
        out: np.ndarray = e.sum(axis=0)  # in order along axis 0
        return out
    if K > 128:
        out = np.ascontiguousarray(e.T).sum(axis=1)
        return out
    r = e[:8].copy()
    end = K - K % 8
    for i in range(8, end, 8):
        r += e[i : i + 8]
    out = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
    for i in range(end, K):
        out += e[i]
    return out


def _e_step(data: _Data, params: _Params, zero_inflated: bool) -> tuple[np.ndarray, float]:
    """Responsibilities (m, K) at ``params``, and the mean log-likelihood there.

    The same numbers as ``exp(logp - _logsumexp_rows(logp))`` with ``logp = _log_joint(...)``,
    computed with the components first, where the reductions over components are fast.
    """
    logp = _log_joint_t(data, params, zero_inflated)
    mx = logp.max(axis=0)
    mx = np.where(np.isfinite(mx), mx, 0.0)
    with np.errstate(divide="ignore"):
        rows = np.log(_sum_components(np.exp(logp - mx))) + mx
    ll = float(data.weight @ rows) / data.n
    R = np.empty(logp.shape[::-1])
    np.exp(logp - rows, out=R.T)
    return R, ll


def _pack(p: _Params, data: _Data, zero_inflated: bool) -> np.ndarray:
    """The parameters in unconstrained coordinates (for SQUAREM's extrapolation)."""
    parts = [np.log(np.maximum(p.weights, 1e-300)), np.log(p.mu).ravel(), p.log_r.ravel()]
    if zero_inflated:
        has0 = data.has_zero
        pi = np.clip(p.pi[:, has0], 1e-12, _PI_MAX)
        parts.append((np.log(pi) - np.log1p(-pi)).ravel())
    parts += [p.mean.ravel(), np.log(p.var).ravel()]
    return np.concatenate(parts)


def _unpack(x: np.ndarray, like: _Params, data: _Data, zero_inflated: bool, mv: float) -> _Params:
    K, nc = like.mu.shape
    ng = like.mean.shape[1]
    at = 0

    def take(size: int) -> np.ndarray:
        nonlocal at
        out = x[at : at + size]
        at += size
        return out

    logw = take(K)
    w = np.exp(logw - logw.max())
    mu = np.maximum(np.exp(np.minimum(take(K * nc), 700.0)).reshape(K, nc), _MEAN_MIN)
    log_r = np.clip(take(K * nc).reshape(K, nc), _LOG_SIZE_MIN, _LOG_SIZE_MAX)
    pi = np.zeros((K, nc))
    if zero_inflated:
        has0 = data.has_zero
        pi[:, has0] = np.minimum(1.0 / (1.0 + np.exp(-take(K * int(has0.sum())))), _PI_MAX).reshape(
            K, -1
        )
    mean = take(K * ng).reshape(K, ng)
    var = np.maximum(np.exp(np.minimum(take(K * ng), 700.0)).reshape(K, ng), mv)
    return _Params(w / w.sum(), mu, log_r, pi, mean, var)


_STEP_MAX0 = 1.0  # SQUAREM: largest extrapolation step at first (-alpha; 1 is plain EM)
_STEP_FACTOR = 4.0  # it grows by this factor when used and accepted, shrinks when rejected
_SEARCH_EVERY = 5  # SQUAREM cycles between line searches along the recent path


def _line_search(
    data: _Data,
    p0: _Params,
    x0: np.ndarray,
    ll0: float,
    d: np.ndarray,
    zero_inflated: bool,
    mv: float,
    budget: int,
) -> tuple[tuple[_Params, np.ndarray, float] | None, int]:
    """The best of ``x0 + t d`` for t = 1, 2, 4, ... while the likelihood rises above ``ll0``.

    Returns the parameters, their responsibilities and mean log-likelihood (None when
    ``x0 + d`` is no better than ``x0``), and the E-steps used (at most ``budget``).
    """
    best = None
    t, used = 1.0, 0
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while used < budget:
            cand = _unpack(x0 + t * d, p0, data, zero_inflated, mv)
            R, ll = _e_step(data, cand, zero_inflated)
            used += 1
            if not (np.isfinite(ll) and ll > (ll0 if best is None else best[2])):
                break
            best = (cand, R, ll)
            t *= 2.0
    return best, used


def _em(
    data: _Data,
    params: _Params,
    zero_inflated: bool,
    max_iter: int,
    tol: float,
    min_variance: float,
) -> _Fit:
    """EM from ``params`` until the log-likelihood gains less than ``tol`` over a cycle.

    ``tol`` is in units of the total log-likelihood (summed over customers, i.e. half a BIC
    unit per unit), so the accuracy of BIC does not depend on the number of customers.

    Accelerated by SQUAREM (Varadhan and Roland 2008, scheme S3) with its step-length control:
    two EM steps give the direction of travel, an extrapolation along it (step at most
    ``step_max``) is stabilised by a third EM step and kept only when its likelihood is no
    lower than after the two plain steps; otherwise the plain steps are kept, so the
    likelihood never decreases. ``step_max`` starts at 1 and is multiplied by
    :data:`_STEP_FACTOR` whenever it was used and kept, divided by it when rejected: slow
    stretches, where EM creeps along a ridge, get long steps. Every :data:`_SEARCH_EVERY`
    cycles a line search along the path of the last cycles (doubling the step while the
    likelihood rises) jumps along a ridge that SQUAREM's single step follows only slowly.

    ``max_iter`` counts E-steps (at rejected candidates and in line searches too); no cycle
    starts once it is reached (the last one ends with the E-step at its end point, so up to
    two more may be taken). An M-step is computed only where its result is used.

    A saddle plateau (EM leaves it only after hundreds of steps of near-zero gain) may pass
    the test: no stopping rule tells it from convergence.
    """
    mv = min_variance
    prev_ll = -np.inf
    n_iter = 0
    p0 = params
    R0: np.ndarray | None = None
    ll0 = -np.inf
    x0 = None  # p0 packed, when already known
    step_max = _STEP_MAX0
    path: list[np.ndarray] = []  # packed cycle starts since the last line search
    cycle = 0
    while True:
        if R0 is None:
            R0, ll0 = _e_step(data, p0, zero_inflated)
            n_iter += 1
        if not np.isfinite(ll0):
            return _Fit(p0, ll0, n_iter, False)
        if x0 is None:
            x0 = _pack(p0, data, zero_inflated)
        cycle += 1
        path.append(x0)
        if cycle % _SEARCH_EVERY == 0 and len(path) > _SEARCH_EVERY and n_iter < max_iter:
            found, used = _line_search(
                data, p0, x0, ll0, x0 - path[0], zero_inflated, mv, max_iter - n_iter
            )
            n_iter += used
            if found is not None:
                p0, R0, ll0 = found
                x0 = _pack(p0, data, zero_inflated)
                path = [x0]
        if len(path) > _SEARCH_EVERY:
            path.pop(0)
        if abs(ll0 - prev_ll) * data.n < tol:
            return _Fit(p0, ll0, n_iter, True)
        if n_iter >= max_iter:
            return _Fit(p0, ll0, n_iter, False)
        prev_ll = ll0
        p1 = _m_step(data, R0, p0, zero_inflated, mv, 1)
        R1, ll1 = _e_step(data, p1, zero_inflated)
        n_iter += 1
        p2 = _m_step(data, R1, p1, zero_inflated, mv, 1)
        x1, x2 = _pack(p1, data, zero_inflated), _pack(p2, data, zero_inflated)
        r = x1 - x0
        v = x2 - x1 - r
        vv = float(v @ v)
        alpha = -np.sqrt(float(r @ r) / vv) if vv > 0 else -1.0
        alpha = max(-step_max, min(alpha, -1.0)) if np.isfinite(alpha) else -1.0
        nxt, x_nxt, kept = p2, x2, True
        if alpha < -1.0:
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                cand = _unpack(x0 - 2 * alpha * r + alpha**2 * v, p0, data, zero_inflated, mv)
                Rc, ll_c = _e_step(data, cand, zero_inflated)
                n_iter += 1  # counted as an EM step whether or not the candidate is kept
                # ll_c is the likelihood at the extrapolated point; EM from it does not lower it.
                kept = bool(np.isfinite(ll_c) and ll_c >= ll1)
                if kept:
                    stab = _m_step(data, Rc, cand, zero_inflated, mv, 1)
                    x_stab = _pack(stab, data, zero_inflated)
                    kept = bool(np.all(np.isfinite(x_stab)))
                    if kept:
                        nxt, x_nxt = stab, x_stab
        if alpha == -step_max:  # the longest step allowed was taken (1: plain EM steps)
            step_max = step_max * _STEP_FACTOR if kept else step_max / _STEP_FACTOR
            step_max = max(step_max, _STEP_MAX0)
        p0, x0, R0 = nxt, x_nxt, None


def _n_parameters(K: int, data: _Data, zero_inflated: bool) -> int:
    n_zi = int(data.has_zero.sum()) if zero_inflated else 0
    return (K - 1) + K * (2 * data.n_count + n_zi + 2 * data.y.shape[1])
