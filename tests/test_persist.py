"""The model file: save and load, byte-identical bytes, and bad files as one line and exit 2."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.cluster import KMeans
from sklearn.preprocessing import FunctionTransformer
from typer.testing import CliRunner

import segmint
from segmint import persist
from segmint.cli import app
from segmint.cluster import describe
from segmint.errors import SegmintError
from segmint.model import Segmenter, load
from test_model import FAST, FEATURES, planted

runner = CliRunner()


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return planted()


@pytest.fixture(scope="module")
def fitted(data: tuple[pd.DataFrame, np.ndarray]) -> Segmenter:
    return Segmenter(**FAST).fit(data[0])


@pytest.fixture(scope="module")
def model_file(fitted: Segmenter, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fitted.save(tmp_path_factory.mktemp("model") / "model.skops")


# ---------------------------------------------------------------- save and load
def test_save_load_predict_reproduces_training_assignments(
    fitted: Segmenter, data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    X, _ = data
    path = fitted.save(tmp_path / "model.skops")
    assert path == tmp_path / "model.skops"
    assert set(sio.get_untrusted_types(file=path)) <= persist.EXPECTED_UNTRUSTED_TYPES
    loaded = load(path)
    assert isinstance(loaded, Segmenter)
    assert loaded.get_params() == fitted.get_params()
    np.testing.assert_array_equal(loaded.predict(X), fitted.labels_)
    pd.testing.assert_frame_equal(loaded.assign(X), fitted.assign(X))
    pd.testing.assert_series_equal(loaded.out_of_range(X), fitted.out_of_range(X))
    pd.testing.assert_frame_equal(loaded.profiles_, fitted.profiles_)
    pd.testing.assert_frame_equal(loaded.kmeans_sweep_, fitted.kmeans_sweep_)
    pd.testing.assert_frame_equal(loaded.gmm_grid_, fitted.gmm_grid_)
    assert describe(loaded) == describe(fitted)
    assert list(loaded.feature_names_in_) == FEATURES
    assert not hasattr(loaded, "labels_")  # per-customer training data is not stored


def test_the_public_api_and_persist_save_write_the_same_file(
    fitted: Segmenter, model_file: Path, tmp_path: Path
) -> None:
    """README: ``seg.save("model.skops"); seg = segmint.load_model("model.skops")``."""
    assert persist.save(fitted, tmp_path / "p.skops").read_bytes() == model_file.read_bytes()
    assert persist.dumps(fitted) == model_file.read_bytes()
    loaded = segmint.load_model(model_file)
    assert isinstance(loaded, segmint.Segmenter)
    assert loaded.save(tmp_path / "again.skops").read_bytes() == model_file.read_bytes()


def test_saved_model_is_byte_identical_for_the_same_fit(
    fitted: Segmenter, data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    again = Segmenter(**FAST).fit(data[0])  # other objects, other id()s
    first = fitted.save(tmp_path / "a.skops").read_bytes()
    assert again.save(tmp_path / "b.skops").read_bytes() == first
    with zipfile.ZipFile(tmp_path / "a.skops") as archive:
        infos = archive.infolist()
    assert {info.date_time for info in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert infos[-1].filename == "schema.json"
    assert sorted(int(i.filename.removesuffix(".npy")) for i in infos[:-1])[0] >= 1
    assert persist.canonical_skops(first) == first  # a fixed point


def test_metadata_set_before_save_is_restored(
    data: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    seg = Segmenter(k=2, k_range=(1, 2), covariance_types=("diag",), n_bootstrap=0).fit(data[0])
    seg.metadata_ = {"exclude_service_codes": True}
    assert load(seg.save(tmp_path / "m.skops")).metadata_ == {"exclude_service_codes": True}


# ---------------------------------------------------------------- bad files, in Python
def test_load_refuses_unexpected_types(tmp_path: Path) -> None:
    path = tmp_path / "evil.skops"
    sio.dump({"format": "segmint-model", "t": FunctionTransformer(np.linalg.norm)}, path)
    with pytest.raises(SegmintError, match=r"refusing to load: .*numpy\.linalg\.norm"):
        load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a zip file", "is not a skops model file"),
        (None, "is a skops file but not a segmint model"),
    ],
)
def test_load_refuses_other_files(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "other.skops"
    if content is None:
        sio.dump({"something": [1, 2, 3]}, path)
    else:
        path.write_bytes(content)
    with pytest.raises(SegmintError, match=message):
        load(path)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(SegmintError, match="no such model file"):
        load(tmp_path / "missing.skops")


# ---------------------------------------------------------------- bad files, from the CLI
def _state(fitted: Segmenter) -> dict[str, Any]:
    return persist._state(fitted)


def _write_state(change: Callable[[dict[str, Any]], None]) -> Callable[[Path, Segmenter], None]:
    def write(path: Path, fitted: Segmenter) -> None:
        state = _state(fitted)
        change(state)
        path.write_bytes(sio.dumps(state))

    return write


def _truncated(path: Path, fitted: Segmenter) -> None:
    data = persist.dumps(fitted)
    path.write_bytes(data[: len(data) // 2])


def _members_cut(path: Path, fitted: Segmenter) -> None:
    """A zip whose directory is intact but whose first array is not an array any more."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in _members(persist.dumps(fitted)):
            archive.writestr(name, b"garbage" if name.endswith(".npy") else content)


def _members(data: bytes) -> list[tuple[str, bytes]]:
    import io

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return [(name, archive.read(name)) for name in archive.namelist()]


def _zip_without_schema(path: Path, fitted: Segmenter) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("hello.txt", "not a model")


def _kmeans(path: Path, fitted: Segmenter) -> None:
    sio.dump(KMeans(n_clusters=2, n_init=1, random_state=0).fit(np.eye(4)), path)


def _folder(path: Path, fitted: Segmenter) -> None:
    path.mkdir()


def _random(path: Path, fitted: Segmenter) -> None:
    path.write_bytes(np.random.default_rng(0).bytes(4096))


def _evil(path: Path, fitted: Segmenter) -> None:
    state = _state(fitted)
    state["transform"] = FunctionTransformer(np.linalg.norm)
    sio.dump(state, path)


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(state: dict[str, Any]) -> None:
        state[key] = value

    return change


def _del(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda state: state.pop(key)


def _other_kmeans(state: dict[str, Any]) -> None:
    state["kmeans"] = KMeans(n_clusters=2, n_init=1, random_state=0).fit(np.eye(3))


def _unknown_param(state: dict[str, Any]) -> None:
    state["params"]["n_clusters"] = 3


def _selection_key(state: dict[str, Any]) -> None:
    del state["selection"]["k"]


BAD_MODELS: dict[str, tuple[Callable[[Path, Segmenter], None], str]] = {
    "nonexistent": (lambda path, fitted: None, "no such model file; fit one with `segmint run`"),
    "folder": (_folder, "is a folder, not a model file; pass "),
    "empty": (lambda path, fitted: path.write_bytes(b""), "is not a skops model file"),
    "random bytes": (_random, "is not a skops model file"),
    "zip without schema": (_zip_without_schema, "is not a skops model file"),
    "truncated": (_truncated, "is not a skops model file"),
    "damaged member": (_members_cut, "is a damaged skops file"),
    "a KMeans": (_kmeans, "is a skops file but not a segmint model"),
    "crafted types": (_evil, "refusing to load: it contains types a segmint model never has"),
    "newer format": (_write_state(_set("format_version", 99)), "upgrade segmint"),
    "format_version text": (_write_state(_set("format_version", "1")), "no valid format_version"),
    "missing key": (_write_state(_del("kmeans")), r"not a valid segmint model \(no kmeans\)"),
    "wrong type": (
        _write_state(_set("kmeans", "KMeans")),
        r"not a valid segmint model \(kmeans is not a fitted KMeans of 2 features\)",
    ),
    "wrong shape": (
        _write_state(_other_kmeans),
        r"not a valid segmint model \(kmeans is not a fitted KMeans of 2 features\)",
    ),
    "short order": (
        _write_state(_set("kmeans_order", [0])),
        r"kmeans_order or gmm_order is not a numbering of the segments",
    ),
    "fewer names": (
        _write_state(_set("feature_names", ["n_products"])),
        r"transform is not a fitted scikit-learn Pipeline of 1 features",
    ),
    "ranges": (_write_state(_set("feature_ranges", {})), "feature_ranges is not a"),
    "state not a dict": (_write_state(_set("selection", [1, 2])), "selection is not a dict"),
    "selection key": (_write_state(_selection_key), r"selection k missing or of the wrong type"),
    "unknown parameter": (_write_state(_unknown_param), "unexpected keyword argument"),
}


@pytest.mark.parametrize("case", list(BAD_MODELS))
def test_predict_with_a_bad_model_prints_one_line_and_exits_2(
    case: str, fitted: Segmenter, log_csv: Path, tmp_path: Path
) -> None:
    make, message = BAD_MODELS[case]
    bad = tmp_path / "bad.skops"
    make(bad, fitted)
    out = tmp_path / "scored.csv"
    result = runner.invoke(
        app, ["predict", "--model", str(bad), str(log_csv), "-o", str(out), "-q"]
    )
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {bad}"), lines[0]
    assert re.search(message, lines[0]), lines[0]
    assert any(fix in lines[0] for fix in ("`segmint run`", "pass ", "upgrade segmint", "only"))
    assert not out.exists()
    with pytest.raises(SegmintError):  # the same error in Python
        load(bad)


def test_predict_with_a_model_fitted_on_an_array_says_so(
    data: tuple[pd.DataFrame, np.ndarray], log_csv: Path, tmp_path: Path
) -> None:
    seg = Segmenter(k=2, k_range=(1, 2), covariance_types=("diag",), n_bootstrap=0)
    model = seg.fit(data[0].to_numpy()).save(tmp_path / "array.skops")
    out = tmp_path / "scored.csv"
    result = runner.invoke(
        app, ["predict", "--model", str(model), str(log_csv), "-o", str(out), "-q"]
    )
    assert result.exit_code == 2, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"error: {model}"), lines[0]


def test_a_good_model_predicts(model_file: Path, log_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "scored.csv"
    args = ["predict", "--model", str(model_file), str(log_csv), "-o", str(out), "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert out.exists()
