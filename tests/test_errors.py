"""The bad-input corpus: every case through the real CLI, one clear line, exit 2, nothing touched.

Each case builds its input in a fresh folder and runs ``segmint features`` and/or ``segmint run``
on it (typer's CliRunner, plus a handful through a real subprocess), asserting: exit code 2;
stderr a few lines at most, the last one ``error: ...`` naming the file (or option) and the
problem; no traceback; every file in the folder byte-identical afterwards (the input, and
anything already there); and nothing new created (no output, no temporary file beside it).

Valid but awkward inputs (BOM with CRLF, semicolons, quoted commas, trailing empty lines, extra
columns, ...) must succeed with the hand-computed customer table.

``python tests/test_errors.py`` prints the table of cases and messages kept in tests/README.md.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from conftest import EXPECTED, ROWS, UCI_COLUMNS
from segmint.cli import app

runner = CliRunner()
BIN = Path(sys.executable).parent

Build = Callable[[Path], Sequence[str]]


# ---------------------------------------------------------------- building inputs
def _frame() -> pd.DataFrame:
    """The hand-written log of conftest (3 customers) as text cells, ready to spoil."""
    return pd.DataFrame(ROWS, columns=UCI_COLUMNS).astype(object)


def _csv_text(frame: pd.DataFrame | None = None, **options: object) -> str:
    return (_frame() if frame is None else frame).to_csv(index=False, **options)  # type: ignore[call-overload]


def _lines() -> list[str]:
    return _csv_text().splitlines()


def _write(name: str, data: bytes | str | Callable[[], bytes | str]) -> Build:
    """A builder writing ``data`` (or what a callable returns) to ``name``; input is that file."""

    def build(folder: Path) -> list[str]:
        content = data() if callable(data) else data
        path = folder / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return [str(path)]

    return build


def _edited(row: int | list[int], column: str, value: object) -> Callable[[], str]:
    def make() -> str:
        frame = _frame()
        frame.loc[row, column] = value
        return _csv_text(frame)

    return make


def _parquet_with(extra: tuple[str, list[object]]) -> bytes:
    """The log as Parquet with one more column (a name used twice, or a struct type)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(_frame().astype(str), preserve_index=False)
    table = table.append_column(extra[0], pa.array(extra[1]))
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _with_line(index: int, line: str) -> Callable[[], str]:
    def make() -> str:
        lines = _lines()
        lines.insert(index, line)
        return "\n".join(lines) + "\n"

    return make


def _replace_line(index: int, edit: Callable[[str], str]) -> Callable[[], str]:
    def make() -> str:
        lines = _lines()
        lines[index] = edit(lines[index])
        return "\n".join(lines) + "\n"

    return make


def _excel_bytes(frame: pd.DataFrame | None = None) -> bytes:
    buffer = io.BytesIO()
    (_frame() if frame is None else frame).to_excel(buffer, index=False, engine="openpyxl")
    return buffer.getvalue()


def _blank_workbook() -> bytes:
    import openpyxl

    buffer = io.BytesIO()
    openpyxl.Workbook().save(buffer)
    return buffer.getvalue()


def _parquet_bytes() -> bytes:
    buffer = io.BytesIO()
    _frame().to_parquet(buffer, index=False)
    return buffer.getvalue()


def _json() -> str:
    return json.dumps([dict(zip(UCI_COLUMNS, map(str, row), strict=True)) for row in ROWS])


def _ndjson() -> str:
    return "\n".join(json.dumps(dict(zip(UCI_COLUMNS, map(str, r), strict=True))) for r in ROWS)


def _mixed_early() -> bytes:
    """UTF-8 text (CRÈME) with one Latin-1 line, within the first MiB."""
    extra = "99999,P1,CAFÉ,1,2010-12-01 08:26:00,1.0,12999.0,France\n".encode("latin-1")
    return _csv_text().encode() + extra


def _mixed_late() -> bytes:
    """UTF-8 text and, after the first MiB that is sniffed, a Latin-1 line."""
    body = "".join(
        f"5{i:05d},P1,CRÈME,1,2010-12-01 08:26:00,1.0,12345.0,UK\n" for i in range(30_000)
    ).encode()
    late = "599999,P1,CAFÉ,1,2010-12-01 08:26:00,1.0,12999.0,France\n".encode("latin-1")
    return _csv_text().encode() + body + late


def _ascii_then_latin1() -> bytes:
    """The Kaggle copy of Online Retail in small: Latin-1, its first non-ASCII byte after 1 MiB."""
    body = "".join(f"5{i:05d},P1,MUG,1,2010-12-01 08:26:00,1.0,12345.0,UK\n" for i in range(30_000))
    late = "599999,P1,CAFÉ,1,2010-12-01 08:26:00,1.0,12999.0,France\n"
    return (_csv_text() + body + late).encode("latin-1")


def _big_unterminated() -> str:
    return _csv_text() + '536999,P1,"' + "x" * (10 * 2**20) + "\n"


def _big_field() -> str:
    frame = _frame()
    frame.loc[0, "Description"] = "x" * (10 * 2**20)
    return _csv_text(frame)


def _single_customer() -> str:
    frame = _frame()
    frame["CustomerID"] = "12345.0"
    return _csv_text(frame)


def _two_files(second_name: str, second: Callable[[], bytes | str]) -> Build:
    def build(folder: Path) -> list[str]:
        first = folder / "orders.csv"
        first.write_text(_csv_text())
        other = folder / second_name
        content = second()
        other.write_bytes(content.encode() if isinstance(content, str) else content)
        return [str(first), str(other)]

    return build


def _path_only(name: str) -> Build:
    return lambda folder: [str(folder / name)]


def _folder(folder: Path) -> list[str]:
    (folder / "orders.csv").write_text(_csv_text())
    return [str(folder)]


def _glob(folder: Path) -> list[str]:
    (folder / "orders.csv").write_text(_csv_text())
    return [str(folder / "day-*.csv")]


# ---------------------------------------------------------------- the corpus
@dataclass(frozen=True)
class Case:
    """One bad input or option, and what the error must say."""

    id: str
    what: str
    build: Build
    expect: tuple[str, ...]
    options: tuple[str, ...] = ()
    commands: tuple[str, ...] = ("features", "run")
    #: Where the output goes, relative to the test folder ("" for the default: out/...).
    output: str = ""


CSV = "orders.csv"
GOOD = _write(CSV, _csv_text)
MONETARY = ("--features", "monetary")

# fmt: off
CASES: list[Case] = [
    # -- empty and truncated
    Case("empty", "empty file", _write(CSV, b""), ("orders.csv is empty",)),
    Case("header-only", "header only", _write(CSV, lambda: _lines()[0] + "\n"),
         ("orders.csv has a header but no rows",)),
    Case("blank-lines", "only empty lines", _write(CSV, "\n\n\n"),
         ("orders.csv: the first line has no comma, semicolon, tab or bar",)),
    # -- columns
    Case("no-customer-column", "required column missing (customer id)",
         _write(CSV, lambda: _csv_text(_frame().drop(columns=["CustomerID"]))),
         ("orders.csv has no customer id column; columns are ['InvoiceNo', 'StockCode'",
          "map one with --column customer_id=NAME")),
    Case("no-invoice-column", "required column missing (invoice)",
         _write(CSV, lambda: _csv_text(_frame().drop(columns=["InvoiceNo"]))),
         ("orders.csv has no invoice column; columns are [", "--column invoice=NAME")),
    Case("no-date-column", "date feature asked, no date column",
         _write(CSV, lambda: _csv_text(_frame().drop(columns=["InvoiceDate"]))),
         ("orders.csv has no invoice date column", "--column invoice_date=NAME"),
         options=("--features", "recency_days")),
    Case("duplicate-column", "two columns with the same name",
         _write(CSV, lambda: _csv_text().replace("Description", "StockCode", 1)),
         ("orders.csv has two columns named 'StockCode'; rename one",)),
    Case("two-customer-columns", "two columns that both read as customer id",
         _write(CSV, lambda: _csv_text().replace("Country", "Customer ID", 1)),
         ("orders.csv: columns ['CustomerID', 'Customer ID'] both read as customer_id",)),
    Case("unnamed-column", "a header cell without a name",
         _write(CSV, lambda: _csv_text().replace("Description", "", 1)),
         ("orders.csv: column 3 of the header has no name",)),
    Case("mapping-names-no-column", "--column names a column the file lacks", GOOD,
         ("orders.csv: --column customer_id=Client names no column; columns are [",),
         options=("--column", "customer_id=Client")),
    # -- values
    Case("text-quantity", "non-numeric quantity", _write(CSV, _edited(5, "Quantity", "three")),
         ("orders.csv: 1 value(s) in column 'Quantity' are not finite numbers",
          "(first: 'three', line 7)"), options=MONETARY),
    Case("text-price", "non-numeric price", _write(CSV, _edited(7, "UnitPrice", "abc")),
         ("column 'UnitPrice' are not finite numbers (first: 'abc', line 9)",), options=MONETARY),
    Case("inf-price", "inf price", _write(CSV, _edited(3, "UnitPrice", "inf")),
         ("orders.csv: 1 value(s) in column 'UnitPrice' are not finite numbers",
          "(first: 'inf', line 5)"), options=MONETARY),
    Case("nan-price", "NaN price", _write(CSV, _edited(3, "UnitPrice", "NaN")),
         ("column 'UnitPrice' are not finite numbers (first: 'NaN', line 5)",), options=MONETARY),
    Case("decimal-comma", "prices with a decimal comma",
         _write(CSV, lambda: _csv_text(
             _frame().assign(UnitPrice=[str(p).replace(".", ",") for p in _frame().UnitPrice]),
             sep=";")),
         ("orders.csv: 14 value(s) in column 'UnitPrice' are not finite numbers",
          "(first: '2,55', line 2); write numbers with a decimal point"), options=MONETARY),
    Case("bad-date", "a date that does not parse, with a date feature",
         _write(CSV, _edited(2, "InvoiceDate", "yesterday")),
         ("orders.csv: 1 value(s) in column 'InvoiceDate' are not dates",
          "(first: 'yesterday', line 4)", "use a form like 2010-12-01 08:26:00"),
         options=("--features", "recency_days")),
    Case("huge-quantity", "a quantity of 1e15 (was a spend of 0, exit 0)",
         _write(CSV, _edited(3, "Quantity", "1e15")),
         ("orders.csv: 1 value(s) in column 'Quantity' cannot be counted exactly",
          "(first: '1e15', line 5)", "up to 12 digits before the point and 6 after"),
         options=MONETARY),
    Case("huger-quantity", "a quantity of 1e20",
         _write(CSV, _edited(0, "Quantity", "100000000000000000000")),
         ("cannot be counted exactly (first: '100000000000000000000', line 2)",),
         options=MONETARY),
    Case("too-precise-price", "a price with 9 decimals (was rounded to 4 in silence)",
         _write(CSV, _edited(6, "UnitPrice", "0.123456789")),
         ("column 'UnitPrice' cannot be counted exactly (first: '0.123456789', line 8)",
          "prices with up to 11 digits before the point and 8 after"), options=MONETARY),
    Case("too-precise-quantity", "a quantity with 7 decimals",
         _write(CSV, _edited(6, "Quantity", "0.0000004")),
         ("column 'Quantity' cannot be counted exactly (first: '0.0000004', line 8)",),
         options=MONETARY),
    Case("customer-without-dates", "a customer none of whose lines has a date (was recency 0)",
         _write(CSV, _edited([4, 5], "InvoiceDate", "")),
         ("orders.csv: 1 customer(s) have no date on any line (first: '12346')",
          "fill in column 'InvoiceDate', or leave out recency_days"),
         options=("--features", "recency_days")),
    Case("parquet-two-customer-columns", "two CustomerID columns in one Parquet file",
         _write("orders.parquet", lambda: _parquet_with(("CustomerID", ["1"] * 14))),
         ("orders.parquet has two columns named 'CustomerID'; rename one",)),
    Case("parquet-struct-id", "a struct-typed customer id column in Parquet",
         _write("orders.parquet", lambda: _parquet_with(("Client", [{"id": 1}] * 14))),
         ("orders.parquet: column 'Client' (customer_id) holds STRUCT values",
          "export it as plain values"), options=("--column", "customer_id=Client")),
    Case("missing-columns-at-once", "three required columns missing: all named at once",
         _write(CSV, lambda: _csv_text(
             _frame().drop(columns=["CustomerID", "InvoiceNo", "StockCode"]))),
         ("orders.csv has no invoice, stock code or customer id column; columns are [",
          "map them with --column invoice=NAME --column stock_code=NAME "
          "--column customer_id=NAME")),
    Case("wide-header", "a 1 MiB header line of 110,000 names (took minutes)",
         _write(CSV, lambda: ",".join(f"c{i}" for i in range(110_000)) + "\n1,2\n"),
         ("orders.csv has 110,000 columns, more than a transaction log",)),
    Case("wide-header-repeated", "a 900 KB header of one name repeated",
         _write(CSV, lambda: ",".join("ab" for _ in range(300_000)) + "\n1,2\n"),
         ("orders.csv has 300,000 columns",)),
    Case("header-duplicates", "16,000 names, all alike (the duplicate check was quadratic)",
         _write(CSV, lambda: ",".join("ab" for _ in range(16_000)) + "\n1,2\n"),
         ("orders.csv has two columns named 'ab'; rename one",)),
    Case("no-customer-ids", "every customer id missing",
         _write(CSV, lambda: _csv_text(_frame().assign(CustomerID=None))),
         ("orders.csv: every row lacks a customer id (column 'CustomerID')",
          "--column customer_id=NAME")),
    Case("blank-customer-ids", "every customer id blank (spaces)",
         _write(CSV, lambda: _csv_text(_frame().assign(CustomerID="   "))),
         ("orders.csv: every row lacks a customer id",)),
    # -- structure
    Case("ragged-long", "a row with an extra field",
         _write(CSV, _replace_line(4, lambda line: line + ",extra")),
         ("orders.csv has rows with a different number of fields at line 5",
          "check the delimiter")),
    Case("ragged-short", "a row with fields missing",
         _write(CSV, _replace_line(4, lambda line: ",".join(line.split(",")[:4]))),
         ("orders.csv has rows with a different number of fields at line 5",)),
    Case("unterminated-quote", "a quoted field never closed",
         _write(CSV, _with_line(5, '536999,P1,"never closed,1,2010-12-01 08:26:00,1.0,1,UK')),
         ("orders.csv has a quoted field that is never closed at line 6",)),
    Case("huge-field", "a 10 MB field (an unterminated quote swallowing the rest)",
         _write(CSV, _big_unterminated), ("orders.csv has a quoted field that is never closed",)),
    # -- not CSV at all
    Case("random-bytes", "random bytes", _write(CSV, random.Random(7).randbytes(5000)),
         ("orders.csv is binary, not a CSV file",)),
    Case("random-bytes-no-nul", "random bytes without NUL",
         _write(CSV, bytes(random.Random(7).randrange(1, 256) for _ in range(5000))),
         ("orders.csv: the first line has no comma, semicolon, tab or bar",)),
    Case("json", "JSON behind a .csv name", _write(CSV, _json),
         ("orders.csv holds JSON, not CSV",)),
    Case("ndjson", "JSON lines behind a .csv name", _write(CSV, _ndjson),
         ("orders.csv holds JSON, not CSV",)),
    Case("html", "an HTML page behind a .csv name",
         _write(CSV, "<!DOCTYPE html><html><body>Session expired</body></html>\n"),
         ("orders.csv holds XML/HTML, not CSV",)),
    Case("parquet-as-csv", "Parquet behind a .csv name", _write(CSV, _parquet_bytes),
         ("orders.csv is a Parquet file, not CSV text; name it .parquet",)),
    Case("xlsx-as-csv", "an xlsx workbook behind a .csv name", _write(CSV, _excel_bytes),
         ("orders.csv is a zip archive (an .xlsx workbook?), not CSV text",)),
    Case("gzip-as-csv", "gzip-compressed CSV behind a .csv name",
         _write(CSV, lambda: gzip.compress(_csv_text().encode())),
         ("orders.csv is gzip-compressed, not CSV text; name it .csv.gz",)),
    Case("not-gzip", "plain text behind a .csv.gz name", _write("orders.csv.gz", _csv_text),
         ("orders.csv.gz is not a readable gzip file",)),
    Case("utf16", "UTF-16 text", _write(CSV, lambda: _csv_text().encode("utf-16")),
         ("orders.csv is UTF-16 text, not CSV text; re-save it as UTF-8",)),
    Case("mixed-encodings", "UTF-8 and Latin-1 bytes in one file", _write(CSV, _mixed_early),
         ("orders.csv mixes text encodings (UTF-8 and Latin-1 bytes)", "--encoding")),
    Case("mixed-encodings-late", "Latin-1 bytes after the first MiB of UTF-8",
         _write(CSV, _mixed_late),
         ("orders.csv mixes text encodings (UTF-8 and Latin-1 bytes)", "--encoding")),
    Case("glob-mixed-encodings", "a UTF-8 file and a Latin-1 file read together",
         _two_files("more.csv", lambda: _csv_text().encode("latin-1")),
         ("input files mix text encodings: orders.csv is UTF-8 and more.csv is Latin-1",
          "re-save them in one encoding")),
    Case("glob-mixed-encodings-late", "a Latin-1 file whose first MiB is ASCII, beside UTF-8",
         _two_files("more.csv", lambda: _ascii_then_latin1()),
         ("input files mix text encodings: orders.csv is UTF-8 and more.csv is Latin-1",)),
    # -- Excel and Parquet
    Case("truncated-xlsx", "a truncated .xlsx",
         _write("orders.xlsx", lambda: _excel_bytes()[:2000]),
         ("orders.xlsx is not a readable Excel workbook", "open and re-save it, or export CSV")),
    Case("empty-xlsx", "a workbook without rows", _write("orders.xlsx", _blank_workbook),
         ("orders.xlsx has no rows in any sheet",)),
    Case("header-only-xlsx", "a workbook with a header only",
         _write("orders.xlsx", lambda: _excel_bytes(_frame().iloc[:0])),
         ("orders.xlsx has a header but no rows",)),
    Case("truncated-parquet", "a truncated Parquet file",
         _write("orders.parquet", lambda: _parquet_bytes()[:300]),
         ("orders.parquet is not a valid Parquet file",)),
    Case("csv-as-parquet", "CSV text behind a .parquet name", _write("orders.parquet", _csv_text),
         ("orders.parquet is not a Parquet file (no PAR1 magic bytes)",)),
    # -- paths
    Case("missing-input", "input path does not exist", _path_only(CSV),
         ("orders.csv does not exist; check the path",)),
    Case("folder-input", "input path is a folder", _folder,
         ("is a folder; pass the files in it, for example",)),
    Case("glob-no-match", "a glob that matches nothing", _glob,
         ("day-*.csv matches no file; check the pattern",)),
    Case("unknown-extension", "an unknown extension", _write("orders.json", _json),
         ("orders.json: unknown file type; segmint reads .csv",)),
    Case("mixed-formats", "a CSV and a Parquet file together",
         _two_files("more.parquet", _parquet_bytes), ("inputs mix formats (csv, parquet)",)),
    Case("different-headers", "two CSV files with different columns",
         _two_files("more.csv", lambda: _csv_text(_frame().drop(columns=["Country"]))),
         ("more.csv has the header", "but orders.csv has", "pass files with the same columns")),
    # -- options
    Case("bad-encoding-option", "--encoding utf-16", GOOD,
         ("--encoding utf-16: use utf-8 or latin-1",), options=("--encoding", "utf-16")),
    Case("temp-dir-not-a-folder", "--temp-dir below a file", GOOD,
         ("cannot write sort files to /dev/null/segmint: Not a directory",
          "choose a writable folder", "--temp-dir"),
         options=("--temp-dir", "/dev/null/segmint")),
    Case("unknown-feature", "--features bogus", GOOD,
         ("unknown feature 'bogus'; choose from n_products",), options=("--features", "bogus")),
    Case("k-zero", "--k 0", GOOD, ("--k 0: use a k of at least 1",), options=("--k", "0"),
         commands=("run",)),
    Case("k-range-reversed", "--k-range 5..2", GOOD,
         ("--k-range 5..2: use 1 <= LOW <= HIGH, e.g. --k-range 1..10",),
         options=("--k-range", "5..2"), commands=("run",)),
    Case("k-range-zero", "--k-range 0..3", GOOD, ("--k-range 0..3: use 1 <= LOW <= HIGH",),
         options=("--k-range", "0..3"), commands=("run",)),
    Case("k-range-text", "--k-range abc", GOOD,
         ("--k-range abc: write it as LOW..HIGH, e.g. 1..10",), options=("--k-range", "abc"),
         commands=("run",)),
    Case("k-outside-range", "--k 50 with the default --k-range", GOOD,
         ("--k 50 is outside --k-range 1..10; widen it, e.g. --k-range 1..50",),
         options=("--k", "50"), commands=("run",)),
    Case("bad-scale", "--scale foo", GOOD, ("--scale foo: use one of log-standard",),
         options=("--scale", "foo"), commands=("run",)),
    Case("bad-criterion", "--gmm-criterion foo", GOOD,
         ("--gmm-criterion foo: use one of bic, aic",), options=("--gmm-criterion", "foo"),
         commands=("run",)),
    # -- too few customers
    Case("single-customer", "a single customer", _write(CSV, _single_customer),
         ("orders.csv has 1 customer after cleaning; segments need at least 2",),
         options=("--k-range", "1..1"), commands=("run",)),
    Case("fewer-customers-than-range", "fewer customers (3) than the largest k searched", GOOD,
         ("orders.csv has 3 customers after cleaning, fewer than the largest k searched "
          "(--k-range 1..10); pass --k-range 1..3",), commands=("run",)),
    Case("fewer-customers-than-k", "fewer customers (3) than --k 50", GOOD,
         ("orders.csv has 3 customers after cleaning, fewer than --k 50; choose --k 3 or less",),
         options=("--k", "50", "--k-range", "1..60"), commands=("run",)),
    # -- outputs
    Case("outdir-exists", "OUTDIR exists, no --force", GOOD,
         ("already exists; pass --force to replace it",), commands=("run",), output="previous"),
    Case("outdir-is-file", "OUTDIR is a file", GOOD, ("is a file, not a folder",),
         commands=("run",), output="a-file"),
    Case("outdir-under-file", "OUTDIR inside a file (-o file/out)", GOOD,
         ("a-file is a file, not a folder; choose another -o/--outdir",), commands=("run",),
         output="a-file/out"),
    Case("outdir-parent-missing", "OUTDIR's parent does not exist", GOOD,
         ("does not exist; create it or choose another -o/--outdir",), commands=("run",),
         output="missing/out"),
    Case("output-under-file", "output file inside a file", GOOD,
         ("a-file is a file, not a folder; choose another output",), commands=("features",),
         output="a-file/customers.csv"),
    Case("output-is-folder", "output file is a folder", GOOD,
         ("is a folder; give a file name such as",), commands=("features",), output="previous"),
    Case("output-extension", "output file with an unknown extension", GOOD,
         ("customers.json: the output must end in .csv or .parquet",), commands=("features",),
         output="customers.json"),
]
if Path("/proc/self").is_dir():  # a folder no one may create files in, even root
    CASES += [
        Case("outdir-in-proc", "OUTDIR where nothing can be created (/proc)", GOOD,
             ("cannot write in /proc", "choose another -o/--outdir"), commands=("run",),
             output="/proc/segmint-out"),
        Case("output-in-proc", "output file where nothing can be created (/proc)", GOOD,
             ("cannot write in /proc", "choose another output"), commands=("features",),
             output="/proc/customers.csv"),
    ]
# fmt: on


# ---------------------------------------------------------------- running a case
def _snapshot(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder``: sha256 of files, "dir" for folders."""
    out: dict[str, str] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        out[key] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _prepare(case: Case, folder: Path) -> tuple[list[str], dict[str, str]]:
    """Build the input in ``folder/in`` and the output side; return inputs and a snapshot."""
    (folder / "in").mkdir()
    (folder / "out").mkdir()
    (folder / "a-file").write_text("not a folder\n")
    previous = folder / "previous"
    previous.mkdir()
    (previous / "segments.csv").write_text("an earlier run\n")
    inputs = list(case.build(folder / "in"))
    return inputs, _snapshot(folder)


def _target(case: Case, folder: Path, command: str) -> str:
    if case.output:
        return case.output if case.output.startswith("/") else str(folder / case.output)
    return str(folder / "out" / ("customers.csv" if command == "features" else "result"))


def _args(case: Case, folder: Path, command: str, inputs: Sequence[str]) -> list[str]:
    options = list(case.options)
    if command == "run":
        options += ["--bootstrap", "0", "--no-report"]
    return [command, *inputs, "-o", _target(case, folder, command), *options]


def _check_error(case: Case, stderr: str, output: str, exit_code: int) -> str:
    assert exit_code == 2, (case.id, exit_code, output)
    assert "Traceback" not in output, (case.id, output)
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, (case.id, lines)  # progress lines, then the error
    message = lines[-1]
    assert message.startswith("error: "), (case.id, lines)
    assert sum(line.startswith("error: ") for line in lines) == 1, (case.id, lines)
    for part in case.expect:
        assert part in message, (case.id, part, message)
    return message


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_nothing_touched(tmp_path: Path, case: Case) -> None:
    inputs, before = _prepare(case, tmp_path)
    for command in case.commands:
        result = runner.invoke(app, _args(case, tmp_path, command, inputs))
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            case.id,
            command,
            result.exception,
        )
        _check_error(case, result.stderr, result.output, result.exit_code)
        assert _snapshot(tmp_path) == before, (case.id, command)  # input intact, nothing new


# A handful through a real process: what a terminal shows, with no traceback; half of them
# through ``python -m segmint.cli``, half through the installed ``segmint`` script.
SUBPROCESS_CASES = [
    "empty",
    "random-bytes",
    "no-customer-column",
    "text-price",
    "single-customer",
    "outdir-under-file",
]


@pytest.mark.parametrize("case_id", SUBPROCESS_CASES)
def test_bad_input_in_a_real_process(tmp_path: Path, case_id: str) -> None:
    case = next(c for c in CASES if c.id == case_id)
    inputs, before = _prepare(case, tmp_path)
    command = case.commands[-1]
    launcher = (
        [sys.executable, "-m", "segmint.cli"]
        if SUBPROCESS_CASES.index(case_id) % 2 == 0
        else [str(BIN / "segmint")]
    )
    done = subprocess.run(
        [*launcher, *_args(case, tmp_path, command, inputs), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path / "out",
    )
    assert done.stdout == "", (case_id, done.stdout)
    message = _check_error(case, done.stderr, done.stdout + done.stderr, done.returncode)
    assert done.stderr == message + "\n", (case_id, done.stderr)  # exactly one line
    assert _snapshot(tmp_path) == before, case_id


# ---------------------------------------------------------------- permissions
def _root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


@pytest.mark.skipif(_root(), reason="root reads a chmod 000 file anyway (see the simulated test)")
def test_unreadable_input(tmp_path: Path) -> None:
    src = tmp_path / CSV
    src.write_text(_csv_text())
    src.chmod(0)
    try:
        result = runner.invoke(app, ["features", str(src), "-o", str(tmp_path / "c.csv")])
    finally:
        src.chmod(0o644)
    _check_error(
        Case("unreadable", "", GOOD, ("orders.csv is not readable; check its permissions",)),
        result.stderr,
        result.output,
        result.exit_code,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [CSV]


def test_unreadable_input_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As root nothing is unreadable; make ``os.access`` say so for the input."""
    import segmint.io.sources

    src = tmp_path / CSV
    src.write_text(_csv_text())
    real = os.access

    def access(path: object, mode: int, *args: object, **kwargs: object) -> bool:
        if Path(str(path)).name == CSV and mode == os.R_OK:
            return False
        return real(path, mode, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(segmint.io.sources.os, "access", access)
    result = runner.invoke(app, ["features", str(src), "-o", str(tmp_path / "c.csv")])
    _check_error(
        Case("unreadable", "", GOOD, ("orders.csv is not readable; check its permissions",)),
        result.stderr,
        result.output,
        result.exit_code,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [CSV]


@pytest.mark.skipif(_root(), reason="root writes into a read-only folder anyway (see /proc case)")
@pytest.mark.parametrize("command", ["features", "run"])
def test_read_only_output_folder(tmp_path: Path, command: str) -> None:
    src = tmp_path / CSV
    src.write_text(_csv_text())
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    target = locked / ("c.csv" if command == "features" else "out")
    try:
        result = runner.invoke(app, [command, str(src), "-o", str(target)])
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)
    _check_error(
        Case("read-only", "", GOOD, ("locked is not writable",)),
        result.stderr,
        result.output,
        result.exit_code,
    )


# ---------------------------------------------------------------- nothing lost
def test_force_replaces_and_a_failed_run_keeps_the_old_outdir(tmp_path: Path) -> None:
    src = tmp_path / CSV
    src.write_text(_csv_text())
    out = tmp_path / "result"
    out.mkdir()
    (out / "segments.csv").write_text("an earlier run\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(_csv_text(_frame().assign(CustomerID=None)))
    result = runner.invoke(app, ["run", str(bad), "-o", str(out), "--force", "-q"])
    assert result.exit_code == 2
    assert (out / "segments.csv").read_text() == "an earlier run\n"
    result = runner.invoke(
        app,
        [
            "run",
            str(src),
            "-o",
            str(out),
            "--force",
            "-q",
            "--k-range",
            "1..3",
            "--bootstrap",
            "0",
            "--no-report",
        ],
    )
    assert result.exit_code == 0, result.output
    assert (out / "segments.csv").read_text() != "an earlier run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", CSV, "result"]


def test_interrupted_swap_puts_the_old_outdir_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal between moving the old OUTDIR aside and moving the new one in loses nothing."""
    import segmint.pipeline

    out = tmp_path / "result"
    out.mkdir()
    (out / "segments.csv").write_text("an earlier run\n")
    real = os.replace
    calls: list[object] = []

    def replace(src: object, dst: object) -> None:
        calls.append(src)
        if len(calls) == 2:  # the new folder is about to move in
            raise KeyboardInterrupt
        real(src, dst)  # type: ignore[arg-type]

    monkeypatch.setattr(segmint.pipeline.os, "replace", replace)
    with pytest.raises(KeyboardInterrupt), segmint.pipeline.atomic_folder(out, force=True) as tmp:
        (tmp / "segments.csv").write_text("new\n")
    assert (out / "segments.csv").read_text() == "an earlier run\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result"]


# ---------------------------------------------------------------- outputs: one rule for all
@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model from a small synthetic log, for ``predict``."""
    from segmint.synth import write

    folder = tmp_path_factory.mktemp("model")
    log, _ = write(folder / "log.csv", 3_000, seed=1)
    out = folder / "out"
    args = ["run", str(log), "-o", str(out), "--k-range", "1..3", "--bootstrap", "0"]
    result = runner.invoke(app, [*args, "--no-report", "-q"])
    assert result.exit_code == 0, result.output
    return out / "model.skops"


def _spelling(folder: Path, how: str) -> tuple[Path, str]:
    """The input, and another name for it (the output): as it is, ./, symlink, hard link."""
    src = folder / CSV
    src.write_text(_csv_text())
    if how == "same":
        return src, str(src)
    if how == "dot":
        return src, f"{folder}/./{CSV}"
    if how == "dotdot":
        (folder / "sub").mkdir()
        return src, f"{folder}/sub/../{CSV}"
    if how == "symlink":
        (folder / "link.csv").symlink_to(src)
        return src, str(folder / "link.csv")
    if how == "hardlink":
        os.link(src, folder / "again.csv")
        return src, str(folder / "again.csv")
    if how == "case":  # only where the file system ignores case
        return src, str(folder / CSV.upper())
    raise AssertionError(how)


def _case_insensitive(folder: Path) -> bool:
    probe = folder / "probe-case"
    probe.write_text("")
    try:
        return (folder / "PROBE-CASE").exists()
    finally:
        probe.unlink()


SPELLINGS = ["same", "dot", "dotdot", "symlink", "hardlink", "case"]


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize("how", SPELLINGS)
@pytest.mark.parametrize("command", ["features", "predict"])
def test_output_that_is_an_input_is_refused(
    tmp_path: Path, small_model: Path, command: str, how: str, force: bool
) -> None:
    """``features LOG -o LOG`` and ``predict LOG -o LOG`` used to replace the log (exit 0)."""
    if how == "case" and not _case_insensitive(tmp_path):
        pytest.skip("the file system tells letter case apart")
    src, output = _spelling(tmp_path, how)
    before = _snapshot(tmp_path)
    model = ["--model", str(small_model)] if command == "predict" else []
    args = [command, str(src), *model, "-o", output, *(["--force"] if force else [])]
    result = runner.invoke(app, args)
    _check_error(
        Case(how, "", GOOD, ("is the input", "choose another output")),
        result.stderr,
        result.output,
        result.exit_code,
    )
    assert _snapshot(tmp_path) == before


def test_predict_output_that_is_the_model_is_refused(tmp_path: Path, small_model: Path) -> None:
    src = tmp_path / CSV
    src.write_text(_csv_text())
    model = tmp_path / "model.skops"
    model.write_bytes(small_model.read_bytes())
    before = _snapshot(tmp_path)
    result = runner.invoke(
        app, ["predict", str(src), "--model", str(model), "-o", str(model), "--force"]
    )
    assert result.exit_code == 2 and "is the input" in result.stderr, result.output
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("glob_input", [False, True])
def test_run_into_a_folder_that_holds_the_input_is_refused(
    tmp_path: Path, glob_input: bool
) -> None:
    """``run -o DIR --force`` with the log inside DIR would have replaced the folder and the log."""
    folder = tmp_path / "work"
    folder.mkdir()
    src = folder / CSV
    src.write_text(_csv_text())
    before = _snapshot(tmp_path)
    given = str(folder / "*.csv") if glob_input else str(src)
    result = runner.invoke(app, ["run", given, "-o", str(folder), "--force", "--no-report"])
    _check_error(
        Case("holds", "", GOOD, ("holds the input", "choose another output")),
        result.stderr,
        result.output,
        result.exit_code,
    )
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["features", "predict"])
def test_an_existing_output_is_replaced_only_with_force(
    tmp_path: Path, small_model: Path, command: str
) -> None:
    """``run`` asked for --force and ``features``/``predict`` replaced silently: one rule now."""
    src = tmp_path / CSV
    src.write_text(_csv_text())
    out = tmp_path / "customers.csv"
    out.write_text("an earlier table\n")
    model = ["--model", str(small_model)] if command == "predict" else []
    result = runner.invoke(app, [command, str(src), *model, "-o", str(out), "-q"])
    message = _check_error(
        Case("exists", "", GOOD, ("already exists; pass --force to replace it",)),
        result.stderr,
        result.output,
        result.exit_code,
    )
    assert str(out) in message
    assert out.read_text() == "an earlier table\n"
    result = runner.invoke(app, [command, str(src), *model, "-o", str(out), "-q", "--force"])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("customer_id,")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([CSV, "customers.csv"])


_FULL_DISK = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
sys.argv = ["segmint", *sys.argv[1:]]
from segmint.cli import main
main()
"""


@pytest.mark.skipif(not hasattr(os, "fork"), reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize("command", ["features", "predict"])
def test_a_full_disk_leaves_nothing_behind(
    tmp_path: Path, small_model: Path, command: str, kind: str
) -> None:
    """A write that runs out of room (RLIMIT_FSIZE: a real EFBIG) used to leave a hidden file."""
    frame = pd.DataFrame(
        [
            (
                f"5{i:05d}",
                "P1",
                "MUG",
                1,
                "2010-12-01 08:26:00",
                1.5,
                hashlib.sha256(str(i).encode()).hexdigest() * 4,
                "UK",
            )
            for i in range(4000)
        ],
        columns=UCI_COLUMNS,
    )
    src = tmp_path / CSV
    src.write_text(frame.to_csv(index=False))
    limit = 200_000  # the input is read, not written; the output (1 MB) does not fit
    out = tmp_path / f"customers.{kind}"
    model = ["--model", str(small_model)] if command == "predict" else []
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _FULL_DISK.format(limit=limit),
            command,
            str(src),
            *model,
            "-o",
            str(out),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    # (predict warns first that this log is not the training one)
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert errors, done.stderr
    assert errors[0].startswith(f"error: cannot write {out}: File too large"), done.stderr
    assert "nothing was written" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [CSV]


@pytest.mark.skipif(not hasattr(os, "umask"), reason="POSIX modes")
def test_outputs_follow_the_umask(tmp_path: Path) -> None:
    """mkdtemp made every output folder 0700 (and mkstemp files 0600) whatever the umask."""
    src = tmp_path / CSV
    src.write_text(_csv_text())
    old = os.umask(0o022)
    try:
        result = runner.invoke(
            app,
            [
                "run",
                str(src),
                "-o",
                str(tmp_path / "out"),
                "--k-range",
                "1..2",
                "--bootstrap",
                "0",
                "--no-report",
                "-q",
            ],
        )
        assert result.exit_code == 0, result.output
        result = runner.invoke(app, ["features", str(src), "-o", str(tmp_path / "c.csv"), "-q"])
        assert result.exit_code == 0, result.output
        os.umask(0o077)
        result = runner.invoke(app, ["features", str(src), "-o", str(tmp_path / "p.csv"), "-q"])
        assert result.exit_code == 0, result.output
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "out" / "segments.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "c.csv").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "p.csv").stat().st_mode & 0o777 == 0o600


# ---------------------------------------------------------------- awkward but valid
def _awkward() -> dict[str, Callable[[], bytes | str]]:
    text = _csv_text()
    lines = _lines()
    frame = _frame()
    return {
        "bom-crlf": lambda: text.replace("\n", "\r\n").encode("utf-8-sig"),
        "semicolons": lambda: _csv_text(sep=";"),
        "tabs": lambda: _csv_text(sep="\t"),
        "bars": lambda: _csv_text(sep="|"),
        "quoted-everything": lambda: _csv_text(quoting=1),
        "quoted-commas-and-quotes": lambda: _csv_text(
            frame.assign(Description=[f'{d}, "quoted"' for d in frame.Description])
        ),
        "trailing-empty-lines": lambda: text + "\n\n\n",
        "trailing-crlf-empty-lines": lambda: text.replace("\n", "\r\n") + "\r\n\r\n",
        "no-final-newline": lambda: text.rstrip("\n"),
        "cr-only-line-ends": lambda: text.replace("\n", "\r"),
        "extra-unknown-columns": lambda: _csv_text(
            frame.assign(Notes="free text, with commas", Margin=0.3)
        ),
        "columns-reordered": lambda: _csv_text(frame[list(reversed(UCI_COLUMNS))]),
        "header-case-and-spaces": lambda: text.replace("CustomerID", " customer id ", 1).replace(
            "InvoiceNo", "INVOICENO", 1
        ),
        "latin-1": lambda: text.encode("latin-1"),
        "ten-mb-description": _big_field,
        "gzip-csv": lambda: gzip.compress(text.encode()),
        "blank-lines-between-rows": lambda: (
            "\n".join([*lines[:5], "", *lines[5:10], "", *lines[10:]]) + "\n"
        ),
    }


AWKWARD = _awkward()


@pytest.mark.parametrize("name", list(AWKWARD))
def test_awkward_but_valid_input_succeeds(tmp_path: Path, name: str) -> None:
    src = tmp_path / ("orders.csv.gz" if name == "gzip-csv" else CSV)
    content = AWKWARD[name]()
    src.write_bytes(content.encode() if isinstance(content, str) else content)
    before = hashlib.sha256(src.read_bytes()).hexdigest()
    out = tmp_path / "customers.csv"
    result = runner.invoke(app, ["features", str(src), "-o", str(out), "--features", "all", "-q"])
    assert result.exit_code == 0, (name, result.stderr)
    table = pd.read_csv(out, dtype={"customer_id": str})
    pd.testing.assert_frame_equal(table, EXPECTED, check_dtype=False, atol=1e-9, obj=name)
    assert hashlib.sha256(src.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([src.name, out.name])


# ---------------------------------------------------------------- the list in tests/README.md
def _messages() -> list[tuple[Case, str, str]]:  # pragma: no cover - run by hand
    import tempfile

    rows = []
    for case in CASES:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            inputs, _ = _prepare(case, folder)
            command = case.commands[0]
            result = runner.invoke(app, [*_args(case, folder, command, inputs), "-q"])
            message = result.stderr.strip().splitlines()[-1]
            rows.append((case, command, message.replace(str(folder), "…")))
    return rows


if __name__ == "__main__":  # pragma: no cover
    print("| case | what | command | message (stderr, exit code 2) |")
    print("| --- | --- | --- | --- |")
    for case, command, message in _messages():
        options = " ".join(case.options)
        shown = f"`{command}{' ' + options if options else ''}`"
        print(f"| {case.id} | {case.what} | {shown} | `{message}` |".replace("\\", "\\\\"))


# ---------------------------------------------------------------- spreadsheet formulas
FORMULAS = {
    '=HYPERLINK("http://evil.example/","click")': '"\'=HYPERLINK(""http://evil.example/"",""click"")"',
    "+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0",
    "@SUM(1+1)": "'@SUM(1+1)",
    "-2+3+cmd|' /C calc'!A0": "'-2+3+cmd|' /C calc'!A0",
    "-5": "-5",  # a plain number: no formula, left as it is
}


def test_formula_ids_are_neutralised_in_every_csv(tmp_path: Path, small_model: Path) -> None:
    """Ids like ``=HYPERLINK(...)`` were written as they are and opened as live formulas."""
    frame = _frame()
    ids = list(FORMULAS)
    frame["CustomerID"] = [ids[i % len(ids)] for i in range(len(frame))]
    frame["Quantity"] = -frame["Quantity"].abs()  # negative numbers stay numbers
    src = tmp_path / CSV
    src.write_text(_csv_text(frame))
    out = tmp_path / "customers.csv"
    args = ["features", str(src), "-o", str(out), "-q", "--features", "all"]
    assert runner.invoke(app, args).exit_code == 0
    scored = tmp_path / "scored.csv"
    args = ["predict", str(src), "--model", str(small_model), "-o", str(scored), "-q"]
    assert runner.invoke(app, args).exit_code == 0
    outdir = tmp_path / "run"
    args = ["run", str(src), "-o", str(outdir), "--k-range", "1..2", "--bootstrap", "0"]
    assert runner.invoke(app, [*args, "--no-report", "-q"]).exit_code == 0
    for path in (out, scored, outdir / "segments.csv"):
        lines = path.read_text().splitlines()[1:]
        for written in FORMULAS.values():  # customer_id comes first
            assert any(line.startswith(written + ",") for line in lines), (path.name, written)
        assert not any(line.startswith(("=", "+", "@", '"=', '"+')) for line in lines), lines
    table = pd.read_csv(out)
    assert (table["monetary"] <= 0).all()  # negative spend written as numbers, not text


def test_neutralised_the_same_by_arrow_and_pandas(tmp_path: Path) -> None:
    """The fast Arrow writer and the pandas fallback neutralise alike, to the byte."""
    from segmint.io.tables import write_table

    ids = [*FORMULAS, "\tTAB", "plain", None, "=1,2"]
    fast = pd.DataFrame({"customer_id": ids, "n": range(len(ids))})
    slow = fast.assign(flag=True)  # a boolean column sends the table to pandas
    write_table(fast, tmp_path / "fast.csv")
    write_table(slow, tmp_path / "slow.csv")
    fast_lines = (tmp_path / "fast.csv").read_text().splitlines()
    slow_lines = (tmp_path / "slow.csv").read_text().splitlines()
    assert [line + ",True" for line in fast_lines[1:]] == slow_lines[1:]
    assert fast_lines[1:6] == [f"{FORMULAS[i]},{n}" for n, i in enumerate(FORMULAS)]
    assert fast_lines[6:] == ["'\tTAB,5", "plain,6", ",7", '"\'=1,2",8']


# ---------------------------------------------------------------- valid files, read right
def _features(src: Path, *options: str) -> pd.DataFrame:
    out = src.parent / "customers.csv"
    result = runner.invoke(app, ["features", str(src), "-o", str(out), "-q", *options])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, dtype={"customer_id": str}, keep_default_na=False)
    out.unlink()
    return table


def test_spend_is_exact(tmp_path: Path) -> None:
    """1000 x 0.123456 gave 123.5 and 0.0004 x 1000 gave 0 (DECIMAL(18,3) x DECIMAL(18,4))."""
    frame = _frame().iloc[:3].copy()
    frame["CustomerID"] = ["A", "B", "C"]
    frame["Quantity"] = ["1000", "0.0004", "999999999999.999999"]
    frame["UnitPrice"] = ["0.123456", "1000", "99999999999.99999999"]
    src = tmp_path / CSV
    src.write_text(_csv_text(frame))
    table = _features(src, "--features", "monetary")
    expected = [
        1000 * Decimal("0.123456"),
        Decimal("0.4"),
        Decimal("999999999999.999999") * Decimal("99999999999.99999999"),
    ]
    assert table["monetary"].tolist() == [float(f"{v:.10g}") for v in expected]


def test_missing_customer_ids_are_one_rule_in_every_format(tmp_path: Path) -> None:
    """NaN in Parquet was a customer "nan"; a tab-only id was a customer, space-only missing."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = _frame()
    spellings = ["\t", "\u00a0 ", "nan"]  # the three rows without an id, spelt otherwise
    frame.loc[11:13, "CustomerID"] = spellings
    frame.loc[0, "CustomerID"] = "\t12345.0 "  # whitespace of any kind trims
    src = tmp_path / CSV
    src.write_text(_csv_text(frame))
    expected = EXPECTED[["customer_id", "n_products", "n_canceled_orders"]]
    pd.testing.assert_frame_equal(_features(src), expected, check_dtype=False)
    table = pa.Table.from_pandas(_frame().astype({"Quantity": float}), preserve_index=False)
    ids = [float(str(v)) if v else float("nan") for v in _frame()["CustomerID"]]
    parquet = tmp_path / "orders.parquet"
    pq.write_table(table.set_column(6, "CustomerID", pa.array(ids)), parquet)  # NaN, not null
    pd.testing.assert_frame_equal(_features(parquet), expected, check_dtype=False)
    result = runner.invoke(app, ["features", str(parquet), "-o", str(tmp_path / "c.csv")])
    assert (
        "rows without customer id" in result.stdout
        and " 3" in result.stdout.split("rows without customer id")[1].splitlines()[0]
    )


def test_an_existing_file_is_a_path_before_a_pattern(tmp_path: Path) -> None:
    """``export [copy].csv`` was read as a glob pattern and "matched no file"."""
    src = tmp_path / "export [copy].csv"
    src.write_text(_csv_text())
    assert _features(src)["customer_id"].tolist() == ["12345", "12346", "12347"]


def test_a_lone_cr_inside_a_quoted_id_is_read(tmp_path: Path) -> None:
    """RFC 4180: a carriage return inside quotes is part of the value."""
    lines = _lines()
    lines[5] = lines[5].replace(",12346.0,", ',"123\r46",')
    src = tmp_path / CSV
    src.write_bytes(("\r\n".join(lines) + "\r\n").encode())
    out = tmp_path / "customers.csv"
    result = runner.invoke(app, ["features", str(src), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    ids = [line.split(",")[0] for line in out.read_bytes().decode().split("\n")[1:-1]]
    assert ids == ["123\r46", "12345", "12346", "12347"]


def test_latin1_past_the_first_mib_is_read_as_latin1(tmp_path: Path) -> None:
    """The Kaggle copy of Online Retail: Latin-1, first non-ASCII byte 3.2 MB in."""
    src = tmp_path / CSV
    src.write_bytes(_ascii_then_latin1())
    table = _features(src)
    assert table["customer_id"].tolist() == ["12345", "12346", "12347", "12999"]


# ---------------------------------------------------------------- workbooks that explode
def _xlsx_with(edit: Callable[[bytes], bytes], extra: dict[str, bytes] | None = None) -> bytes:
    """The log as .xlsx with its first sheet's XML edited (and entries added)."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(_excel_bytes()))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = edit(data)
            out.writestr(item, data, compress_type=zipfile.ZIP_DEFLATED)
        for name, data in (extra or {}).items():
            out.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def _stray_cell(xml: bytes) -> bytes:
    """One cell at XFD1048576: calamine asked for 512 GiB and the process died (SIGABRT)."""
    stray = b'<row r="1048576"><c r="XFD1048576" t="n"><v>1</v></c></row></sheetData>'
    return xml.replace(b"</sheetData>", stray)


@pytest.mark.parametrize("command", ["features", "run"])
def test_a_stray_cell_far_away_is_refused_before_reading(tmp_path: Path, command: str) -> None:
    src = tmp_path / "orders.xlsx"
    src.write_bytes(_xlsx_with(_stray_cell))
    assert src.stat().st_size < 20_000
    before = _snapshot(tmp_path)
    done = subprocess.run(  # a real process: an abort would be a signal, not exit 2
        [
            sys.executable,
            "-m",
            "segmint.cli",
            command,
            str(src),
            "-o",
            str(tmp_path / "o.csv"),
            "-q",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    message = _check_error(
        Case(
            "stray",
            "",
            GOOD,
            (
                "orders.xlsx: sheet sheet1.xml spans 17,179,869,184 cells",
                "delete the stray cells, or export the sheet as CSV",
            ),
        ),
        done.stderr,
        done.stdout + done.stderr,
        done.returncode,
    )
    assert done.stderr == message + "\n"
    assert _snapshot(tmp_path) == before


def test_a_workbook_that_expands_too_far_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 4 MB .xlsx holding 1 GiB of XML grew past 4 GB; here with the limit at 1 MiB."""
    import segmint.io._excel as excel

    monkeypatch.setattr(excel, "MAX_UNCOMPRESSED", 1 << 20)
    padding = b"<!-- " + b"x" * (2 << 20) + b" -->"
    src = tmp_path / "orders.xlsx"
    src.write_bytes(_xlsx_with(lambda xml: xml + padding))
    assert src.stat().st_size < 100_000
    result = runner.invoke(app, ["features", str(src), "-o", str(tmp_path / "o.csv")])
    _check_error(
        Case(
            "bomb",
            "",
            GOOD,
            (
                "orders.xlsx expands to 2 MiB, more than segmint reads from a "
                "workbook (1 MiB); export the sheet as CSV",
            ),
        ),
        result.stderr,
        result.output,
        result.exit_code,
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.xlsx"]


def test_an_ordinary_workbook_is_within_the_limits(tmp_path: Path) -> None:
    import segmint.io._excel as excel

    src = tmp_path / "orders.xlsx"
    src.write_bytes(_excel_bytes())
    with zipfile_open(src) as book:
        assert excel._sheet_cells(book, "xl/worksheets/sheet1.xml") == 15 * 8
    assert _features(src)["customer_id"].tolist() == ["12345", "12346", "12347"]


def zipfile_open(path: Path) -> Any:
    import zipfile

    return zipfile.ZipFile(path)
