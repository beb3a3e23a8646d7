"""The verbs of segmint, each a chain of the stages below: load, customer_features, run, score.

``load`` reads canonical rows; ``customer_features`` goes load -> clean -> features;
``run`` goes on to cluster -> report and writes every output atomically; ``score`` applies a
saved model to a new log. This is the one module that writes outputs (through
:mod:`segmint.io.outputs`) and the one that chooses an engine (:func:`get_engine`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmint._checks import check_customers, check_options
from segmint._versions import versions
from segmint.engines.base import ENGINES, Engine
from segmint.errors import SegmintError
from segmint.io.outputs import atomic_file, atomic_folder, check_file, check_folder
from segmint.io.tables import write_table

if TYPE_CHECKING:
    import pandas as pd

    from segmint._parallel import Worker
    from segmint.clean import Cleaned
    from segmint.features import FeatureTable
    from segmint.io.sources import Inputs
    from segmint.model import Segmenter

__all__ = [
    "RunResult",
    "Scored",
    "check_output",
    "customer_features",
    "export_features",
    "export_table",
    "get_engine",
    "load",
    "run",
    "score",
]

Progress = Callable[[str], None]


def _silent(_: str) -> None:
    return None


def get_engine(
    name: str = "duckdb",
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    spark_master: str | None = None,
) -> Engine:
    """Create the engine called ``name``.

    Parameters
    ----------
    name : {"duckdb", "spark"}, default="duckdb"
        ``duckdb`` is embedded and needs no server; ``spark`` needs ``segmint[spark]``.
    threads : int, optional
        Worker threads (DuckDB), or cores of a local Spark; default all cores.
    memory_limit : str, optional
        Memory the engine may use before it spills to disk, e.g. ``"2GB"``.
    temp_directory : str, optional
        Where to spill.
    spark_master : str, optional
        Spark master URL, default ``local[*]``.

    Returns
    -------
    Engine
    """
    if name == "duckdb":
        from segmint.engines.duckdb import DuckDBEngine

        return DuckDBEngine(
            threads=threads, memory_limit=memory_limit, temp_directory=temp_directory
        )
    if name == "spark":
        try:
            from segmint.spark.engine import SparkEngine
        except ImportError as exc:  # pragma: no cover - depends on the extra
            raise SegmintError(
                f"--engine spark needs pyspark ({exc}); "
                "install it with pip install 'segmint[spark]'"
            ) from None
        return SparkEngine(
            master=spark_master,
            memory_limit=memory_limit,
            threads=threads,
            temp_directory=temp_directory,
        )
    raise SegmintError(f"unknown engine {name!r}; use one of {', '.join(ENGINES)}")


def load(
    inputs: Inputs,
    columns: Mapping[str, str] | None = None,
    *,
    encoding: str | None = None,
) -> pd.DataFrame:
    """Read a transaction log into canonical columns, without cleaning.

    Parameters
    ----------
    inputs : path, glob, sequence of them, or pandas.DataFrame
        CSV (any of , ; tab |, UTF-8 or Latin-1, with or without BOM), Parquet or Excel.
    columns : mapping of str to str, optional
        ``{canonical: their_name}`` for columns segmint does not recognise.
    encoding : {"utf-8", "latin-1"}, optional
        Force the CSV encoding.

    Returns
    -------
    pandas.DataFrame
        One row per input line, with the canonical columns that were found:
        ``invoice`` (str), ``stock_code`` (str), ``description`` (str), ``quantity`` (float),
        ``invoice_date`` (datetime), ``unit_price`` (float), ``customer_id`` (str or missing),
        ``country`` (str), and ``is_cancel`` (bool).
    """
    from segmint.io.sources import resolve_source
    from segmint.rules import canonical_select
    from segmint.schema import resolve_columns

    source = resolve_source(inputs, encoding=encoding)
    engine = get_engine("duckdb")
    try:
        described = engine.register(source, "raw")
        found = resolve_columns(
            [c for c, _ in described], columns, required=("customer_id",), source=source.label
        )
        select = canonical_select(found, dict(described), list(found))
        try:
            return engine.fetch(f"SELECT {select} FROM raw").to_pandas()
        except Exception as exc:
            raise source.read_error(exc) from None
    finally:
        engine.close()


def customer_features(
    inputs: Inputs,
    *,
    features: str | Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    exclude_service_codes: bool = False,
    encoding: str | None = None,
    engine: str | Engine = "duckdb",
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    spark_master: str | None = None,
) -> FeatureTable:
    """Turn a transaction log into one row per customer.

    Parameters
    ----------
    inputs : path, glob, sequence of them, or pandas.DataFrame
        The log: CSV, Parquet or Excel files (one format), or a table in memory.
    features : str or sequence of str, optional
        Extra features besides ``n_products`` and ``n_canceled_orders``: any of
        ``n_orders``, ``recency_days``, ``monetary``, ``cancel_rate``, or ``"all"``.
    columns : mapping of str to str, optional
        ``{canonical: their_name}`` for column names segmint does not recognise.
    exclude_service_codes : bool, default=False
        Drop service-code lines and lines with a zero or negative price.
    encoding : {"utf-8", "latin-1"}, optional
        Force the CSV encoding (sniffed by default).
    engine : {"duckdb", "spark"} or Engine, default="duckdb"
        Where the SQL runs: an engine's name, or an open engine (left open).
    threads, memory_limit, temp_directory, spark_master
        Engine settings, see :func:`get_engine`.

    Returns
    -------
    FeatureTable
        ``.table`` has shape ``(n_customers, 1 + n_features)``: ``customer_id`` then the
        features, sorted by ``customer_id``; ``.audit`` has the cleaning figures.

    Examples
    --------
    >>> result = customer_features("online_retail.csv")  # doctest: +SKIP
    >>> result.table.head()  # doctest: +SKIP
    """
    from segmint.clean import clean
    from segmint.features import FeatureTable, aggregate, parse_features
    from segmint.io.sources import resolve_source

    names = parse_features(features)
    given = isinstance(engine, Engine)
    eng = (
        engine
        if isinstance(engine, Engine)
        else get_engine(
            engine,
            threads=threads,
            memory_limit=memory_limit,
            temp_directory=temp_directory,
            spark_master=spark_master,
        )
    )
    try:
        source = resolve_source(inputs, encoding=encoding, remote=eng.reads_remote)
        cleaned = clean(
            eng,
            source,
            features=names,
            columns=columns,
            exclude_service_codes=exclude_service_codes,
        )
        return FeatureTable(
            aggregate(cleaned), cleaned.audit, names, source.label, list(source.notes)
        )
    finally:
        if not given:
            eng.close()


def check_output(
    output: str | os.PathLike,
    inputs: Inputs,
    *,
    force: bool = False,
    folder: bool = False,
    also: Sequence[str | os.PathLike] = (),
) -> None:
    """Fail before any work when ``output`` may not be written: the rule of every command.

    Refused: an output that is (or resolves to) one of the inputs or ``also`` (a model),
    a folder output that holds one, and an existing output unless ``force``.
    """
    from segmint.io.sources import input_paths

    paths = [*input_paths(inputs), *(Path(p) for p in also)]
    if folder:
        check_folder(Path(output), force=force, inputs=paths)
    else:
        check_file(Path(output), force=force, inputs=paths)


def export_table(table: pd.DataFrame, output: Path, *, force: bool = False) -> None:
    """Write a table atomically to ``output`` (CSV or Parquet by extension)."""
    check_file(output, force=force)
    with atomic_file(output, force=force) as tmp:
        write_table(table, tmp)


def export_features(result: FeatureTable, output: Path, *, force: bool = False) -> None:
    """Write the customer table atomically to ``output`` (CSV or Parquet by extension)."""
    export_table(result.table, output, force=force)


@dataclass
class RunResult:
    """What :func:`run` produced.

    Attributes
    ----------
    segments : pandas.DataFrame
        One row per customer: ``customer_id``, the features, ``kmeans_segment``,
        ``kmeans_name``, ``gmm_segment``, ``gmm_name``, ``gmm_probability``.
    profiles : pandas.DataFrame
        One row per (method, segment), see ``docs/CONTRACTS.md``.
    metrics : dict
        Everything in ``metrics.json``.
    segmenter : Segmenter or None
        The fitted model; None when Spark MLlib clustered the customers.
    features : FeatureTable
        The customer table and the cleaning audit.
    outdir : Path or None
        Where the outputs were written.
    """

    segments: pd.DataFrame
    profiles: pd.DataFrame
    metrics: dict[str, Any]
    segmenter: Segmenter | None
    features: FeatureTable
    outdir: Path | None = None
    warnings: list[str] = field(default_factory=list)


def run(
    inputs: Inputs,
    outdir: str | os.PathLike | None = None,
    *,
    features: str | Sequence[str] | None = None,
    columns: Mapping[str, str] | None = None,
    exclude_service_codes: bool = False,
    encoding: str | None = None,
    k: int | None = None,
    k_range: tuple[int, int] = (1, 10),
    scale: str = "log-standard",
    gmm_criterion: str = "bic",
    n_bootstrap: int = 20,
    seed: int = 0,
    report: bool = True,
    force: bool = False,
    engine: str = "duckdb",
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    spark_master: str | None = None,
    spark_collect_limit: int = 2_000_000,
    progress: Progress = _silent,
) -> RunResult:
    """Run the whole pipeline on a transaction log.

    Parameters
    ----------
    inputs : path, glob, sequence of them, or pandas.DataFrame
        The transaction log.
    outdir : path, optional
        Folder for ``segments.csv``, ``profiles.csv``, ``metrics.json``, ``model.skops``,
        ``report.html`` and ``plots/``; nothing is written when ``None``.
    features, columns, exclude_service_codes, encoding
        See :func:`segmint.customer_features`.
    k : int, optional
        Number of KMeans segments; by default the knee of the WCSS curve.
    k_range : (int, int), default=(1, 10)
        Inclusive range searched for KMeans and for the mixture's components.
    scale : {"log-standard", "standard", "robust", "none"}, default="log-standard"
        Transform applied before distances.
    gmm_criterion : {"bic", "aic"}, default="bic"
        How the mixture is chosen.
    n_bootstrap : int, default=20
        Bootstrap resamples for the stability check.
    seed : int, default=0
        Seeds every random step.
    report : bool, default=True
        Draw the plots and ``report.html``.
    force : bool, default=False
        Replace an existing ``outdir``.
    engine, threads, memory_limit, temp_directory, spark_master
        Engine settings, see :func:`get_engine`.
    spark_collect_limit : int, default=2_000_000
        With ``engine="spark"``: up to this many customers the table is collected and
        clustered as locally; above it, with Spark MLlib (:mod:`segmint.spark.mllib`).
    progress : callable, optional
        Called with a short message as each stage starts.

    Returns
    -------
    RunResult
    """
    from segmint._startup import early, import_in_background
    from segmint.clean import clean
    from segmint.features import FeatureTable, aggregate, parse_features
    from segmint.io.sources import resolve_source

    names = parse_features(features)
    check_options(k, k_range, scale, gmm_criterion)
    target = Path(outdir) if outdir is not None else None
    if target is not None:
        check_output(target, inputs, force=force, folder=True)  # fail before any work
    early()  # before forking the report process and starting the import thread
    reporter = _start_reporter(threads) if report and target is not None else None
    try:
        import_in_background("segmint.model")
        eng = get_engine(
            engine,
            threads=threads,
            memory_limit=memory_limit,
            temp_directory=temp_directory,
            spark_master=spark_master,
        )
        try:
            progress("reading, cleaning and aggregating")
            source = resolve_source(inputs, encoding=encoding, remote=eng.reads_remote)
            cleaned = clean(
                eng,
                source,
                features=names,
                columns=columns,
                exclude_service_codes=exclude_service_codes,
            )
            if engine == "spark" and cleaned.audit.customers > spark_collect_limit:
                return _cluster_on_spark(
                    cleaned,
                    target,
                    k=k,
                    k_range=k_range,
                    scale=scale,
                    gmm_criterion=gmm_criterion,
                    seed=seed,
                    report=report,
                    force=force,
                    progress=progress,
                )
            table = FeatureTable(
                aggregate(cleaned), cleaned.audit, names, source.label, list(source.notes)
            )
        finally:
            eng.close()
        return fit_and_write(
            table,
            target,
            k=k,
            k_range=k_range,
            scale=scale,
            gmm_criterion=gmm_criterion,
            n_bootstrap=n_bootstrap,
            seed=seed,
            report=report,
            force=force,
            engine=engine,
            progress=progress,
            threads=threads,
            exclude_service_codes=exclude_service_codes,
            reporter=reporter,
        )
    finally:
        if reporter is not None:
            reporter.kill()


def _cluster_on_spark(
    cleaned: Cleaned,
    target: Path | None,
    *,
    k: int | None,
    k_range: tuple[int, int],
    scale: str,
    gmm_criterion: str,
    seed: int,
    report: bool,
    force: bool,
    progress: Progress,
) -> RunResult:
    """Cluster with Spark MLlib where the customer table is too large to collect.

    Writes into ``target`` (atomically, like a local run): ``segments.parquet/`` (every
    customer), ``segments.csv`` (a seeded sample, for the report), ``profiles.csv`` and
    ``metrics.json`` (over every customer), and the report. The Spark session must still be
    open: the assignments are written from it.

    Returns
    -------
    RunResult
        ``segments`` and ``features.table`` hold the sample; ``segmenter`` is None.
    """
    from segmint.features import FeatureTable
    from segmint.spark.mllib import segment_customers

    names = cleaned.features
    progress(f"clustering {cleaned.audit.customers:,} customers with Spark MLlib")
    large = segment_customers(
        cleaned, k=k, k_range=k_range, scale=scale, gmm_criterion=gmm_criterion, seed=seed
    )
    source = cleaned.source
    metrics: dict[str, Any] = {
        "segmint_version": versions()["segmint"],
        "input": {"source": source.label, "engine": "spark", "notes": list(source.notes)},
        "parameters": {
            "features": list(names),
            "k": k,
            "k_range": list(k_range),
            "scale": scale,
            "gmm_criterion": gmm_criterion,
            "n_bootstrap": 0,
            "seed": seed,
            "clustering": "spark-mllib",
        },
        "audit": cleaned.audit.to_dict(),
        "features": list(names),
        **large.described,
        "versions": {**versions(), "pyspark": large.pyspark_version},
    }
    metrics["warnings"] = large.notes
    sample = large.sample
    table = FeatureTable(
        sample[["customer_id", *names]], cleaned.audit, names, source.label, list(source.notes)
    )
    out = RunResult(sample, large.profiles, metrics, None, table, target, large.notes)
    if target is None:
        return out
    with atomic_folder(target, force=force) as tmp:
        progress("writing outputs")
        large.assignments.write.parquet(str(tmp / "segments.parquet"))
        write_table(sample, tmp / "segments.csv")
        write_table(large.profiles, tmp / "profiles.csv")
        (tmp / "metrics.json").write_text(
            json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        if report:
            from segmint.report import write_report as draw_report

            progress("drawing the report from the sample")
            draw_report(tmp)
    return out


def _start_reporter(threads: int | None) -> Worker | None:
    """Fork the process that will draw the report, and let it import matplotlib meanwhile.

    Forked before scikit-learn is imported (on a thread, next) and before the engine starts
    its threads, it imports matplotlib and Pillow (0.8 s) on the second core while this
    process imports scikit-learn and reads the log; later it draws the figures while this
    process saves the model. With one core (or ``--threads 1``) nothing is forked.
    """
    from segmint._parallel import Worker, effective_jobs

    if effective_jobs(threads, 2) < 2:
        return None
    from segmint.report import preload

    return Worker(preload)


def fit_and_write(
    table: FeatureTable,
    target: Path | None,
    *,
    k: int | None,
    k_range: tuple[int, int],
    scale: str,
    gmm_criterion: str,
    n_bootstrap: int,
    seed: int,
    report: bool,
    force: bool,
    engine: str,
    progress: Progress,
    threads: int | None = None,
    exclude_service_codes: bool = False,
    reporter: Worker | None = None,
) -> RunResult:
    """Cluster a customer table and write every output (the second half of :func:`run`).

    ``reporter``, when given, is a :class:`~segmint._parallel.Worker` that has matplotlib loaded
    and draws the report while this process saves the model.
    """
    import pandas as pd

    from segmint.cluster import describe
    from segmint.model import Segmenter

    X = table.table[list(table.features)]
    check_customers(table.source, len(X), k, k_range)
    segmenter = Segmenter(
        k=k,
        k_range=k_range,
        scale=scale,
        gmm_criterion=gmm_criterion,
        n_bootstrap=n_bootstrap,
        random_state=seed,
        n_jobs=threads,
    )
    progress(f"clustering {len(X):,} customers")
    segmenter.fit(X)
    # the rules `segmint predict` must apply to a new log, saved with the model
    segmenter.metadata_ = {
        "features": list(table.features),
        "exclude_service_codes": exclude_service_codes,
    }
    assigned = segmenter.assign(X)
    segments = pd.concat(
        [table.table.reset_index(drop=True), assigned.reset_index(drop=True)], axis=1
    )
    segments["gmm_probability"] = segments["gmm_probability"].round(6)
    profiles = segmenter.profiles_
    metrics: dict[str, Any] = {
        "segmint_version": versions()["segmint"],
        "input": {"source": table.source, "engine": engine, "notes": table.notes},
        "parameters": {
            "features": list(table.features),
            "k": k,
            "k_range": list(k_range),
            "scale": scale,
            "gmm_criterion": gmm_criterion,
            "n_bootstrap": n_bootstrap,
            "seed": seed,
            "exclude_service_codes": exclude_service_codes,
        },
        "audit": table.audit.to_dict(),
        "features": list(table.features),
        **describe(segmenter),
        "versions": versions(),
    }
    result = RunResult(
        segments, profiles, metrics, segmenter, table, target, list(segmenter.warnings_)
    )
    if target is None:
        return result
    with atomic_folder(target, force=force) as tmp:
        progress("writing outputs")
        write_table(segments, tmp / "segments.csv")
        write_table(profiles, tmp / "profiles.csv")
        (tmp / "metrics.json").write_text(
            json.dumps(metrics, indent=2, sort_keys=False, allow_nan=False) + "\n"
        )
        _save_and_report(
            segmenter, tmp, report=report, n_jobs=threads, progress=progress, reporter=reporter
        )
    return result


def _save_and_report(
    segmenter: Segmenter,
    outdir: Path,
    *,
    report: bool,
    n_jobs: int | None,
    progress: Progress,
    reporter: Worker | None = None,
) -> None:
    """Write ``model.skops`` and (with ``report``) the report, side by side when cores allow.

    Saving imports skops, which scans scikit-learn's public types (0.6-1.5 s) and then writes
    the model; it shares nothing with the report, so the two run at once: the report in
    ``reporter`` (forked at the start, matplotlib already loaded) while this process saves,
    or without one, the model in a forked child while this process draws
    (:mod:`segmint._parallel`).
    """
    from segmint._parallel import Child, effective_jobs

    def save() -> None:
        segmenter.save(outdir / "model.skops")

    if not report:
        save()
        return
    from segmint.report import write_report

    progress("drawing the report")
    if reporter is not None:
        reporter.submit(functools.partial(write_report, outdir, n_jobs=n_jobs))
        save()
        reporter.result()
        return
    if effective_jobs(n_jobs, 2) < 2:
        save()
        write_report(outdir, n_jobs=1)
        return
    saver = Child([save])
    try:
        write_report(outdir, n_jobs=n_jobs)
        saver.result()
    finally:
        saver.kill()


@dataclass
class Scored:
    """Scored customers.

    Attributes
    ----------
    table : pandas.DataFrame
        Same columns as ``segments.csv``: ``customer_id``, the features, ``kmeans_segment``,
        ``kmeans_name``, ``gmm_segment``, ``gmm_name``, ``gmm_probability``.
    warnings : list of str
        For example customers outside the ranges the model was trained on.
    """

    table: pd.DataFrame
    warnings: list[str] = field(default_factory=list)


def score(
    model: str | os.PathLike,
    inputs: Inputs,
    *,
    columns: Mapping[str, str] | None = None,
    encoding: str | None = None,
) -> Scored:
    """Assign the segments of a saved model to the customers of a new log.

    Parameters
    ----------
    model : path
        ``model.skops`` written by :func:`segmint.run`.
    inputs : path, glob, sequence of them, or pandas.DataFrame
        The new transaction log.
    columns : mapping of str to str, optional
        Column mapping for the new log.
    encoding : {"utf-8", "latin-1"}, optional
        Force the CSV encoding.

    Returns
    -------
    Scored
    """
    from segmint._startup import early

    early()  # before pandas, so that loading the model is fast
    import pandas as pd

    from segmint.model import load

    segmenter = load(model)
    rules = getattr(segmenter, "metadata_", {}) or {}
    result = customer_features(
        inputs,
        features=list(segmenter.feature_names_in_),
        columns=columns,
        exclude_service_codes=bool(rules.get("exclude_service_codes", False)),
        encoding=encoding,
    )
    X = result.table[list(segmenter.feature_names_in_)]
    assigned = segmenter.assign(X)
    table = pd.concat(
        [result.table.reset_index(drop=True), assigned.reset_index(drop=True)], axis=1
    )
    table["gmm_probability"] = table["gmm_probability"].round(6)
    warnings: list[str] = []
    outside = segmenter.out_of_range(X)
    n_out = int(outside.sum())
    if n_out:
        warnings.append(
            f"{n_out:,} of {len(X):,} customers lie outside the feature ranges the model was "
            "trained on; their segments are extrapolated"
        )
    return Scored(table, warnings)
