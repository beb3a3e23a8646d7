"""`segmint predict` scores a log with a saved model and reproduces the run's assignments."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import UCI_COLUMNS
from segmint.cli import app
from segmint.synth import write

runner = CliRunner()


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("predict")
    log, _ = write(folder / "log.csv", 30_000, seed=3)
    out = folder / "out"
    result = runner.invoke(
        app,
        [
            "run",
            str(log),
            "-o",
            str(out),
            "--bootstrap",
            "2",
            "--k-range",
            "1..6",
            "--no-report",
            "-q",
            "--exclude-service-codes",
            "--features",
            "n_products,n_canceled_orders,n_orders",
        ],
    )
    assert result.exit_code == 0, result.output
    return log, out


def test_predict_on_the_training_log_reproduces_the_segments(
    finished_run: tuple[Path, Path], tmp_path: Path
) -> None:
    log, out = finished_run
    scored_path = tmp_path / "scored.csv"
    result = runner.invoke(
        app,
        ["predict", str(log), "--model", str(out / "model.skops"), "-o", str(scored_path), "-q"],
    )
    assert result.exit_code == 0, result.output
    assert "outside the feature ranges" not in result.stderr
    scored = pd.read_csv(scored_path, dtype={"customer_id": str})
    segments = pd.read_csv(out / "segments.csv", dtype={"customer_id": str})
    # every customer of the training log is known to the model (segmint.drift)
    assert (scored.pop("customer_status") == "known").all()
    assert list(scored.columns) == list(segments.columns)
    assert "n_orders" in scored.columns  # the run's features, not the defaults
    pd.testing.assert_frame_equal(scored, segments)


def test_predict_warns_about_customers_outside_the_training_ranges(
    finished_run: tuple[Path, Path], tmp_path: Path
) -> None:
    _, out = finished_run
    log = tmp_path / "new.csv"
    rows = [
        ("900001", f"P{i}", "X", 1, "2011-01-01 10:00:00", 1.0, "99999.0", "UK")
        for i in range(5000)
    ]
    pd.DataFrame(rows, columns=UCI_COLUMNS).to_csv(log, index=False)
    scored_path = tmp_path / "scored.csv"
    result = runner.invoke(
        app,
        ["predict", str(log), "--model", str(out / "model.skops"), "-o", str(scored_path), "-q"],
    )
    assert result.exit_code == 0, result.output
    assert "1 of 1 customers lie outside the feature ranges" in result.stderr
    assert pd.read_csv(scored_path)["n_products"].tolist() == [5000]


def test_predict_refuses_a_file_that_is_not_a_model(tmp_path: Path, log_csv: Path) -> None:
    fake = tmp_path / "model.skops"
    fake.write_bytes(b"not a zip")
    result = runner.invoke(
        app, ["predict", str(log_csv), "--model", str(fake), "-o", str(tmp_path / "s.csv"), "-q"]
    )
    assert result.exit_code == 2
    assert "model.skops" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "s.csv").exists()
