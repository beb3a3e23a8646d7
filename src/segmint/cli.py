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


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"segmint {version('segmint')}")
        except PackageNotFoundError:  # pragma: no cover - run from a source tree
            print("segmint (not installed)")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Customer segments from retail transaction logs: load, clean, aggregate, cluster, report."""


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


def _print_audit(audit: dict[str, int], quiet: bool, rule: str = "") -> None:
    from rich.console import Console
    from rich.table import Table

    from segmint.schema import AUDIT_LABELS

    table = Table(title="cleaning audit", show_header=False, box=None)
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, label in AUDIT_LABELS.items():
        if key in audit:
            table.add_row(label, f"{audit[key]:,}")
    if rule:
        table.add_row("cancellations counted where", rule)
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
        help="Features to cluster on, comma-separated, exactly these: n_products, "
        "n_canceled_orders, n_orders, recency_days, monetary (net spend), cancel_rate, or all "
        "(default n_products,n_canceled_orders).",
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
RemoteOpt = Annotated[
    str | None,
    typer.Option(
        "--spark-remote",
        help="Spark Connect server sc://HOST:PORT (default: $SPARK_REMOTE without --spark-master).",
    ),
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress messages.")]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Features as of this day, YYYY-MM-DD (default: the log's last)."),
]
WindowOpt = Annotated[
    str | None,
    typer.Option(
        "--window",
        help="Features over this window up to --as-of: days (90D) or months (12M) "
        "(default: the whole log; predict: the model's).",
    ),
]
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


PresetOpt = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help="Export layout: shopify, woocommerce or none (default: found from the header).",
    ),
]
MappingOpt = Annotated[
    Path | None,
    typer.Option(
        "--mapping",
        help="A TOML file: preset, order_key, cancelled_when and [columns] canonical = 'Name'.",
    ),
]
CancelledOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--cancelled-when",
        help="Which orders are cancelled: 'COLUMN=value1,value2' (value* a prefix) or 'COLUMN' "
        "(not blank); repeat for any of several. Default: the preset's rule, else an invoice "
        "starting with C.",
    ),
]
PseudoOpt = Annotated[
    bool | None,
    typer.Option(
        "--pseudonymize/--no-pseudonymize",
        help="Replace customer ids by keyed HMAC-SHA256 tokens in every output "
        "(default: on when the ids look like emails). --no-pseudonymize shows emails as they are.",
        show_default=False,
    ),
]
KeyOpt = Annotated[
    str | None,
    typer.Option(
        "--pseudonymize-key",
        help="Key of the tokens (default: $SEGMINT_PSEUDONYMIZE_KEY, else a key kept in "
        "~/.config/segmint/); the same key gives the same tokens in every run.",
    ),
]


def _reading(
    preset: str | None,
    mapping: Path | None,
    cancelled_when: list[str] | None,
    pseudonymize: bool | None,
    key: str | None,
) -> dict[str, Any]:
    """The options that say how to read an export and its customer ids, as API keywords."""
    return {
        "preset": preset,
        "mapping": mapping,
        "cancelled_when": cancelled_when or None,
        "pseudonymize": pseudonymize,
        "pseudonymize_key": key,
    }


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
    spark_remote: RemoteOpt = None,
    table: TableOpt = None,
    force: ForceFileOpt = False,
    quiet: QuietOpt = False,
    as_of: AsOfOpt = None,
    window: WindowOpt = None,
    preset: PresetOpt = None,
    mapping: MappingOpt = None,
    cancelled_when: CancelledOpt = None,
    pseudonymize: PseudoOpt = None,
    pseudonymize_key: KeyOpt = None,
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
        as_of=as_of,
        window=window,
        **_reading(preset, mapping, cancelled_when, pseudonymize, pseudonymize_key),
        spark_remote=spark_remote,
    )
    progress(f"writing {len(result.table):,} customers to {output}")
    export_features(result, output, force=force)
    for note in result.notes:
        _err(f"note: {note}")
    for warning in result.warnings:
        _err(f"warning: {warning}")
    _print_audit(result.audit.to_dict(), quiet, result.cancellation_rule)


def _run(inputs: Any, outdir: Path, quiet: bool, **options: Any) -> None:
    from segmint.pipeline import run as run_pipeline

    progress = Progress(quiet)
    result = run_pipeline(inputs, outdir, progress=progress, **options)
    for note in result.features.notes:
        _err(f"note: {note}")
    for warning in result.warnings:
        _err(f"warning: {warning}")
    _print_audit(result.metrics["audit"], quiet, result.features.cancellation_rule)
    if not quiet:
        km, gm = result.metrics["kmeans"], result.metrics["gmm"]
        print(f"KMeans: {km['k']} segments ({km['reason']})")
        model = gm.get("model") or "Gaussian mixture"
        parts = f"{gm['n_components']} components"
        if (gm.get("combination") or {}).get("combined"):
            parts += f" in {gm['n_segments']} segments"
        print(f"{model}: {parts} ({gm['reason']})")
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
    mixture: Annotated[
        str,
        typer.Option(
            "--mixture",
            help="count (negative binomial counts, the default) or gaussian (dequantised).",
        ),
    ] = "count",
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
    spark_remote: RemoteOpt = None,
    table: TableOpt = None,
    spark_collect_limit: CollectOpt = 2_000_000,
    quiet: QuietOpt = False,
    as_of: AsOfOpt = None,
    window: WindowOpt = None,
    currency: Annotated[
        str | None,
        typer.Option(
            "--currency", help="Show money in this currency: an ISO code (GBP) or a symbol."
        ),
    ] = None,
    segment_lists: Annotated[
        bool,
        typer.Option(
            "--segment-lists",
            help="Also write segment_lists/: one CSV of customer ids per KMeans segment.",
        ),
    ] = False,
    preset: PresetOpt = None,
    mapping: MappingOpt = None,
    cancelled_when: CancelledOpt = None,
    pseudonymize: PseudoOpt = None,
    pseudonymize_key: KeyOpt = None,
) -> None:
    """Run the whole pipeline: customer table, KMeans and a mixture model, report."""
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
        mixture=mixture,
        n_bootstrap=bootstrap,
        seed=seed,
        report=not no_report,
        force=force,
        engine=engine,
        threads=threads,
        memory_limit=memory_limit,
        temp_directory=temp_dir,
        spark_master=spark_master,
        spark_remote=spark_remote,
        spark_collect_limit=spark_collect_limit,
        as_of=as_of,
        window=window,
        currency=currency,
        segment_lists=segment_lists,
        **_reading(preset, mapping, cancelled_when, pseudonymize, pseudonymize_key),
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
    quiet: QuietOpt = False,
) -> None:
    """Write a synthetic log in the Online Retail layout, with planted customer types.

    The planted type of every customer goes to FILE.truth.csv beside it.
    """
    from segmint.synth import write

    path, truth = write(output, rows, n_customers=customers, seed=seed)
    Progress(quiet)(f"wrote {path} and {truth}")


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
    as_of: AsOfOpt = None,
    window: WindowOpt = None,
    preset: PresetOpt = None,
    mapping: MappingOpt = None,
    cancelled_when: CancelledOpt = None,
    pseudonymize: PseudoOpt = None,
    pseudonymize_key: KeyOpt = None,
) -> None:
    """Score new customers with a saved model, without refitting; tell what changed.

    Each customer is marked known, returning or new (customer_status), and the features and
    segment shares are compared with training (population stability index).
    """
    from segmint.pipeline import check_output, export_table
    from segmint.scoring import score

    check_output(output, inputs, force=force, also=[model])
    progress = Progress(quiet)
    progress("aggregating the new log with the model's rules")
    scored = score(
        model,
        inputs,
        columns=_mapping(column),
        encoding=encoding,
        as_of=as_of,
        window=window,
        **_reading(preset, mapping, cancelled_when, pseudonymize, pseudonymize_key),
    )
    for warning in scored.warnings:
        _err(f"warning: {warning}")
    statuses = scored.changes.get("statuses", {})
    if statuses and not quiet:
        _err("customers: " + ", ".join(f"{n:,} {s}" for s, n in statuses.items()))
    export_table(scored.table, output, force=force)
    progress(f"wrote {len(scored.table):,} customers to {output}")


@app.command()
@handled
def track(
    inputs: Inputs,
    model: Annotated[Path, typer.Option("--model", "-m", help="model.skops from a run.")],
    outdir: Annotated[Path, typer.Option("--outdir", "-o", help="Output folder.")],
    every: Annotated[str, typer.Option("--every", help="month or quarter.")] = "month",
    window: WindowOpt = None,
    column: ColumnOpt = None,
    encoding: EncodingOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing output folder.")
    ] = False,
    quiet: QuietOpt = False,
) -> None:
    """Segments over time: score every customer at each month or quarter end, who moved where.

    Writes transitions.csv, timeline.csv and timeline.html into OUTDIR.
    """
    from segmint.track import track as track_segments

    progress = Progress(quiet)
    result = track_segments(
        model,
        inputs,
        outdir,
        every=every,
        window=window,
        columns=_mapping(column),
        encoding=encoding,
        force=force,
        progress=progress,
    )
    for warning in result.warnings:
        _err(f"warning: {warning}")
    if not quiet:
        for line in result.summary:
            print(line)
        print(f"wrote {outdir}/ (timeline.html, transitions.csv, timeline.csv)")


@app.command()
@handled
def report(
    outdir: Annotated[Path, typer.Argument(help="Folder of a finished run.")],
    quiet: QuietOpt = False,
) -> None:
    """Re-render report.html and plots/ from a finished run, without refitting."""
    from segmint.pipeline import write_report

    if not (outdir / "metrics.json").is_file():
        raise SegmintError(f"{outdir} has no metrics.json; run segmint run -o {outdir} first")
    path = write_report(outdir)
    Progress(quiet)(f"wrote {path}")


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
    0.7 s of a 12 s run on the reference machine, and 5-7 s wall on a machine loaded 10
    (measured against 0.15-0.2 s for this), for nothing. Nothing registered with ``atexit``
    is needed by then: every verb closes its engine, and with it DuckDB's spill folder, in a
    ``finally`` block (the ``weakref.finalize`` behind it is only a backstop); the other
    handlers a run registers (``logging.shutdown``, DuckDB's and pybind11's module cleanup,
    multiprocessing's join of children it never started, concurrent.futures' pools) have
    nothing to do in a process about to end. Logging's handlers and the standard streams are
    flushed here; then ``os._exit``.
    """
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # sys.exit("message"): print it, as the interpreter would
        print(code, file=sys.stderr)
        status = 1
    logging = sys.modules.get("logging")
    if logging is not None:  # imported by some library: flush its handlers, as at exit
        logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        # a closed pipe (`segmint ... | head`): nothing left to save
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    main()
