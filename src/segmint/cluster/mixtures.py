"""The mixture stage of ``Segmenter``: grid, the one selection rule, the structure check.

:func:`fit_count` (the default, :class:`~segmint.cluster.count_mixture.CountMixture`) and
:func:`fit_gaussian` (Gaussian mixtures over components x covariance types on dequantised
counts, the criterion averaged over jitter draws, :data:`segmint.cluster.gmm.GMM_N_INIT` EM
starts per fit, fresh jitter in every bootstrap resample) both end in
:func:`choose_components`: the rule of :mod:`segmint.cluster.selection` (indistinguishable
within max(10, 2 SE) of the best, the most stable of them, ties to fewer components) and its
structure check against a single correlated population. The MLlib path
(:mod:`segmint.spark.mllib`) ends in it too. :func:`probabilities` assigns customers with
either fitted mixture.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as _replace
from typing import Any

import numpy as np
import pandas as pd

from segmint.cluster import gmm as _gmm
from segmint.cluster import json_safe
from segmint.cluster import selection as _sel
from segmint.cluster.combine import Combination, CombinedMixture, combine, group_proba
from segmint.cluster.count_mixture import CountMixture
from segmint.cluster.transform import cell_centres

__all__ = [
    "COUNT_FEATURES",
    "COUNT_MIXTURE_LABEL",
    "NOT_COUNT_FEATURES",
    "MixtureFit",
    "choose_components",
    "chosen_stability",
    "count_mask",
    "fit_count",
    "fit_gaussian",
    "probabilities",
]

#: Features the count mixture models as counts (negative binomial) ...
COUNT_FEATURES = frozenset({"n_products", "n_canceled_orders", "n_orders"})
#: ... and features it models on the log scale even when their values are whole numbers.
NOT_COUNT_FEATURES = frozenset({"cancel_rate", "monetary", "recency_days"})
#: How the count mixture appears where the Gaussian grid has a covariance type.
COUNT_MIXTURE_LABEL = "negative binomial"


@dataclass
class MixtureFit:
    """A fitted and chosen mixture, with everything the Segmenter keeps of it."""

    model: Any
    n_components: int
    covariance_type: str
    evidence: str  # "clear", "indistinguishable" or "fixed"
    reason: str
    grid: pd.DataFrame
    selection: dict[str, Any]
    structure: dict[str, Any]
    count_features: np.ndarray
    details: dict[int, dict[str, Any]]  # bootstrap of every candidate, in raw labels
    centres: np.ndarray  # (n_segments, n_features), original units
    notes: list[str] = field(default_factory=list)
    combination: Combination | None = None  # components -> segments (combine.combine)

    @property
    def n_segments(self) -> int:
        """Segments: the components, or fewer when components were combined."""
        return self.n_components if self.combination is None else self.combination.n_groups

    @property
    def groups(self) -> np.ndarray:
        """Segment of every component (``arange(n_components)`` when none were combined)."""
        if self.combination is None:
            return np.arange(self.n_components)
        return self.combination.groups

    @property
    def segment_details(self) -> dict[str, Any] | None:
        """The bootstrap of the segments shown (of the combined ones when combined)."""
        if self.combination is not None and self.combination.combined:
            return self.combination_details
        return self.details.get(self.n_components)

    combination_details: dict[str, Any] | None = None


def count_mask(X: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Count features of the count mixture: the known counts, and unknown integer columns.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    names : sequence of str

    Returns
    -------
    ndarray of bool
    """
    whole = np.all((X >= 0) & (np.round(X) == X), axis=0)
    return np.array(
        [
            bool(whole[j]) and (name in COUNT_FEATURES or name not in NOT_COUNT_FEATURES)
            for j, name in enumerate(names)
        ],
        dtype=bool,
    )


def choose_components(
    values: dict[int, Any],
    bic_values: dict[int, Any],
    stability_of: Callable[[int], float],
    details: dict[int, dict[str, Any]],
    X: np.ndarray | None,
    mask: np.ndarray | None,
    *,
    k: int | None,
    criterion: str,
    kind: str,
    not_compared: str | None = None,
) -> tuple[int, str, str, dict[str, Any], dict[str, Any], _sel.Selection]:
    """The rule (or the user's k) and the structure check of every mixture.

    Parameters
    ----------
    values, bic_values : dict of int to float or list of float
        The chosen criterion and the BIC per number of components: one value, or one per
        jitter draw (:func:`segmint.cluster.selection.criterion_table`).
    stability_of : callable
        Bootstrap mean ARI of a number of components (NaN when not measured); it also fills
        ``details[n]`` (``mean_ari``, ``jaccard``, ...). Asked for the indistinguishable
        numbers, and for the user's k.
    details : dict
        Filled by ``stability_of``.
    X, mask : ndarray or None
        The data the mixtures were fitted on and its count columns, for the single-population
        comparison of the structure check (None with ``not_compared``).
    k : int or None
        A number of components fixed by the user.
    criterion : {"bic", "aic"}
    kind : str
        Starts the reason, e.g. ``"count mixture"``.
    not_compared : str or None, default=None
        Why the single population is not compared
        (:func:`segmint.cluster.selection.structure_check`).

    Returns
    -------
    tuple
        ``(n_components, evidence ("clear" | "indistinguishable" | "fixed"), reason,
        selection (JSON-safe), structure check, the Selection in BIC the check judged)``; the
        reason does not yet say the check's verdict (:func:`finish_reason`).
    """
    table = _sel.criterion_table(values)
    name = criterion.upper()
    if k is None:
        selection = _sel.choose(table, stability_of, criterion_name=name)
        chosen = selection.n_components
        evidence = "clear" if len(selection.indistinguishable) == 1 else "indistinguishable"
        reason = selection.reason
    else:
        selection = _sel.choose(table, lambda n: float("nan"), criterion_name=name)
        chosen = int(k)
        stability_of(chosen)
        evidence = "fixed"
        reason = (
            f"n_components={chosen} fixed by the user (the rule's candidates: "
            f"{', '.join(map(str, selection.indistinguishable))})"
        )
    stab = {n: float(details[n]["mean_ari"]) for n in details}
    bic_selection = _replace(
        selection,
        n_components=chosen,
        criterion=_sel.criterion_table(bic_values),
        criterion_name="BIC",
        details=details,
        stability=stab,
    )
    if not_compared is None:
        assert X is not None and mask is not None
        counts = np.asarray(mask, dtype=bool) & np.all(X >= 0, axis=0)  # signed: not a count
        structure = _sel.structure_check(X, bic_selection, count_features=counts)
    else:
        structure = _sel.structure_check(None, bic_selection, not_compared=not_compared)
    out = selection.to_dict()
    out["n_components"] = chosen
    out["stability"] = {str(n): stab[n] for n in sorted(stab)}
    reason = f"{kind}: {reason}"
    return chosen, evidence, reason, json_safe(out), structure, bic_selection


def _segments(
    chosen: int,
    proba: np.ndarray,
    estimator: Any,
    X: np.ndarray,
    mask: np.ndarray,
    bic_selection: _sel.Selection,
    structure: dict[str, Any],
    *,
    n_bootstrap: int,
    seed: int,
    n_jobs: int | None,
) -> tuple[Combination, dict[str, Any] | None, dict[str, Any]]:
    """Combine the chosen mixture's components (:func:`segmint.cluster.combine.combine`).

    When components are combined, the segments' stability is measured by refitting and
    combining in every resample (:class:`~segmint.cluster.combine.CombinedMixture`), and the
    structure check judges the segments with it (their number, not the components', against
    the edges of the searched range). Returns (combination, its bootstrap or None,
    structure check).
    """
    comb = combine(proba)
    if not comb.combined:
        return comb, None, structure
    reference = group_proba(proba, comb.groups, comb.n_groups).argmax(axis=1)
    details = None
    if n_bootstrap:
        details = _sel.bootstrap_stability(
            CombinedMixture(estimator),
            X,
            chosen,
            reference,
            n_bootstrap=n_bootstrap,
            random_state=seed + chosen,
            n_jobs=n_jobs,
            n_segments=comb.n_groups,
        )
    searched = [int(n) for n in bic_selection.criterion["n_components"]]
    judged = _replace(
        bic_selection,
        details={chosen: details} if details else {},
        stability={},
        # the segments, not the components, are judged: is their number on the edge?
        on_edge=len(searched) > 1 and comb.n_groups in (min(searched), max(searched)),
    )
    counts = np.asarray(mask, dtype=bool) & np.all(X >= 0, axis=0)
    single = None if structure.get("bic_single") is None else {"bic": structure["bic_single"]}
    check = _sel.structure_check(X, judged, count_features=counts, single=single)
    if single is None:  # more count features than the single population is compared on
        check["single_population"] = structure.get("single_population")
    check["n_segments"] = comb.n_groups
    return comb, details, check


def finish_reason(reason: str, structure: dict[str, Any], comb: Combination | None = None) -> str:
    """The reason, with the combination (if any) and the structure check's verdict."""
    if comb is not None and comb.combined:
        reason += f"; {comb.reason}"
    if structure["verdict"] != "structure":
        reason += "; structure check: no clear structure"
    return reason


def _segment_centres(centres: np.ndarray, weights: np.ndarray, comb: Combination) -> np.ndarray:
    """Centres of the segments: the components' centres weighted by their shares."""
    if not comb.combined:
        return centres
    w = np.asarray(weights, dtype=np.float64)
    out = np.zeros((comb.n_groups, centres.shape[1]))
    total = np.zeros(comb.n_groups)
    np.add.at(out, comb.groups, centres * w[:, None])
    np.add.at(total, comb.groups, w)
    return out / np.maximum(total, 1e-300)[:, None]


def _bootstrapper(
    est: Any,
    X: np.ndarray,
    reference_of: Callable[[int], np.ndarray],
    details: dict[int, dict[str, Any]],
    n_bootstrap: int,
    seed: int,
    n_jobs: int | None,
    estimator_of: Callable[[int], Any] | None = None,
) -> Callable[[int], float]:
    def stability_of(n: int) -> float:
        details[n] = _sel.bootstrap_stability(
            est if estimator_of is None else estimator_of(n),
            X,
            n,
            reference_of(n),
            n_bootstrap=n_bootstrap,
            random_state=seed + n,
            n_jobs=n_jobs,
        )
        return float(details[n]["mean_ari"])

    return stability_of


def fit_count(
    X: np.ndarray,
    names: Sequence[str],
    k_values: list[int],
    *,
    k: int | None,
    criterion: str,
    n_bootstrap: int,
    seed: int,
    bootstrap_seed: int,
    n_jobs: int | None,
) -> MixtureFit:
    """The count mixture at every number of components, the rule, the structure check.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Raw features (original units).
    names : sequence of str
    k_values : list of int
    k : int or None
        A number of components fixed by the user.
    criterion : {"bic", "aic"}
    n_bootstrap : int
    seed, bootstrap_seed : int
    n_jobs : int or None

    Returns
    -------
    MixtureFit
    """
    mask = count_mask(X, names)
    est = CountMixture(count_features=mask, random_state=seed)
    _, models = _sel.criterion_grid(est, X, k_values, random_state=seed, n_jobs=n_jobs)
    bic = {n: float(models[n].bic(X)) for n in k_values}
    aic = {n: float(models[n].aic(X)) for n in k_values}
    grid = pd.DataFrame(
        {
            "n_components": np.asarray(k_values, dtype=np.int64),
            "covariance_type": COUNT_MIXTURE_LABEL,
            "bic": [bic[n] for n in k_values],
            "aic": [aic[n] for n in k_values],
            "zero_inflated": [bool(models[n].zero_inflated_) for n in k_values],
        }
    )
    details: dict[int, dict[str, Any]] = {}
    stability_of = _bootstrapper(
        est, X, lambda n: models[n].predict(X), details, n_bootstrap, bootstrap_seed, n_jobs
    )
    values = aic if criterion == "aic" else bic
    chosen, evidence, reason, selection, structure, judged = choose_components(
        values, bic, stability_of, details, X, mask, k=k, criterion=criterion, kind="count mixture"
    )
    model = models[chosen]
    comb, comb_details, structure = _segments(
        chosen, model.predict_proba(X), est, X, mask, judged, structure,
        n_bootstrap=n_bootstrap, seed=bootstrap_seed, n_jobs=n_jobs,
    )  # fmt: skip
    centres = model.mean_.copy()
    g = ~mask
    centres[:, g] = np.sign(centres[:, g]) * np.expm1(np.abs(centres[:, g]))
    return MixtureFit(
        model, chosen, COUNT_MIXTURE_LABEL, evidence, finish_reason(reason, structure, comb), grid,
        selection, structure, mask, details, _segment_centres(centres, model.weights_, comb),
        combination=comb, combination_details=comb_details,
    )  # fmt: skip


def fit_gaussian(
    X: np.ndarray,
    transform: Any,
    jitter_columns: np.ndarray,
    k_values: list[int],
    cov_types: Sequence[str],
    *,
    k: int | None,
    criterion: str,
    n_bootstrap: int,
    seed: int,
    bootstrap_seed: int,
    n_jobs: int | None,
) -> MixtureFit:
    """Gaussian mixtures over jitter draws (mean and spread), the rule, the structure check.

    At each number of components the covariance type with the lowest mean criterion is taken;
    the rule then sees that type's draws (their standard error widens the margin).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Raw features (original units).
    transform : fitted feature transform
    jitter_columns : ndarray of bool
    k_values : list of int
    cov_types : sequence of str
    k, criterion, n_bootstrap, seed, bootstrap_seed, n_jobs
        As for :func:`fit_count`.

    Returns
    -------
    MixtureFit
    """
    cols = np.asarray(jitter_columns, dtype=bool)
    n_draws = _gmm.JITTER_DRAWS if cols.any() else 1
    grid, draws, models, msgs = _gmm.grid_draws(
        X, transform, cols, k_values, cov_types, seed, n_draws=n_draws, n_jobs=n_jobs
    )
    notes = []
    if msgs:
        more = f" (and {len(msgs) - 1} more)" if len(msgs) > 1 else ""
        notes.append(
            f"GMM: {len(msgs)} of {len(grid) * n_draws} fits did not converge cleanly: "
            f"{msgs[0]}{more}"
        )
    best_cov: dict[int, str] = {}
    for n in k_values:
        cells = grid[grid["n_components"] == n]
        best_cov[n] = str(cells["covariance_type"].to_numpy()[int(np.argmin(cells[criterion]))])
    Zc = transform.transform(cell_centres(X, cols))
    details: dict[int, dict[str, Any]] = {}
    stability_of = _bootstrapper(
        None,
        X,
        lambda n: models[(n, best_cov[n])].predict(Zc),
        details,
        n_bootstrap,
        bootstrap_seed,
        n_jobs,
        estimator_of=lambda n: _gmm.JitteredGMM(
            n, best_cov[n], transform=transform.transform, jitter_columns=cols
        ),
    )
    values = {n: draws[criterion][(n, best_cov[n])] for n in k_values}
    bic_values = {n: draws["bic"][(n, best_cov[n])] for n in k_values}
    chosen, evidence, reason, selection, structure, judged = choose_components(
        values,
        bic_values,
        stability_of,
        details,
        X,
        cols,
        k=k,
        criterion=criterion,
        kind="Gaussian mixture",
    )
    if cols.any():
        reason += (
            f"; {criterion.upper()} averaged over {n_draws} draws of U(0, 1) dequantisation "
            f"jitter, {_gmm.GMM_N_INIT} EM starts per fit"
        )
    model = models[(chosen, best_cov[chosen])]
    refit = _gmm.JitteredGMM(
        chosen, best_cov[chosen], transform=transform.transform, jitter_columns=cols
    )
    comb, comb_details, structure = _segments(
        chosen, model.predict_proba(Zc), refit, X, cols, judged, structure,
        n_bootstrap=n_bootstrap, seed=bootstrap_seed, n_jobs=n_jobs,
    )  # fmt: skip
    centres = transform.inverse_transform(model.means_) - 0.5 * cols
    return MixtureFit(
        model, chosen, best_cov[chosen], evidence, finish_reason(reason, structure, comb), grid,
        selection, structure, cols, details, _segment_centres(centres, model.weights_, comb),
        notes, combination=comb, combination_details=comb_details,
    )  # fmt: skip


def probabilities(
    model: Any,
    mixture: str,
    X: np.ndarray,
    transform: Any,
    jitter_columns: np.ndarray,
    groups: np.ndarray | None = None,
) -> np.ndarray:
    """Posterior probabilities of the segments for customers ``X`` (original units).

    Parameters
    ----------
    model : CountMixture or GaussianMixture
    mixture : {"count", "gaussian"}
    X : ndarray of shape (n_samples, n_features)
    transform : fitted feature transform (used by "gaussian")
    jitter_columns : ndarray of bool (used by "gaussian")
    groups : ndarray of int, shape (n_components,), optional
        Segment of every component (:attr:`MixtureFit.groups`); by default each component is
        a segment.

    Returns
    -------
    ndarray of shape (n_samples, n_segments)
    """
    if mixture == "count":
        out: np.ndarray = model.predict_proba(X)
    else:
        out = model.predict_proba(transform.transform(cell_centres(X, jitter_columns)))
    if groups is not None:
        g = np.asarray(groups, dtype=np.intp)
        if not np.array_equal(g, np.arange(out.shape[1])):
            out = group_proba(out, g, int(g.max()) + 1)
    return out


def chosen_stability(fit: MixtureFit, order: np.ndarray) -> dict[str, Any]:
    """The bootstrap of the chosen number of components, in stable segment numbers.

    Parameters
    ----------
    fit : MixtureFit
    order : ndarray of int
        ``order[raw_label]`` is the stable segment number.

    Returns
    -------
    dict
        ``{"mean_ari", "ari", "jaccard"}``.
    """
    n = fit.n_segments
    det = fit.segment_details
    if det is None or not det["ari"]:
        return {"mean_ari": float("nan"), "ari": [], "jaccard": [float("nan")] * n}
    jac = np.full(n, np.nan)
    jac[np.asarray(order)] = det["jaccard"]
    return {
        "mean_ari": float(det["mean_ari"]),
        "ari": [float(a) for a in det["ari"]],
        "jaccard": [float(j) for j in jac],
    }
