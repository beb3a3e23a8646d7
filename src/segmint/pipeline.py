"""``run()``: chain load -> clean -> features -> cluster -> report, writing outputs atomically.

Everything is written into a temporary folder beside ``outdir`` and renamed into place at the
end, so an interrupted run leaves nothing half-written and an existing ``outdir`` is replaced
only when asked (``force=True``).
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from segmint.errors import SegmintError
from segmint.tables import write_table

if TYPE_CHECKING:
    import pandas as pd

    from segmint.features import FeatureTable
    from segmint.loading import Inputs
    from segmint.model import Segmenter
    from segmint.parallel import Worker

__all__ = [
    "RunResult",
    "atomic_file",
    "atomic_folder",
    "check_folder",
    "export_features",
    "run",
]

Progress = Callable[[str], None]


def _silent(_: str) -> None:
    return None


def _check_parent(parent: Path, fix: str) -> None:
    """Fail unless ``parent`` is a folder segmint can create files in (tried, not guessed)."""
    if not parent.exists():
        raise SegmintError(f"{parent} does not exist; create it or {fix}")
    if not parent.is_dir():
        raise SegmintError(f"{parent} is a file, not a folder; {fix}")
    if not os.access(parent, os.W_OK):
        raise SegmintError(f"{parent} is not writable; {fix}")
    try:  # os.access says yes to root everywhere, and nothing about read-only or special mounts
        os.rmdir(tempfile.mkdtemp(prefix=".segmint-probe.", dir=parent))
    except OSError as exc:
        raise SegmintError(f"cannot write in {parent} ({exc.strerror}); {fix}") from None


def check_folder(outdir: Path, *, force: bool = False) -> Path:
    """Fail early when ``outdir`` cannot be written; return its (existing) parent."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise SegmintError(f"{outdir} is a file, not a folder; choose another -o/--outdir")
    if outdir.exists() and not force:
        raise SegmintError(f"{outdir} already exists; pass --force to replace it")
    parent = outdir.resolve().parent
    _check_parent(parent, "choose another -o/--outdir")
    return parent


@contextmanager
def atomic_folder(outdir: Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``outdir``; on success it replaces ``outdir``.

    Raises
    ------
    SegmintError
        When ``outdir`` exists and ``force`` is false, or is a file, or its parent is not
        writable.
    """
    outdir = Path(outdir)
    parent = check_folder(outdir, force=force)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", suffix=".tmp", dir=parent))
    old: Path | None = None
    try:
        yield tmp
        if outdir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", suffix=".old", dir=parent))
            os.replace(outdir, old / "previous")
        os.replace(tmp, outdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:  # interrupted between the two renames: put the old outdir back
            if (old / "previous").exists() and not outdir.exists():
                os.replace(old / "previous", outdir)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_file(path: Path, *, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``."""
    path = Path(path)
    if path.is_dir():
        raise SegmintError(f"{path} is a folder; give a file name such as {path}/customers.csv")
    if path.exists() and not force:
        raise SegmintError(f"{path} already exists; pass --force to replace it")
    parent = path.resolve().parent
    _check_parent(parent, "choose another output")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _output_kind(path: Path) -> str:
    """``.csv`` or ``.parquet``; fails early when ``path`` could not be written."""
    if Path(path).is_dir():
        raise SegmintError(f"{path} is a folder; give a file name such as {path}/customers.csv")
    suffix = Path(path).suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise SegmintError(f"{Path(path).name}: the output must end in .csv or .parquet")
    _check_parent(Path(path).resolve().parent, "choose another output")
    return ".csv" if suffix == ".csv" else ".parquet"


def export_features(result: FeatureTable, output: Path) -> None:
    """Write the customer table atomically to ``output`` (CSV or Parquet by extension)."""
    kind = _output_kind(output)
    with atomic_file(output) as tmp:
        final = tmp.with_suffix(kind)
        write_table(result.table, final)
        os.replace(final, tmp)


def check_options(k: int | None, k_range: tuple[int, int], scale: str, gmm_criterion: str) -> None:
    """Fail before any work on a k, k range, scale or criterion that cannot be used."""
    from segmint.cluster import CRITERIA, SCALES

    lo, hi = k_range
    if lo < 1 or hi < lo:
        raise SegmintError(f"--k-range {lo}..{hi}: use 1 <= LOW <= HIGH, e.g. --k-range 1..10")
    if k is not None and k < 1:
        raise SegmintError(f"--k {k}: use a k of at least 1, or leave --k out to choose it")
    if k is not None and not lo <= k <= hi:
        raise SegmintError(
            f"--k {k} is outside --k-range {lo}..{hi}; widen it, e.g. "
            f"--k-range {min(lo, k)}..{max(hi, k)}"
        )
    if scale not in SCALES:
        raise SegmintError(f"--scale {scale}: use one of {', '.join(SCALES)}")
    if gmm_criterion not in CRITERIA:
        raise SegmintError(f"--gmm-criterion {gmm_criterion}: use one of {', '.join(CRITERIA)}")


def _check_customers(source: str, n: int, k: int | None, k_range: tuple[int, int]) -> None:
    """Fail when there are too few customers for the k asked for or searched."""
    lo, hi = k_range
    if n < 2:
        raise SegmintError(
            f"{source} has {n} customer after cleaning; segments need at least 2: check the "
            "customer id column, or use segmint features for the customer table alone"
        )
    if k is not None and n < k:
        raise SegmintError(
            f"{source} has {n} customers after cleaning, fewer than --k {k}; choose --k {n} or less"
        )
    if n < hi:
        raise SegmintError(
            f"{source} has {n} customers after cleaning, fewer than the largest k searched "
            f"(--k-range {lo}..{hi}); pass --k-range {min(lo, n)}..{n}"
        )


def import_in_background(module: str) -> threading.Thread:
    """Start importing ``module`` on a thread; a later ``import`` waits for it to finish.

    Importing scikit-learn takes about 2 s on the reference machine; the engine reading the
    log meanwhile runs in DuckDB's threads, outside the GIL, so on two cores the two overlap.
    Call it after :func:`segmint._imports.early`, so that NumPy and pandas, which both sides
    import, are already loaded. An import that fails on the thread fails again, with its usual
    message, where the module is used.
    """

    def load() -> None:
        with contextlib.suppress(Exception):
            importlib.import_module(module)

    thread = threading.Thread(target=load, name=f"import {module}", daemon=True)
    thread.start()
    return thread


def versions() -> dict[str, str]:
    """Versions of Python and of the packages that shape the results."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for package in (
        "segmint",
        "duckdb",
        "numpy",
        "pandas",
        "pyarrow",
        "scikit-learn",
        "scipy",
        "matplotlib",
        "skops",
    ):
        try:
            out[package] = version(package)
        except PackageNotFoundError:  # pragma: no cover
            out[package] = "not installed"
    return out


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
        Engine settings, see :func:`segmint.engines.get_engine`.
    spark_collect_limit : int, default=2_000_000
        With ``engine="spark"``: up to this many customers the table is collected and
        clustered as locally; above it, with Spark MLlib (:mod:`segmint.cluster.mllib`).
    progress : callable, optional
        Called with a short message as each stage starts.

    Returns
    -------
    RunResult
    """
    from segmint._imports import early
    from segmint.engines import get_engine
    from segmint.features import FeatureTable, customer_table, parse_features, prepare

    names = parse_features(features)
    check_options(k, k_range, scale, gmm_criterion)
    target = Path(outdir) if outdir is not None else None
    if target is not None:
        check_folder(target, force=force)  # fail before any work
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
            source, audit = prepare(
                eng,
                inputs,
                features=names,
                columns=columns,
                exclude_service_codes=exclude_service_codes,
                encoding=encoding,
            )
            if engine == "spark" and audit.customers > spark_collect_limit:
                from segmint.cluster.mllib import run_large

                return run_large(
                    eng,
                    source,
                    audit,
                    names,
                    target,
                    k=k,
                    k_range=k_range,
                    scale=scale,
                    gmm_criterion=gmm_criterion,
                    seed=seed,
                    report=report,
                    force=force,
                    progress=progress,
                    parameters={
                        "features": list(names),
                        "k": k,
                        "k_range": list(k_range),
                        "scale": scale,
                        "gmm_criterion": gmm_criterion,
                        "n_bootstrap": 0,
                        "seed": seed,
                    },
                )
            table = FeatureTable(
                customer_table(eng, names), audit, names, source.label, list(source.notes)
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


def _start_reporter(threads: int | None) -> Worker | None:
    """Fork the process that will draw the report, and let it import matplotlib meanwhile.

    Forked before scikit-learn is imported (on a thread, next) and before the engine starts
    its threads, it imports matplotlib and Pillow (0.8 s) on the second core while this
    process imports scikit-learn and reads the log; later it draws the figures while this
    process saves the model. With one core (or ``--threads 1``) nothing is forked.
    """
    from segmint.parallel import Worker, effective_jobs

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

    ``reporter``, when given, is a :class:`~segmint.parallel.Worker` that has matplotlib loaded
    and draws the report while this process saves the model.
    """
    import pandas as pd

    from segmint.cluster import describe
    from segmint.model import Segmenter

    X = table.table[list(table.features)]
    _check_customers(table.source, len(X), k, k_range)
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
    (:mod:`segmint.parallel`).
    """
    from segmint.parallel import Child, effective_jobs

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
