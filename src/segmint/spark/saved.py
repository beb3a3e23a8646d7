"""The model file of an MLlib run, and applying it without Spark (``segmint predict``).

``segmint run --engine spark`` above ``--spark-collect-limit`` clusters with Spark MLlib
(:mod:`segmint.spark.mllib`) and writes ``model.skops`` like a local run. Everything needed to
assign a customer is a handful of plain arrays: the transform (``log1p`` or not, centre,
spread), the KMeans centres, the mixture's weights, means and covariances, the stable segment
numbering and the names. :class:`MLlibModel` holds them, saves them as a skops file of builtins
and numpy arrays (byte-identical for the same run, as the local model), and assigns customers
with numpy exactly as MLlib does:

- KMeans: the nearest centre (squared Euclidean distance; the first on a tie).
- Mixture: at the centre of the customer's dequantisation cell (``x + 0.5`` for count
  features, as the run did), ``p_j = EPSILON + w_j * pdf_j(z)`` normalised, where ``pdf_j``
  is MLlib's ``MultivariateGaussian`` (pseudo-inverse and pseudo-determinant of the
  covariance from its eigendecomposition); the segment is the first largest ``p_j`` and the
  probability that ``p_j`` rounded to 6 decimals.

This module imports neither pyspark nor scikit-learn: a model trained on a cluster is applied
anywhere segmint is installed. :func:`is_mllib_model` tells the two kinds of model file apart.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from segmint.errors import SegmintError

__all__ = ["MLLIB_MODEL_FORMAT", "MLlibModel", "is_mllib_model", "load"]

#: ``format`` key of an MLlib model file (a local model has ``segmint-model``).
MLLIB_MODEL_FORMAT: str = "segmint-mllib-model"
_FORMAT_VERSION: int = 1
#: MLlib's ``EPSILON`` (the machine epsilon it adds to every component's weighted density).
EPSILON: float = float(np.finfo(np.float64).eps)


@dataclass
class MLlibModel:
    """The fitted result of an MLlib run, as plain arrays.

    Attributes
    ----------
    features : tuple of str
        Feature columns, in order.
    scale : str
        ``"log-standard"`` (``log1p`` first) or a linear scale.
    centre, spread : ndarray of shape (n_features,)
        ``z = (g(x) - centre) / spread``.
    kmeans_centres : ndarray of shape (k, n_features)
        In MLlib's order (empty for k = 1).
    kmeans_order : ndarray of int, shape (k,)
        Stable segment number of each MLlib cluster.
    gmm_weights : ndarray of shape (m,)
    gmm_means : ndarray of shape (m, n_features)
    gmm_covariances : ndarray of shape (m, n_features, n_features)
        The mixture in the transformed space, MLlib's order (empty for m = 1).
    gmm_order : ndarray of int, shape (m,)
    cell_offset : ndarray of shape (n_features,)
        Added to a customer's features before the mixture (0.5 for dequantised counts).
    kmeans_names, gmm_names : list of str
    feature_ranges : dict of str to (float, float)
        Training minimum and maximum of each feature.
    metadata : dict
        The run's feature rules (``features``, ``exclude_service_codes``).
    """

    features: tuple[str, ...]
    scale: str
    centre: np.ndarray
    spread: np.ndarray
    kmeans_centres: np.ndarray
    kmeans_order: np.ndarray
    gmm_weights: np.ndarray
    gmm_means: np.ndarray
    gmm_covariances: np.ndarray
    gmm_order: np.ndarray
    cell_offset: np.ndarray
    kmeans_names: list[str]
    gmm_names: list[str]
    feature_ranges: dict[str, tuple[float, float]]
    metadata: dict[str, Any] = field(default_factory=dict)

    # the names segmint.pipeline.score reads from a Segmenter
    @property
    def feature_names_in_(self) -> np.ndarray:
        """Feature columns, as a fitted scikit-learn estimator names them."""
        return np.asarray(self.features, dtype=object)

    @property
    def metadata_(self) -> dict[str, Any]:
        """The run's feature rules, as ``Segmenter.metadata_``."""
        return self.metadata

    def _matrix(self, X: Any) -> tuple[np.ndarray, pd.Index]:
        if isinstance(X, pd.DataFrame):
            missing = [f for f in self.features if f not in X.columns]
            if missing:
                raise SegmintError(f"the customer table has no column {missing[0]!r}")
            return X[list(self.features)].to_numpy(dtype=np.float64), X.index
        Xa = np.asarray(X, dtype=np.float64)
        return Xa.reshape(-1, len(self.features)), pd.RangeIndex(len(Xa))

    def transform(self, X: np.ndarray) -> np.ndarray:
        """The features in the space the models were fitted in (as the Spark columns)."""
        values = np.log1p(X) if self.scale == "log-standard" else X
        return (values - self.centre) / self.spread

    def _kmeans(self, Z: np.ndarray) -> np.ndarray:
        if len(self.kmeans_centres) == 0:
            return np.zeros(len(Z), dtype=np.int64)
        distances = ((Z[:, None, :] - self.kmeans_centres[None, :, :]) ** 2).sum(axis=2)
        return np.asarray(self.kmeans_order[np.argmin(distances, axis=1)], dtype=np.int64)

    def _gmm(self, Z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if len(self.gmm_weights) == 0:
            return np.zeros(len(Z), dtype=np.int64), np.ones(len(Z))
        dens = np.empty((len(Z), len(self.gmm_weights)))
        for j, (mean, cov) in enumerate(zip(self.gmm_means, self.gmm_covariances, strict=True)):
            dens[:, j] = _logpdf(Z, mean, cov)
        p = EPSILON + self.gmm_weights[None, :] * np.exp(dens)
        p /= p.sum(axis=1, keepdims=True)
        raw = np.argmax(p, axis=1)
        return np.asarray(self.gmm_order[raw], dtype=np.int64), p.max(axis=1)

    def assign(self, X: Any) -> pd.DataFrame:
        """Both segments, their names and the mixture probability of every customer.

        Parameters
        ----------
        X : DataFrame or array-like of shape (n_samples, n_features)

        Returns
        -------
        DataFrame
            Columns ``kmeans_segment``, ``kmeans_name``, ``gmm_segment``, ``gmm_name``,
            ``gmm_probability``, as ``Segmenter.assign`` gives them.
        """
        Xa, index = self._matrix(X)
        km = self._kmeans(self.transform(Xa))
        gm, prob = self._gmm(self.transform(Xa + self.cell_offset))
        return pd.DataFrame(
            {
                "kmeans_segment": km,
                "kmeans_name": np.asarray(self.kmeans_names, dtype=object)[km],
                "gmm_segment": gm,
                "gmm_name": np.asarray(self.gmm_names, dtype=object)[gm],
                "gmm_probability": prob.astype(np.float64),
            },
            index=index,
        )

    def out_of_range(self, X: Any) -> pd.Series:
        """True for customers with a feature outside its training range."""
        Xa, index = self._matrix(X)
        lo = np.array([self.feature_ranges[f][0] for f in self.features])
        hi = np.array([self.feature_ranges[f][1] for f in self.features])
        flags = np.any((Xa < lo) | (Xa > hi), axis=1)
        return pd.Series(flags, index=index, name="out_of_range", dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        """The plain dict the model file holds."""
        from segmint._versions import versions

        return {
            "format": MLLIB_MODEL_FORMAT,
            "format_version": _FORMAT_VERSION,
            "segmint_version": versions()["segmint"],
            "features": list(self.features),
            "scale": self.scale,
            "centre": np.asarray(self.centre, dtype=np.float64),
            "spread": np.asarray(self.spread, dtype=np.float64),
            "kmeans_centres": np.asarray(self.kmeans_centres, dtype=np.float64),
            "kmeans_order": [int(v) for v in self.kmeans_order],
            "gmm_weights": np.asarray(self.gmm_weights, dtype=np.float64),
            "gmm_means": np.asarray(self.gmm_means, dtype=np.float64),
            "gmm_covariances": np.asarray(self.gmm_covariances, dtype=np.float64),
            "gmm_order": [int(v) for v in self.gmm_order],
            "cell_offset": np.asarray(self.cell_offset, dtype=np.float64),
            "kmeans_names": list(self.kmeans_names),
            "gmm_names": list(self.gmm_names),
            "feature_ranges": {
                k: [float(a), float(b)] for k, (a, b) in self.feature_ranges.items()
            },
            "metadata": dict(self.metadata),
        }

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model as a skops file (numpy arrays and builtins only).

        Parameters
        ----------
        path : str or path-like
            Destination, conventionally ``model.skops``.

        Returns
        -------
        pathlib.Path
        """
        import skops.io as sio

        from segmint.persist import canonical_skops

        data = canonical_skops(sio.dumps(self.to_dict()))
        untrusted = sio.get_untrusted_types(data=data)
        if untrusted:  # pragma: no cover - a bug in segmint
            raise RuntimeError(f"MLlib model would contain untrusted types {untrusted}")
        path = Path(path)
        path.write_bytes(data)
        return path


def _logpdf(Z: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """MLlib's ``MultivariateGaussian.logpdf``: pseudo-inverse and pseudo-determinant."""
    values, vectors = np.linalg.eigh(cov)
    tol = EPSILON * float(np.max(values)) * len(values)
    keep = values > tol
    inv_root = np.where(keep, 1.0 / np.sqrt(np.where(keep, values, 1.0)), 0.0)
    log_det = float(np.sum(np.log(values[keep])))
    u = -0.5 * (len(mean) * np.log(2.0 * np.pi) + log_det)
    v = ((Z - mean) @ vectors) * inv_root
    return np.asarray(u - 0.5 * np.sum(v * v, axis=1))


def is_mllib_model(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a model file of an MLlib run (read without loading it)."""
    import json

    try:
        with zipfile.ZipFile(Path(path)) as archive:
            schema = json.loads(archive.read("schema.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False
    text = io.StringIO()
    json.dump(schema.get("content", {}).get("format", {}), text)
    return MLLIB_MODEL_FORMAT in text.getvalue()


def load(path: str | os.PathLike[str]) -> MLlibModel:
    """Load a model file written by :meth:`MLlibModel.save`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    MLlibModel

    Raises
    ------
    SegmintError
        When the file is not an MLlib model of a format this segmint reads, or holds any
        type skops does not trust.
    """
    import skops.io as sio

    path = Path(path)
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise SegmintError(f"{path} is not a skops model file ({exc}); pass a model.skops") from exc
    if untrusted:
        raise SegmintError(
            f"{path}: refusing to load: it contains types an MLlib model file never has "
            f"({', '.join(untrusted)}); load only model files segmint wrote"
        )
    obj = sio.load(path, trusted=[])
    if not isinstance(obj, dict) or obj.get("format") != MLLIB_MODEL_FORMAT:
        raise SegmintError(f"{path} is not the model of an MLlib run; pass its model.skops")
    if int(obj.get("format_version", 0)) > _FORMAT_VERSION:
        raise SegmintError(
            f"{path} was written by a newer segmint ({obj.get('segmint_version')}); upgrade segmint"
        )
    d = len(obj["features"])
    return MLlibModel(
        features=tuple(obj["features"]),
        scale=str(obj["scale"]),
        centre=np.asarray(obj["centre"], dtype=np.float64),
        spread=np.asarray(obj["spread"], dtype=np.float64),
        kmeans_centres=np.asarray(obj["kmeans_centres"], dtype=np.float64).reshape(-1, d),
        kmeans_order=np.asarray(obj["kmeans_order"], dtype=np.int64),
        gmm_weights=np.asarray(obj["gmm_weights"], dtype=np.float64),
        gmm_means=np.asarray(obj["gmm_means"], dtype=np.float64).reshape(-1, d),
        gmm_covariances=np.asarray(obj["gmm_covariances"], dtype=np.float64).reshape(-1, d, d),
        gmm_order=np.asarray(obj["gmm_order"], dtype=np.int64),
        cell_offset=np.asarray(obj["cell_offset"], dtype=np.float64),
        kmeans_names=list(obj["kmeans_names"]),
        gmm_names=list(obj["gmm_names"]),
        feature_ranges={k: (float(a), float(b)) for k, (a, b) in obj["feature_ranges"].items()},
        metadata=dict(obj.get("metadata") or {}),
    )
