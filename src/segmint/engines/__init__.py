"""Engines run segmint's SQL: one small interface (:class:`Engine`), so a rule is written once.

:mod:`segmint.engines.duckdb` is the embedded default; the Spark engine lives with the rest of
Spark in :mod:`segmint.spark`. :func:`segmint.pipeline.get_engine` picks one by name.
"""

from __future__ import annotations

from segmint.engines.base import ENGINES, Engine

__all__ = ["ENGINES", "Engine"]
