"""The ``Segmenter`` estimator: transform, KMeans and Gaussian-mixture selection, stability,
profiles and names, behind scikit-learn's estimator contract; and its skops file format.

``Segmenter.fit`` runs the whole clustering stage (docs/ARCHITECTURE.md) on a customer feature table:

1. validate (finite, non-negative counts; enough customers for the k searched);
2. put the rows in a canonical (lexicographic) order, so that the result depends on the set of
   customers and the seed only, never on the row order of the input;
3. fit the transform (``log1p`` then standard scaling by default);
4. sweep KMeans over ``k_range``, find the WCSS knee, choose k;
5. fit the Gaussian-mixture grid on dequantised counts, choose the cell with the evidence rule;
6. refit both at the chosen settings on ``n_bootstrap`` resamples (stability) and compare the two
   partitions (agreement);
7. number segments in a stable order, profile and name them.

Above ``large_threshold`` customers the KMeans sweep, the mixture grid and the bootstrap are fitted
on a seeded sample of :data:`LARGE_SAMPLE_SIZE` customers; everyone is then assigned, and the
WCSS, Calinski-Harabasz and Davies-Bouldin of the sweep are measured on everyone (see
:mod:`segmint.cluster.kmeans` for why not ``MiniBatchKMeans``).

``Segmenter.save`` writes a skops file holding a plain dict of scikit-learn objects, lists and
arrays (never the ``Segmenter`` class); :func:`load` checks the file's untrusted types against
the short list a segmint model may contain before loading it, and rebuilds the estimator.
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

from segmint._parallel import single_threaded
from segmint.cluster import gmm as _gmm
from segmint.cluster import kmeans as _kmeans
from segmint.cluster.knee import find_knee
from segmint.cluster.profile import name_segments, profile_table, stable_order
from segmint.cluster.stability import agreement, bootstrap
from segmint.cluster.transform import (
    SCALES,
    cell_centres,
    dequantise,
    integer_columns,
    make_transform,
)
from segmint.errors import SegmintError

__all__ = [
    "EXPECTED_UNTRUSTED_TYPES",
    "LARGE_SAMPLE_SIZE",
    "MODEL_FORMAT",
    "Segmenter",
    "canonical_skops",
    "load",
]

#: Customers the mixtures and the bootstrap are fitted on above ``large_threshold``.
LARGE_SAMPLE_SIZE: int = 50_000
#: Value of the ``format`` key of a saved model, and its version.
MODEL_FORMAT: str = "segmint-model"
_FORMAT_VERSION: int = 1
#: Types a segmint model file may contain that skops does not trust by default. The file holds
#: only scikit-learn estimators, numpy arrays and builtins; with skops 0.16 all of them are
#: trusted, so this list is what an older or stricter skops may report (``np.log1p`` and its
#: inverse in the transform). :meth:`Segmenter.save` checks that a new file stays within it.
EXPECTED_UNTRUSTED_TYPES: frozenset[str] = frozenset({"numpy.log1p", "numpy.expm1"})

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


def _records(frame: pd.DataFrame) -> dict[str, list[Any]]:
    return {c: frame[c].tolist() for c in frame.columns}


class Segmenter(ClusterMixin, BaseEstimator):
    """Customer segmentation with shown model selection: KMeans and a Gaussian mixture.

    Fitted on the feature columns of a customer table (one row per customer, non-negative
    counts such as ``n_products`` and ``n_canceled_orders``).

    Parameters
    ----------
    k : int or None, default=None
        Number of segments. None chooses it: the knee of the KMeans WCSS curve (best silhouette
        when there is no knee) and the evidence rule on the mixture grid. A given k fixes both
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
    gmm_ : GaussianMixture
        The mixture at the chosen cell (its own component numbers; see ``gmm_order_``).
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
    gmm_covariance_type_ : str
        Chosen covariance structure.
    gmm_evidence_ : {"clear", "weak", "fixed"}
        Strength of the evidence for ``gmm_n_components_``.
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
    gmm_order_ : ndarray of int, shape (gmm_n_components_,)
        The same for ``gmm_`` components.
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
        self.random_state = random_state
        self.large_threshold = large_threshold
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = self.scale == "log-standard"
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
        if self.scale == "log-standard" and negative.size:
            j = int(negative[0])
            raise _InputError(
                f"Negative values in data: feature {names[j]!r} has "
                f"{int((Xa[:, j] < 0).sum())} negative values (min {Xa[:, j].min():g}); "
                "scale='log-standard' needs counts >= 0; use scale='standard' for signed "
                "features"
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

        self.transform_ = make_transform(self.scale).fit(Xs)
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

        # Gaussian mixture: grid on dequantised counts, evidence rule.
        counts = np.array([name not in _NOT_COUNTS for name in names], dtype=bool)
        self.jitter_columns_ = (
            integer_columns(Xs) & counts if self.jitter else np.zeros(n_features, dtype=bool)
        )
        Xg = Xs if sample is None else Xs[sample]
        if self.jitter:
            Xg = dequantise(Xg, self.jitter_columns_, np.random.default_rng(seeds["jitter"]))
        Zg = self.transform_.transform(Xg)
        grid, gmm_models, gmm_msgs = _gmm.grid(
            Zg, k_values, cov_types, seeds["gmm"], n_jobs=self.n_jobs
        )
        notes += _summarise(gmm_msgs, "GMM", len(grid))
        g_choice = _gmm.choose(grid, self.gmm_criterion, k=self.k)
        self.gmm_grid_ = grid
        self.gmm_n_components_ = g_choice.n_components
        self.gmm_covariance_type_ = g_choice.covariance_type
        self.gmm_evidence_ = g_choice.evidence
        self.gmm_reason_ = g_choice.reason
        if self.jitter and self.jitter_columns_.any():
            self.gmm_reason_ += "; fitted on counts with U(0, 1) dequantisation jitter"
        if sample is not None:
            self.gmm_reason_ += f"; fitted on a seeded sample of {LARGE_SAMPLE_SIZE:,} customers"
        self.gmm_ = gmm_models[(self.gmm_n_components_, self.gmm_covariance_type_)]
        Zc = self.transform_.transform(cell_centres(Xs, self.jitter_columns_))
        proba = self.gmm_.predict_proba(Zc)
        gmm_raw = proba.argmax(axis=1)
        centres = self.transform_.inverse_transform(self.gmm_.means_) - 0.5 * self.jitter_columns_
        self.gmm_order_ = stable_order(Xs, gmm_raw, self.gmm_n_components_, centres)
        gmm_labels = self.gmm_order_[gmm_raw]
        gmm_prob = proba.max(axis=1)

        # Agreement and stability.
        self.agreement_ = {"ari": agreement(km_labels, gmm_labels)}
        pick = slice(None) if sample is None else sample
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
        gmm_stab = bootstrap(
            _gmm.make_gmm(self.gmm_n_components_, self.gmm_covariance_type_, seeds["gmm"]),
            Zg,
            Zc[pick],
            gmm_labels[pick],
            self.gmm_n_components_,
            int(self.n_bootstrap),
            seeds["bootstrap_gmm"],
            n_jobs=self.n_jobs,
        )
        notes += _summarise(km_stab.pop("messages"), "KMeans bootstrap", int(self.n_bootstrap))
        notes += _summarise(gmm_stab.pop("messages"), "GMM bootstrap", int(self.n_bootstrap))
        self.stability_ = {"n_bootstrap": int(self.n_bootstrap), "kmeans": km_stab, "gmm": gmm_stab}

        # Profiles and names (in original units, on everyone).
        frame = pd.DataFrame(Xs, columns=names)
        km_prof = profile_table(frame, km_labels, self.k_, "kmeans")
        gmm_prof = profile_table(frame, gmm_labels, self.gmm_n_components_, "gmm")
        overall_median = {str(f): float(v) for f, v in frame.median().items()}
        self.kmeans_names_ = name_segments(km_prof, names, overall_median)
        self.gmm_names_ = name_segments(gmm_prof, names, overall_median)
        km_prof.insert(2, "name", self.kmeans_names_)
        gmm_prof.insert(2, "name", self.gmm_names_)
        self.profiles_ = pd.concat([km_prof, gmm_prof], ignore_index=True)
        empty = int((gmm_prof["size"] == 0).sum())
        if empty:
            notes.append(f"GMM: {empty} of {self.gmm_n_components_} components got no customer")

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
        self.warnings_ = notes + k_choice.warnings + g_choice.warnings
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

    def _gmm_assign(self, Xa: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        Zc = self.transform_.transform(cell_centres(Xa, self.jitter_columns_))
        proba = self.gmm_.predict_proba(Zc)
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
    def _to_dict(self) -> dict[str, Any]:
        from segmint.cluster import _segmint_version

        params = self.get_params()
        params["k_range"] = [int(v) for v in self.k_range]
        params["covariance_types"] = list(self._check_params()[2])
        if not (params["random_state"] is None or isinstance(params["random_state"], int)):
            params["random_state"] = None
        return {
            "format": MODEL_FORMAT,
            "format_version": _FORMAT_VERSION,
            "segmint_version": _segmint_version(),
            "params": params,
            "feature_names": list(self.feature_names_),
            "has_feature_names_in": hasattr(self, "feature_names_in_"),
            "transform": self.transform_,
            "kmeans": self.kmeans_,
            "gmm": self.gmm_,
            "kmeans_order": [int(v) for v in self.kmeans_order_],
            "gmm_order": [int(v) for v in self.gmm_order_],
            "kmeans_names": list(self.kmeans_names_),
            "gmm_names": list(self.gmm_names_),
            "jitter_columns": [bool(v) for v in self.jitter_columns_],
            "metadata": dict(getattr(self, "metadata_", {}) or {}),
            "feature_ranges": {
                k: [float(a), float(b)] for k, (a, b) in self.feature_ranges_.items()
            },
            "selection": {
                "kmeans_sweep": _records(self.kmeans_sweep_),
                "knee": self.knee_,
                "knee_strength": float(self.knee_strength_),
                "k": int(self.k_),
                "k_reason": self.k_reason_,
                "gmm_grid": _records(self.gmm_grid_),
                "gmm_n_components": int(self.gmm_n_components_),
                "gmm_covariance_type": self.gmm_covariance_type_,
                "gmm_evidence": self.gmm_evidence_,
                "gmm_reason": self.gmm_reason_,
                "agreement": dict(self.agreement_),
                "stability": self.stability_,
                "profiles": _records(self.profiles_),
                "warnings": list(self.warnings_),
                "n_samples_fit": int(self.n_samples_fit_),
                "fit_sample_size": int(self.fit_sample_size_),
            },
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the fitted model to a skops file.

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
        import skops.io as sio

        check_is_fitted(self, ["kmeans_", "gmm_"])
        data = canonical_skops(sio.dumps(self._to_dict()))
        unexpected = sorted(set(sio.get_untrusted_types(data=data)) - EXPECTED_UNTRUSTED_TYPES)
        if unexpected:  # pragma: no cover - a bug in segmint, not a user error
            raise RuntimeError(f"model would contain unexpected types {unexpected}")
        path = Path(path)
        path.write_bytes(data)
        return path


def canonical_skops(data: bytes) -> bytes:
    """The same skops archive, byte-identical for the same model (``skops.io.dumps`` is not).

    skops numbers the objects it stores by ``id()`` (``__id__`` in ``schema.json``, and the
    names of the ``.npy`` members), which differs from process to process, and stamps each
    member with the time of writing. Here the numbers become 1, 2, 3... in order of first
    appearance in the schema, the members are stored in that order (the schema last, as
    skops does) and dated 1980-01-01, the earliest date a zip archive can hold. Which objects
    share a number is unchanged, so the model loads exactly as before.
    """
    import io
    import json
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        state = json.loads(archive.read("schema.json"))
        members = {name: archive.read(name) for name in archive.namelist()}
        compression = archive.getinfo("schema.json").compress_type
    numbers: dict[int, int] = {}

    def number(old: int) -> int:
        return numbers.setdefault(old, len(numbers) + 1)

    files: dict[str, str] = {}  # old member name -> new, in schema order

    def renumber(node: Any) -> Any:
        if isinstance(node, dict):
            out: dict[str, Any] = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = number(value)
                elif key == "file" and isinstance(value, str) and value.endswith(".npy"):
                    new = f"{number(int(value[: -len('.npy')]))}.npy"
                    files[value] = new
                    out[key] = new
                else:
                    out[key] = renumber(value)
            return out
        if isinstance(node, list):
            return [renumber(value) for value in node]
        return node

    schema = json.dumps(renumber(state), indent=2).encode("utf-8")

    def member(name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
        info.compress_type = compression
        info.external_attr = 0o600 << 16  # what ZipFile.writestr gives a member
        return info

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for old, new in files.items():
            archive.writestr(member(new), members[old])
        archive.writestr(member("schema.json"), schema)
    return buffer.getvalue()


def load(path: str | os.PathLike[str]) -> Segmenter:
    """Load a model written by :meth:`Segmenter.save`, refusing files with unexpected types.

    The file's untrusted types (``skops.io.get_untrusted_types``) must all be in
    :data:`EXPECTED_UNTRUSTED_TYPES`; only then is it loaded, trusting exactly those.

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
        When the file is missing, not a skops file, holds types a segmint model never has, or
        is not a segmint model (or one of a newer format).
    """
    import skops.io as sio

    path = Path(path)
    if not path.is_file():
        raise SegmintError(f"{path}: no such model file; fit one with `segmint run`")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise SegmintError(f"{path} is not a skops model file ({exc}); pass a model.skops") from exc
    unexpected = sorted(set(untrusted) - EXPECTED_UNTRUSTED_TYPES)
    if unexpected:
        raise SegmintError(
            f"{path}: refusing to load: it contains types a segmint model never has "
            f"({', '.join(unexpected)}); load only model files segmint wrote"
        )
    obj = sio.load(path, trusted=list(untrusted))
    if not isinstance(obj, dict) or obj.get("format") != MODEL_FORMAT:
        raise SegmintError(f"{path} is a skops file but not a segmint model; pass a model.skops")
    if int(obj.get("format_version", 0)) > _FORMAT_VERSION:
        raise SegmintError(
            f"{path} was written by a newer segmint ({obj.get('segmint_version')}); upgrade segmint"
        )
    params = dict(obj["params"])
    params["k_range"] = tuple(params["k_range"])
    params["covariance_types"] = tuple(params["covariance_types"])
    seg = Segmenter(**params)
    names = list(obj["feature_names"])
    if obj["has_feature_names_in"]:
        seg.feature_names_in_ = np.asarray(names, dtype=object)
    seg.feature_names_ = names
    seg.n_features_in_ = len(names)
    seg.transform_ = obj["transform"]
    seg.kmeans_ = obj["kmeans"]
    seg.gmm_ = obj["gmm"]
    seg.kmeans_order_ = np.asarray(obj["kmeans_order"], dtype=np.int64)
    seg.gmm_order_ = np.asarray(obj["gmm_order"], dtype=np.int64)
    seg.kmeans_names_ = list(obj["kmeans_names"])
    seg.gmm_names_ = list(obj["gmm_names"])
    seg.jitter_columns_ = np.asarray(obj["jitter_columns"], dtype=bool)
    seg.feature_ranges_ = {k: (float(a), float(b)) for k, (a, b) in obj["feature_ranges"].items()}
    if obj.get("metadata"):
        seg.metadata_ = dict(obj["metadata"])
    sel = obj["selection"]
    seg.kmeans_sweep_ = pd.DataFrame(sel["kmeans_sweep"]).astype({"k": "int64"})
    seg.knee_ = sel["knee"]
    seg.knee_strength_ = float(sel["knee_strength"])
    seg.k_ = int(sel["k"])
    seg.k_reason_ = sel["k_reason"]
    seg.gmm_grid_ = pd.DataFrame(sel["gmm_grid"]).astype({"n_components": "int64"})
    seg.gmm_n_components_ = int(sel["gmm_n_components"])
    seg.gmm_covariance_type_ = sel["gmm_covariance_type"]
    seg.gmm_evidence_ = sel["gmm_evidence"]
    seg.gmm_reason_ = sel["gmm_reason"]
    seg.agreement_ = dict(sel["agreement"])
    seg.stability_ = sel["stability"]
    seg.profiles_ = pd.DataFrame(sel["profiles"])
    seg.warnings_ = list(sel["warnings"])
    seg.n_samples_fit_ = int(sel["n_samples_fit"])
    seg.fit_sample_size_ = int(sel["fit_sample_size"])
    return seg
