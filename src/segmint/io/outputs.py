"""Writing outputs safely: check a target early, write beside it, rename into place.

Everything is written to a temporary name beside the target and renamed into place at the end,
so an interrupted write leaves nothing half-written and an existing output is replaced only
when asked (``force=True``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from segmint.errors import SegmintError

__all__ = [
    "atomic_file",
    "atomic_folder",
    "check_folder",
    "output_kind",
    "write_atomic",
    "write_files",
]


def _check_parent(parent: Path, fix: str) -> None:
    """Fail unless ``parent`` is a folder segmint can create files in (tried, not guessed)."""
    if not parent.exists():
        raise SegmintError(f"{parent} does not exist; create it or {fix}")
    if not parent.is_dir():
        raise SegmintError(f"{parent} is a file, not a folder; {fix}")
    if not os.access(parent, os.W_OK):
        raise SegmintError(f"{parent} is not writable; {fix}")
    try:  # os.access says yes to root everywhere, and nothing about read-only or special mounts
        os.rmdir(tempfile.mkdtemp(prefix=".segmint-probe.", dir=parent))
    except OSError as exc:
        raise SegmintError(f"cannot write in {parent} ({exc.strerror}); {fix}") from None


def check_folder(outdir: Path, *, force: bool = False) -> Path:
    """Fail early when ``outdir`` cannot be written; return its (existing) parent."""
    outdir = Path(outdir)
    if outdir.exists() and not outdir.is_dir():
        raise SegmintError(f"{outdir} is a file, not a folder; choose another -o/--outdir")
    if outdir.exists() and not force:
        raise SegmintError(f"{outdir} already exists; pass --force to replace it")
    parent = outdir.resolve().parent
    _check_parent(parent, "choose another -o/--outdir")
    return parent


@contextmanager
def atomic_folder(outdir: Path, *, force: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``outdir``; on success it replaces ``outdir``.

    Raises
    ------
    SegmintError
        When ``outdir`` exists and ``force`` is false, or is a file, or its parent is not
        writable.
    """
    outdir = Path(outdir)
    parent = check_folder(outdir, force=force)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", suffix=".tmp", dir=parent))
    old: Path | None = None
    try:
        yield tmp
        if outdir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", suffix=".old", dir=parent))
            os.replace(outdir, old / "previous")
        os.replace(tmp, outdir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:  # interrupted between the two renames: put the old outdir back
            if (old / "previous").exists() and not outdir.exists():
                os.replace(old / "previous", outdir)
            shutil.rmtree(old, ignore_errors=True)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_file(path: Path, *, force: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``."""
    path = Path(path)
    if path.is_dir():
        raise SegmintError(f"{path} is a folder; give a file name such as {path}/customers.csv")
    if path.exists() and not force:
        raise SegmintError(f"{path} already exists; pass --force to replace it")
    parent = path.resolve().parent
    _check_parent(parent, "choose another output")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path``: a new file beside it, flushed to disk, renamed over ``path``.

    A reader sees the old file or the whole new one, never part of it; an interrupted write
    leaves no temporary file. The file gets the usual permissions (``0o666`` less the umask).

    Parameters
    ----------
    path : pathlib.Path
        The file to create or replace; its folder must exist.
    data : bytes
        The whole content.

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """Write each of ``files`` (``{"relative/path": bytes}``) under ``folder`` with
    :func:`write_atomic`, creating the subfolders it names.

    Parameters
    ----------
    folder : pathlib.Path
        An existing folder, e.g. a run's OUTDIR.
    files : mapping of str to bytes
        Contents by relative path with ``/`` separators, such as ``"plots/elbow.png"``;
        written in the mapping's order.

    Raises
    ------
    SegmintError
        When a path is absolute or leaves ``folder`` (``..``).
    """
    folder = Path(folder)
    for name, data in files.items():
        relative = PurePosixPath(name)
        if relative.is_absolute() or ".." in relative.parts or not relative.parts:
            raise SegmintError(f"{name!r}: not a path inside {folder}")
        target = folder.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, data)


def output_kind(path: Path) -> str:
    """``.csv`` or ``.parquet``; fails early when ``path`` could not be written."""
    if Path(path).is_dir():
        raise SegmintError(f"{path} is a folder; give a file name such as {path}/customers.csv")
    suffix = Path(path).suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise SegmintError(f"{Path(path).name}: the output must end in .csv or .parquet")
    _check_parent(Path(path).resolve().parent, "choose another output")
    return ".csv" if suffix == ".csv" else ".parquet"
