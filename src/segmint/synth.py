"""Synthetic transaction logs in the UCI Online Retail layout, with planted customer types.

The log looks like the UCI "Online Retail" file (columns ``InvoiceNo``, ``StockCode``,
``Description``, ``Quantity``, ``InvoiceDate``, ``UnitPrice``, ``CustomerID``, ``Country``)
and is skewed like it: most customers buy a handful of products once, a few buy hundreds; most
cancel nothing. Every identified customer is given one of the :data:`PLANTED_TYPES`, and the
type decides how many distinct products the customer buys, how many orders they cancel and
how many lines they take in the log:

==================  =====  =================  ================  ===============
planted type        share  distinct products  cancelled orders  purchase orders
==================  =====  =================  ================  ===============
one_off             55%    1-8                0                 1
loyal_broad         22%    40-150             0 (70%) or 1      4-16
frequent_canceller  15%    10-40              3-10              3-10
wholesaler          8%     200-800            1-4               10-40
==================  =====  =================  ================  ===============

so the types sit apart in (log1p ``n_products``, log1p ``n_canceled_orders``) space, the two
default features, and a test or benchmark can measure how well segments recover them. The
numbers hold exactly in the cleaned log (duplicates and anonymous rows removed) whenever the
log has rows enough for them, which it has at the default number of customers (one per
:data:`ROWS_PER_CUSTOMER` rows, as in UCI Online Retail). With many more customers than that,
every customer's products shrink in proportion (the types stay apart on the log scale) and
the planted cancellations, one line each at least, push the cancellation share above 2%.

Around the planted customers the log has what real logs have: about 2% cancellation lines
(invoice ``C`` + number, negative quantity), about 20% rows without a customer id, about 1%
exact duplicate rows, a few zero prices, and the service codes ``POST``, ``M`` and ``DOT``.
Invoice numbers start at 536365 and increase with the invoice date (2010-12-01 to
2011-12-09, no Saturdays, busier towards November).

Generation is vectorised numpy and runs in chunks of about two million rows, so
:func:`write` keeps its memory bounded for any number of rows. The same arguments give the
same data and byte-identical files.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from segmint._synth_plan import PLANTED_TYPES, ROWS_PER_CUSTOMER, default_customers, make_plan
from segmint._synth_rows import SCHEMA, chunk_tables
from segmint.errors import SegmintError

__all__ = [
    "COLUMNS",
    "PLANTED_TYPES",
    "ROWS_PER_CUSTOMER",
    "default_customers",
    "generate",
    "truth_path",
    "write",
]

#: Output columns, in order (the UCI Online Retail names).
COLUMNS: tuple[str, ...] = (
    "InvoiceNo",
    "StockCode",
    "Description",
    "Quantity",
    "InvoiceDate",
    "UnitPrice",
    "CustomerID",
    "Country",
)

_CSV_SCHEMA = SCHEMA.set(4, pa.field("InvoiceDate", pa.timestamp("s")))


def generate(
    n_rows: int, n_customers: int | None = None, seed: int = 0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generate a synthetic transaction log with planted customer types.

    Parameters
    ----------
    n_rows : int
        Rows in the log, exactly (duplicates and anonymous rows included); at least 1.
    n_customers : int, default=None
        Identified customers to plant. None means :func:`default_customers` (about
        ``n_rows / 125``, as in UCI Online Retail). More customers than that leave fewer rows
        per customer, and the planted types overlap more; it must not exceed the rows that
        carry a customer id (about 79% of ``n_rows``).
    seed : int, default=0
        Random seed, >= 0. The same arguments always give the same frames.

    Returns
    -------
    transactions : pandas.DataFrame
        One row per invoice line, ``n_rows`` rows, RangeIndex, in invoice-number order, with
        columns:

        - ``InvoiceNo``: str, ``"536365"``; cancellations ``"C"`` + number
        - ``StockCode``: str, ``"85123A"``, ``"22423"``, or a service code ``POST``, ``M``,
          ``DOT``
        - ``Description``: str
        - ``Quantity``: int64, negative on cancellation lines
        - ``InvoiceDate``: datetime64[ms], whole minutes, the same on every line of an invoice
        - ``UnitPrice``: float64, a few 0.0
        - ``CustomerID``: str, ``"17850.0"`` as in the UCI CSV; missing (NaN) on the ~20%
          anonymous rows
        - ``Country``: str
    truth : pandas.DataFrame
        One row per customer in ``transactions``, sorted by ``customer_id``, RangeIndex:

        - ``customer_id``: str, as the cleaned customer table spells it (``"17850"``)
        - ``planted_type``: str, one of :data:`PLANTED_TYPES`

    Raises
    ------
    SegmintError
        If ``n_rows < 1``, ``seed < 0``, ``n_customers < 1``, too many customers for the rows,
        or an argument is not a whole number.

    See Also
    --------
    write : the same log written to a CSV or Parquet file, in bounded memory.

    Examples
    --------
    >>> transactions, truth = generate(1_000, seed=1)
    >>> len(transactions), list(truth.columns)
    (1000, ['customer_id', 'planted_type'])
    """
    plan = make_plan(n_rows, n_customers, seed)
    table = pa.concat_tables(list(chunk_tables(plan, seed)))
    transactions = table.to_pandas()
    return transactions, plan.truth.copy()


def truth_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`write` puts the planted types for the log at ``path``: ``<stem>.truth.csv``.

    >>> truth_path("data/log.parquet").as_posix()
    'data/log.truth.csv'
    """
    path = Path(path)
    return path.with_name(f"{path.stem}.truth.csv")


def _write_overlapped(write: Callable[[pa.Table], None], tables: Iterator[pa.Table]) -> None:
    """Write each table in order, on a second thread while the next one is generated."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: Future[None] | None = None
        for table in tables:
            if pending is not None:
                pending.result()
            pending = pool.submit(write, table)
        if pending is not None:
            pending.result()


def _format_of(path: Path) -> Literal["csv", "parquet"]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".parquet", ".pq"):
        return "parquet"
    raise SegmintError(
        f"{path}: cannot tell the file format from the extension {suffix or '(none)'!r}; "
        "use a name ending in .csv or .parquet"
    )


def write(
    path: str | os.PathLike[str],
    n_rows: int,
    n_customers: int | None = None,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write a synthetic transaction log and its planted types.

    The log is the one :func:`generate` returns for the same arguments, written in chunks of
    about two million rows, so memory stays bounded whatever ``n_rows`` is. Both files are
    written to a temporary name and renamed into place; the same arguments give
    byte-identical files.

    Parameters
    ----------
    path : str or path-like
        Output file; ``.csv`` writes CSV, ``.parquet`` (or ``.pq``) writes Parquet. Missing
        parent directories are created; an existing file is replaced.
    n_rows : int
        Rows in the log, exactly; at least 1.
    n_customers : int, default=None
        Identified customers to plant; None means :func:`default_customers`.
    seed : int, default=0
        Random seed, >= 0.

    Returns
    -------
    path : pathlib.Path
        The log, with the columns of :func:`generate`. In CSV, ``InvoiceDate`` is text
        ``YYYY-MM-DD HH:MM:SS``, ``CustomerID`` is ``"17850.0"`` or empty, text values are
        quoted and the header is not; in Parquet, ``InvoiceDate`` is a timestamp
        (milliseconds, no time zone) and ``CustomerID`` a string or null.
    truth_path : pathlib.Path
        ``<stem>.truth.csv`` beside the log (see :func:`truth_path`): columns
        ``customer_id,planted_type``, one row per customer, sorted by ``customer_id``.

    Raises
    ------
    SegmintError
        If the extension is neither ``.csv`` nor ``.parquet``, or for the argument errors of
        :func:`generate`.
    """
    path = Path(path)
    file_format = _format_of(path)
    plan = make_plan(n_rows, n_customers, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    truth_file = truth_path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp_truth = truth_file.with_name(f".{truth_file.name}.{os.getpid()}.tmp")
    try:
        if file_format == "parquet":
            with pq.ParquetWriter(tmp, SCHEMA, compression="snappy") as parquet:
                _write_overlapped(parquet.write_table, chunk_tables(plan, seed))
        else:
            options = pa_csv.WriteOptions(quoting_style="needed", quoting_header="none")
            with (
                pa.OSFile(str(tmp), "wb") as sink,
                pa_csv.CSVWriter(sink, _CSV_SCHEMA, write_options=options) as csv,
            ):
                tables = (table.cast(_CSV_SCHEMA) for table in chunk_tables(plan, seed))
                _write_overlapped(csv.write_table, tables)
        plan.truth.to_csv(tmp_truth, index=False, lineterminator="\n")
        os.replace(tmp, path)
        os.replace(tmp_truth, truth_file)
    finally:
        tmp.unlink(missing_ok=True)
        tmp_truth.unlink(missing_ok=True)
    return path, truth_file
