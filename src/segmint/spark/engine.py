"""The Spark engine: segmint's SQL on Spark SQL, for logs that live in a data lake.

Every rule is written once, in DuckDB's dialect (:mod:`segmint.clean`, :mod:`segmint.features`).
This engine translates each statement with sqlglot (``read="duckdb", write="spark"``) and then
applies the few rewrites below, where a plain transpile would be wrong or would not run on Spark
(each is checked against DuckDB by ``tests/test_spark.py``):

``TRY_STRPTIME(text, '%m/%d/%Y %H:%M')``
    sqlglot leaves it as it is, and Spark has no such function. It becomes
    ``TRY_TO_TIMESTAMP(text, 'M/d/y H:m')``: DuckDB parses ``12/1/2010 8:26`` with ``%m/%d``, so
    the Java pattern must use the single-letter (any width) fields, not ``MM/dd``, which would
    return NULL for one-digit days.
``isfinite(x)``
    Not a Spark function: ``(NOT ISNAN(x) AND ABS(x) < CAST('Infinity' AS DOUBLE))``, NULL for
    NULL as in DuckDB.
``a / b``
    DuckDB divides doubles by zero to ``inf``/``NaN``; Spark 4 (ANSI mode, the default) raises.
    Division becomes ``TRY_DIVIDE(a, b)`` (NULL on zero); the only division in the rules,
    ``cancel_rate``, is 0/0 at worst and the feature table fills that with 0 on either engine.
``DATE_DIFF('day', a, b)``
    sqlglot writes ``DATEDIFF(DAY, a, b)``, Spark's ``TIMESTAMPDIFF``, which goes through
    timestamps in the session time zone; the rule means calendar days between two dates, which
    is Spark's two-argument ``DATEDIFF(b, a)``.
``raw``, ``lines``, ``clean``
    The views the rules name are renamed to names private to this engine
    (``segmint_<id>_raw`` ...), so they never replace a view of the same name in a shared session.

Checked and left to sqlglot: ``FILTER (WHERE ...)`` clauses (Spark 3.2+), ``TRY_CAST``,
``DECIMAL`` sums (Spark widens ``SUM(DECIMAL(37, 7))`` to ``DECIMAL(38, 7)`` as DuckDB does), and
``REGEXP_REPLACE``: DuckDB replaces the first match, Spark every match, which is the same for the
anchored patterns the rules use; :func:`translate` refuses an unanchored one.

Known differences on malformed values only (the rules then raise a "not finite numbers" error on
one engine and not the other): Spark's ``TRY_CAST('1d' AS DOUBLE)`` is 1.0 and DuckDB's NULL;
DuckDB's ``TRY_CAST('1_000' AS DOUBLE)`` is 1000.0 and Spark's NULL.
"""

from __future__ import annotations

import csv
import os
import re
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from segmint.engines.base import Engine
from segmint.errors import SegmintError
from segmint.io.sources import DELIMITERS

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from segmint.io.sources import Source

__all__ = ["DEFAULT_MASTER", "SparkEngine", "java_date_pattern", "spark_size", "translate"]

#: Master used when none is given: every core of this machine.
DEFAULT_MASTER = "local[*]"

#: Python ``strptime`` directives used in segmint's rules, as lenient Java pattern fields.
#: DuckDB reads ``%m``, ``%d``, ``%H``, ``%M``, ``%S`` and ``%Y`` with or without zero padding;
#: a single Java letter parses any width, so the two engines accept the same strings.
_JAVA_FIELDS: dict[str, str] = {
    "Y": "y",
    "m": "M",
    "d": "d",
    "H": "H",
    "M": "m",
    "S": "s",
    "%": "%",
}

#: Java charset names of the encodings :func:`segmint.io.sources.resolve_source` reports.
_CHARSETS: dict[str, str] = {"utf-8": "UTF-8", "latin-1": "ISO-8859-1"}

#: Logical view names used by the rules; each engine maps them to private names.
_VIEWS: tuple[str, ...] = ("raw", "lines", "clean", "clean_months", "clean_countries")


def java_date_pattern(strptime_format: str) -> str:
    """Turn a DuckDB ``strptime`` format into the equivalent Spark (Java) datetime pattern.

    Parameters
    ----------
    strptime_format : str
        A format such as ``"%m/%d/%Y %H:%M"``, using only ``%Y %m %d %H %M %S %%``.

    Returns
    -------
    str
        The Java pattern, letters other than fields quoted, e.g. ``"M/d/y H:m"``.

    Raises
    ------
    ValueError
        For a directive without a mapping (add one rather than let the engines disagree).

    Examples
    --------
    >>> java_date_pattern("%Y-%m-%dT%H:%M:%S")
    "y-M-d'T'H:m:s"
    """
    out: list[str] = []
    i = 0
    while i < len(strptime_format):
        ch = strptime_format[i]
        if ch == "%":
            directive = strptime_format[i + 1 : i + 2]
            if directive not in _JAVA_FIELDS:
                raise ValueError(
                    f"strptime directive %{directive} in {strptime_format!r} has no Spark "
                    "mapping; add it to segmint.spark.engine._JAVA_FIELDS"
                )
            out.append(_JAVA_FIELDS[directive])
            i += 2
            continue
        if ch.isalpha():
            out.append(f"'{ch}'")
        elif ch == "'":
            out.append("''")
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def _rewrite(node: exp.Expression, tables: Mapping[str, str]) -> exp.Expression:
    """The Spark rewrites listed in the module docstring, applied to one node."""
    if isinstance(node, exp.Anonymous):
        name = str(node.this).upper()
        args = node.expressions
        if name == "TRY_STRPTIME" and len(args) == 2 and isinstance(args[1], exp.Literal):
            pattern = exp.Literal.string(java_date_pattern(args[1].this))
            return exp.Anonymous(this="TRY_TO_TIMESTAMP", expressions=[args[0], pattern])
        if name == "ISFINITE" and len(args) == 1:
            value = args[0]
            infinity = exp.cast(exp.Literal.string("Infinity"), exp.DataType.Type.DOUBLE)
            return exp.paren(
                exp.and_(
                    exp.not_(exp.Anonymous(this="ISNAN", expressions=[value.copy()])),
                    exp.LT(this=exp.Abs(this=value.copy()), expression=infinity),
                )
            )
    if isinstance(node, exp.Div):
        return exp.Anonymous(this="TRY_DIVIDE", expressions=[node.this, node.expression])
    if isinstance(node, exp.DateDiff) and str(node.args.get("unit") or "DAY").upper() == "DAY":
        # exp.DateDiff holds (end, start); two-argument DATEDIFF(end, start) counts days.
        return exp.Anonymous(this="DATEDIFF", expressions=[node.this, node.expression])
    if isinstance(node, exp.RegexpReplace) and node.args.get("single_replace"):
        pattern = node.expression
        text = pattern.this if isinstance(pattern, exp.Literal) else ""
        if not (text.startswith("^") or text.endswith("$")):
            raise ValueError(
                f"REGEXP_REPLACE pattern {text!r}: DuckDB replaces the first match and Spark "
                "every match; anchor the pattern (^ or $) so both engines agree"
            )
    if isinstance(node, exp.Table) and not node.args.get("db") and node.name in tables:
        renamed = node.copy()
        renamed.set("this", exp.to_identifier(tables[node.name]))
        return renamed
    return node


def translate(sql: str, tables: Mapping[str, str] | None = None) -> str:
    """Translate one statement of segmint's DuckDB SQL into Spark SQL.

    Parameters
    ----------
    sql : str
        A query in DuckDB's dialect, as :mod:`segmint.clean` and :mod:`segmint.features` write.
    tables : mapping of str to str, optional
        Table names to replace, ``{name_in_sql: name_in_spark}``.

    Returns
    -------
    str
        The query in Spark's dialect, with the rewrites of the module docstring.

    Examples
    --------
    >>> translate("SELECT TRY_STRPTIME(d, '%m/%d/%Y %H:%M') FROM raw", {"raw": "v1"})
    "SELECT TRY_TO_TIMESTAMP(d, 'M/d/y H:m') FROM v1"
    """
    names = dict(tables or {})
    tree = sqlglot.parse_one(sql, read="duckdb")
    # Bottom-up (children before parents), so a rewritten node keeps rewritten arguments.
    for node in reversed(list(tree.walk(bfs=False))):
        if not isinstance(node, exp.Expression):  # pragma: no cover - sqlglot internals
            continue
        new = _rewrite(node, names)
        if new is not node:
            if node is tree:
                tree = new
            else:
                node.replace(new)
    return tree.sql(dialect="spark")


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


def spark_size(text: str) -> str:
    """Turn a memory size such as ``"2GB"`` or ``"512MiB"`` into Spark's form (``"2048m"``).

    Parameters
    ----------
    text : str
        A number with an optional unit K, M, G or T (``B``, ``iB`` suffixes allowed).

    Returns
    -------
    str
        Whole mebibytes with Spark's ``m`` suffix (at least ``1m``).

    Raises
    ------
    SegmintError
        When the text is not a size.

    Examples
    --------
    >>> spark_size("2GB"), spark_size("1536m")
    ('2048m', '1536m')
    """
    match = _SIZE.match(text)
    if not match:
        raise SegmintError(f"--memory-limit {text}: write a size such as 4GB or 512MB")
    number, unit = float(match.group(1)), match.group(2).lower()
    factor = {"": 1 / 2**20, "k": 1 / 2**10, "m": 1.0, "g": 2.0**10, "t": 2.0**20}[unit]
    return f"{max(1, int(number * factor))}m"


@contextmanager
def quiet_pyspark() -> Iterator[None]:
    """Hide pyspark's warning that it does not yet fully support pandas 3.

    segmint hands results from Spark to Python as Arrow (``DataFrame.toArrow``), not through
    pyspark's pandas conversion, and the tests compare every result with DuckDB's.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        yield


def _is_local(master: str) -> bool:
    return master == "local" or master.startswith("local[")


def _local_cores(master: str) -> int:
    """Cores of a ``local``, ``local[N]``, ``local[*]`` or ``local[N, F]`` master."""
    match = re.match(r"local\[(\d+|\*)", master)
    if match is None:
        return 1
    if match.group(1) == "*":
        return os.cpu_count() or 1
    return int(match.group(1))


class SparkEngine(Engine):
    """Run segmint's SQL on Spark SQL (local mode or a cluster).

    Parameters
    ----------
    master : str, optional
        Spark master URL, e.g. ``"spark://host:7077"`` or ``"yarn"``; default ``local[*]``, or
        ``local[threads]`` when ``threads`` is given, or under ``spark-submit`` the master it
        was given. Ignored when a session is already active (a notebook, a job that built its
        session, a test fixture): the engine then uses that session as it is.
    memory_limit : str, optional
        Memory for the JVM that does the work: the driver in local mode (default 60 % of RAM,
        as for DuckDB), the executors on a cluster (default: the cluster's setting).
    threads : int, optional
        Cores in local mode.
    temp_directory : str, optional
        Where Spark spills and shuffles (``spark.local.dir``).
    session : pyspark.sql.SparkSession, optional
        A session to use as it is; it is not stopped by :meth:`close`.

    Notes
    -----
    The engine's views get names private to it, so a shared session keeps its own views. A
    session the engine started itself is stopped by :meth:`close`.
    """

    name = "spark"
    reads_remote = True

    def __init__(
        self,
        master: str | None = None,
        memory_limit: str | None = None,
        *,
        threads: int | None = None,
        temp_directory: str | None = None,
        session: SparkSession | None = None,
    ) -> None:
        with quiet_pyspark():
            from pyspark.sql import SparkSession

            active = session or SparkSession.getActiveSession()
            self.owns_session = active is None
            self.spark: SparkSession = active or self._start(
                master, memory_limit, threads, temp_directory
            )
        self.prefix = f"segmint_{uuid.uuid4().hex[:8]}"
        self.source: Source | None = None
        self.views: dict[str, str] = {}
        self.cached: dict[str, DataFrame] = {}

    @staticmethod
    def _start(
        master: str | None,
        memory_limit: str | None,
        threads: int | None,
        temp_directory: str | None,
    ) -> SparkSession:
        from pyspark.sql import SparkSession

        from segmint.engines.duckdb import default_memory_limit

        # Under spark-submit (or the pyspark shell) the launcher already chose the master and
        # started the driver JVM: keep its choice unless --spark-master says otherwise.
        submitted = "PYSPARK_GATEWAY_PORT" in os.environ
        if master is None and not submitted:
            master = f"local[{int(threads)}]" if threads else DEFAULT_MASTER
        builder = (
            SparkSession.builder.appName("segmint")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.sql.execution.arrow.pyspark.enabled", "true")
            # The cleaned lines are cached; without this, every query over them keeps the
            # cache's partitioning (spark.sql.shuffle.partitions tasks) even for a small log.
            .config("spark.sql.optimizer.canChangeCachedPlanOutputPartitioning", "true")
        )
        if master is not None:
            builder = builder.master(master)
        if master is not None and _is_local(master):
            # In local mode the driver JVM does all the work: give it DuckDB's share of RAM,
            # and a few shuffle partitions per core rather than 200 (adaptive execution still
            # splits skewed ones).
            builder = builder.config(
                "spark.driver.memory", spark_size(memory_limit or default_memory_limit())
            ).config("spark.sql.shuffle.partitions", str(4 * _local_cores(master)))
        elif memory_limit:
            builder = builder.config("spark.executor.memory", spark_size(memory_limit))
        if temp_directory:
            builder = builder.config("spark.local.dir", str(temp_directory))
        try:
            spark = builder.getOrCreate()
        except Exception as exc:
            raise SegmintError(
                f"cannot start Spark (master {master or 'from spark-submit'}: "
                f"{_first_line(exc)}); check "
                "--spark-master and that Java 17 or later is installed (java -version)"
            ) from None
        spark.sparkContext.setLogLevel("ERROR")
        return spark

    def view(self, name: str) -> str:
        """The Spark name of the logical view ``name`` (``raw``, ``lines``, ``clean``, ...)."""
        return self.views.setdefault(name, f"{self.prefix}_{name}")

    def translate(self, sql: str) -> str:
        """Translate DuckDB SQL for this engine (see :func:`translate`), with its view names."""
        names = {name: self.view(name) for name in _VIEWS}
        names.update(self.views)
        return translate(sql, names)

    def _read(self, source: Source) -> DataFrame:
        from pyspark.sql.types import StringType, StructField, StructType

        reader = self.spark.read
        locations = source.locations
        if source.format == "csv":
            header, delimiter = source.header, source.delimiter
            if header is None or delimiter is None:
                header, delimiter = self._sniff_header(source)
            # The names DuckDB uses (the sniffed, stripped header), every column a string.
            schema = StructType([StructField(n, StringType()) for n in header])
            return (
                reader.schema(schema)
                .option("header", "true")
                .option("sep", delimiter)
                .option("encoding", _CHARSETS.get(source.encoding, source.encoding))
                .option("multiLine", "false")
                .option("quote", '"')
                .option("escape", '"')  # RFC 4180: a quote inside quotes is doubled
                .option("mode", "FAILFAST")  # a ragged row is an error, as in DuckDB
                .csv(locations)
            )
        if source.format == "parquet":
            return reader.option("mergeSchema", "true").parquet(*locations)
        if source.format in ("excel", "frame"):
            assert source.table is not None
            return self.spark.createDataFrame(source.table)
        if source.format == "table":
            assert source.table_name is not None
            return self.spark.table(source.table_name)
        raise SegmintError(f"unsupported format {source.format!r}")  # pragma: no cover

    def _sniff_header(self, source: Source) -> tuple[list[str], str]:
        """Header and delimiter of remote CSV files, from the first line Spark reads."""
        first = self.spark.read.text(source.locations).limit(1).collect()
        line = str(first[0][0]).lstrip("\ufeff") if first else ""
        counts = {d: line.count(d) for d in DELIMITERS}
        delimiter = max(DELIMITERS, key=lambda d: counts[d])
        if counts[delimiter] == 0:
            raise SegmintError(
                f"{source.label}: the first line has no comma, semicolon, tab or bar; "
                "is it a CSV file with a header row?"
            )
        names = [n.strip() for n in next(csv.reader([line], delimiter=delimiter))]
        if any(not n for n in names) or len(set(names)) != len(names):
            raise SegmintError(f"{source.label}: the header {names} has empty or repeated names")
        return names, delimiter

    def register(self, source: Source, view: str) -> list[tuple[str, str]]:
        """Expose ``source`` as the view ``view``; return its ``(column, Spark type)`` pairs.

        CSV is read with every column as a string (``inferSchema`` off, header on, the sniffed
        delimiter and encoding, ``multiLine`` off so files split across tasks); Parquet with
        its own types, schemas merged by name; Excel and in-memory tables from Arrow; a catalog
        table as the session has it.
        """
        try:
            frame = self._read(source)
            described = [(str(c), str(t)) for c, t in frame.dtypes]
        except SegmintError:
            raise
        except Exception as exc:
            raise source.read_error(_Message(exc)) from None
        frame.createOrReplaceTempView(self.view(view))
        self.source = source
        return described

    def materialize(self, name: str, query: str) -> None:
        """Keep the result of ``query`` as the cached view ``name``.

        The rows are cached (memory, spilling to disk) when first computed, so the audit and
        the features read the cleaned lines once, like DuckDB's temporary tables.
        """
        from pyspark import StorageLevel

        frame = self.sql(query).persist(StorageLevel.MEMORY_AND_DISK)
        old = self.cached.pop(name, None)
        frame.createOrReplaceTempView(self.view(name))
        self.cached[name] = frame
        if old is not None:
            old.unpersist()

    def sql(self, query: str) -> DataFrame:
        """Run DuckDB-dialect SQL and return the (lazy) Spark DataFrame."""
        return self.spark.sql(self.translate(query))

    def fetch(self, sql: str) -> pa.Table:
        """Run a query and return an Arrow table (collected to the driver)."""
        with quiet_pyspark(), self._reading():
            return self.sql(sql).toArrow()

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Report a failure while Spark reads the input (a malformed CSV row, a vanished file)
        as the input's error; an analysis error is a bug in the SQL and propagates."""
        from pyspark.errors import AnalysisException

        try:
            yield
        except AnalysisException:
            raise
        except Exception as exc:
            if self.source is None:
                raise
            raise self.source.read_error(_Message(exc)) from None

    def close(self) -> None:
        """Drop this engine's views and cached rows; stop the session if the engine started it."""
        for frame in self.cached.values():
            frame.unpersist()
        self.cached.clear()
        for spark_name in self.views.values():
            self.spark.catalog.dropTempView(spark_name)
        self.views.clear()
        if self.owns_session:
            self.spark.stop()

    def release(self) -> None:
        """Forget the views without dropping them: a DataFrame handed out still reads them."""
        self.cached.clear()
        self.views.clear()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Message(Exception):
    """A Spark error reduced to its message, without the JVM stack trace."""

    def __init__(self, exc: BaseException) -> None:
        message: Callable[[], Any] | None = getattr(exc, "getMessage", None)
        text = str(message()) if callable(message) else str(exc)
        # "Job aborted due to stage failure: ... SparkException: [ERROR_CLASS] what happened":
        # lead with the error class and its message.
        found = _ERROR_CLASS.search(text)
        first = found.group(0) if found else ""
        lines = [line for line in text.splitlines() if line.strip()]
        super().__init__("\n".join([first, *lines] if first else lines))


_ERROR_CLASS = re.compile(r"\[[A-Z][A-Z_.]+\][^\n]*")
