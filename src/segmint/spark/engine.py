"""The Spark engine: segmint's SQL on Spark SQL, for logs that live in a data lake.

The SQL each verb runs is written once, in DuckDB's dialect; :mod:`segmint.spark._translate`
turns every statement into Spark SQL (and documents each rewrite). This module holds the engine:
starting or reusing a session (local, a standalone or YARN cluster, or a Spark Connect server),
reading the inputs, caching the cleaned lines, and handing results back as Arrow.
"""

from __future__ import annotations

import csv
import os
import re
import uuid
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from segmint.engines.base import Engine
from segmint.errors import SegmintError
from segmint.io.sources import DELIMITERS
from segmint.spark._translate import spark_size, translate

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

    from segmint.io.sources import Source

__all__ = ["DEFAULT_MASTER", "SparkEngine"]

#: Master used when none is given: every core of this machine.
DEFAULT_MASTER = "local[*]"

#: Java charset names of the encodings :func:`segmint.io.sources.resolve_source` reports.
_CHARSETS: dict[str, str] = {"utf-8": "UTF-8", "latin-1": "ISO-8859-1"}

#: Logical view names used by the rules; each engine maps them to private names.
_VIEWS: tuple[str, ...] = ("raw", "lines", "clean", "clean_months", "clean_countries")


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


def is_connect(obj: Any) -> bool:
    """Whether a session or DataFrame is Spark Connect's (no ``sparkContext``, no RDD)."""
    return type(obj).__module__.startswith("pyspark.sql.connect")


def _remote_url(master: str | None, remote: str | None) -> str | None:
    """The Spark Connect URL to use: ``remote``, else ``SPARK_REMOTE`` unless a master is set."""
    env = os.environ.get("SPARK_REMOTE") or None
    if remote and master:
        raise SegmintError(
            f"--spark-master {master} and --spark-remote {remote}: pass one of them "
            "(a master starts a driver here; a remote is a Spark Connect server)"
        )
    if master and env and "PYSPARK_GATEWAY_PORT" not in os.environ:
        raise SegmintError(
            f"--spark-master {master} while SPARK_REMOTE={env} is set: unset SPARK_REMOTE "
            "or drop --spark-master"
        )
    url = remote or (None if master else env)
    if url is not None and not re.match(r"^sc://[^/:]+(:\d+)?(/.*)?$", url):
        raise SegmintError(
            f"--spark-remote {url}: write the Spark Connect server as sc://HOST:PORT "
            "(default port 15002)"
        )
    return url


#: Seconds to wait for a Spark Connect server to accept a connection.
CONNECT_TIMEOUT: float = 10.0


def _connect_mode_off(switched: bool) -> None:
    """Undo the Connect-mode switch of :func:`_connect`, if it made one."""
    if switched:
        os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)


def _connect(url: str) -> tuple[SparkSession, bool]:
    """A new Spark Connect session on ``url``, checked with one round trip.

    Also whether this turned pyspark's Connect mode on (``SPARK_CONNECT_MODE_ENABLED``), as
    pyspark's own builder does for ``SPARK_REMOTE`` when no classic session exists, so that
    ``pyspark.sql.functions`` and ``pyspark.ml`` build Connect plans (MLlib on the server);
    :meth:`SparkEngine.close` turns it off again.
    """
    import socket

    from pyspark import SparkContext
    from pyspark.sql.connect.session import SparkSession as RemoteSession

    # Connect's client retries an unreachable server for minutes: look first.
    found = re.match(r"^sc://([^/:]+)(?::(\d+))?", url)
    assert found is not None  # _remote_url checked the form
    host, port = found.group(1), int(found.group(2) or 15002)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT).close()
    except OSError as exc:
        raise SegmintError(
            f"cannot reach the Spark Connect server at {url} ({exc.strerror or exc}); check "
            "--spark-remote (or SPARK_REMOTE) and that the server is running "
            "(start-connect-server.sh)"
        ) from None
    switched = (
        SparkContext._active_spark_context is None
        and "SPARK_CONNECT_MODE_ENABLED" not in os.environ
    )
    if switched:
        os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    try:
        spark = RemoteSession.builder.remote(url).create()
    except Exception as exc:
        _connect_mode_off(switched)
        raise SegmintError(
            f"cannot open a Spark Connect session on {url} ({_first_line(exc)}); check "
            "--spark-remote and that pyspark[connect] is installed"
        ) from None
    try:
        spark.conf.set("spark.sql.execution.arrow.pyspark.enabled", "true")
        # As in _start: queries over the cached lines may change their partitioning.
        spark.conf.set("spark.sql.optimizer.canChangeCachedPlanOutputPartitioning", "true")
    except Exception as exc:
        spark.stop()
        _connect_mode_off(switched)
        raise SegmintError(
            f"cannot reach the Spark Connect server at {url} ({_first_line(exc)}); check "
            "--spark-remote and that the server is running (start-connect-server.sh)"
        ) from None
    return spark, switched  # type: ignore[return-value]


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
        A session to use as it is (classic or Spark Connect); it is not stopped by
        :meth:`close`.
    remote : str, optional
        A Spark Connect server, ``"sc://host:port"``: the engine opens a new Connect session
        on it (whatever session is active in this process) and runs the same SQL there.
        Default: the ``SPARK_REMOTE`` environment variable when ``master`` is not given.

    Raises
    ------
    SegmintError
        When Spark cannot start, the Connect server cannot be reached, or both a master and
        a remote are given.

    Notes
    -----
    The engine's views get names private to it, so a shared session keeps its own views. A
    session the engine started itself is stopped by :meth:`close`. On Spark Connect the
    engine uses only what Connect offers (no ``sparkContext``, no RDD): SQL, temporary views,
    ``persist``, ``toArrow`` and ``createDataFrame`` from Arrow.
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
        remote: str | None = None,
    ) -> None:
        with quiet_pyspark():
            from pyspark.sql import SparkSession

            remote = _remote_url(master, remote) if session is None else None
            self.switched_mode = False
            active = session or (None if remote else SparkSession.getActiveSession())
            self.owns_session = active is None
            if active is not None:
                self.spark: SparkSession = active
            elif remote is not None:
                self.spark, self.switched_mode = _connect(remote)
            else:
                self.spark = self._start(master, memory_limit, threads, temp_directory)
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
        if not is_connect(spark):
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
            _connect_mode_off(self.switched_mode)
            self.switched_mode = False

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
