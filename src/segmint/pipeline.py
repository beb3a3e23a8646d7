"""The verbs of segmint, each a chain of the stages below: load, customer_features, run, score.

``load`` reads canonical rows; ``customer_features`` goes load -> clean -> features;
``run`` goes on to cluster -> report and writes every output atomically; ``write_report``
re-renders the report of a finished run; ``score`` applies a saved model to a new log. This is
the one module that writes outputs (through :mod:`segmint.io.outputs`; the report package only
renders bytes) and the one that chooses an engine (:func:`get_engine`).
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmint._checks import check_customers, check_options
from segmint._engine_choice import get_engine
from segmint._export import check_output, export_features, export_table
from segmint._versions import versions
from segmint.engines.base import Engine
from segmint.errors import SegmintError
from segmint.io.outputs import atomic_folder, write_files
from segmint.io.tables import write_table

if TYPE_CHECKING:
    import pandas as pd

    from segmint._described import Described
    from segmint._parallel import Worker
    from segmint.clean import Cleaned
    from segmint.features import FeatureTable
    from segmint.io.sources import Inputs
    from segmint.model import Segmenter

__all__ = [
    "RunResult",
    "check_output",
    "customer_features",
    "export_features",
    "export_table",
    "get_engine",
    "load",
    "run",
    "write_report",
]

Progress = Callable[[str], None]


def _silent(_: str) -> None:
    return None


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
    as_of: str | date | None = None,
    window: str | None = None,
    preset: str | None = None,
    mapping: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    cancelled_when: str | Sequence[str] | None = None,
    pseudonymize: bool | None = None,
    pseudonymize_key: str | None = None,
    spark_remote: str | None = None,
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
    threads, memory_limit, temp_directory, spark_master, spark_remote
        Engine settings, see :func:`get_engine`.
    as_of, window : str, optional
        Features as of a day (``YYYY-MM-DD``, default the log's last) over a window (``90D``,
        ``12M``; default every line), see :mod:`segmint.windows`.
    preset : str, optional
        ``"shopify"``, ``"woocommerce"`` or ``"none"``; by default found in the header
        (:mod:`segmint.presets`).
    mapping : path or mapping, optional
        A mapping file (TOML: ``preset``, ``order_key``, ``cancelled_when``, ``[columns]``) or
        a dict of the same keys; ``columns``, ``preset`` and ``cancelled_when`` win over it.
    cancelled_when : str or sequence of str, optional
        Which orders are cancelled: ``"COLUMN=value1,value2"`` (``value*`` a prefix) or
        ``"COLUMN"`` (not blank), any of several; default the preset's rule, else an invoice
        starting with C.
    pseudonymize : bool, optional
        Replace customer ids by keyed-hash tokens (:mod:`segmint._pseudonym`); default when
        they look like emails.
    pseudonymize_key : str, optional
        The key; default ``$SEGMINT_PSEUDONYMIZE_KEY``, else a key kept for this user.

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
    from segmint.features import feature_table, parse_features
    from segmint.presets import request
    from segmint.windows import customer_table, parse_as_of, parse_window

    names = parse_features(features)
    day, span = parse_as_of(as_of), parse_window(window)
    asked = request(preset, mapping, columns, cancelled_when)
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
            spark_remote=spark_remote,
        )
    )
    try:
        cleaned = _read_and_clean(
            eng,
            inputs,
            encoding,
            names,
            exclude_service_codes,
            asked,
            dated=day is not None or span is not None,
        )
        table, period = customer_table(cleaned, names, as_of=day, window=span)
        result = feature_table(
            cleaned, table, pseudonymize=pseudonymize, pseudonymize_key=pseudonymize_key
        )
        result.period = period
        return result
    finally:
        if not given:
            eng.close()


def _read_and_clean(
    eng: Engine,
    inputs: Inputs,
    encoding: str | None,
    names: Sequence[str],
    exclude_service_codes: bool,
    asked: Any,
    *,
    dated: bool,
    descriptors: bool = False,
) -> Cleaned:
    """Resolve the inputs for ``eng`` and clean them: the first half of every verb."""
    from segmint.clean import clean
    from segmint.io.sources import resolve_source

    source = resolve_source(inputs, encoding=encoding, remote=eng.reads_remote)
    return clean(
        eng,
        source,
        features=names,
        exclude_service_codes=exclude_service_codes,
        dated=dated,
        descriptors=descriptors,
        request=asked,
    )


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

    def _repr_html_(self) -> str:
        """A compact summary for notebooks: sizes, segments, warnings, the report's path."""
        from segmint._display import run_html

        return run_html(self)


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
    mixture: str = "count",
    force: bool = False,
    engine: str = "duckdb",
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    spark_master: str | None = None,
    spark_remote: str | None = None,
    spark_collect_limit: int = 2_000_000,
    progress: Progress = _silent,
    as_of: str | date | None = None,
    window: str | None = None,
    currency: str | None = None,
    segment_lists: bool = False,
    preset: str | None = None,
    mapping: str | os.PathLike[str] | Mapping[str, Any] | None = None,
    cancelled_when: str | Sequence[str] | None = None,
    pseudonymize: bool | None = None,
    pseudonymize_key: str | None = None,
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
    mixture, gmm_criterion : {"count", "gaussian"}, {"bic", "aic"}; default "count", "bic"
        The mixture model (``Segmenter(mixture=...)``) and how it is chosen.
    n_bootstrap : int, default=20
        Bootstrap resamples for the stability check.
    seed : int, default=0
        Seeds every random step.
    report : bool, default=True
        Draw the plots and ``report.html``.
    force : bool, default=False
        Replace an existing ``outdir``.
    engine, threads, memory_limit, temp_directory, spark_master, spark_remote
        Engine settings, see :func:`get_engine`.
    spark_collect_limit : int, default=2_000_000
        With ``engine="spark"``: up to this many customers the table is collected and
        clustered as locally; above it, with Spark MLlib (:mod:`segmint.spark.mllib`).
    progress : callable, optional
        Called with a short message as each stage starts.
    as_of, window
        See :func:`segmint.customer_features`; the model records them for ``score``.
    currency : str, optional
        ISO code or symbol money is shown in (``"GBP"``, ``"£"``); plain numbers without it.
    segment_lists : bool, default=False
        Also write ``segment_lists/``: one CSV of customer ids (and net spend) per KMeans
        segment, for a campaign tool.
    preset, mapping, cancelled_when, pseudonymize, pseudonymize_key
        How to read a shop's export and its customer ids, see :func:`customer_features`.

    Returns
    -------
    RunResult
    """
    from segmint._described import gather
    from segmint._startup import early, import_in_background
    from segmint.features import feature_table, needs_tokens, parse_features
    from segmint.presets import request
    from segmint.windows import customer_table, parse_as_of, parse_window

    names = parse_features(features)
    day, span = parse_as_of(as_of), parse_window(window)
    asked = request(preset, mapping, columns, cancelled_when)
    check_options(k, k_range, scale, gmm_criterion, mixture)
    target = Path(outdir) if outdir is not None else None
    if target is not None:
        check_output(target, inputs, force=force, folder=True)  # fail before any work
    early()  # before forking the report process and starting the import thread
    reporter = _start_reporter(threads) if report and target is not None else None
    try:
        loader = import_in_background("segmint.model")
        eng = get_engine(
            engine,
            threads=threads,
            memory_limit=memory_limit,
            temp_directory=temp_directory,
            spark_master=spark_master,
            spark_remote=spark_remote,
        )
        try:
            progress("reading, cleaning and aggregating")
            cleaned = _read_and_clean(
                eng,
                inputs,
                encoding,
                names,
                exclude_service_codes,
                asked,
                dated=day is not None or span is not None,
                descriptors=True,
            )
            source = cleaned.source
            if engine == "spark" and cleaned.audit.customers > spark_collect_limit:
                if needs_tokens(cleaned, pseudonymize):
                    raise SegmintError(
                        f"{source.label}: customer ids are pseudonymised on collected tables; "
                        "raise --spark-collect-limit above the customers, or --no-pseudonymize"
                    )
                return _cluster_on_spark(
                    cleaned,
                    target,
                    n_bootstrap=n_bootstrap,
                    exclude_service_codes=exclude_service_codes,
                    k=k,
                    k_range=k_range,
                    scale=scale,
                    gmm_criterion=gmm_criterion,
                    seed=seed,
                    report=report,
                    force=force,
                    progress=progress,
                )
            customers, period = customer_table(cleaned, names, as_of=day, window=span)
            table = feature_table(
                cleaned, customers, pseudonymize=pseudonymize, pseudonymize_key=pseudonymize_key
            )
            table.period = period
            described = gather(cleaned, table, pseudonymize_key)
        finally:
            eng.close()
        loader.join()  # no thread but this one once forking starts (segmint._parallel)
        return fit_and_write(
            table,
            target,
            k=k,
            k_range=k_range,
            scale=scale,
            gmm_criterion=gmm_criterion,
            n_bootstrap=n_bootstrap,
            seed=seed,
            mixture=mixture,
            report=report,
            force=force,
            engine=engine,
            progress=progress,
            threads=threads,
            exclude_service_codes=exclude_service_codes,
            reporter=reporter,
            described=described,
            currency=currency,
            segment_lists=segment_lists,
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
    n_bootstrap: int = 0,
    exclude_service_codes: bool = False,
) -> RunResult:
    """Cluster with Spark MLlib where the customer table is too large to collect.

    Writes into ``target`` (atomically, like a local run): ``segments.parquet/`` (every
    customer), ``segments.csv`` (a seeded sample, for the report), ``profiles.csv`` and
    ``metrics.json`` (over every customer), ``model.skops`` (the MLlib model's arrays, which
    ``segmint predict`` applies without Spark), and the report. The Spark session must still be
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
        cleaned,
        k=k,
        k_range=k_range,
        scale=scale,
        gmm_criterion=gmm_criterion,
        seed=seed,
        n_bootstrap=n_bootstrap,
        exclude_service_codes=exclude_service_codes,
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
            "n_bootstrap": n_bootstrap,
            "seed": seed,
            "exclude_service_codes": exclude_service_codes,
            "clustering": "spark-mllib",
        },
        "audit": cleaned.audit.to_dict(),
        "features": list(names),
        **large.described,
        "versions": {**versions(), "pyspark": large.pyspark_version},
    }
    warnings = [*cleaned.warnings, *large.notes]  # the cleaning's first, as in a local run
    metrics["warnings"] = warnings
    sample = large.sample
    table = FeatureTable(
        sample[["customer_id", *names]], cleaned.audit, names, source.label, list(source.notes),
        warnings=list(cleaned.warnings), cancellation_rule=cleaned.cancellation_rule,
    )  # fmt: skip
    out = RunResult(sample, large.profiles, metrics, None, table, target, warnings)
    if target is None:
        return out
    with atomic_folder(target, force=force) as tmp:
        progress("writing outputs")
        large.assignments.write.parquet(str(tmp / "segments.parquet"))
        write_table(sample, tmp / "segments.csv")
        write_table(large.profiles, tmp / "profiles.csv")
        large.model.save(tmp / "model.skops")
        (tmp / "metrics.json").write_text(
            json.dumps(metrics, indent=2, allow_nan=False) + "\n", encoding="utf-8"
        )
        if report:
            from segmint.report import render_report

            progress("drawing the report from the sample")
            write_files(tmp, render_report(tmp))
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
    described: Described | None = None,
    currency: str | None = None,
    segment_lists: bool = False,
    mixture: str = "count",
) -> RunResult:
    """Cluster a customer table and write every output (the second half of :func:`run`).

    ``reporter``, when given, is a :class:`~segmint._parallel.Worker` that has matplotlib loaded
    and draws the report while this process saves the model. With ``described`` the segments
    are named, valued and given actions from the descriptors
    (:func:`segmint._described.describe_segments`).
    """
    import pandas as pd

    from segmint._described import describe_segments
    from segmint.cluster import describe
    from segmint.drift import training_record
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
        mixture=mixture,
    )
    progress(f"clustering {len(X):,} customers")
    segmenter.fit(X)
    segmenter.metadata_ = {  # the rules `segmint predict` applies to a new log, saved with it
        "features": list(table.features),
        "exclude_service_codes": exclude_service_codes,
    }
    business: dict[str, Any] = {}
    if described is not None:
        business = describe_segments(segmenter, table, described)
    assigned = segmenter.assign(X)
    segmenter.metadata_.update(  # what `predict` needs to tell what changed (segmint.drift)
        training_record(table, table.features, assigned["kmeans_segment"].tolist(), segmenter.k_)
    )
    segments = pd.concat(
        [table.table.reset_index(drop=True), assigned.reset_index(drop=True)], axis=1
    )
    segments["gmm_probability"] = segments["gmm_probability"].round(6)
    profiles = segmenter.profiles_
    if described is not None:
        profiles = profiles.merge(business.pop("table"), on=["method", "segment"], how="left")
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
            "currency": currency,
        },
        "audit": table.audit.to_dict(),
        "features": list(table.features),
        **describe(segmenter),
        **business,
        "versions": versions(),
    }
    warnings = [*table.warnings, *segmenter.warnings_]
    if table.warnings:  # the cleaning's come first, in the report too
        metrics["warnings"] = warnings
    result = RunResult(segments, profiles, metrics, segmenter, table, target, warnings)
    if target is None:
        return result
    with atomic_folder(target, force=force) as tmp:
        progress("writing outputs")
        write_table(segments, tmp / "segments.csv")
        write_table(profiles, tmp / "profiles.csv")
        (tmp / "metrics.json").write_text(
            json.dumps(metrics, indent=2, sort_keys=False, allow_nan=False) + "\n"
        )
        if segment_lists:
            _write_segment_lists(segments, described, tmp / "segment_lists")
        _save_and_report(
            segmenter, tmp, report=report, n_jobs=threads, progress=progress, reporter=reporter
        )
    return result


def _write_segment_lists(segments: pd.DataFrame, described: Described | None, folder: Path) -> None:
    """One CSV per KMeans segment: ``customer_id`` (and ``net_spend``), for a campaign tool."""
    from segmint.io.tables import write_segment_lists

    frame = segments[["customer_id", "kmeans_segment", "kmeans_name"]]
    if described is not None and "net_spend" in described.customers:
        frame = frame.assign(net_spend=described.customers["net_spend"].to_numpy())
    write_segment_lists(frame, folder)


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
    from segmint.report import render_report

    progress("drawing the report")
    if reporter is not None:
        # the worker sends the files' bytes back (pickled through a pipe, under a megabyte)
        reporter.submit(functools.partial(render_report, outdir, n_jobs=n_jobs))
        save()
        [files] = reporter.result()
        write_files(outdir, files)
        return
    if effective_jobs(n_jobs, 2) < 2:
        save()
        write_files(outdir, render_report(outdir, n_jobs=1))
        return
    saver = Child([save])
    try:
        write_files(outdir, render_report(outdir, n_jobs=n_jobs))
        saver.result()
    finally:
        saver.kill()


def write_report(
    outdir: str | os.PathLike, *, plots_only: bool = False, n_jobs: int | None = None
) -> Path:
    """Re-render ``plots/*.png`` and ``report.html`` of a finished run, without refitting.

    Reads ``segments.csv``, ``profiles.csv`` and ``metrics.json`` from ``outdir``
    (:func:`segmint.report.render_report`) and replaces each file of the report atomically
    (:func:`segmint.io.outputs.write_atomic`). The same inputs give byte-identical files.

    Parameters
    ----------
    outdir : path
        The OUTDIR of a run.
    plots_only : bool, default=False
        Write only ``plots/*.png``, not ``report.html``.
    n_jobs : int or None, default=None
        Processes drawing the figures (default one per core); the files do not depend on it.

    Returns
    -------
    pathlib.Path
        ``outdir / "report.html"``, or ``outdir / "plots"`` when ``plots_only``.

    Raises
    ------
    SegmintError
        When a file of the run is missing or incomplete.

    Examples
    --------
    >>> write_report("out")  # doctest: +SKIP
    PosixPath('out/report.html')
    """
    from segmint.report import PLOTS_FOLDER, REPORT_FILE, render_report

    folder = Path(outdir)
    write_files(folder, render_report(folder, plots_only=plots_only, n_jobs=n_jobs))
    return folder / (PLOTS_FOLDER if plots_only else REPORT_FILE)
