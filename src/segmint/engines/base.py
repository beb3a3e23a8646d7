"""The one interface every engine offers, with its optional speed-ups as declared capabilities.

An engine registers a source as a view of raw rows, runs SQL written in DuckDB's dialect
(an engine with another dialect translates it) and hands results back as Arrow. Nothing above
this interface knows which engine ran: :mod:`segmint.clean` asks an engine for its
capabilities through the methods below, whose defaults are the plain-SQL way.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pyarrow as pa

    from segmint.io.sources import Source

__all__ = ["ENGINES", "Engine"]

#: The engines segmint knows, by the name ``--engine`` takes.
ENGINES: tuple[str, ...] = ("duckdb", "spark")


class Engine(ABC):
    """What every engine offers.

    SQL handed to :meth:`materialize` and :meth:`fetch` is written in DuckDB's dialect.
    Subclasses implement the four abstract methods; the capabilities (:meth:`fingerprint`,
    :meth:`can_sort`, :meth:`sorted_counts`, :meth:`drop`) have defaults that mean "not
    offered", under which the cleaning rules group by every column in plain SQL.

    Attributes
    ----------
    name : str
        The engine's ``--engine`` name.
    reads_remote : bool
        True when the engine reads URIs (``hdfs://``, ``s3a://``) and catalog tables itself,
        so :func:`segmint.io.sources.resolve_source` passes them through without local checks.
    """

    name: str = ""
    reads_remote: bool = False

    @abstractmethod
    def register(self, source: Source, view: str) -> list[tuple[str, str]]:
        """Expose ``source`` as the view ``view``; return its ``(column, type)`` pairs."""

    @abstractmethod
    def materialize(self, name: str, query: str) -> None:
        """Compute ``query`` once and keep the result as the table ``name``."""

    @abstractmethod
    def fetch(self, sql: str) -> pa.Table:
        """Run a query and return its result as an Arrow table."""

    @abstractmethod
    def close(self) -> None:
        """Release the engine's resources."""

    # -- capabilities: defaults mean "not offered" ------------------------------------------

    def fingerprint(self, columns: Sequence[str]) -> str | None:
        """SQL of a 64-bit hash of whole rows, or None to group by every column instead.

        Parameters
        ----------
        columns : sequence of str
            The raw columns of the registered view.
        """
        return None

    def can_sort(self, source: Source) -> bool:
        """Whether :meth:`sorted_counts` is offered and suits ``source``; default False."""
        return False

    def sorted_counts(
        self,
        query: str,
        flags: Sequence[str],
        *,
        lines: str | None = None,
        duplicates: str | None = None,
    ) -> pa.Table:
        """The duplicate and distinct counts by sorting (only where :meth:`can_sort` is True).

        See :meth:`segmint.engines.duckdb.DuckDBEngine.sorted_counts` for the contract.
        """
        raise NotImplementedError(f"the {self.name} engine does not count by sorting")

    def derive(self, view: str, query: str) -> None:
        """Replace the view ``view`` by the rows of ``query``, computed once.

        ``query`` must not read ``view`` itself. Default: :meth:`materialize` under that name.
        """
        self.materialize(view, query)

    def drop(self, name: str) -> None:  # noqa: B027 - an optional capability, no-op by default
        """Forget the table ``name`` (default: nothing, the engine frees it on :meth:`close`)."""
