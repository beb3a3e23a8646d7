"""The ``Segmenter`` estimator: transform, KMeans and Gaussian-mixture selection, stability,
profiles and names, behind scikit-learn's estimator contract.

``Segmenter.fit`` runs the whole clustering stage (docs/ARCHITECTURE.md) on a customer feature
table:

1. validate (finite, non-negative counts; enough customers for the k searched);
2. put the rows in a canonical (lexicographic) order, so that the result depends on the set of
   customers and the seed only, never on the row order of the input;
3. fit the transform (``log1p`` then standard scaling by default);
4. sweep KMeans over ``k_range``, find the WCSS knee, choose k;
5. fit the mixture grid (the count mixture by default, or Gaussian mixtures on dequantised
   counts), choose the number of components with the one selection rule, check for structure;
6. refit both at the chosen settings on ``n_bootstrap`` resamples (stability) and compare the two
   partitions (agreement);
7. number segments in a stable order, profile and name them.

Above ``large_threshold`` customers the KMeans sweep, the mixture grid and the bootstrap are fitted
on a seeded sample of :data:`LARGE_SAMPLE_SIZE` customers; everyone is then assigned, and the
WCSS, Calinski-Harabasz and Davies-Bouldin of the sweep are measured on everyone (see
:mod:`segmint.cluster.kmeans` for why not ``MiniBatchKMeans``).

``Segmenter.save`` and :func:`load` read and write the model file through :mod:`segmint.persist`
(its format: a skops archive of a plain dict, checked before it is loaded).
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils.validation import check_is_fitted, validate_data

import segmint.persist as persist
from segmint._parallel import single_threaded
from segmint.cluster import MIXTURES
from segmint.cluster import gmm as _gmm
from segmint.cluster import kmeans as _kmeans
from segmint.cluster import mixtures as _mix
from segmint.cluster.knee import find_knee
from segmint.cluster.profile import name_segments, profile_table, stable_order
from segmint.cluster.stability import agreement, bootstrap
from segmint.cluster.transform import (
    SCALES,
    integer_columns,
    make_transform,
)
from segmint.errors import SegmintError

__all__ = ["LARGE_SAMPLE_SIZE", "MIXTURES", "Segmenter", "load"]

#: Customers the mixtures and the bootstrap are fitted on above ``large_threshold``.
LARGE_SAMPLE_SIZE: int = 50_000
#: Features that are never dequantised even when all their values happen to be whole numbers.
_NOT_COUNTS = frozenset({"cancel_rate", "monetary"})

_SEED_STREAMS = ("sample", "kmeans", "jitter", "gmm", "bootstrap_kmeans", "bootstrap_gmm")


class _InputError(SegmintError, ValueError):
    """A user-facing input problem; also a ValueError, as scikit-learn's contract expects."""


def _seeds(random_state: Any) -> dict[str, int]:
    """One independent integer seed per random step, all derived from ``random_state``."""
    if random_state is None:
        seq = np.random.SeedSequence()
    elif isinstance(random_state, np.random.RandomState):
        seq = np.random.SeedSequence(int(random_state.randint(np.iinfo(np.int32).max)))
    elif isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        if random_state < 0:
            raise _InputError(f"random_state={random_state} should be >= 0")
        seq = np.random.SeedSequence(int(random_state))
    else:
        raise _InputError(
            f"random_state={random_state!r} should be an int, None or a numpy RandomState"
        )
    states = [int(c.generate_state(1)[0] >> 1) for c in seq.spawn(len(_SEED_STREAMS))]
    return dict(zip(_SEED_STREAMS, states, strict=True))


def _summarise(messages: list[str], what: str, total: int) -> list[str]:
    if not messages:
        return []
    more = f" (and {len(messages) - 1} more)" if len(messages) > 1 else ""
    return [
        f"{what}: {len(messages)} of {total} fits did not converge cleanly: {messages[0]}{more}"
    ]


class Segmenter(ClusterMixin, BaseEstimator):
    """Customer segmentation with shown model selection: KMeans and a Gaussian mixture.

    Fitted on the feature columns of a customer table (one row per customer, non-negative
    counts such as ``n_products`` and ``n_canceled_orders``).

    Parameters
    ----------
    k : int or None, default=None
        Number of segments. None chooses it: the knee of the KMeans WCSS curve (best silhouette
        when there is no knee) and the selection rule on the mixture grid. A given k fixes both
        KMeans' k and the mixture's n_components (only its covariance type is then chosen); it
        must lie in ``k_range``.
    k_range : tuple of (int, int), default=(1, 10)
        Smallest and largest k (and n_components) searched, both included.
    scale : {"log-standard", "standard", "robust", "none"}, default="log-standard"
        Feature transform: ``log1p`` then standard scaling, or (without the logarithm)
        standard scaling, robust scaling (median and IQR), or none.
    covariance_types : sequence of {"full", "tied", "diag", "spherical"}, \
            default=("full", "tied", "diag", "spherical")
        Covariance structures of the mixture grid.
    gmm_criterion : {"bic", "aic"}, default="bic"
        Criterion the mixture grid is chosen by (lower is better).
    jitter : bool, default=True
        Add a seeded uniform ``U(0, 1)`` dequantisation jitter to the integer-valued features
        before the transform when fitting mixtures (customers are then assigned at ``x + 0.5``).
        Without it the BIC of integer counts keeps falling as components are added.
    n_bootstrap : int, default=20
        Bootstrap resamples for the stability of both partitions (0 skips stability).
    mixture : {"count", "gaussian"}, default="count"
        The mixture model. ``"count"``: :class:`~segmint.cluster.count_mixture.CountMixture`,
        negative binomials for the counts (``n_products``, ``n_canceled_orders``,
        ``n_orders``, unnamed integer columns) and Gaussians on the log scale for the rest,
        one model, no jitter. ``"gaussian"``: Gaussian mixtures over components x
        ``covariance_types`` on the transformed, dequantised features (5 EM starts, the
        criterion averaged over 3 jitter draws). Either way the number of components is chosen
        by :mod:`segmint.cluster.selection`'s rule (``mixture_selection_``) and checked
        against a single population (``structure_``).
    random_state : int, RandomState instance or None, default=0
        Seeds every random step (samples, initialisations, jitter, resamples). The same int
        gives identical segments, numbers and names on every run.
    large_threshold : int, default=200_000
        Above this many customers fit the KMeans sweep, the mixtures and the bootstrap on a
        seeded sample of ``LARGE_SAMPLE_SIZE`` (50,000) customers, then assign everyone.
    n_jobs : int or None, default=None
        Processes fitting the KMeans sweep, the mixture grid and the bootstrap side by side
        (forked, :mod:`segmint._parallel`); None or -1 uses every core, 1 fits in the calling
        process. Each process runs BLAS and OpenMP single-threaded. The results do not depend
        on it.

    Attributes
    ----------
    feature_names_in_ : ndarray of str, shape (n_features_in_,)
        Feature names, when ``X`` was a DataFrame with string column names.
    n_features_in_ : int
        Number of features.
    transform_ : sklearn.pipeline.Pipeline
        The fitted feature transform.
    kmeans_ : KMeans
        The KMeans at the chosen k (its own label numbers; see ``kmeans_order_``).
    gmm_ : CountMixture or GaussianMixture
        The mixture at the choice (its own component numbers; see ``gmm_order_``).
    mixture_selection_ : dict
        The selection rule's table (criterion mean and standard error per number of
        components), the indistinguishable numbers, their stability, the reason.
    structure_ : dict
        :func:`segmint.cluster.selection.structure_check` of the choice.
    gmm_count_features_ : ndarray of bool
        Features the count mixture modelled as counts (the jittered ones for "gaussian").
    kmeans_sweep_ : DataFrame
        ``k``, ``wcss``, ``silhouette``, ``calinski_harabasz``, ``davies_bouldin`` per k (NaN
        where undefined).
    knee_ : int or None
        Knee of the WCSS curve.
    knee_strength_ : float
        Kneedle distance at the knee (0 to 1; see :mod:`segmint.cluster.knee`).
    k_ : int
        Chosen number of KMeans segments.
    k_reason_ : str
        Why ``k_`` (knee strength, what the other indices say).
    gmm_grid_ : DataFrame
        ``n_components``, ``covariance_type``, ``bic``, ``aic`` per grid cell.
    gmm_n_components_ : int
        Chosen number of mixture components.
    gmm_n_segments_ : int
        Mixture segments: ``gmm_n_components_``, or fewer when components that only shape one
        clearly separated group were combined (:mod:`segmint.cluster.combine`).
    gmm_groups_ : ndarray of int, shape (gmm_n_components_,)
        Segment (before ``gmm_order_``) of every component.
    gmm_combination_ : dict
        :meth:`segmint.cluster.combine.Combination.to_dict` of the choice.
    gmm_covariance_type_ : str
        Chosen covariance structure.
    gmm_evidence_ : {"clear", "indistinguishable", "fixed"}
        ``"indistinguishable"`` when the rule found several numbers of components within the
        margin of the best criterion.
    gmm_reason_ : str
        Why that cell.
    jitter_columns_ : ndarray of bool, shape (n_features_in_,)
        Features that were dequantised: integer-valued in training, with ``jitter=True``,
        and not a rate or an amount (``cancel_rate``, ``monetary``).
    labels_ : ndarray of int, shape (n_samples,)
        KMeans segment of every training customer, in the stable order.
    gmm_labels_ : ndarray of int, shape (n_samples,)
        Mixture segment of every training customer, in the stable order.
    gmm_probability_ : ndarray of float, shape (n_samples,)
        Posterior probability of that mixture segment.
    kmeans_order_ : ndarray of int, shape (k_,)
        ``kmeans_order_[label]`` is the stable segment number of a ``kmeans_`` label.
    gmm_order_ : ndarray of int, shape (gmm_n_segments_,)
        The same for the mixture's segments (``gmm_groups_`` of its components).
    kmeans_names_ : list of str
        Name of each KMeans segment, indexed by segment number.
    gmm_names_ : list of str
        Name of each mixture segment.
    profiles_ : DataFrame
        One row per method and segment, the columns of ``profiles.csv``.
    agreement_ : dict
        ``{"ari": float}``, adjusted Rand index between the two partitions.
    stability_ : dict
        ``{"n_bootstrap", "kmeans": {"mean_ari", "ari", "jaccard"}, "gmm": {...}}``.
    warnings_ : list of str
        Everything a user should know about the selection.
    feature_ranges_ : dict of str to tuple of (float, float)
        Training minimum and maximum of every feature, in original units.
    n_samples_fit_ : int
        Number of training customers.
    fit_sample_size_ : int
        Customers the mixtures and the bootstrap were fitted on.

    Notes
    -----
    A model loaded with :func:`load` has every attribute except the per-customer ones
    (``labels_``, ``gmm_labels_``, ``gmm_probability_``); use :meth:`assign` to get them.
    A ``metadata_`` dict of plain values (e.g. the feature rules of the run) set by the caller
    before :meth:`save` is saved and restored too.

    Examples
    --------
    >>> import numpy as np
    >>> from segmint.model import Segmenter
    >>> rng = np.random.default_rng(0)
    >>> X = np.vstack([rng.poisson(2, (100, 2)), rng.poisson(40, (100, 2))])
    >>> seg = Segmenter(k_range=(1, 4), n_bootstrap=2, covariance_types=("diag",)).fit(X)
    >>> seg.k_
    2
    """

    def __init__(
        self,
        k: int | None = None,
        k_range: tuple[int, int] = (1, 10),
        scale: str = "log-standard",
        covariance_types: Sequence[str] = ("full", "tied", "diag", "spherical"),
        gmm_criterion: str = "bic",
        jitter: bool = True,
        n_bootstrap: int = 20,
        mixture: str = "count",
        random_state: Any = 0,
        large_threshold: int = 200_000,
        n_jobs: int | None = None,
    ) -> None:
        self.k = k
        self.k_range = k_range
        self.scale = scale
        self.covariance_types = covariance_types
        self.gmm_criterion = gmm_criterion
        self.jitter = jitter
        self.n_bootstrap = n_bootstrap
        self.mixture = mixture
        self.random_state = random_state
        self.large_threshold = large_threshold
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        # negative values are fitted too (asinh instead of log1p under "log-standard")
        tags.input_tags.positive_only = False
        return tags

    # ------------------------------------------------------------------ validation
    def _check_params(self) -> tuple[int, int, tuple[str, ...]]:
        k_range = self.k_range
        if (
            isinstance(k_range, str)
            or not isinstance(k_range, Sequence)
            or len(k_range) != 2
            or not all(isinstance(v, numbers.Integral) for v in k_range)
        ):
            raise _InputError(f"k_range={k_range!r} should be two integers (lo, hi), e.g. (1, 10)")
        lo, hi = int(k_range[0]), int(k_range[1])
        if lo < 1 or hi < lo:
            raise _InputError(
                f"k_range=({lo}, {hi}) should satisfy 1 <= lo <= hi; e.g. --k-range 1..10"
            )
        if self.k is not None:
            if not isinstance(self.k, numbers.Integral) or isinstance(self.k, bool):
                raise _InputError(f"k={self.k!r} should be an integer or None")
            if not lo <= self.k <= hi:
                raise _InputError(
                    f"k={self.k} is outside k_range=({lo}, {hi}); "
                    f"widen it, e.g. --k-range {min(lo, self.k)}..{max(hi, self.k)}"
                )
        if self.scale not in SCALES:
            raise _InputError(f"scale={self.scale!r} should be one of {', '.join(SCALES)}")
        cov = (
            (self.covariance_types,)
            if isinstance(self.covariance_types, str)
            else tuple(self.covariance_types)
        )
        bad = [c for c in cov if c not in _gmm.COVARIANCE_TYPES]
        if not cov or bad:
            raise _InputError(
                f"covariance_types={self.covariance_types!r} should be a non-empty subset of "
                f"{', '.join(_gmm.COVARIANCE_TYPES)}"
            )
        if self.gmm_criterion not in _gmm.CRITERIA:
            raise _InputError(
                f"gmm_criterion={self.gmm_criterion!r} should be one of {', '.join(_gmm.CRITERIA)}"
            )
        if self.mixture not in MIXTURES:
            raise _InputError(f"mixture={self.mixture!r} should be one of {', '.join(MIXTURES)}")
        if not isinstance(self.n_bootstrap, numbers.Integral) or self.n_bootstrap < 0:
            raise _InputError(f"n_bootstrap={self.n_bootstrap!r} should be an integer >= 0")
        if not isinstance(self.large_threshold, numbers.Integral) or self.large_threshold < 1:
            raise _InputError(f"large_threshold={self.large_threshold!r} should be an integer >= 1")
        return lo, hi, tuple(dict.fromkeys(cov))

    def _validate_X(self, X: Any, *, reset: bool) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            bad = [
                str(c)
                for c in X.columns
                if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])
            ]
            if bad:
                raise _InputError(
                    f"columns {bad} are not numeric; pass only the feature columns "
                    f"(e.g. n_products, n_canceled_orders), not customer_id"
                )
            if len(X) == 0:
                raise _InputError("no customers: the feature table has 0 rows")
        try:
            Xa = validate_data(
                self, X, reset=reset, dtype=np.float64, ensure_all_finite=False, copy=False
            )
        except ValueError as exc:
            if isinstance(exc, SegmintError):
                raise
            raise _InputError(str(exc)) from exc
        names = self._feature_names(Xa.shape[1]) if reset else self.feature_names_
        for j, name in enumerate(names):
            col = Xa[:, j]
            n_nan = int(np.isnan(col).sum())
            n_inf = int(np.isinf(col).sum())
            if n_nan or n_inf:
                raise _InputError(
                    f"feature {name!r} has {n_nan} NaN and {n_inf} inf values; "
                    "fill or drop those customers"
                )
        negative = np.flatnonzero(Xa.min(axis=0) < 0)
        fitted_log1p = (
            not reset and hasattr(self, "transform_") and "log1p" in self.transform_.named_steps
        )
        if self.scale == "log-standard" and negative.size and fitted_log1p:
            j = int(negative[0])
            raise _InputError(
                f"Negative values in data: feature {names[j]!r} has "
                f"{int((Xa[:, j] < 0).sum())} negative values (min {Xa[:, j].min():g}), but "
                "the model was fitted on values >= 0 (log1p); refit on data like these"
            )
        return np.asarray(Xa, dtype=np.float64)

    def _feature_names(self, n_features: int) -> list[str]:
        if hasattr(self, "feature_names_in_"):
            return [str(c) for c in self.feature_names_in_]
        return [f"x{j}" for j in range(n_features)]

    # ------------------------------------------------------------------ fit
    def fit(self, X: Any, y: Any = None) -> Segmenter:
        """Transform, select and fit KMeans and a Gaussian mixture, measure stability, name.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            One row per customer, feature columns only (non-negative with the default scale).
        y : None
            Ignored; present for the scikit-learn API.

        Returns
        -------
        self : Segmenter
            Fitted.

        Raises
        ------
        SegmintError
            On bad parameters or data: NaN/inf or (with ``scale="log-standard"``) negative
            values, fewer customers than the largest k, ``k`` outside ``k_range``. It is also a
            ``ValueError``.
        """
        lo, hi, cov_types = self._check_params()
        X_in = self._validate_X(X, reset=True)
        n, n_features = X_in.shape
        names = self._feature_names(n_features)
        self.feature_names_ = names
        if n < 2:
            raise _InputError(f"n_samples={n} should be >= 2: segments need at least 2 customers")
        if n < hi:
            what = f"k={self.k}" if self.k is not None and self.k > n else f"max(k_range)={hi}"
            raise _InputError(
                f"n_samples={n} should be >= {what}; pass a smaller --k-range (e.g. 1..{n})"
            )
        # BLAS and OpenMP run single-threaded: every fit here is small (at most 50,000
        # customers); threads cost more than they gain, and far more on a busy machine
        # (measured: 30x slower KMeans with 2 threads under load). Parallelism is n_jobs processes.
        with single_threaded():
            return self._fit(X_in, lo, hi, cov_types)

    def _fit(self, X_in: np.ndarray, lo: int, hi: int, cov_types: tuple[str, ...]) -> Segmenter:
        n, n_features = X_in.shape
        names = self.feature_names_
        seeds = _seeds(self.random_state)
        notes: list[str] = []

        # Canonical row order: the fit depends on the set of rows, not on their order.
        order = np.lexsort(X_in.T[::-1])
        Xs = X_in[order]
        n_distinct = 1 + int(np.any(Xs[1:] != Xs[:-1], axis=1).sum()) if n > 1 else n
        k_values = [k for k in range(lo, hi + 1) if k <= n_distinct]
        if self.k is not None and self.k > n_distinct:
            raise _InputError(
                f"n_distinct_customers={n_distinct} should be >= k={self.k}: only {n_distinct} "
                "customers differ in their features; choose a smaller k"
            )
        if not k_values:
            raise _InputError(
                f"n_distinct_customers={n_distinct} should be >= min(k_range)={lo}; "
                f"pass --k-range 1..{n_distinct}"
            )
        if k_values[-1] < hi:
            notes.append(
                f"only {n_distinct} customers differ in their features; k above {n_distinct} "
                f"was not searched (k_range {lo}..{hi})"
            )

        signed = bool((Xs < 0).any())  # net spend can be negative: asinh, not log1p
        self.transform_ = make_transform(self.scale, signed=signed).fit(Xs)
        Z = self.transform_.transform(Xs)
        if n > self.large_threshold and n > LARGE_SAMPLE_SIZE:
            rng = np.random.default_rng(seeds["sample"])
            sample: np.ndarray | None = np.sort(
                rng.choice(n, size=LARGE_SAMPLE_SIZE, replace=False)
            )
        else:
            sample = None
        self.n_samples_fit_ = n
        self.fit_sample_size_ = n if sample is None else LARGE_SAMPLE_SIZE

        # KMeans: sweep, knee, choice.
        sweep, km_models, km_msgs = _kmeans.sweep(
            Z, k_values, seeds["kmeans"], fit_sample=sample, n_jobs=self.n_jobs
        )
        notes += _summarise(km_msgs, "KMeans", len(k_values))
        knee = find_knee(sweep["k"].to_numpy(), sweep["wcss"].to_numpy())
        k_choice = _kmeans.choose_k(sweep, knee, self.k)
        self.kmeans_sweep_ = sweep
        self.knee_ = knee.x
        self.knee_strength_ = knee.strength
        self.k_ = k_choice.k
        self.k_reason_ = k_choice.reason
        self.kmeans_ = km_models[self.k_]
        if sample is not None:
            self.k_reason_ += (
                f"; KMeans fitted on a seeded sample of {LARGE_SAMPLE_SIZE:,} customers, "
                "WCSS and indices measured on everyone"
            )
        km_raw = self.kmeans_.predict(Z)
        self.kmeans_order_ = stable_order(Xs, km_raw, self.k_)
        km_labels = self.kmeans_order_[km_raw]

        # Mixture: criterion grid, the selection rule, the structure check.
        counts = np.array([name not in _NOT_COUNTS for name in names], dtype=bool)
        self.jitter_columns_ = (
            integer_columns(Xs) & counts
            if self.jitter and self.mixture == "gaussian"
            else np.zeros(n_features, dtype=bool)
        )
        pick = slice(None) if sample is None else sample
        Xm = Xs[pick]
        common: dict[str, Any] = {
            "k": self.k,
            "criterion": self.gmm_criterion,
            "n_bootstrap": int(self.n_bootstrap),
            "seed": seeds["gmm"],
            "bootstrap_seed": seeds["bootstrap_gmm"],
            "n_jobs": self.n_jobs,
        }
        if self.mixture == "count":
            mix = _mix.fit_count(Xm, names, k_values, **common)
        else:
            mix = _mix.fit_gaussian(
                Xm, self.transform_, self.jitter_columns_, k_values, cov_types, **common
            )
        notes += mix.notes
        self.gmm_ = mix.model
        self.gmm_grid_ = mix.grid
        self.gmm_n_components_ = mix.n_components
        self.gmm_groups_ = mix.groups
        self.gmm_n_segments_ = mix.n_segments
        self.gmm_combination_ = mix.combination.to_dict() if mix.combination else {}
        self.gmm_covariance_type_ = mix.covariance_type
        self.gmm_evidence_ = mix.evidence
        self.gmm_reason_ = mix.reason
        self.mixture_selection_ = mix.selection
        self.structure_ = mix.structure
        self.gmm_count_features_ = mix.count_features
        if sample is not None:
            self.gmm_reason_ += f"; fitted on a seeded sample of {LARGE_SAMPLE_SIZE:,} customers"
        proba = self._gmm_proba(Xs)
        gmm_raw = proba.argmax(axis=1)
        self.gmm_order_ = stable_order(Xs, gmm_raw, self.gmm_n_segments_, mix.centres)
        gmm_labels = self.gmm_order_[gmm_raw]
        gmm_prob = proba.max(axis=1)

        # Agreement and stability.
        self.agreement_ = {"ari": agreement(km_labels, gmm_labels)}
        km_stab = bootstrap(
            _kmeans.make_kmeans(self.k_, seeds["kmeans"]),
            Z[pick],
            Z[pick],
            km_labels[pick],
            self.k_,
            int(self.n_bootstrap),
            seeds["bootstrap_kmeans"],
            n_jobs=self.n_jobs,
        )
        notes += _summarise(km_stab.pop("messages"), "KMeans bootstrap", int(self.n_bootstrap))
        gmm_stab = _mix.chosen_stability(mix, self.gmm_order_)
        self.stability_ = {"n_bootstrap": int(self.n_bootstrap), "kmeans": km_stab, "gmm": gmm_stab}

        # Profiles and names (in original units, on everyone).
        frame = pd.DataFrame(Xs, columns=names)
        km_prof = profile_table(frame, km_labels, self.k_, "kmeans")
        gmm_prof = profile_table(frame, gmm_labels, self.gmm_n_segments_, "gmm")
        overall_median = {str(f): float(v) for f, v in frame.median().items()}
        self.kmeans_names_ = name_segments(km_prof, names, overall_median)
        self.gmm_names_ = name_segments(gmm_prof, names, overall_median)
        km_prof.insert(2, "name", self.kmeans_names_)
        gmm_prof.insert(2, "name", self.gmm_names_)
        self.profiles_ = pd.concat([km_prof, gmm_prof], ignore_index=True)
        empty = int((gmm_prof["size"] == 0).sum())
        if empty:
            kind = "count mixture" if self.mixture == "count" else "Gaussian mixture"
            notes.append(f"{kind}: {empty} of {self.gmm_n_segments_} segments got no customer")

        # Back to the caller's row order.
        self.labels_ = np.empty(n, dtype=np.int64)
        self.labels_[order] = km_labels
        self.gmm_labels_ = np.empty(n, dtype=np.int64)
        self.gmm_labels_[order] = gmm_labels
        self.gmm_probability_ = np.empty(n, dtype=np.float64)
        self.gmm_probability_[order] = gmm_prob
        self.feature_ranges_ = {
            name: (float(Xs[:, j].min()), float(Xs[:, j].max())) for j, name in enumerate(names)
        }
        lo_k, hi_k = k_values[0], k_values[-1]
        if self.k is None and self.mixture_selection_.get("on_edge"):
            notes.append(
                f"mixture: n_components={self.gmm_n_components_} is on the edge of the searched "
                f"range {lo_k}..{hi_k}; widen --k-range"
            )
        self.warnings_ = notes + k_choice.warnings
        return self

    # ------------------------------------------------------------------ predict
    def predict(self, X: Any) -> np.ndarray:
        """KMeans segment (stable number) of every customer.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)
            The training features, in the same order (and names, for a DataFrame).

        Returns
        -------
        ndarray of int64, shape (n_samples,)
        """
        check_is_fitted(self, "kmeans_")
        Xa = self._validate_X(X, reset=False)
        return self.kmeans_order_[self.kmeans_.predict(self.transform_.transform(Xa))]

    def predict_gmm(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Mixture segment (stable number) and its posterior probability for every customer.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        segments : ndarray of int64, shape (n_samples,)
        probability : ndarray of float64, shape (n_samples,)
        """
        check_is_fitted(self, "gmm_")
        Xa = self._validate_X(X, reset=False)
        return self._gmm_assign(Xa)

    def _gmm_proba(self, Xa: np.ndarray) -> np.ndarray:
        return _mix.probabilities(
            self.gmm_,
            self.mixture,
            Xa,
            self.transform_,
            self.jitter_columns_,
            getattr(self, "gmm_groups_", None),
        )

    def _gmm_assign(self, Xa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        proba = self._gmm_proba(Xa)
        return self.gmm_order_[proba.argmax(axis=1)], proba.max(axis=1)

    def assign(self, X: Any) -> pd.DataFrame:
        """Both segments, their names and the mixture probability of every customer.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        DataFrame
            Index of ``X`` (a RangeIndex for arrays); columns ``kmeans_segment`` (int64),
            ``kmeans_name`` (str), ``gmm_segment`` (int64), ``gmm_name`` (str),
            ``gmm_probability`` (float64).
        """
        check_is_fitted(self, ["kmeans_", "gmm_"])
        Xa = self._validate_X(X, reset=False)
        km = self.kmeans_order_[self.kmeans_.predict(self.transform_.transform(Xa))]
        gm, prob = self._gmm_assign(Xa)
        index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(Xa))
        return pd.DataFrame(
            {
                "kmeans_segment": km.astype(np.int64),
                "kmeans_name": np.asarray(self.kmeans_names_, dtype=object)[km],
                "gmm_segment": gm.astype(np.int64),
                "gmm_name": np.asarray(self.gmm_names_, dtype=object)[gm],
                "gmm_probability": prob.astype(np.float64),
            },
            index=index,
        )

    def out_of_range(self, X: Any) -> pd.Series:
        """Mark customers with a feature outside its training range (extrapolation).

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        Series of bool
            Named ``out_of_range``, index of ``X``; True where any feature is below its
            training minimum or above its training maximum (``feature_ranges_``).
        """
        check_is_fitted(self, "feature_ranges_")
        Xa = self._validate_X(X, reset=False)
        lo = np.array([r[0] for r in self.feature_ranges_.values()])
        hi = np.array([r[1] for r in self.feature_ranges_.values()])
        flags = np.any((Xa < lo) | (Xa > hi), axis=1)
        index = X.index if isinstance(X, pd.DataFrame) else pd.RangeIndex(len(Xa))
        return pd.Series(flags, index=index, name="out_of_range", dtype=bool)

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model to a skops file (:func:`segmint.persist.save`).

        The file holds a plain dict: the transform, both fitted models, the segment order and
        names, the training feature ranges, and the selection results (sweep, grid, reasons,
        stability, profiles, warnings). Per-customer training labels are not stored.

        Parameters
        ----------
        path : str or path-like
            Destination, conventionally ``model.skops``.

        Returns
        -------
        pathlib.Path
            ``path``.
        """
        check_is_fitted(self, ["kmeans_", "gmm_"])
        return persist.save(self, path)


def load(path: str | os.PathLike[str]) -> Segmenter:
    """Load a model written by :meth:`Segmenter.save` (``segmint.load_model``).

    The file is checked before and after loading (:func:`segmint.persist.load`): its untrusted
    types must be in :data:`segmint.persist.EXPECTED_UNTRUSTED_TYPES`, its header and layout
    those of a segmint model.

    Parameters
    ----------
    path : str or path-like
        A ``.skops`` file.

    Returns
    -------
    Segmenter
        Fitted, without the per-customer training attributes.

    Raises
    ------
    SegmintError
        When the file is missing, a folder, not a skops file, damaged, holds types a segmint
        model never has, or is not a segmint model (or one of a newer format).
    """
    return persist.load(path, Segmenter)
