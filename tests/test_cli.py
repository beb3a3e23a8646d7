"""The command line: exit codes, one-line errors, outputs (typer's CliRunner)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from conftest import EXPECTED
from segmint.cli import app

runner = CliRunner()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_features_writes_csv_and_parquet(tmp_path: Path, log_csv: Path) -> None:
    out_csv, out_pq = tmp_path / "customers.csv", tmp_path / "customers.parquet"
    result = runner.invoke(app, ["features", str(log_csv), "-o", str(out_csv)])
    assert result.exit_code == 0, result.output
    assert "rows read" in result.stdout and "reading" in result.stderr
    table = pd.read_csv(out_csv, dtype={"customer_id": str})
    pd.testing.assert_frame_equal(table, EXPECTED[list(table.columns)], check_dtype=False)
    result = runner.invoke(
        app, ["features", str(log_csv), "-o", str(out_pq), "--quiet", "--features", "all"]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr == "" and result.stdout == ""
    pd.testing.assert_frame_equal(pd.read_parquet(out_pq), EXPECTED, check_dtype=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "customers.csv",
        "customers.parquet",
        "orders.csv",
    ]  # no temporary files left


def test_missing_column_is_one_line_exit_2_and_nothing_written(
    tmp_path: Path, transactions: pd.DataFrame
) -> None:
    src = tmp_path / "orders.csv"
    transactions.drop(columns=["CustomerID"]).to_csv(src, index=False)
    before = _digest(src)
    out = tmp_path / "out.csv"
    result = runner.invoke(app, ["features", str(src), "-o", str(out), "-q"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: orders.csv has no customer id column; columns are [")
    assert lines[0].endswith("map one with --column customer_id=NAME")
    assert "Traceback" not in result.output
    assert not out.exists()
    assert _digest(src) == before


def test_column_mapping(tmp_path: Path, transactions: pd.DataFrame) -> None:
    src = tmp_path / "export.csv"
    transactions.rename(columns={"CustomerID": "ClientRef", "InvoiceNo": "Order"}).to_csv(
        src, index=False
    )
    out = tmp_path / "c.csv"
    result = runner.invoke(
        app,
        [
            "features",
            str(src),
            "-o",
            str(out),
            "-q",
            "--column",
            "customer_id=ClientRef",
            "-c",
            "invoice=Order",
        ],
    )
    assert result.exit_code == 0, result.stderr
    assert pd.read_csv(out)["n_canceled_orders"].tolist() == [0, 1, 2]


def test_bad_options(tmp_path: Path, log_csv: Path) -> None:
    cases = [
        (["features", str(log_csv), "-o", str(tmp_path / "c.json")], "must end in .csv"),
        (["features", str(log_csv), "-o", str(tmp_path)], "is a folder"),
        (
            ["features", str(log_csv), "-o", str(tmp_path / "c.csv"), "--features", "x"],
            "unknown feature 'x'",
        ),
        (
            ["features", str(log_csv), "-o", str(tmp_path / "c.csv"), "--column", "nope"],
            "canonical=TheirName",
        ),
        (["features", str(log_csv), "-o", str(tmp_path / "no" / "c.csv")], "does not exist"),
        (
            ["features", str(log_csv), "-o", str(tmp_path / "c.csv"), "--engine", "pandas"],
            "unknown engine",
        ),
    ]
    for args, message in cases:
        result = runner.invoke(app, [*args, "-q"])
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.output


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("features", "run", "demo", "synth", "predict", "report"):
        assert command in result.stdout
