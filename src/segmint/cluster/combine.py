"""Mixture components combined into segments that are clearly apart (Hennig's DEMP).

A mixture chosen by BIC describes the *density* of the customers. When a group of customers
is not shaped like one component (its counts spread evenly over a range, or end at a hard
edge), BIC gives it several components, and each component alone is not a segment: its
customers are told apart from those of its neighbours by chance. Hennig (2010, "Methods for
merging Gaussian mixture components", Advances in Data Analysis and Classification 4, 3-34)
estimates, for two groups of components, the probability that a customer drawn from one is
classified into the other (DEMP, "directly estimated misclassification probability", from
the posterior probabilities); merging the pair that is worst told apart, step by step, gives
a hierarchy from ``K`` components down to one group.

**The rule.** The segments are the components, unless a level of that hierarchy with at least
two groups has every pair of groups clearly apart -- both misclassification probabilities
below :data:`SEPARATED` -- while the components are not. Then the groups of the largest such
level are the segments. Components that only shape one such group are combined; components
that overlap without forming clearly separated groups are kept (combining them would not
make them any more distinct), and the structure check judges them.

:func:`combine` applies the rule to posterior probabilities; :class:`CombinedMixture` wraps
an unfitted mixture so that a bootstrap refits and combines as the full fit did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, clone

__all__ = [
    "SEPARATED",
    "Combination",
    "CombinedMixture",
    "combine",
    "group_proba",
    "misclassification",
]

#: Misclassification probability (both ways, every pair) under which groups are clearly apart.
SEPARATED: float = 0.025


def misclassification(proba: np.ndarray, weight: np.ndarray | None = None) -> np.ndarray:
    """DEMP: the probability that a customer of group ``k`` is classified into group ``l``.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_groups)
        Posterior probabilities of the groups.
    weight : ndarray of shape (n_samples,), optional
        Multiplicity of each row.

    Returns
    -------
    ndarray of shape (n_groups, n_groups)
        ``M[k, l] = sum_i w_i p_ik [argmax_i = l] / sum_i w_i p_ik``; 0 on the diagonal and
        for an empty group.
    """
    P = np.asarray(proba, dtype=np.float64)
    w = np.ones(P.shape[0]) if weight is None else np.asarray(weight, dtype=np.float64)
    K = P.shape[1]
    hard = np.zeros_like(P)
    hard[np.arange(P.shape[0]), P.argmax(axis=1)] = 1.0
    Pw = P * w[:, None]
    M = Pw.T @ hard  # M[k, l] = sum_i w_i p_ik [argmax_i = l]
    mass = Pw.sum(axis=0)
    M = np.divide(M, mass[:, None], out=np.zeros((K, K)), where=mass[:, None] > 0)
    np.fill_diagonal(M, 0.0)
    return M


def group_proba(proba: np.ndarray, groups: np.ndarray, n_groups: int) -> np.ndarray:
    """Posterior probabilities of groups of components: the sums of their columns.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_components)
    groups : ndarray of int, shape (n_components,)
        ``groups[k]`` is the group of component ``k``.
    n_groups : int

    Returns
    -------
    ndarray of shape (n_samples, n_groups)
    """
    P = np.asarray(proba, dtype=np.float64)
    out = np.zeros((P.shape[0], int(n_groups)))
    np.add.at(out.T, np.asarray(groups, dtype=np.intp), P.T)
    return out


@dataclass
class Combination:
    """Which components form which segment, and the hierarchy that decided it.

    Attributes
    ----------
    groups : ndarray of int, shape (n_components,)
        Segment (0 .. n_groups - 1, numbered by first component) of every component.
    n_groups : int
    combined : bool
        Whether any components were combined.
    levels : list of dict
        The hierarchy, from ``n_components`` groups down to 2: ``{"n_groups", "worst"}``,
        ``worst`` the largest misclassification probability between two of its groups.
    cutoff : float
    reason : str
        One plain sentence.
    """

    groups: np.ndarray
    n_groups: int
    combined: bool
    levels: list[dict[str, Any]] = field(default_factory=list)
    cutoff: float = SEPARATED
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form.

        Returns
        -------
        dict
        """
        return {
            "combined": self.combined,
            "n_components": int(self.groups.size),
            "n_segments": int(self.n_groups),
            "groups": [int(g) for g in self.groups],
            "cutoff": float(self.cutoff),
            "levels": [
                {"n_groups": int(lv["n_groups"]), "worst": round(float(lv["worst"]), 6)}
                for lv in self.levels
            ],
            "reason": self.reason,
        }


def _renumber(groups: np.ndarray) -> np.ndarray:
    """Groups numbered 0, 1, ... in the order of their first component."""
    _, first = np.unique(groups, return_index=True)
    order = np.argsort(first, kind="stable")
    mapping = np.empty(order.size, dtype=np.int64)
    mapping[np.unique(groups)[order]] = np.arange(order.size)
    return mapping[np.searchsorted(np.unique(groups), groups)]


def combine(
    proba: np.ndarray, weight: np.ndarray | None = None, *, cutoff: float = SEPARATED
) -> Combination:
    """Apply the rule of the module docstring to posterior probabilities.

    Parameters
    ----------
    proba : ndarray of shape (n_samples, n_components)
        Posterior probabilities of the fitted mixture on the customers it was fitted on.
    weight : ndarray of shape (n_samples,), optional
        Multiplicity of each row.
    cutoff : float, default=SEPARATED

    Returns
    -------
    Combination
    """
    P = np.asarray(proba, dtype=np.float64)
    K = P.shape[1]
    current = np.arange(K)
    levels: list[dict[str, Any]] = []
    found: np.ndarray | None = None
    n = K
    while n >= 2:
        M = misclassification(group_proba(P, current, n), weight)
        M = np.maximum(M, M.T)
        worst = float(M.max())
        levels.append({"n_groups": n, "worst": worst})
        if worst < cutoff:
            found = current.copy() if n < K else None
            break
        i, j = np.unravel_index(int(np.argmax(M)), M.shape)
        a, b = min(int(i), int(j)), max(int(i), int(j))
        current = np.where(current == b, a, current)
        current = np.where(current > b, current - 1, current)
        n -= 1
    if found is None:
        reason = (
            f"the {K} components are the segments: no grouping of them is clearly apart "
            f"(misclassification between groups below {cutoff:g})"
            if K > 1
            else "one component"
        )
        return Combination(np.arange(K), K, False, levels, cutoff, reason)
    G = int(found.max()) + 1
    reason = (
        f"the {K} mixture components form {G} segments that are clearly apart (a customer "
        f"of one is classified into another with probability below {cutoff:g}; between "
        f"components up to {levels[0]['worst']:.2f}), so components that only shape one "
        "segment are combined (Hennig's DEMP)"
    )
    return Combination(_renumber(found), G, True, levels, cutoff, reason)


class CombinedMixture(ClusterMixin, BaseEstimator):
    """A mixture fitted, then its components combined by :func:`combine` (for the bootstrap).

    Parameters
    ----------
    mixture : estimator
        Unfitted, with ``n_components``, ``random_state``, ``fit`` and ``predict_proba``.
    n_components : int, default=1
    random_state : int or None, default=None
    cutoff : float, default=SEPARATED
    """

    def __init__(
        self,
        mixture: Any = None,
        n_components: int = 1,
        random_state: Any = None,
        cutoff: float = SEPARATED,
    ) -> None:
        self.mixture = mixture
        self.n_components = n_components
        self.random_state = random_state
        self.cutoff = cutoff

    def fit(self, X: Any, y: Any = None) -> CombinedMixture:
        """Fit the mixture and combine its components on ``X``."""
        self.mixture_ = clone(self.mixture).set_params(
            n_components=self.n_components, random_state=self.random_state
        )
        self.mixture_.fit(X)
        comb = combine(self.mixture_.predict_proba(X), cutoff=self.cutoff)
        self.groups_, self.n_groups_ = comb.groups, comb.n_groups
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Posterior probabilities of the segments."""
        return group_proba(self.mixture_.predict_proba(X), self.groups_, self.n_groups_)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable segment."""
        out: np.ndarray = self.predict_proba(X).argmax(axis=1)
        return out
