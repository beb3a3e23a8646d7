"""Engines run segmint's SQL: one small interface, so a rule is written once.

An engine registers a source as a view of raw rows, runs SQL written in DuckDB's dialect
(translated with sqlglot where its own dialect differs) and hands results back as Arrow.
Optional engines are imported only when asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from segmint.errors import SegmintError

if TYPE_CHECKING:
    import pyarrow as pa

    from segmint.loading import Source

__all__ = ["ENGINES", "Engine", "get_engine"]

ENGINES: tuple[str, ...] = ("duckdb", "spark")


class Engine(Protocol):
    """What every engine offers.

    SQL handed to :meth:`materialize` and :meth:`fetch` is written in DuckDB's dialect; an engine
    with another dialect translates it (see :func:`segmint.engines.spark.translate`).
    """

    name: str
    #: True when the engine reads URIs (``hdfs://``, ``s3a://``) and catalog tables itself, so
    #: :func:`segmint.loading.resolve_source` passes them through without local checks.
    reads_remote: bool

    def register(self, source: Source, view: str) -> list[tuple[str, str]]:
        """Expose ``source`` as the view ``view``; return its ``(column, type)`` pairs."""
        ...

    def materialize(self, name: str, query: str) -> None:
        """Compute ``query`` once and keep the result as the table ``name``."""
        ...

    def fetch(self, sql: str) -> pa.Table:
        """Run a query and return its result as an Arrow table."""
        ...

    def close(self) -> None:
        """Release the engine's resources."""
        ...


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
    """
    if name == "duckdb":
        from segmint.engines.duckdb import DuckDBEngine

        return DuckDBEngine(
            threads=threads, memory_limit=memory_limit, temp_directory=temp_directory
        )
    if name == "spark":
        try:
            from segmint.engines.spark import SparkEngine
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
