"""The model file: a fitted ``Segmenter`` as a skops archive of a plain dict, and back.

The file holds a dict of scikit-learn objects, lists and arrays, never the ``Segmenter`` class:
a header (``format``, ``format_version``, ``segmint_version``), the estimator's parameters, the
transform, both fitted models, the segment order and names, the training feature ranges, the
caller's ``metadata_`` and the selection results (sweep, grid, reasons, stability, profiles,
warnings). Per-customer training labels are not stored. Its bytes are the same for the same
fit (:func:`canonical_skops`).

:func:`load` checks the file's untrusted types against :data:`EXPECTED_UNTRUSTED_TYPES` before
loading it, then the header and the layout of the dict, so that a corrupt or crafted file is a
:class:`~segmint.errors.SegmintError` of one line, never a traceback.

This module knows the estimator's parameters and fitted attributes by name but does not import
it (:mod:`segmint.model` imports this module for ``Segmenter.save`` and ``load``): :func:`load`
is given the class to build.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard, TypeVar

from segmint.errors import SegmintError

__all__ = [
    "EXPECTED_UNTRUSTED_TYPES",
    "FORMAT_VERSION",
    "MODEL_FORMAT",
    "canonical_skops",
    "dumps",
    "load",
    "save",
]

#: Value of the ``format`` key of a saved model.
MODEL_FORMAT: str = "segmint-model"
#: Version of the layout of the saved dict; a file with a higher one needs a newer segmint.
FORMAT_VERSION: int = 3
#: Types a segmint model file may contain that skops does not trust by default. The file holds
#: only scikit-learn estimators, numpy arrays and builtins; with skops 0.16 all of them are
#: trusted, so this list is what an older or stricter skops may report (``np.log1p`` and its
#: inverse in the transform). :func:`dumps` checks that a new file stays within it.
EXPECTED_UNTRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "numpy.log1p",
        "numpy.expm1",
        "numpy.arcsinh",
        "numpy.sinh",
        "segmint.cluster.count_mixture.CountMixture",
    }
)
#: Format 2 added the count mixture: ``params["mixture"]``, ``gmm_count_features`` and the
#: selection's ``mixture_selection`` and ``structure``. A format-1 file is a Gaussian mixture.
#: Format 3 added ``gmm_groups``, the segment of every mixture component (components that only
#: shape one segment are combined); in older files every component is a segment.
_MIXTURES = ("count", "gaussian")

_FIX = "pass the model.skops a `segmint run` wrote, or fit a new one with `segmint run`"

E = TypeVar("E")


def _records(frame: Any) -> dict[str, list[Any]]:
    return {c: frame[c].tolist() for c in frame.columns}


def _state(segmenter: Any) -> dict[str, Any]:
    """The dict a model file holds (header first: the key order is part of the bytes)."""
    from segmint.cluster import _segmint_version

    params = segmenter.get_params()
    params["k_range"] = [int(v) for v in params["k_range"]]
    cov = params["covariance_types"]
    params["covariance_types"] = list(dict.fromkeys((cov,) if isinstance(cov, str) else cov))
    if not (params["random_state"] is None or isinstance(params["random_state"], int)):
        params["random_state"] = None
    return {
        "format": MODEL_FORMAT,
        "format_version": FORMAT_VERSION,
        "segmint_version": _segmint_version(),
        "params": params,
        "feature_names": list(segmenter.feature_names_),
        "has_feature_names_in": hasattr(segmenter, "feature_names_in_"),
        "transform": segmenter.transform_,
        "kmeans": segmenter.kmeans_,
        "gmm": segmenter.gmm_,
        "kmeans_order": [int(v) for v in segmenter.kmeans_order_],
        "gmm_order": [int(v) for v in segmenter.gmm_order_],
        "kmeans_names": list(segmenter.kmeans_names_),
        "gmm_names": list(segmenter.gmm_names_),
        "jitter_columns": [bool(v) for v in segmenter.jitter_columns_],
        "gmm_count_features": [bool(v) for v in segmenter.gmm_count_features_],
        "gmm_groups": [int(v) for v in segmenter.gmm_groups_],
        "metadata": dict(getattr(segmenter, "metadata_", {}) or {}),
        "feature_ranges": {
            k: [float(a), float(b)] for k, (a, b) in segmenter.feature_ranges_.items()
        },
        "selection": {
            "kmeans_sweep": _records(segmenter.kmeans_sweep_),
            "knee": segmenter.knee_,
            "knee_strength": float(segmenter.knee_strength_),
            "k": int(segmenter.k_),
            "k_reason": segmenter.k_reason_,
            "gmm_grid": _records(segmenter.gmm_grid_),
            "gmm_n_components": int(segmenter.gmm_n_components_),
            "gmm_covariance_type": segmenter.gmm_covariance_type_,
            "gmm_evidence": segmenter.gmm_evidence_,
            "gmm_reason": segmenter.gmm_reason_,
            "agreement": dict(segmenter.agreement_),
            "stability": segmenter.stability_,
            "profiles": _records(segmenter.profiles_),
            "warnings": list(segmenter.warnings_),
            "n_samples_fit": int(segmenter.n_samples_fit_),
            "fit_sample_size": int(segmenter.fit_sample_size_),
            "mixture_selection": segmenter.mixture_selection_,
            "structure": segmenter.structure_,
            "combination": segmenter.gmm_combination_,
        },
    }


def dumps(segmenter: Any) -> bytes:
    """The bytes of the model file of a fitted ``Segmenter``.

    Parameters
    ----------
    segmenter : segmint.model.Segmenter
        Fitted.

    Returns
    -------
    bytes
        A skops archive, byte-identical for the same fit.
    """
    import skops.io as sio

    data = canonical_skops(sio.dumps(_state(segmenter)))
    unexpected = sorted(set(sio.get_untrusted_types(data=data)) - EXPECTED_UNTRUSTED_TYPES)
    if unexpected:  # pragma: no cover - a bug in segmint, not a user error
        raise RuntimeError(f"model would contain unexpected types {unexpected}")
    return data


def save(segmenter: Any, path: str | os.PathLike[str]) -> Path:
    """Write a fitted ``Segmenter`` to a skops file (what ``Segmenter.save`` does).

    Parameters
    ----------
    segmenter : segmint.model.Segmenter
        Fitted.
    path : str or path-like
        Destination, conventionally ``model.skops``.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    data = dumps(segmenter)
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


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _read(path: Path) -> Any:
    """The object a skops file holds, after the type check; SegmintError for anything else."""
    import skops.io as sio

    if path.is_dir():
        raise SegmintError(f"{path} is a folder, not a model file; pass {path / 'model.skops'}")
    if not path.is_file():
        raise SegmintError(f"{path}: no such model file; fit one with `segmint run`")
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except OSError as exc:
        raise SegmintError(f"{path}: cannot read it ({exc.strerror or exc}); {_FIX}") from None
    except Exception as exc:
        raise SegmintError(f"{path} is not a skops model file ({_one_line(exc)}); {_FIX}") from None
    unexpected = sorted(set(untrusted) - EXPECTED_UNTRUSTED_TYPES)
    if unexpected:
        raise SegmintError(
            f"{path}: refusing to load: it contains types a segmint model never has "
            f"({', '.join(unexpected)}); load only model files segmint wrote"
        )
    try:
        return sio.load(path, trusted=list(untrusted))
    except Exception as exc:  # truncated or corrupt members, a crafted schema
        raise SegmintError(f"{path} is a damaged skops file ({_one_line(exc)}); {_FIX}") from None


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _strings(value: Any, n: int | None = None) -> bool:
    return (
        isinstance(value, list)
        and all(isinstance(v, str) for v in value)
        and (n is None or len(value) == n)
    )


def _permutation(value: Any, n: int) -> bool:
    return (
        isinstance(value, list)
        and all(_is_int(v) for v in value)
        and sorted(value) == list(range(n))
    )


def _columns(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and all(isinstance(v, list) for v in value.values())
        and len({len(v) for v in value.values()}) <= 1
    )


def _layout_problem(obj: dict[str, Any]) -> str | None:
    """What is wrong with the dict of a model file, or None (the inverse of :func:`_state`)."""
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture
    from sklearn.pipeline import Pipeline

    from segmint.cluster.count_mixture import CountMixture

    missing = [
        key
        for key in (
            "params",
            "feature_names",
            "has_feature_names_in",
            "transform",
            "kmeans",
            "gmm",
            "kmeans_order",
            "gmm_order",
            "kmeans_names",
            "gmm_names",
            "jitter_columns",
            "feature_ranges",
            "selection",
        )
        if key not in obj
    ]
    if missing:
        return f"no {', '.join(missing)}"
    params, names, sel = obj["params"], obj["feature_names"], obj["selection"]
    if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
        return "params is not a dict of names"
    k_range, cov = params.get("k_range"), params.get("covariance_types")
    if not (isinstance(k_range, list) and len(k_range) == 2 and all(map(_is_int, k_range))):
        return f"params k_range={k_range!r} is not two integers"
    if not _strings(cov):
        return f"params covariance_types={cov!r} is not a list of names"
    if not _strings(names) or not names or len(set(names)) != len(names):
        return "feature_names is not a list of distinct names"
    n_features = len(names)
    if not isinstance(obj["has_feature_names_in"], bool):
        return "has_feature_names_in is not a bool"
    transform, kmeans, gmm = obj["transform"], obj["kmeans"], obj["gmm"]
    if not isinstance(transform, Pipeline) or getattr(transform, "n_features_in_", None) != (
        n_features
    ):
        return f"transform is not a fitted scikit-learn Pipeline of {n_features} features"
    centres = getattr(kmeans, "cluster_centers_", None)
    if (
        not isinstance(kmeans, KMeans)
        or not isinstance(centres, np.ndarray)
        or centres.ndim != 2
        or centres.shape[1] != n_features
    ):
        return f"kmeans is not a fitted KMeans of {n_features} features"
    version2 = obj.get("format_version", 1) >= 2
    mixture = params.get("mixture", "gaussian" if not version2 else None)
    if mixture not in _MIXTURES:
        return f"params mixture={mixture!r} is not one of {', '.join(_MIXTURES)}"
    kind, attr = (CountMixture, "mean_") if mixture == "count" else (GaussianMixture, "means_")
    means = getattr(gmm, attr, None)
    if (
        not isinstance(gmm, kind)
        or not isinstance(means, np.ndarray)
        or means.ndim != 2
        or means.shape[1] != n_features
    ):
        return f"gmm is not a fitted {kind.__name__} of {n_features} features"
    if mixture == "count":
        parts = [getattr(gmm, a, None) for a in ("weights_", "dispersion_", "pi_")]
        mask = getattr(gmm, "count_features_", None)
        if not (
            all(isinstance(a, np.ndarray) and a.shape[0] == len(means) for a in parts)
            and isinstance(mask, np.ndarray)
            and mask.shape == (n_features,)
            and isinstance(getattr(gmm, "zero_inflated_", None), bool)
        ):
            return "gmm is not a complete fitted CountMixture"
    if version2:
        flags = obj.get("gmm_count_features")
        if not (
            isinstance(flags, list)
            and len(flags) == n_features
            and all(isinstance(v, bool) for v in flags)
        ):
            return f"gmm_count_features is not {n_features} flags"
    k, m = len(centres), len(means)
    groups = obj.get("gmm_groups", list(range(m)))
    if not (
        isinstance(groups, list)
        and len(groups) == m
        and all(_is_int(g) for g in groups)
        and sorted(set(groups)) == list(range(len(set(groups))))
    ):
        return f"gmm_groups is not a segment for each of the {m} components"
    g = len(set(groups))
    if not _permutation(obj["kmeans_order"], k) or not _permutation(obj["gmm_order"], g):
        return "kmeans_order or gmm_order is not a numbering of the segments"
    if not _strings(obj["kmeans_names"], k) or not _strings(obj["gmm_names"], g):
        return "kmeans_names or gmm_names is not one name per segment"
    jitter = obj["jitter_columns"]
    if not (isinstance(jitter, list) and len(jitter) == n_features):
        return f"jitter_columns is not {n_features} flags"
    if not all(isinstance(v, bool) for v in jitter):
        return "jitter_columns holds values other than true and false"
    ranges = obj["feature_ranges"]
    if (
        not isinstance(ranges, dict)
        or list(ranges) != names
        or not all(
            isinstance(r, list) and len(r) == 2 and all(map(_is_number, r)) for r in ranges.values()
        )
    ):
        return "feature_ranges is not a (min, max) per feature"
    if not isinstance(obj.get("metadata", {}), dict):
        return "metadata is not a dict"
    if not isinstance(sel, dict):
        return "selection is not a dict"
    checks: dict[str, Callable[[Any], bool]] = {
        "kmeans_sweep": lambda v: _columns(v) and "k" in v,
        "knee": lambda v: v is None or _is_number(v),
        "knee_strength": _is_number,
        "k": lambda v: _is_int(v) and v == k,
        "k_reason": lambda v: isinstance(v, str),
        "gmm_grid": lambda v: _columns(v) and "n_components" in v,
        "gmm_n_components": lambda v: _is_int(v) and v == m,
        "gmm_covariance_type": lambda v: isinstance(v, str),
        "gmm_evidence": lambda v: isinstance(v, str),
        "gmm_reason": lambda v: isinstance(v, str),
        "agreement": lambda v: isinstance(v, dict),
        "stability": lambda v: isinstance(v, dict),
        "profiles": _columns,
        "warnings": _strings,
        "n_samples_fit": _is_int,
        "fit_sample_size": _is_int,
    }
    if obj.get("format_version", 1) >= 2:
        checks["mixture_selection"] = lambda v: (
            isinstance(v, dict) and _is_int(v.get("n_components")) and v["n_components"] == m
        )
        checks["structure"] = lambda v: isinstance(v, dict) and isinstance(v.get("verdict"), str)
    bad = [key for key, check in checks.items() if key not in sel or not check(sel[key])]
    if bad:
        return f"selection {', '.join(bad)} missing or of the wrong type"
    return None


def load(path: str | os.PathLike[str], estimator: Callable[..., E]) -> E:
    """Load a model file, refusing unexpected types, other files and damaged layouts.

    The file's untrusted types (``skops.io.get_untrusted_types``) must all be in
    :data:`EXPECTED_UNTRUSTED_TYPES`; only then is it loaded, trusting exactly those. Its
    header and the layout of its dict are checked before the estimator is rebuilt.

    Parameters
    ----------
    path : str or path-like
        A ``.skops`` file.
    estimator : callable
        The estimator class, called with the saved parameters (``segmint.model.Segmenter``;
        :func:`segmint.model.load` passes it).

    Returns
    -------
    estimator
        Fitted, without the per-customer training attributes (``labels_``, ``gmm_labels_``,
        ``gmm_probability_``).

    Raises
    ------
    SegmintError
        When the file is missing, a folder, not a skops file, damaged, holds types a segmint
        model never has, is not a segmint model, is one of a newer format, or its content is
        not laid out as a segmint model's.
    """
    path = Path(path)
    obj = _read(path)
    if not isinstance(obj, dict) or obj.get("format") != MODEL_FORMAT:
        raise SegmintError(f"{path} is a skops file but not a segmint model; {_FIX}")
    version = obj.get("format_version")
    if not _is_int(version) or version < 1:
        raise SegmintError(f"{path} has no valid format_version ({version!r}); {_FIX}")
    if version > FORMAT_VERSION:
        raise SegmintError(
            f"{path} was written by a newer segmint ({obj.get('segmint_version')}, model format "
            f"{version} > {FORMAT_VERSION}); upgrade segmint"
        )
    problem = _layout_problem(obj)
    if problem is None:
        try:
            return _rebuild(obj, estimator)
        except (TypeError, ValueError, KeyError) as exc:  # e.g. an unknown parameter
            problem = _one_line(exc)
    raise SegmintError(f"{path} is not a valid segmint model ({problem}); {_FIX}")


def _rebuild(obj: dict[str, Any], estimator: Callable[..., E]) -> E:
    import numpy as np
    import pandas as pd

    params = dict(obj["params"])
    params["k_range"] = tuple(params["k_range"])
    params["covariance_types"] = tuple(params["covariance_types"])
    params.setdefault("mixture", "gaussian")  # format 1
    seg = estimator(**params)
    names = list(obj["feature_names"])
    fitted: dict[str, Any] = {}
    if obj["has_feature_names_in"]:
        fitted["feature_names_in_"] = np.asarray(names, dtype=object)
    sel = obj["selection"]
    fitted |= {
        "feature_names_": names,
        "n_features_in_": len(names),
        "transform_": obj["transform"],
        "kmeans_": obj["kmeans"],
        "gmm_": obj["gmm"],
        "kmeans_order_": np.asarray(obj["kmeans_order"], dtype=np.int64),
        "gmm_order_": np.asarray(obj["gmm_order"], dtype=np.int64),
        "kmeans_names_": list(obj["kmeans_names"]),
        "gmm_names_": list(obj["gmm_names"]),
        "jitter_columns_": np.asarray(obj["jitter_columns"], dtype=bool),
        "feature_ranges_": {k: (float(a), float(b)) for k, (a, b) in obj["feature_ranges"].items()},
        "kmeans_sweep_": pd.DataFrame(sel["kmeans_sweep"]).astype({"k": "int64"}),
        "knee_": sel["knee"],
        "knee_strength_": float(sel["knee_strength"]),
        "k_": int(sel["k"]),
        "k_reason_": sel["k_reason"],
        "gmm_grid_": pd.DataFrame(sel["gmm_grid"]).astype({"n_components": "int64"}),
        "gmm_n_components_": int(sel["gmm_n_components"]),
        "gmm_covariance_type_": sel["gmm_covariance_type"],
        "gmm_evidence_": sel["gmm_evidence"],
        "gmm_reason_": sel["gmm_reason"],
        "agreement_": dict(sel["agreement"]),
        "stability_": sel["stability"],
        "profiles_": pd.DataFrame(sel["profiles"]),
        "warnings_": list(sel["warnings"]),
        "n_samples_fit_": int(sel["n_samples_fit"]),
        "fit_sample_size_": int(sel["fit_sample_size"]),
        "gmm_count_features_": np.asarray(
            obj.get("gmm_count_features", obj["jitter_columns"]), dtype=bool
        ),
        "mixture_selection_": sel.get("mixture_selection", {}),
        "structure_": sel.get("structure", {}),
        "gmm_groups_": np.asarray(
            obj.get("gmm_groups", range(int(sel["gmm_n_components"]))), dtype=np.int64
        ),
        "gmm_n_segments_": len(obj["gmm_order"]),
        "gmm_combination_": sel.get("combination", {}),
    }
    if obj.get("metadata"):
        fitted["metadata_"] = dict(obj["metadata"])
    for name, value in fitted.items():
        setattr(seg, name, value)
    return seg
