"""segmint beyond one machine: a standalone cluster of separate processes, and Spark Connect.

One standalone cluster (a master and two workers, each its own JVM) and one Spark Connect
server are started per test session by the fixtures below (:mod:`conftest_spark`), on
127.0.0.1 and free ports, and always killed at the end; their logs stay in pytest's temporary
folder and are printed when a test fails. Every result is compared with DuckDB's, exactly.

Skipped without pyspark or Java, unless ``SEGMINT_REQUIRE_SPARK=1`` (CI).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from conftest import EXPECTED, EXPECTED_AUDIT, require


def _missing() -> str | None:
    try:
        import pyspark  # noqa: F401

        with warnings.catch_warnings():  # "does not yet fully support pandas >= 3"
            warnings.simplefilter("ignore", FutureWarning)
            from pyspark.sql.connect.session import SparkSession  # noqa: F401
    except ImportError as exc:
        return f"pyspark[connect] is not installed ({exc}; pip install 'segmint[spark]')"
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        return "no Java runtime (java) for Spark"
    return None


if (_reason := _missing()) is not None:
    if require("spark"):
        pytest.fail(f"SEGMINT_REQUIRE_SPARK=1 but {_reason}", pytrace=False)
    pytest.skip(_reason, allow_module_level=True)

from conftest_spark import (  # noqa: E402
    Cluster,
    Service,
    connect_server,
    keep_logs,
    spark_home,
    standalone_cluster,
)
from segmint.engines.duckdb import DuckDBEngine  # noqa: E402
from segmint.errors import SegmintError  # noqa: E402
from segmint.features import FeatureTable  # noqa: E402
from segmint.pipeline import customer_features, run  # noqa: E402
from segmint.schema import FEATURE_COLUMNS  # noqa: E402
from segmint.spark.engine import SparkEngine  # noqa: E402

pytestmark = [
    pytest.mark.spark,
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


# --------------------------------------------------------------- the services
def _keep_logs_if_failed(request: pytest.FixtureRequest, root: Path) -> None:
    if request.session.testsfailed:
        kept = keep_logs(root)
        sys.stderr.write(f"\nSpark logs of the failed session kept in {kept}\n")


@pytest.fixture(scope="session")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """A standalone master and two workers for the whole session."""
    root = tmp_path_factory.mktemp("spark-cluster")
    try:
        with standalone_cluster(root) as running:
            yield running
    finally:
        _keep_logs_if_failed(request, root)


@pytest.fixture(scope="session")
def connect(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, Service]]:
    """A Spark Connect server for the whole session: ``(sc://..., service)``."""
    root = tmp_path_factory.mktemp("spark-connect")
    try:
        with connect_server(root) as running:
            yield running
    finally:
        _keep_logs_if_failed(request, root)


def _segmint(
    args: list[str], env: dict[str, str], logs: str = ""
) -> subprocess.CompletedProcess[str]:
    """``segmint ARGS`` in its own process, as a user runs it; the logs are shown on failure."""
    done = subprocess.run(
        [sys.executable, "-m", "segmint.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, f"{done.stderr[-4000:]}\n{logs}"
    return done


def _duckdb(inputs: Any, **options: Any) -> FeatureTable:
    engine = DuckDBEngine(threads=2)
    try:
        return customer_features(inputs, engine=engine, **options)
    finally:
        engine.close()


def _same_run(cluster: Cluster, log: Path, tmp_path: Path, *options: str) -> dict[str, Any]:
    """``segmint run`` on the cluster and on DuckDB: the same outputs, byte for byte."""
    common = ["--features", "all", "--bootstrap", "0", "--no-report", "-q", *options]
    on_cluster = tmp_path / "cluster"
    _segmint(
        ["run", str(log), "-o", str(on_cluster), "--engine", "spark", "--spark-master",
         cluster.master_url, *common],
        cluster.env,
        cluster.logs(),
    )  # fmt: skip
    local = tmp_path / "duckdb"
    _segmint(["run", str(log), "-o", str(local), *common], dict(os.environ))
    for name in ("segments.csv", "profiles.csv", "model.skops"):
        assert (on_cluster / name).read_bytes() == (local / name).read_bytes(), name
    metrics = json.loads((on_cluster / "metrics.json").read_text())
    expected = json.loads((local / "metrics.json").read_text())
    assert metrics["input"]["engine"] == "spark"
    assert metrics["audit"] == expected["audit"]
    return dict(metrics["audit"])


# --------------------------------------------------------------- standalone cluster
def test_cluster_run_on_three_real_months_equals_duckdb(
    cluster: Cluster, real_log: Path, tmp_path: Path
) -> None:
    audit = _same_run(cluster, real_log, tmp_path)
    assert audit["customers"] == 1_749
    apps = cluster.state()["completedapps"]
    assert isinstance(apps, list) and any(a["name"] == "segmint" for a in apps), cluster.logs()


def test_cluster_run_on_synthetic_parquet_equals_duckdb(cluster: Cluster, tmp_path: Path) -> None:
    from segmint.synth import write

    log, _ = write(tmp_path / "log.parquet", 30_000, seed=3)
    audit = _same_run(cluster, log, tmp_path, "--exclude-service-codes")
    assert audit["rows_excluded"] > 0


DRIVER = textwrap.dedent(
    """
    import sys

    from pyspark.sql import SparkSession

    from segmint.spark import customer_features

    spark = SparkSession.builder.appName("segmint-submit").getOrCreate()
    lines = spark.read.parquet(sys.argv[1])
    customers = customer_features(lines, features="all", exclude_service_codes=True)
    customers.write.parquet(sys.argv[2])
    print("executors:", spark.sparkContext.getConf().get("spark.master"))
    spark.stop()
    """
)


def test_spark_submit_driver_calls_customer_features(cluster: Cluster, tmp_path: Path) -> None:
    from segmint.synth import write

    log, _ = write(tmp_path / "log.parquet", 20_000, seed=11)
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER, encoding="utf-8")
    out = tmp_path / "customers.parquet"
    done = subprocess.run(
        [str(spark_home() / "bin" / "spark-submit"), "--master", cluster.master_url,
         str(driver), str(log), str(out)],
        env=cluster.env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stderr[-4000:]}\n{cluster.logs()}"
    assert f"executors: {cluster.master_url}" in done.stdout
    got = pd.read_parquet(out).sort_values("customer_id", ignore_index=True)
    local = _duckdb(log, features=FEATURE_COLUMNS, exclude_service_codes=True).table
    pd.testing.assert_frame_equal(got, local, check_exact=True)


# --------------------------------------------------------------- Spark Connect
def _on_connect(url: str, inputs: Any, **options: Any) -> FeatureTable:
    engine = SparkEngine(remote=url)
    try:
        return customer_features(inputs, engine=engine, **options)
    finally:
        engine.close()


def test_connect_hand_written_and_real_logs_equal_duckdb(
    connect: tuple[str, Service], log_csv: Path, real_log: Path, tmp_path: Path
) -> None:
    url, server = connect
    small = _on_connect(url, log_csv, features=FEATURE_COLUMNS)
    pd.testing.assert_frame_equal(small.table, EXPECTED, check_dtype=False, atol=1e-12)
    assert small.audit.to_dict() == EXPECTED_AUDIT
    real = _on_connect(url, real_log, features=FEATURE_COLUMNS)
    local = _duckdb(real_log, features=FEATURE_COLUMNS)
    pd.testing.assert_frame_equal(real.table, local.table, check_exact=True)
    assert real.audit == local.audit, server.tail()

    from segmint.synth import write

    log, _ = write(tmp_path / "log.parquet", 30_000, seed=3)
    typed = _on_connect(url, log, features=FEATURE_COLUMNS, exclude_service_codes=True)
    local = _duckdb(log, features=FEATURE_COLUMNS, exclude_service_codes=True)
    pd.testing.assert_frame_equal(typed.table, local.table, check_exact=True)
    assert typed.audit == local.audit


def test_connect_dataframe_entry_and_run(
    connect: tuple[str, Service], transactions: pd.DataFrame, tmp_path: Path
) -> None:
    import pyarrow as pa
    from pyspark.sql.connect.session import SparkSession

    from segmint.spark import customer_features as spark_features

    url, _ = connect
    session = SparkSession.builder.remote(url).create()
    try:
        df = session.createDataFrame(pa.Table.from_pandas(transactions, preserve_index=False))
        customers = spark_features(df, features="all")
        got = customers.toArrow().to_pandas()
        pd.testing.assert_frame_equal(got, EXPECTED, check_dtype=False, atol=1e-12)
    finally:
        session.stop()

    # SPARK_REMOTE alone picks the Connect server, as for pyspark
    from segmint.synth import write

    log, _ = write(tmp_path / "log.csv", 20_000, seed=2)
    options: dict[str, Any] = {"k_range": (1, 4), "n_bootstrap": 0, "report": False}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPARK_REMOTE", url)
        remote = run(log, engine="spark", **options)
    local = run(log, **options)
    pd.testing.assert_frame_equal(remote.segments, local.segments)
    assert remote.metrics["audit"] == local.metrics["audit"]


def test_connect_bad_urls_are_one_line_errors(tmp_path: Path, log_csv: Path) -> None:
    from segmint.pipeline import get_engine

    with pytest.raises(SegmintError, match="sc://HOST:PORT"):
        get_engine("spark", spark_remote="localhost:15002")
    with pytest.raises(SegmintError, match="pass one of them"):
        get_engine("spark", spark_master="local[1]", spark_remote="sc://127.0.0.1:1")
    env = {**os.environ, "SPARK_REMOTE": "127.0.0.1:15002"}
    done = subprocess.run(
        [sys.executable, "-m", "segmint.cli", "features", str(log_csv), "--engine", "spark",
         "-o", str(tmp_path / "c.csv"), "-q"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "sc://HOST:PORT" in done.stderr
    # nobody listens there: one line at once, not minutes of the client's retries
    from conftest_spark import free_port

    with pytest.raises(SegmintError, match="cannot reach the Spark Connect server"):
        get_engine("spark", spark_remote=f"sc://127.0.0.1:{free_port()}")
