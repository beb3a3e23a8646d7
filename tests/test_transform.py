"""The feature transform (log1p + scaling), integer dequantisation and its skops round trip."""

from __future__ import annotations

import numpy as np
import pytest
import skops.io as sio

from segmint.cluster.transform import (
    SCALES,
    cell_centres,
    dequantise,
    integer_columns,
    make_transform,
)
from segmint.persist import EXPECTED_UNTRUSTED_TYPES

X = np.array([[0, 0], [1, 0], [3, 1], [10, 0], [250, 7]], dtype=float)


def test_log_standard_is_log1p_then_standard_scaling() -> None:
    t = make_transform("log-standard").fit(X)
    Z = t.transform(X)
    logged = np.log1p(X)
    expected = (logged - logged.mean(axis=0)) / logged.std(axis=0)
    np.testing.assert_allclose(Z, expected)
    assert [name for name, _ in t.steps] == ["log1p", "scale"]
    np.testing.assert_allclose(t.inverse_transform(Z), X, atol=1e-9)


@pytest.mark.parametrize("scale", SCALES)
def test_every_scale_fits_and_inverts(scale: str) -> None:
    t = make_transform(scale).fit(X)
    Z = t.transform(X)
    assert Z.shape == X.shape
    assert np.all(np.isfinite(Z))
    np.testing.assert_allclose(t.inverse_transform(Z), X, atol=1e-9)
    if scale == "none":
        np.testing.assert_array_equal(Z, X)
    if scale == "standard":
        np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-12)


def test_unknown_scale_is_rejected() -> None:
    with pytest.raises(ValueError, match="scale='minmax' is not one of log-standard"):
        make_transform("minmax")


def test_integer_columns() -> None:
    data = np.array([[1.0, 0.5, 2.0], [3.0, 1.0, 4.0]])
    np.testing.assert_array_equal(integer_columns(data), [True, False, True])


def test_dequantise_is_seeded_and_stays_in_the_cell() -> None:
    cols = np.array([True, False])
    before = X.copy()
    a = dequantise(X, cols, np.random.default_rng(3))
    b = dequantise(X, cols, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(X, before)  # input untouched
    assert np.all((a[:, 0] >= X[:, 0]) & (a[:, 0] < X[:, 0] + 1))
    assert np.all(a[:, 0] != X[:, 0])
    np.testing.assert_array_equal(a[:, 1], X[:, 1])  # not an integer column here
    c = dequantise(X, cols, np.random.default_rng(4))
    assert not np.array_equal(a, c)


def test_cell_centres() -> None:
    out = cell_centres(X, np.array([True, False]))
    np.testing.assert_array_equal(out[:, 0], X[:, 0] + 0.5)
    np.testing.assert_array_equal(out[:, 1], X[:, 1])


@pytest.mark.parametrize("scale", SCALES)
def test_fitted_transform_survives_skops_with_no_unexpected_types(scale: str) -> None:
    t = make_transform(scale).fit(X)
    data = sio.dumps(t)
    untrusted = sio.get_untrusted_types(data=data)
    assert set(untrusted) <= EXPECTED_UNTRUSTED_TYPES
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.transform(X), t.transform(X))


def test_signed_features_take_asinh_and_counts_keep_log1p() -> None:
    """Net spend can be negative (refunds beyond the period's purchases): asinh, not log1p."""
    from segmint.model import Segmenter

    rng = np.random.default_rng(0)
    counts = rng.poisson(5, size=(300, 2)).astype(float)
    spend = np.concatenate([rng.gamma(2.0, 100.0, 290), -rng.gamma(2.0, 20.0, 10)])
    signed = Segmenter(k_range=(1, 3), n_bootstrap=0, random_state=0).fit(
        np.column_stack([counts, spend])
    )
    assert list(signed.transform_.named_steps) == ["asinh", "scale"]
    assert np.isfinite(signed.transform_.transform(np.column_stack([counts, spend]))).all()
    plain = Segmenter(k_range=(1, 3), n_bootstrap=0, random_state=0).fit(counts)
    assert list(plain.transform_.named_steps) == ["log1p", "scale"]
    with pytest.raises(ValueError, match="fitted on values >= 0"):
        plain.predict(-counts)
