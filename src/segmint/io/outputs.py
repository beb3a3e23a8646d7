"""Writing outputs safely: check a target early, write beside it, rename into place.

One rule for every command: an output that is (or resolves to, through symlinks, ``./``, hard
links or letter case) one of the inputs is refused, an existing output is replaced only when
asked (``force=True``), and a folder output may not hold an input. Everything is written to a
temporary name beside the target (the same suffix, so writers pick the format by it) and
renamed into place at the end, so an interrupted or failed write (a full disk) leaves nothing
behind, not even a hidden partial file. Files and folders follow the umask.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path, PurePosixPath

from segmint.errors import SegmintError

__all__ = [
    "atomic_file",
    "atomic_folder",
    "check_file",
    "check_folder",
    "output_kind",
    "refuse_inputs",
    "write_atomic",
    "write_files",
]

#: Errors of a write that ran out of room: no space, over quota, over the file-size limit.
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG}
#: The same as libraries word them (Arrow's writers raise OSError without an errno).
_NO_ROOM_WORDS = ("No space left", "Disk quota exceeded", "File too large")


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


def _same(a: Path, b: Path) -> bool:
    """Whether two paths name one file: by inode where both exist, else by resolved name."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        resolved_a = os.path.normcase(os.path.realpath(a))
        return resolved_a == os.path.normcase(os.path.realpath(b))


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` resolves to somewhere below ``folder`` (or to it)."""
    real_folder = os.path.normcase(os.path.realpath(folder))
    real = os.path.normcase(os.path.realpath(path))
    return real == real_folder or real.startswith(real_folder.rstrip(os.sep) + os.sep)


def refuse_inputs(target: Path, inputs: Iterable[Path], *, folder: bool = False) -> None:
    """Fail when writing ``target`` would replace an input (for a folder: or hold one)."""
    for path in inputs:
        if _same(Path(target), Path(path)) or (folder and _inside(Path(path), Path(target))):
            what = "holds the input" if folder and not _same(target, path) else "is the input"
            raise SegmintError(
                f"{target} {what} {path}; writing there would destroy it, choose another output"
            )


def check_folder(outdir: Path, *, force: bool = False, inputs: Iterable[Path] = ()) -> Path:
    """Fail early when ``outdir`` cannot be written; return its (existing) parent."""
    outdir = Path(outdir)
    refuse_inputs(outdir, inputs, folder=True)
    if outdir.exists() and not outdir.is_dir():
        raise SegmintError(f"{outdir} is a file, not a folder; choose another -o/--outdir")
    if outdir.exists() and not force:
        raise SegmintError(f"{outdir} already exists; pass --force to replace it")
    parent = outdir.resolve().parent
    _check_parent(parent, "choose another -o/--outdir")
    return parent


def check_file(path: Path, *, force: bool = False, inputs: Iterable[Path] = ()) -> str:
    """Fail early when the output file ``path`` may not be written; return its kind."""
    path = Path(path)
    refuse_inputs(path, inputs)
    kind = output_kind(path)
    if path.exists() and not force:
        raise SegmintError(f"{path} already exists; pass --force to replace it")
    return kind


def _umask() -> int:
    """The process's umask, read without changing it where the system tells (Linux)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting, and put back at once
    os.umask(mask)
    return mask


def _no_room(exc: BaseException, target: Path) -> BaseException:
    """A write that ran out of room as one line naming the target and the fix."""
    if not isinstance(exc, OSError):
        return exc
    if exc.errno in _NO_ROOM:
        reason = os.strerror(exc.errno or errno.ENOSPC)
    else:
        reason = next((words for words in _NO_ROOM_WORDS if words in str(exc)), "")
    if not reason:
        return exc
    return SegmintError(
        f"cannot write {target}: {reason}; nothing was written, free some space or choose "
        "another output"
    )


@contextmanager
def atomic_folder(
    outdir: Path, *, force: bool = False, inputs: Iterable[Path] = ()
) -> Iterator[Path]:
    """Yield a temporary folder beside ``outdir``; on success it replaces ``outdir``.

    Raises
    ------
    SegmintError
        When ``outdir`` exists and ``force`` is false, or is a file, or holds an input, or its
        parent is not writable, or the disk fills up (nothing is left behind).
    """
    outdir = Path(outdir)
    parent = check_folder(outdir, force=force, inputs=inputs)
    tmp = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", suffix=".tmp", dir=parent))
    old: Path | None = None
    try:
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp makes it private (0700)
        yield tmp
        if outdir.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{outdir.name}.", suffix=".old", dir=parent))
            os.replace(outdir, old / "previous")
        os.replace(tmp, outdir)
    except BaseException as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:  # interrupted between the two renames: put the old outdir back
            if (old / "previous").exists() and not outdir.exists():
                os.replace(old / "previous", outdir)
            shutil.rmtree(old, ignore_errors=True)
        error = _no_room(exc, outdir)
        if error is exc:
            raise
        raise error from None
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def atomic_file(path: Path, *, force: bool = False, inputs: Iterable[Path] = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    The temporary name ends in the suffix of ``path`` (``.csv``, ``.parquet``), so a writer
    that picks the format by the name writes to it directly; whatever is written there is
    removed when the block fails.

    Raises
    ------
    SegmintError
        When ``path`` is an input, or exists and ``force`` is false, or is a folder, or its
        parent is not writable, or the disk fills up (nothing is left behind).
    """
    path = Path(path)
    refuse_inputs(path, inputs)
    if path.is_dir():
        raise SegmintError(f"{path} is a folder; give a file name such as {path}/customers.csv")
    if path.exists() and not force:
        raise SegmintError(f"{path} already exists; pass --force to replace it")
    parent = path.resolve().parent
    _check_parent(parent, "choose another output")
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=f".tmp{path.suffix}", dir=parent)
    tmp = Path(name)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes it private (0600)
        os.close(fd)
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        error = _no_room(exc, path)
        if error is exc:
            raise
        raise error from None


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
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        error = _no_room(exc, path)
        if error is exc:
            raise
        raise error from None
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
