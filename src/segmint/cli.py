"""The ``segmint`` command: a thin layer over the Python API.

Each command parses its options and calls one function of the API. Bad input ends with one
line ``error: ...`` on stderr and exit code 2; Ctrl-C exits 130, SIGTERM 143, and neither
leaves partial outputs (the API writes atomically).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from segmint.errors import SegmintError

app = typer.Typer(
    name="segmint",
    help="Customer segments from retail transaction logs: load, clean, aggregate, cluster, report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

F = TypeVar("F", bound=Callable[..., Any])


class Terminated(BaseException):
    """Raised by the SIGTERM handler so that cleanup code runs."""


#: Set by the signal handlers: a library may turn the exception they raise into its own error
#: (DuckDB answers a signal during a query with ``RuntimeError("Query interrupted")``).
_signalled: dict[str, int] = {}


def _on_sigterm(signum: int, frame: object) -> None:
    _signalled["signal"] = signum
    raise Terminated()


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    _signalled["signal"] = signum
    signal.default_int_handler(signum, frame)


def _err(message: str) -> None:
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.stderr.flush()


def handled(func: F) -> F:
    """Turn segmint's errors and interruptions into one line and an exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            _err("interrupted; no output was written")
            raise typer.Exit(130) from None
        except Terminated:
            _err("terminated; no output was written")
            raise typer.Exit(143) from None
        except MemoryError:
            _err("error: out of memory; lower --memory-limit or use --engine spark")
            raise typer.Exit(2) from None
        except Exception as exc:
            # A library may report the signal as its own error (DuckDB: "Query interrupted").
            if _signalled.get("signal") == signal.SIGTERM:
                _err("terminated; no output was written")
                raise typer.Exit(143) from None
            if _signalled.get("signal") == signal.SIGINT:
                _err("interrupted; no output was written")
                raise typer.Exit(130) from None
            if isinstance(exc, SegmintError):
                _err(f"error: {exc}")
                raise typer.Exit(exc.exit_code) from None
            if isinstance(exc, OSError):  # the system's words: disk full, permission denied
                where = f"{exc.filename}: " if exc.filename else ""
                _err(f"error: {where}{exc.strerror or exc}")
                raise typer.Exit(2) from None
            raise

    return wrapper  # type: ignore[return-value]


class Progress:
    """Stage messages on stderr with elapsed time; silent with ``--quiet``."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.start = time.perf_counter()

    def __call__(self, message: str) -> None:
        if not self.quiet:
            _err(f"[{time.perf_counter() - self.start:6.1f}s] {message}")


def _mapping(columns: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in columns or []:
        if "=" not in item:
            raise SegmintError(f"--column {item}: write it as canonical=TheirName")
        key, value = item.split("=", 1)
        out[key.strip()] = value.strip()
    return out


def _k_range(text: str) -> tuple[int, int]:
    parts = text.replace("-", "..").split("..")
    try:
        low, high = (int(p) for p in parts)
    except ValueError:
        raise SegmintError(f"--k-range {text}: write it as LOW..HIGH, e.g. 1..10") from None
    return low, high


def _print_audit(audit: dict[str, int], quiet: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from segmint.schema import AUDIT_LABELS

    table = Table(title="cleaning audit", show_header=False, box=None)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, label in AUDIT_LABELS.items():
        if key in audit:
            table.add_row(label, f"{audit[key]:,}")
    Console(stderr=quiet, quiet=quiet).print(table)


Inputs = Annotated[
    list[str],
    typer.Argument(help="Transaction files or globs (CSV, Parquet, Excel).", show_default=False),
]
ColumnOpt = Annotated[
    list[str] | None,
    typer.Option("--column", "-c", help="Map a column: canonical=TheirName (repeatable)."),
]
FeaturesOpt = Annotated[
    str | None,
    typer.Option(
        "--features",
        help="Extra features, comma-separated: n_orders, recency_days, monetary, "
        "cancel_rate, or all.",
    ),
]
ExcludeOpt = Annotated[
    bool,
    typer.Option(
        "--exclude-service-codes",
        help="Drop service-code lines (POST, M, ...) and lines with price <= 0.",
    ),
]
EncodingOpt = Annotated[
    str | None,
    typer.Option(
        "--encoding", help="Force the CSV encoding: utf-8 or latin-1 (sniffed by default)."
    ),
]
EngineOpt = Annotated[str, typer.Option("--engine", help="duckdb (embedded, default) or spark.")]
ThreadsOpt = Annotated[
    int | None,
    typer.Option("--threads", min=1, help="Worker threads and processes (default: all cores)."),
]
MemoryOpt = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        help="Engine memory before spilling, e.g. 2GB (default: a quarter of RAM, at most 1.5GB).",
    ),
]
TempOpt = Annotated[
    str | None,
    typer.Option(
        "--temp-dir", help="Where the engine spills to disk (default: a fresh temporary folder)."
    ),
]
MasterOpt = Annotated[
    str | None, typer.Option("--spark-master", help="Spark master URL (default local[*]).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress messages.")]
LogInputs = Annotated[
    list[str] | None,
    typer.Argument(
        help="Transaction files or globs (CSV, Parquet, Excel; with --engine spark also "
        "hdfs://, s3a:// URIs).",
        show_default=False,
    ),
]
TableOpt = Annotated[
    str | None,
    typer.Option(
        "--table",
        help="Read a table of the Spark session's catalog instead of files (--engine spark).",
    ),
]
CollectOpt = Annotated[
    int,
    typer.Option(
        "--spark-collect-limit",
        min=0,
        help="--engine spark: cluster locally up to this many customers, with Spark MLlib above.",
    ),
]


ForceFileOpt = Annotated[bool, typer.Option("--force", help="Replace an existing output file.")]


def _inputs(paths: list[str] | None, table: str | None) -> Any:
    """Files or globs, or the catalog table of ``--table``."""
    from segmint.io.sources import CatalogTable

    if table and paths:
        raise SegmintError("pass transaction files or --table NAME, not both")
    if table:
        return CatalogTable(table)
    if not paths:
        raise SegmintError(
            "no input given; pass transaction files (or --table NAME with --engine spark)"
        )
    return paths


@app.command()
@handled
def features(
    output: Annotated[
        Path, typer.Option("--output", "-o", help="customers.csv or customers.parquet")
    ],
    inputs: LogInputs = None,
    column: ColumnOpt = None,
    features: FeaturesOpt = None,
    exclude_service_codes: ExcludeOpt = False,
    encoding: EncodingOpt = None,
    engine: EngineOpt = "duckdb",
    threads: ThreadsOpt = None,
    memory_limit: MemoryOpt = None,
    temp_dir: TempOpt = None,
    spark_master: MasterOpt = None,
    table: TableOpt = None,
    force: ForceFileOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Write the per-customer table (customer_id, n_products, n_canceled_orders, ...)."""
    from segmint.pipeline import check_output, customer_features, export_features

    given = _inputs(inputs, table)
    check_output(output, given, force=force)
    progress = Progress(quiet)
    progress("reading, cleaning and aggregating")
    result = customer_features(
        given,
        features=features,
        columns=_mapping(column),
        exclude_service_codes=exclude_service_codes,
        encoding=encoding,
        engine=engine,
        threads=threads,
        memory_limit=memory_limit,
        temp_directory=temp_dir,
        spark_master=spark_master,
    )
    progress(f"writing {len(result.table):,} customers to {output}")
    export_features(result, output, force=force)
    for note in result.notes:
        _err(f"note: {note}")
    _print_audit(result.audit.to_dict(), quiet)


def _run(inputs: Any, outdir: Path, quiet: bool, **options: Any) -> None:
    from segmint.pipeline import run as run_pipeline

    progress = Progress(quiet)
    result = run_pipeline(inputs, outdir, progress=progress, **options)
    for note in result.features.notes:
        _err(f"note: {note}")
    for warning in result.warnings:
        _err(f"warning: {warning}")
    _print_audit(result.metrics["audit"], quiet)
    if not quiet:
        km, gm = result.metrics["kmeans"], result.metrics["gmm"]
        print(f"KMeans: {km['k']} segments ({km['reason']})")
        print(
            f"Gaussian mixture: {gm['n_components']} components, "
            f"{gm['covariance_type']} ({gm['reason']})"
        )
        print(
            f"wrote {outdir}/ (report.html, segments.csv, profiles.csv, metrics.json, model.skops)"
        )


@app.command()
@handled
def run(
    outdir: Annotated[Path, typer.Option("--outdir", "-o", help="Output folder.")],
    inputs: LogInputs = None,
    column: ColumnOpt = None,
    features: FeaturesOpt = None,
    exclude_service_codes: ExcludeOpt = False,
    encoding: EncodingOpt = None,
    k: Annotated[
        int | None,
        typer.Option(
            "--k", help="Number of KMeans segments (default: the knee of the WCSS curve)."
        ),
    ] = None,
    k_range: Annotated[
        str,
        typer.Option(
            "--k-range", help="Range searched for k and for mixture components, LOW..HIGH."
        ),
    ] = "1..10",
    scale: Annotated[
        str, typer.Option("--scale", help="log-standard, standard, robust or none.")
    ] = "log-standard",
    gmm_criterion: Annotated[str, typer.Option("--gmm-criterion", help="bic or aic.")] = "bic",
    bootstrap: Annotated[
        int, typer.Option("--bootstrap", min=0, help="Bootstrap resamples for stability.")
    ] = 20,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Seed for every random step.")] = 0,
    no_report: Annotated[
        bool, typer.Option("--no-report", help="Skip plots and report.html.")
    ] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing output folder.")
    ] = False,
    engine: EngineOpt = "duckdb",
    threads: ThreadsOpt = None,
    memory_limit: MemoryOpt = None,
    temp_dir: TempOpt = None,
    spark_master: MasterOpt = None,
    table: TableOpt = None,
    spark_collect_limit: CollectOpt = 2_000_000,
    quiet: QuietOpt = False,
) -> None:
    """Run the whole pipeline: customer table, KMeans and Gaussian mixture, report."""
    _run(
        _inputs(inputs, table),
        outdir,
        quiet,
        features=features,
        columns=_mapping(column),
        exclude_service_codes=exclude_service_codes,
        encoding=encoding,
        k=k,
        k_range=_k_range(k_range),
        scale=scale,
        gmm_criterion=gmm_criterion,
        n_bootstrap=bootstrap,
        seed=seed,
        report=not no_report,
        force=force,
        engine=engine,
        threads=threads,
        memory_limit=memory_limit,
        temp_directory=temp_dir,
        spark_master=spark_master,
        spark_collect_limit=spark_collect_limit,
    )


@app.command()
@handled
def demo(
    outdir: Annotated[Path, typer.Option("--outdir", "-o", help="Output folder.")] = Path(
        "demo-output"
    ),
    rows: Annotated[int, typer.Option("--rows", min=1, help="Rows of synthetic log.")] = 200_000,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing output folder.")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Generate the built-in demo log and run the whole pipeline on it."""
    import tempfile

    from segmint.io.outputs import check_folder
    from segmint.synth import write

    check_folder(outdir, force=force)
    progress = Progress(quiet)
    with tempfile.TemporaryDirectory(prefix="segmint-demo-") as tmp:
        progress(f"generating a synthetic log of {rows:,} rows (seed {seed})")
        log, _truth = write(Path(tmp) / "demo_transactions.csv", rows, seed=seed)
        _run(str(log), outdir, quiet, seed=seed, force=force)


@app.command()
@handled
def synth(
    output: Annotated[Path, typer.Option("--output", "-o", help="FILE.csv or FILE.parquet")],
    rows: Annotated[int, typer.Option("--rows", help="Number of rows.")],
    customers: Annotated[
        int | None, typer.Option("--customers", help="Number of customers.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed")] = 0,
) -> None:
    """Write a synthetic log in the Online Retail layout, with planted customer types.

    The planted type of every customer goes to FILE.truth.csv beside it.
    """
    from segmint.synth import write

    path, truth = write(output, rows, n_customers=customers, seed=seed)
    _err(f"wrote {path} and {truth}")


@app.command()
@handled
def predict(
    inputs: Inputs,
    model: Annotated[Path, typer.Option("--model", "-m", help="model.skops from a run.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="scored.csv or scored.parquet")],
    column: ColumnOpt = None,
    encoding: EncodingOpt = None,
    force: ForceFileOpt = False,
    quiet: QuietOpt = False,
) -> None:
    """Score new customers with a saved model, without refitting."""
    from segmint.pipeline import check_output, export_table, score

    check_output(output, inputs, force=force, also=[model])
    progress = Progress(quiet)
    progress("aggregating the new log with the model's rules")
    scored = score(model, inputs, columns=_mapping(column), encoding=encoding)
    for warning in scored.warnings:
        _err(f"warning: {warning}")
    export_table(scored.table, output, force=force)
    progress(f"wrote {len(scored.table):,} customers to {output}")


@app.command()
@handled
def report(
    outdir: Annotated[Path, typer.Argument(help="Folder of a finished run.")],
) -> None:
    """Re-render report.html and plots/ from a finished run, without refitting."""
    from segmint.report import write_report

    if not (outdir / "metrics.json").is_file():
        raise SegmintError(f"{outdir} has no metrics.json; run segmint run -o {outdir} first")
    path = write_report(outdir)
    _err(f"wrote {path}")


def main() -> None:
    """Entry point of the ``segmint`` command."""
    signal.signal(signal.SIGTERM, _on_sigterm)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _on_sigint)
    try:
        app(prog_name="segmint")
    except SystemExit as exc:
        _exit_now(exc.code)
    _exit_now(0)


def _exit_now(code: object) -> NoReturn:
    """Leave without tearing the interpreter down, once every output is closed and renamed.

    Freeing the modules of scikit-learn, SciPy, pandas and matplotlib one by one at exit took
    0.7 s of a 12 s run on the reference machine, for nothing. atexit handlers (DuckDB's spill
    folder) still run.
    """
    import atexit

    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): print it, as the interpreter would
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe (`segmint ... | head`): nothing left to save
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
