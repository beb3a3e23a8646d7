"""Output checks and table writers shared by the commands (``features``, ``predict``, ``run``).

One rule for every command: an output that is (or holds) one of the inputs is refused, an
existing one is replaced only with ``force``, and a table is written atomically.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from segmint.io.outputs import atomic_file, check_file, check_folder
from segmint.io.tables import write_table

if TYPE_CHECKING:
    import pandas as pd

    from segmint.features import FeatureTable
    from segmint.io.sources import Inputs

__all__ = ["check_output", "export_features", "export_table"]


def check_output(
    output: str | os.PathLike,
    inputs: Inputs,
    *,
    force: bool = False,
    folder: bool = False,
    also: Sequence[str | os.PathLike] = (),
) -> None:
    """Fail before any work when ``output`` may not be written: the rule of every command.

    Refused: an output that is (or resolves to) one of the inputs or ``also`` (a model),
    a folder output that holds one, and an existing output unless ``force``.
    """
    from segmint.io.sources import input_paths

    paths = [*input_paths(inputs), *(Path(p) for p in also)]
    if folder:
        check_folder(Path(output), force=force, inputs=paths)
    else:
        check_file(Path(output), force=force, inputs=paths)


def export_table(table: pd.DataFrame, output: Path, *, force: bool = False) -> None:
    """Write a table atomically to ``output`` (CSV or Parquet by extension)."""
    check_file(output, force=force)
    with atomic_file(output, force=force) as tmp:
        write_table(table, tmp)


def export_features(result: FeatureTable, output: Path, *, force: bool = False) -> None:
    """Write the customer table atomically to ``output`` (CSV or Parquet by extension)."""
    export_table(result.table, output, force=force)
