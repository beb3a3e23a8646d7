"""Find and describe the input files: what the user passed, as a :class:`Source` an engine reads.

A *source* is one or more files of one format that together form a transaction log (for
example one CSV per day). CSV and Parquet are read by the engine itself; Excel workbooks are
read with calamine into Arrow (every sheet whose header equals the first sheet's).
"""

from __future__ import annotations

import csv
import glob
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from segmint.errors import SegmintError
from segmint.io._excel import read_workbooks

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

__all__ = [
    "CatalogTable",
    "EncodingError",
    "Inputs",
    "Source",
    "input_paths",
    "is_uri",
    "resolve_source",
    "with_file_encoding",
]

CSV_SUFFIXES = (".csv", ".tsv", ".txt", ".csv.gz", ".tsv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xlsb", ".xls", ".ods")
DELIMITERS = (",", ";", "\t", "|")
#: Most columns a CSV header may name (Excel's limit; the engine slows down long before).
MAX_COLUMNS = 16_384

#: A multi-byte UTF-8 sequence (lead byte and continuation bytes).
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]{1,3}")

#: Magic bytes of formats exported in place of CSV, and what to do about each.
_OTHER_FORMATS: tuple[tuple[bytes, str], ...] = (
    (b"PAR1", "a Parquet file"),
    (b"PK\x03\x04", "a zip archive (an .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel (.xls) workbook"),
    (b"\x1f\x8b", "gzip-compressed"),
    (b"\xff\xfe", "UTF-16 text"),
    (b"\xfe\xff", "UTF-16 text"),
)
_RENAME: dict[str, str] = {
    "a Parquet file": "name it .parquet",
    "a zip archive (an .xlsx workbook?)": "name it .xlsx if it is a workbook, or export CSV",
    "an old Excel (.xls) workbook": "name it .xls, or export CSV",
    "gzip-compressed": "name it .csv.gz, or decompress it",
    "UTF-16 text": "re-save it as UTF-8",
}

#: What a user may pass as input: paths, globs, or an in-memory table.
Inputs = Union[  # string forward references need typing.Union
    str, os.PathLike, Sequence[Union[str, os.PathLike]], "pd.DataFrame", "CatalogTable", "Source"  # noqa: UP007
]

_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(text: str) -> bool:
    """True for a URI with a scheme (``hdfs://``, ``s3a://``, ``file://``), not a local path."""
    return bool(_URI.match(text))


@dataclass(frozen=True)
class CatalogTable:
    """A table or view in the catalog of the engine's session (Spark: ``--table NAME``).

    Attributes
    ----------
    name : str
        The table as the session names it, e.g. ``"sales.transactions"``.
    """

    name: str


@dataclass
class Source:
    """Files of one format forming one transaction log.

    Attributes
    ----------
    paths : list of Path
        The files, sorted; empty for an in-memory table.
    format : {"csv", "parquet", "excel", "frame"}
    encoding : str
        CSV only: ``"utf-8"`` or ``"latin-1"``.
    delimiter : str or None
        CSV only: the sniffed delimiter.
    table : pyarrow.Table or None
        Excel and in-memory sources: the rows, as read.
    uris : list of str
        Remote inputs (``hdfs://``, ``s3a://``, ...) handed to the engine unchecked.
    table_name : str or None
        Format ``"table"``: a table of the engine's catalog.
    name : str or None
        How messages name the source when not by its files.
    """

    paths: list[Path]
    format: str
    encoding: str = "utf-8"
    delimiter: str | None = None
    header: list[str] | None = None
    table: pa.Table | None = None
    notes: list[str] = field(default_factory=list)
    uris: list[str] = field(default_factory=list)
    table_name: str | None = None
    name: str | None = None
    encoding_forced: bool = False

    @property
    def locations(self) -> list[str]:
        """Every file or URI to read, as text."""
        return [str(p) for p in self.paths] + list(self.uris)

    @property
    def label(self) -> str:
        """How messages name this source: the file name, or the first and a count."""
        if self.name:
            return self.name
        names = [p.name for p in self.paths] + [u.rstrip("/").rsplit("/", 1)[-1] for u in self.uris]
        if not names:
            return "the input table"
        if len(names) == 1:
            return names[0]
        return f"{names[0]} (and {len(names) - 1} more files)"

    def read_error(self, exc: BaseException) -> SegmintError:
        """Turn an engine's read error into one line naming the file and the fix."""
        text = str(exc)
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        lower = text.lower()
        if "invalid unicode" in lower or "not utf-8" in lower:
            return EncodingError(
                f"{self.label} mixes text encodings (bytes that are not {self.encoding}); "
                "re-save it as UTF-8, or pass --encoding latin-1"
            )
        if "overflow" in lower:
            return SegmintError(
                f"{self.label}: a customer's spend exceeds what segmint adds up exactly "
                "(10^24); check the quantities and prices"
            )
        if "no magic bytes" in lower:
            return SegmintError(
                f"{self.label} is not a valid Parquet file (no footer: cut short?); export it again"
            )
        if "parquet" in lower and "invalid" in lower:
            return SegmintError(f"{self.label} is not a valid Parquet file ({first})")
        if (
            ("expected" in lower and "columns" in lower)
            or "too many columns" in lower
            or "malformed records" in lower
        ):  # DuckDB, Spark (FAILFAST)
            line = _line_number(text)
            where = f" at line {line}" if line else ""
            return SegmintError(
                f"{self.label} has rows with a different number of fields{where}; "
                "fix those rows or check the delimiter"
            )
        if "unterminated quote" in lower:
            line = _line_number(text)
            where = f" at line {line}" if line else ""
            return SegmintError(
                f"{self.label} has a quoted field that is never closed{where}; "
                'close the quote ("") or fix that row'
            )
        if "maximum line size" in lower:
            return SegmintError(f"{self.label} has a line longer than 16 MB; is it a CSV file?")
        return SegmintError(f"cannot read {self.label}: {first}")


class EncodingError(SegmintError):
    """A CSV read failed on bytes that are not in the encoding sniffed from its first MiB."""


def _file_encoding(path: Path) -> str:
    """``"utf-8"``, ``"latin-1"`` or ``"mixed"``: the whole file, streamed (the error path)."""
    import codecs
    import gzip

    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8_ok, has_sequence, tail = True, False, b""
    with opener(path, "rb") as handle:
        while chunk := handle.read(8 << 20):
            if utf8_ok:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    utf8_ok = False
            if not has_sequence and max(chunk, default=0) >= 0x80:
                has_sequence = bool(_UTF8_SEQUENCE.search(tail + chunk))
            tail = chunk[-3:]
            if not utf8_ok and has_sequence:
                return "mixed"
    return "utf-8" if utf8_ok else "latin-1"


def with_file_encoding(source: Source) -> Source | None:
    """``source`` read as Latin-1 when its whole files say so (their first MiB said UTF-8).

    Called when a read failed with :class:`EncodingError`; returns None when the encoding was
    forced or is not the cause. Fails for a file that truly mixes UTF-8 and Latin-1 bytes, and
    for files of different encodings read together.
    """
    if source.format != "csv" or source.encoding_forced or source.encoding != "utf-8":
        return None
    found = {path: _file_encoding(path) for path in source.paths}
    for path, encoding in found.items():
        if encoding == "mixed":
            raise SegmintError(
                f"{path.name} mixes text encodings (UTF-8 and Latin-1 bytes); re-save it "
                "in one encoding, or force one with --encoding"
            )
    if "latin-1" not in found.values():
        return None
    _one_encoding(found)
    return replace(source, encoding="latin-1")


def _one_encoding(found: Mapping[Path, str]) -> None:
    """Fail when files read together are in different encodings, naming one of each."""
    utf8 = [p for p, e in found.items() if e == "utf-8" and _has_non_ascii(p)]
    latin = [p for p, e in found.items() if e == "latin-1"]
    if utf8 and latin:
        raise SegmintError(
            f"input files mix text encodings: {utf8[0].name} is UTF-8 and {latin[0].name} is "
            "Latin-1; re-save them in one encoding (UTF-8), or read them in separate runs"
        )


def _has_non_ascii(path: Path) -> bool:
    import gzip

    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        while chunk := handle.read(8 << 20):
            if not chunk.isascii():
                return True
    return False


def _line_number(text: str) -> int | None:
    match = re.search(r"[Ll]ine:? (\d+)", text)
    return int(match.group(1)) if match else None


def _format_of(path: Path) -> str:
    name = path.name.lower()
    if name.endswith(CSV_SUFFIXES):
        return "csv"
    if name.endswith(PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(EXCEL_SUFFIXES):
        return "excel"
    raise SegmintError(
        f"{path.name}: unknown file type; segmint reads .csv, .tsv, .txt, .parquet and .xlsx"
    )


def input_paths(inputs: Inputs) -> list[Path]:
    """The local files ``inputs`` name, as they exist now (nothing else, and never an error).

    What the output checks compare an output with (:func:`segmint.io.outputs.refuse_inputs`).
    """
    if isinstance(inputs, Source):
        return list(inputs.paths)
    if not isinstance(inputs, (str, os.PathLike, list, tuple)):
        return []
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    paths: list[Path] = []
    for item in items:
        text = str(item)
        if is_uri(text):
            continue
        if os.path.lexists(text):
            paths.append(Path(text))
        elif any(ch in text for ch in "*?["):
            paths.extend(Path(m) for m in sorted(glob.glob(text)))
    return paths


def _expand(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    paths: list[Path] = []
    for item in inputs:
        text = str(item)
        # an existing file is a path first, whatever its name (``export [copy].csv``)
        if not os.path.exists(text) and any(ch in text for ch in "*?["):
            matches = sorted(glob.glob(text))
            if not matches:
                raise SegmintError(f"{text} matches no file; check the pattern")
            paths.extend(Path(m) for m in matches)
            continue
        path = Path(text)
        if not path.exists():
            raise SegmintError(f"{text} does not exist; check the path")
        if path.is_dir():
            raise SegmintError(
                f"{text} is a folder; pass the files in it, for example {text.rstrip('/')}/*.csv"
            )
        paths.append(path)
    for path in paths:
        if not os.access(path, os.R_OK):
            raise SegmintError(f"{path} is not readable; check its permissions")
        if path.stat().st_size == 0:
            raise SegmintError(f"{path.name} is empty; export the transactions again")
    return paths


def _sniff_csv(path: Path, encoding: str | None) -> tuple[str, str, list[str]]:
    """Guess the encoding (UTF-8 unless the first MiB is not), the delimiter and the header."""
    import gzip

    opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
    try:
        with opener(path, "rb") as handle:
            head = handle.read(1 << 20)
    except (OSError, EOFError) as exc:  # not gzip, or cut short
        raise SegmintError(
            f"{path.name} is not a readable gzip file ({exc}); decompress it, or export it again"
        ) from None
    for magic, what in _OTHER_FORMATS:
        if head.startswith(magic):
            raise SegmintError(f"{path.name} is {what}, not CSV text; {_RENAME[what]}")
    if b"\x00" in head[:4096]:
        raise SegmintError(f"{path.name} is binary, not a CSV file; export it as CSV")
    if encoding is None:
        try:
            head.decode("utf-8")
            encoding = "utf-8"
        except UnicodeDecodeError as exc:
            # A cut multi-byte character at the end of the sample is still UTF-8.
            encoding = "utf-8" if exc.start >= len(head) - 3 else "latin-1"
            if encoding == "latin-1" and _UTF8_SEQUENCE.search(head):
                raise SegmintError(
                    f"{path.name} mixes text encodings (UTF-8 and Latin-1 bytes); re-save it "
                    "in one encoding, or force one with --encoding"
                ) from None
    text = head.decode("utf-8", errors="replace") if encoding == "utf-8" else head.decode("latin-1")
    text = text.lstrip("\ufeff")
    header = text.splitlines()[0] if text else ""
    stripped = header.lstrip()
    if stripped.startswith(("{", "[")):
        raise SegmintError(f"{path.name} holds JSON, not CSV; export the transactions as CSV")
    if stripped.lower().startswith(("<?xml", "<html", "<!doctype")):
        raise SegmintError(f"{path.name} holds XML/HTML, not CSV; export the transactions as CSV")
    counts = {d: header.count(d) for d in DELIMITERS}
    delimiter = max(DELIMITERS, key=lambda d: counts[d])
    if counts[delimiter] == 0:
        raise SegmintError(
            f"{path.name}: the first line has no comma, semicolon, tab or bar; "
            "is it a CSV file with a header row?"
        )
    names = [n.strip() for n in next(csv.reader([header], delimiter=delimiter))]
    if len(names) > MAX_COLUMNS:
        raise SegmintError(
            f"{path.name} has {len(names):,} columns, more than a transaction log (or an Excel "
            f"sheet) holds ({MAX_COLUMNS:,}); export the transaction columns only"
        )
    if any(not n for n in names):
        raise SegmintError(
            f"{path.name}: column {names.index('') + 1} of the header has no name; name it"
        )
    _check_names(path.name, names)  # by counting: a 1 MiB header took minutes by pairs
    return encoding, delimiter, names


def _parquet_names(path: Path) -> list[str]:
    """The top-level column names of a Parquet file, from its footer (none if unreadable)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except (pa.ArrowException, OSError):
        return []  # the engine's read says what is wrong


def _check_names(label: str, names: Sequence[str]) -> None:
    """Fail on a header with two columns of one name (one rule for every format)."""
    from collections import Counter

    dupes = sorted(n for n, count in Counter(names).items() if count > 1)
    if dupes:
        raise SegmintError(f"{label} has two columns named {dupes[0]!r}; rename one")


def resolve_source(inputs: Inputs, encoding: str | None = None, *, remote: bool = False) -> Source:
    """Turn what the user passed into a :class:`Source`.

    Parameters
    ----------
    inputs : path, glob, sequence of them, pandas.DataFrame, CatalogTable or Source
        Files of one format (CSV, Parquet or Excel) forming one log; a Source is returned as is.
    encoding : {"utf-8", "latin-1"}, optional
        Force the CSV encoding; by default it is sniffed.
    remote : bool, default=False
        The engine reads URIs and catalog tables itself (Spark): URIs skip the local checks
        and sniffing, and a :class:`CatalogTable` is accepted.

    Raises
    ------
    SegmintError
        For missing, unreadable, empty or mixed-format inputs.
    """
    import pandas as pd

    if isinstance(inputs, Source):
        return inputs
    if isinstance(inputs, CatalogTable):
        if not remote:
            raise SegmintError(
                f"--table {inputs.name}: tables are read from a Spark session's catalog; "
                "add --engine spark"
            )
        return Source(paths=[], format="table", table_name=inputs.name, name=f"table {inputs.name}")
    if isinstance(inputs, pd.DataFrame):
        import pyarrow as pa

        frame = inputs.copy()
        frame.columns = [str(c) for c in frame.columns]
        table = pa.Table.from_pandas(frame, preserve_index=False)
        return Source(paths=[], format="frame", table=table)
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not items:
        raise SegmintError("no input given; pass one or more transaction files")
    uris = [str(item) for item in items if is_uri(str(item))]
    if uris and not remote:
        raise SegmintError(f"{uris[0]} is a URI; read it with --engine spark, or copy it locally")
    paths = _expand([item for item in items if not is_uri(str(item))])
    formats = {_format_of(p) for p in paths} | {_format_of(Path(u.rstrip("/"))) for u in uris}
    if len(formats) > 1:
        raise SegmintError(
            f"inputs mix formats ({', '.join(sorted(formats))}); pass files of one format"
        )
    fmt = formats.pop()
    if encoding is not None and encoding.lower().replace("_", "-") not in ("utf-8", "latin-1"):
        raise SegmintError(f"--encoding {encoding}: use utf-8 or latin-1")
    if fmt == "csv":
        sniffed = [_sniff_csv(p, encoding) for p in paths]
        encodings = {e for e, _, _ in sniffed}
        delimiters = {d for _, d, _ in sniffed}
        if len(delimiters) > 1:
            raise SegmintError("input CSV files use different delimiters; export them alike")
        if not sniffed:  # remote files only: the engine reads the header and delimiter
            enc = (encoding or "utf-8").lower().replace("_", "-")
            return Source(paths=[], format="csv", encoding=enc, uris=uris)
        header = sniffed[0][2]
        for path, (_, _, other) in zip(paths, sniffed, strict=True):
            if other != header:
                raise SegmintError(
                    f"{path.name} has the header {other}, but {paths[0].name} has {header}; "
                    "pass files with the same columns"
                )
        enc = "latin-1" if "latin-1" in encodings else "utf-8"
        if len(encodings) > 1:  # a UTF-8 file read as Latin-1 would be garbled in silence
            _one_encoding(
                {
                    p: ("latin-1" if e == "latin-1" else "utf-8")
                    for p, (e, _, _) in zip(paths, sniffed, strict=True)
                }
            )
        return Source(
            paths=paths,
            format="csv",
            encoding=enc,
            encoding_forced=encoding is not None,
            delimiter=delimiters.pop(),
            header=header,
            uris=uris,
        )
    if fmt == "excel" and uris:
        raise SegmintError(f"{uris[0]}: Excel workbooks are read locally; copy it or export CSV")
    if fmt == "excel":
        table, notes = read_workbooks(paths)
        return Source(paths=paths, format="excel", table=table, notes=notes)
    for path in paths:
        with open(path, "rb") as handle:
            if handle.read(4) != b"PAR1":
                raise SegmintError(
                    f"{path.name} is not a Parquet file (no PAR1 magic bytes); "
                    "check the file or its extension"
                )
        _check_names(path.name, _parquet_names(path))
    return Source(paths=paths, format="parquet", uris=uris)
