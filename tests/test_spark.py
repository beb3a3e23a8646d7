"""The Spark engine against DuckDB, the Spark DataFrame entry, and the MLlib path (real Spark).

Every test shares one local Spark session (``local[2]``); the engine, the Python entry and the
pipeline all reuse an active session. The module is skipped without pyspark or Java, unless
``SEGMINT_REQUIRE_SPARK=1`` (CI), which turns a missing Spark into a failure.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest

from conftest import EXPECTED, EXPECTED_AUDIT, require, utc_recency_days


def _missing() -> str | None:
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install 'segmint[spark]')"
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        return "no Java runtime (java) for Spark"
    return None


if (_reason := _missing()) is not None:
    if require("spark"):
        pytest.fail(f"SEGMINT_REQUIRE_SPARK=1 but {_reason}", pytrace=False)
    pytest.skip(_reason, allow_module_level=True)

from segmint.engines.duckdb import DuckDBEngine  # noqa: E402
from segmint.errors import SegmintError  # noqa: E402
from segmint.features import FeatureTable  # noqa: E402
from segmint.io.sources import CatalogTable, resolve_source  # noqa: E402
from segmint.pipeline import customer_features  # noqa: E402
from segmint.schema import FEATURE_COLUMNS  # noqa: E402
from segmint.spark._translate import java_date_pattern, spark_size, translate  # noqa: E402
from segmint.spark.engine import SparkEngine  # noqa: E402

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from segmint.pipeline import RunResult

pytestmark = [
    pytest.mark.spark,
    # pyspark warns on import that it "does not yet fully support pandas >= 3"; segmint moves
    # results through Arrow (toArrow) and every test below compares them with DuckDB's.
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
]


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    """One small local session for the whole run (a JVM start costs seconds)."""
    from pyspark.sql import SparkSession

    from segmint.spark.engine import quiet_pyspark

    with quiet_pyspark():
        session = (
            SparkSession.builder.master("local[2]")
            .appName("segmint-tests")
            .config("spark.sql.shuffle.partitions", "4")
            .config("spark.default.parallelism", "2")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.driver.memory", "1g")
            # not ./spark-warehouse in the checkout, where Spark makes it by default
            .config("spark.sql.warehouse.dir", str(tmp_path_factory.mktemp("warehouse")))
            # Short-lived test JVM: the C1 compiler alone halves start-up and warm-up.
            .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
            .getOrCreate()
        )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def _spark(inputs: Any, **options: Any) -> FeatureTable:
    """The FeatureTable of the Spark engine on the shared session."""
    engine = SparkEngine()
    try:
        return customer_features(inputs, engine=engine, **options)
    finally:
        engine.close()


def _both(inputs: Any, **options: Any) -> tuple[FeatureTable, FeatureTable]:
    """The FeatureTable of the DuckDB engine and of the Spark engine."""
    engine = DuckDBEngine(threads=2)
    try:
        local = customer_features(inputs, engine=engine, **options)
    finally:
        engine.close()
    return local, _spark(inputs, **options)


# --------------------------------------------------------------- translation (no session)
def test_translation_rewrites() -> None:
    assert java_date_pattern("%m/%d/%Y %H:%M") == "M/d/y H:m"
    assert java_date_pattern("%Y-%m-%dT%H:%M:%S") == "y-M-d'T'H:m:s"
    with pytest.raises(ValueError, match="%b"):
        java_date_pattern("%d %b %Y")
    sql = translate(
        "SELECT DATE_DIFF('day', CAST(MAX(d) AS DATE), CAST((SELECT MAX(d) FROM clean) AS DATE)),"
        " a / b, isfinite(x), COUNT(*) FILTER (WHERE y) FROM clean",
        {"clean": "v_clean"},
    )
    assert "DATEDIFF(CAST((SELECT MAX(d) FROM v_clean) AS DATE), CAST(MAX(d) AS DATE))" in sql
    assert "TRY_DIVIDE(a, b)" in sql and "ISNAN(x)" in sql and "FILTER(WHERE y)" in sql
    assert "FROM v_clean" in sql and "FROM clean" not in sql
    with pytest.raises(ValueError, match="anchor the pattern"):
        translate("SELECT REGEXP_REPLACE(a, '[.]0+', '') FROM raw")
    assert spark_size("2GB") == "2048m" and spark_size("512MiB") == "512m"
    assert java_date_pattern("%Y-%m-%d %H:%M:%S %z") == "y-M-d H:m:s [xxx][xx][x]"
    utc = translate(
        "SELECT CAST(timezone('UTC', TRY_STRPTIME(d, '%Y-%m-%d %H:%M:%S %z')) AS TIMESTAMP)"
    )
    assert (
        "TO_UTC_TIMESTAMP(TRY_TO_TIMESTAMP(d, 'y-M-d H:m:s [xxx][xx][x]'), CURRENT_TIMEZONE())"
        in utc
    )


# --------------------------------------------------------------- same table as DuckDB
def test_hand_written_log_equals_duckdb(spark: SparkSession, log_csv: Path) -> None:
    local, distributed = _both(log_csv, features=FEATURE_COLUMNS)
    pd.testing.assert_frame_equal(distributed.table, local.table, check_exact=True)
    pd.testing.assert_frame_equal(distributed.table, EXPECTED, check_dtype=False, atol=1e-12)
    assert distributed.audit.to_dict() == EXPECTED_AUDIT == local.audit.to_dict()
    assert not [t for t in spark.catalog.listTables() if t.name.startswith("segmint_")]


def test_shop_exports_equal_duckdb(spark: SparkSession, tmp_path: Path) -> None:
    """Presets on Spark: order-level fields carried over each order's rows, status rules."""
    from shop_exports import EXPECTED as SHOP
    from shop_exports import write_shopify, write_woocommerce

    for write in (write_shopify, write_woocommerce):
        path = write(tmp_path / f"{write.__name__}.csv")
        local, distributed = _both(path, features=FEATURE_COLUMNS, pseudonymize=False)
        pd.testing.assert_frame_equal(distributed.table, local.table, check_exact=True)
        pd.testing.assert_frame_equal(distributed.table, SHOP, check_dtype=False, atol=1e-12)
        assert distributed.audit == local.audit
        assert distributed.cancellation_rule == local.cancellation_rule
    assert not [t for t in spark.catalog.listTables() if t.name.startswith("segmint_")]


@pytest.mark.parametrize("zone", ["UTC", "America/New_York", "Asia/Kolkata"])
def test_offsets_equal_duckdb_in_any_session_time_zone(
    spark: SparkSession, offset_log: Path, tmp_path: Path, zone: str
) -> None:
    """Dates with offsets are read as their UTC wall clock whatever the session time zone."""
    from shop_exports import EXPECTED as SHOP
    from shop_exports import write_shopify

    shop = write_shopify(tmp_path / "shop.csv", offsets=True)
    before = spark.conf.get("spark.sql.session.timeZone")
    spark.conf.set("spark.sql.session.timeZone", zone)
    try:
        local, distributed = _both(offset_log, features=FEATURE_COLUMNS, pseudonymize=False)
        pd.testing.assert_frame_equal(distributed.table, local.table, check_exact=True)
        recency = distributed.table.set_index("customer_id")["recency_days"]
        assert recency.to_dict() == utc_recency_days(offset_log).to_dict()
        assert distributed.audit == local.audit
        local, distributed = _both(shop, features=FEATURE_COLUMNS, pseudonymize=False)
        pd.testing.assert_frame_equal(distributed.table, local.table, check_exact=True)
        pd.testing.assert_frame_equal(distributed.table, SHOP, check_dtype=False, atol=1e-12)
    finally:
        spark.conf.set("spark.sql.session.timeZone", before)


def test_real_file_equals_duckdb(spark: SparkSession, real_log: Path) -> None:
    local, distributed = _both(real_log, features=FEATURE_COLUMNS)
    pd.testing.assert_frame_equal(distributed.table, local.table, check_exact=True)
    assert distributed.audit == local.audit
    assert distributed.audit.customers == 1_749


def test_synthetic_parquet_log_equals_duckdb(spark: SparkSession, tmp_path: Path) -> None:
    from segmint.synth import write

    # Parquet keeps typed columns (timestamp, bigint, double): the typed branches of the SQL.
    log, _ = write(tmp_path / "log.parquet", 30_000, seed=3)
    local, distributed = _both(log, features=FEATURE_COLUMNS, exclude_service_codes=True)
    pd.testing.assert_frame_equal(distributed.table, local.table, check_exact=True)
    assert distributed.audit == local.audit
    assert distributed.audit.rows_excluded > 0


def test_uri_passes_through_and_catalog_table(
    spark: SparkSession, log_csv: Path, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from segmint.cli import app

    uri = log_csv.resolve().as_uri()  # file:///...: no local checks, Spark sniffs the header
    source = resolve_source(uri, remote=True)
    assert source.uris == [uri] and source.header is None and source.label == "orders.csv"
    with pytest.raises(SegmintError, match="--engine spark"):
        resolve_source(uri)
    with pytest.raises(SegmintError, match="add --engine spark"):
        resolve_source(CatalogTable("orders"))
    table = _spark(uri, features=FEATURE_COLUMNS).table
    pd.testing.assert_frame_equal(table, EXPECTED, check_dtype=False, atol=1e-12)

    spark.read.csv(str(log_csv), header=True).createOrReplaceTempView("orders")
    out = tmp_path / "customers.csv"
    result = CliRunner().invoke(
        app, ["features", "--engine", "spark", "--table", "orders", "-o", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    got = pd.read_csv(out, dtype={"customer_id": str})
    pd.testing.assert_frame_equal(got, EXPECTED[list(got.columns)], check_dtype=False)
    assert spark.catalog.tableExists("orders")  # the caller's view is left alone


def test_pandas_input_and_read_errors(
    spark: SparkSession, transactions: pd.DataFrame, tmp_path: Path
) -> None:
    table = _spark(transactions, features=FEATURE_COLUMNS).table
    pd.testing.assert_frame_equal(table, EXPECTED, check_dtype=False, atol=1e-12)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("InvoiceNo,StockCode,Quantity,CustomerID\n1,A,2,12345.0\n2,B,3\n")
    with pytest.raises(SegmintError, match=r"ragged\.csv has rows with a different number"):
        _spark(ragged)


# --------------------------------------------------------------- Spark DataFrame entry
def test_spark_dataframe_entry(spark: SparkSession, transactions: pd.DataFrame) -> None:
    import pyarrow as pa

    from segmint.spark import customer_features

    df = spark.createDataFrame(pa.Table.from_pandas(transactions, preserve_index=False))
    spark.range(1).createOrReplaceTempView("clean")  # a user's view with a rule's name
    customers = customer_features(df, features="all")
    assert customers.columns == list(EXPECTED.columns)
    assert dict(customers.dtypes)["n_products"] == "bigint"
    got = customers.toArrow().to_pandas()
    pd.testing.assert_frame_equal(got, EXPECTED, check_dtype=False, atol=1e-12)
    assert spark.table("clean").count() == 1
    renamed = df.withColumnRenamed("CustomerID", "ClientRef")
    with pytest.raises(SegmintError, match="no customer id column"):
        customer_features(renamed)
    mapped = customer_features(renamed, columns={"customer_id": "ClientRef"})
    assert mapped.select("n_canceled_orders").toArrow().column(0).to_pylist() == [0, 1, 2]


# --------------------------------------------------------------- clustering
K_RANGE = (1, 4)  # the planted number of types is 4


@pytest.fixture(scope="module")
def synthetic_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.Series]:
    """A synthetic CSV log and the planted type of each of its customers."""
    from segmint.synth import write

    log, truth_file = write(tmp_path_factory.mktemp("synth") / "log.csv", 120_000, seed=5)
    truth = pd.read_csv(truth_file, dtype=str).set_index("customer_id")["planted_type"]
    return log, truth


@pytest.fixture(scope="module")
def local_run(synthetic_log: tuple[Path, pd.Series]) -> RunResult:
    """The whole pipeline on DuckDB and scikit-learn, at the planted number of segments."""
    from segmint.pipeline import run
    from segmint.synth import PLANTED_TYPES

    return run(synthetic_log[0], k=len(PLANTED_TYPES), k_range=K_RANGE, n_bootstrap=0, report=False)


def test_run_on_spark_collects_the_table_and_clusters_as_locally(
    spark: SparkSession, synthetic_log: tuple[Path, pd.Series], local_run: RunResult
) -> None:
    from segmint.pipeline import run

    params = local_run.metrics["parameters"]
    result = run(
        synthetic_log[0],
        engine="spark",
        k=params["k"],
        k_range=K_RANGE,
        n_bootstrap=0,
        report=False,
    )
    pd.testing.assert_frame_equal(result.segments, local_run.segments)
    assert result.metrics["input"]["engine"] == "spark"
    assert result.metrics["audit"] == local_run.metrics["audit"]


@pytest.mark.slow
def test_run_above_the_collect_limit_uses_mllib(
    spark: SparkSession,
    synthetic_log: tuple[Path, pd.Series],
    local_run: RunResult,
    tmp_path: Path,
) -> None:
    from sklearn.metrics import adjusted_rand_score

    from segmint.pipeline import run
    from segmint.spark.mllib import adjusted_rand_from_counts

    log, truth = synthetic_log
    k = local_run.metrics["parameters"]["k"]
    result = run(
        log,
        tmp_path / "out",
        engine="spark",
        spark_collect_limit=100,
        k=k,
        k_range=K_RANGE,
        n_bootstrap=2,
        report=True,
    )
    out = tmp_path / "out"
    every = pd.read_parquet(out / "segments.parquet").sort_values("customer_id", ignore_index=True)
    local = local_run.segments
    assert every["customer_id"].tolist() == local["customer_id"].tolist()
    planted = truth.loc[every["customer_id"]].to_numpy()
    # the planted types are recovered, and KMeans agrees with the local (scikit-learn) path
    assert adjusted_rand_score(planted, every["kmeans_segment"]) >= 0.9
    assert adjusted_rand_score(planted, every["gmm_segment"]) >= 0.9
    assert adjusted_rand_score(local["kmeans_segment"], every["kmeans_segment"]) >= 0.95
    # the selection is reported as locally: the WCSS curve, the BIC/AIC grid, the agreement
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["parameters"]["clustering"] == "spark-mllib"
    sweep = pd.DataFrame(metrics["kmeans"]["sweep"])
    assert sweep["k"].tolist() == list(range(1, 5)) and np.all(np.diff(sweep["wcss"]) < 0)
    assert {g["covariance_type"] for g in metrics["gmm"]["grid"]} == {"full"}
    assert sum(metrics["kmeans"]["sizes"]) == len(every) == sum(metrics["gmm"]["sizes"])
    # the user's k is kept; the rule's table and the structure check are recorded as locally
    gmm = metrics["gmm"]
    assert gmm["n_components"] == gmm["selection"]["n_components"] == k
    assert gmm["evidence"] == "fixed" and f"n_components={k} fixed by the user" in gmm["reason"]
    assert [r["n_components"] for r in gmm["selection"]["criterion"]] == list(range(1, 5))
    assert gmm["structure"]["single_population"].startswith("not compared: the MLlib")
    assert gmm["selection"]["stability"] == {str(k): metrics["stability"]["gmm"]["mean_ari"]}
    assert 0.9 <= metrics["agreement"]["ari"] <= 1.0
    # the bootstrap refitted both models in Spark on 2 resamples, and said what it cost
    stability = metrics["stability"]
    assert stability["n_bootstrap"] == 2 and metrics["parameters"]["n_bootstrap"] == 2
    for method in ("kmeans", "gmm"):
        assert 0.5 <= stability[method]["mean_ari"] <= 1.0
        assert len(stability[method]["jaccard"]) == k
    assert any(w.startswith("stability: 2 bootstrap resamples") for w in metrics["warnings"])
    assert set(every["kmeans_name"]) == set(metrics["kmeans"]["names"])
    assert (out / "report.html").is_file() and (out / "profiles.csv").is_file()
    assert result.segmenter is None and len(pd.read_csv(out / "segments.csv")) == len(every)
    assert adjusted_rand_from_counts(np.array([[3, 0], [0, 2]])) == 1.0

    # model.skops holds the MLlib arrays; predict applies them (numpy, no Spark) and gives
    # every customer of the training log the segments the run gave it
    from typer.testing import CliRunner

    from segmint.cli import app
    from segmint.spark.saved import is_mllib_model, load

    model = out / "model.skops"
    assert is_mllib_model(model)
    scored_file = tmp_path / "scored.parquet"
    cli = CliRunner().invoke(
        app, ["predict", str(log), "-m", str(model), "-o", str(scored_file), "-q"]
    )
    assert cli.exit_code == 0, cli.output
    scored = pd.read_parquet(scored_file)
    assert scored["customer_id"].tolist() == every["customer_id"].tolist()
    for column in ("kmeans_segment", "kmeans_name", "gmm_segment", "gmm_name"):
        assert scored[column].tolist() == every[column].tolist(), column
    np.testing.assert_allclose(scored["gmm_probability"], every["gmm_probability"], atol=2e-6)
    again = tmp_path / "again.skops"
    load(model).save(again)
    assert again.read_bytes() == model.read_bytes()  # the file is canonical


@pytest.mark.slow
def test_mllib_chooses_the_mixture_by_the_selection_rule(spark: SparkSession) -> None:
    from segmint.report._mixture import mixture_summary
    from segmint.spark.mllib import describe, segment

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "customer_id": [f"c{i:04d}" for i in range(500)],
            "n_products": np.concatenate([rng.poisson(3, 300), rng.poisson(40, 200)]),
            "n_canceled_orders": np.concatenate([rng.poisson(0.2, 300), rng.poisson(3, 200)]),
        }
    )
    result = segment(
        spark.createDataFrame(frame),
        ["n_products", "n_canceled_orders"],
        k_range=(1, 3),
        n_bootstrap=1,
    )
    described = describe(result)
    gmm = described["gmm"]
    selection = gmm["selection"]
    m = result.gmm_n_components
    assert gmm["n_components"] == selection["n_components"] == m
    assert m in selection["indistinguishable"] and selection["criterion_name"] == "BIC"
    rows = {r["n_components"]: r for r in selection["criterion"]}
    assert [rows[n]["mean"] for n in (1, 2, 3)] == pytest.approx(result.grid["bic"], rel=1e-5)
    assert all(r["se"] == 0.0 and r["margin"] == 10.0 for r in rows.values())
    evidence = "clear" if len(selection["indistinguishable"]) == 1 else "indistinguishable"
    assert gmm["evidence"] == evidence
    # every candidate's stability refitted in Spark; the chosen one's resamples are reused
    assert set(selection["stability"]) == {str(n) for n in selection["indistinguishable"]}
    assert selection["stability"][str(m)] == described["stability"]["gmm"]["mean_ari"]
    structure = gmm["structure"]
    assert structure["single_population"].startswith("not compared: the MLlib")
    assert structure["mean_ari"] == described["stability"]["gmm"]["mean_ari"]
    assert gmm["reason"].startswith("Gaussian mixture (Spark MLlib, full covariance): BIC is")
    assert "1%" not in gmm["reason"] and not any("1%" in w for w in described["warnings"])
    # the report's mixture summary shows the indistinguishable set of an MLlib run too
    summary = mixture_summary(gmm)
    assert [r["n_components"] for r in summary["indistinguishable"]] == (
        selection["indistinguishable"]
    )
