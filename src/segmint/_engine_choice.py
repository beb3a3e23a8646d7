"""Choosing an engine by name: the one place that knows every engine, Spark included.

It sits with the verbs (above :mod:`segmint.spark`), so that :mod:`segmint.engines` stays below
the rules and never imports Spark; :func:`segmint.pipeline.get_engine` is this function.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from segmint.engines.base import ENGINES
from segmint.errors import SegmintError

if TYPE_CHECKING:
    from segmint.engines.base import Engine

__all__ = ["get_engine"]


def get_engine(
    name: str = "duckdb",
    *,
    threads: int | None = None,
    memory_limit: str | None = None,
    temp_directory: str | None = None,
    spark_master: str | None = None,
    spark_remote: str | None = None,
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
    spark_remote : str, optional
        Spark Connect server, ``sc://HOST:PORT`` (default: ``SPARK_REMOTE`` when no master).

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
            remote=spark_remote,
        )
    raise SegmintError(f"unknown engine {name!r}; use one of {', '.join(ENGINES)}")
