"""The number of mixture components of an MLlib run, by the one rule of every mixture.

:func:`choose_mixture` hands the MLlib grid (one criterion value per number of components: the
best of the starts on one jitter draw shared by every number, so the standard error is 0 and
the margin 10 units) to :func:`segmint.cluster.mixtures.choose_components`, the rule of
:mod:`segmint.cluster.selection` that the local mixtures go through. The stability it asks for
is refitted in Spark (:func:`segmint.spark.stability.mixture_resamples`), only for the
numbers of components the criterion cannot tell apart (and the user's k), and only with
``n_bootstrap`` > 0; otherwise it is NaN and the rule takes the smallest of them. The structure
check makes no single-population comparison (:data:`NOT_COMPARED`); the notes a user sees for
a choice on the edge of the range are those of the earlier MLlib path.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from segmint.cluster.gmm import GMM_MAX_ITER
from segmint.cluster.mixtures import choose_components, finish_reason
from segmint.spark.stability import mixture_resamples

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.ml.clustering import GaussianMixtureModel
    from pyspark.sql import DataFrame

__all__ = ["NOT_COMPARED", "MixtureChoice", "choose_mixture", "resampler"]

#: Why the structure check of an MLlib run makes no single-population comparison.
NOT_COMPARED: str = (
    "the MLlib mixtures' BIC is that of the jittered, transformed features of every customer, "
    "not on the single population's scale (probabilities of the count cells in original "
    "units), and MLlib gives no likelihood of a collected sample to set beside it"
)


@dataclass
class MixtureChoice:
    """The chosen number of components of an MLlib run, and everything said about it."""

    n_components: int
    evidence: str
    reason: str
    selection: dict[str, Any]
    structure: dict[str, Any]
    details: dict[int, dict[str, Any]]
    notes: list[str]


def resampler(
    models: dict[int, GaussianMixtureModel],
    Zg: DataFrame,
    cells: DataFrame,
    *,
    n_bootstrap: int,
    seed: int,
    tol: float,
) -> Callable[[int], dict[str, Any]]:
    """``resample(m)``: the mixture at ``m`` components refitted on resamples in Spark.

    Parameters
    ----------
    models : dict of int to GaussianMixtureModel
        The grid's mixtures (2 components and more).
    Zg : pyspark.sql.DataFrame
        Every customer's dequantised vector ``features``.
    cells : pyspark.sql.DataFrame
        Every customer's vector ``features`` at the dequantisation cell centre.
    n_bootstrap, seed : int
    tol : float
        MLlib's tolerance (on the total log-likelihood).

    Returns
    -------
    callable
        :func:`segmint.spark.stability.mixture_resamples` at ``m``, against the grid's mixture
        at ``m`` as the reference.
    """
    from pyspark.sql import functions as F

    def resample(m: int) -> dict[str, Any]:
        if m == 1:
            reference = cells.withColumn("gmm_raw", F.lit(0))
        else:
            model = models[m].setPredictionCol("gmm_raw").setProbabilityCol("gmm_proba")
            reference = model.transform(cells)
        return mixture_resamples(
            Zg, reference, m=m, n_bootstrap=n_bootstrap, seed=seed, max_iter=GMM_MAX_ITER, tol=tol
        )

    return resample


def choose_mixture(
    grid: pd.DataFrame,
    *,
    k: int | None,
    criterion: str,
    n_bootstrap: int,
    starts: int,
    resample: Callable[[int], dict[str, Any]],
) -> MixtureChoice:
    """The rule of every mixture on the MLlib grid, the candidates' stability refitted in Spark.

    Parameters
    ----------
    grid : DataFrame
        The MLlib grid: ``n_components``, ``covariance_type``, ``bic``, ``aic``, one row per
        number of components.
    k : int or None
        A number of components fixed by the user.
    criterion : {"bic", "aic"}
    n_bootstrap : int
        Resamples per candidate; with 0 nothing is refitted, the stability is NaN and the rule
        takes the smallest indistinguishable number of components.
    starts : int
        EM starts per fit (for the reason).
    resample : callable
        ``resample(m)`` -> :func:`segmint.spark.stability.mixture_resamples` at ``m``
        (:func:`resampler`); asked only for the indistinguishable numbers of components (and
        the user's k), and only with ``n_bootstrap`` > 0.

    Returns
    -------
    MixtureChoice
        ``details[m]`` holds the resamples of every candidate measured (raw labels).
    """
    details: dict[int, dict[str, Any]] = {}

    def stability_of(m: int) -> float:
        if n_bootstrap <= 0:
            details[m] = {"n_components": m, "n_bootstrap": 0, "ari": [], "mean_ari": math.nan}
        else:
            details[m] = resample(m)
        return float(details[m]["mean_ari"])

    ns = [int(v) for v in grid["n_components"]]
    values = dict(zip(ns, grid[criterion].astype(float), strict=True))
    bic = dict(zip(ns, grid["bic"].astype(float), strict=True))
    m, evidence, reason, selection, structure, _ = choose_components(
        values, bic, stability_of, details, None, None, k=k, criterion=criterion,
        kind="Gaussian mixture (Spark MLlib, full covariance)", not_compared=NOT_COMPARED,
    )  # fmt: skip
    reason = finish_reason(reason, structure)
    reason += (
        f"; {criterion.upper()} of the best of {starts} EM starts, one value per number of "
        "components (standard error 0)"
    )
    notes: list[str] = []
    others = sorted(c for c in details if c != m and "seconds" in details[c])
    if others:
        seconds = sum(float(details[c]["seconds"]) for c in others)
        notes.append(
            f"mixture selection: the stability of {len(others)} more candidate number(s) of "
            f"components ({', '.join(map(str, others))}) refitted with Spark MLlib on "
            f"{n_bootstrap} bootstrap resamples each in {seconds:.1f} s"
        )
    lo, hi = min(ns), max(ns)
    if k is None and selection.get("on_edge"):
        if m == hi:
            notes.append(
                f"GMM: n_components={m} is the top of the searched range {lo}..{hi}; widen it "
                f"upwards, e.g. --k-range {lo}..{2 * hi}"
            )
        elif lo > 1:
            notes.append(
                f"GMM: n_components={m} is the bottom of the searched range {lo}..{hi}; widen "
                f"it downwards, e.g. --k-range 1..{hi}"
            )
    return MixtureChoice(m, evidence, reason, selection, structure, details, notes)
