"""Same input, same seed: byte-identical outputs, whatever the number of threads.

Three real ``segmint run`` processes (fresh interpreters, so string hashing differs between
them) on one small synthetic log: twice with ``--threads 1``, once with ``--threads 2`` (forked
workers). ``segments.csv``, ``profiles.csv``, ``metrics.json``, ``report.html`` (its tables
included) and every plot must be byte-identical; ``model.skops`` too between the two runs with
one thread (skops numbers objects by ``id()`` and dates its members: ``canonical_skops``
renumbers and re-dates them). With two threads the model differs in its ``n_jobs`` parameter
alone, so the test loads both and compares what they hold and what they predict.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SEGMINT = str(Path(sys.executable).parent / "segmint")

pytestmark = pytest.mark.slow


def _run(log: Path, out: Path, threads: int) -> None:
    done = subprocess.run(
        [SEGMINT, "run", str(log), "-o", str(out), "--seed", "7", "--bootstrap", "3",
         "--k-range", "1..6", "--threads", str(threads), "-q"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("determinism")
    log = folder / "log.csv"
    done = subprocess.run(
        [SEGMINT, "synth", "-o", str(log), "--rows", "20000", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    outs = {"first": folder / "first", "again": folder / "again", "two-threads": folder / "t2"}
    _run(log, outs["first"], 1)
    _run(log, outs["again"], 1)
    _run(log, outs["two-threads"], 2)
    return outs


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("other", ["again", "two-threads"])
def test_outputs_are_byte_identical(runs: dict[str, Path], other: str) -> None:
    first, second = runs["first"], runs[other]
    names = _files(first)
    assert names == _files(second)
    for name in ("segments.csv", "profiles.csv", "metrics.json", "report.html"):
        assert name in names
    different = [
        name
        for name in names
        if (name != "model.skops" or other == "again")
        and (first / name).read_bytes() != (second / name).read_bytes()
    ]
    assert different == [], f"{other}: {different} differ"


@pytest.mark.parametrize("other", ["again", "two-threads"])
def test_models_hold_the_same_fit(runs: dict[str, Path], other: str) -> None:
    from segmint.model import load

    first, second = load(runs["first"] / "model.skops"), load(runs[other] / "model.skops")
    segments = pd.read_csv(runs["first"] / "segments.csv", dtype={"customer_id": str})
    X = segments[list(first.feature_names_in_)]
    pd.testing.assert_frame_equal(first.assign(X), second.assign(X))
    np.testing.assert_array_equal(first.kmeans_.cluster_centers_, second.kmeans_.cluster_centers_)
    means = "mean_" if first.mixture == "count" else "means_"  # CountMixture / GaussianMixture
    np.testing.assert_array_equal(getattr(first.gmm_, means), getattr(second.gmm_, means))
    params = [{k: v for k, v in m.get_params().items() if k != "n_jobs"} for m in (first, second)]
    assert params[0] == params[1]
