"""Atomic outputs: nothing half-written, an existing folder replaced only with force."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmint.errors import SegmintError
from segmint.io.outputs import atomic_file, atomic_folder, check_folder, write_atomic, write_files


def test_atomic_folder_leaves_nothing_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(RuntimeError), atomic_folder(out) as tmp:
        (tmp / "segments.csv").write_text("half")
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_atomic_folder_replaces_only_with_force(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with atomic_folder(out) as tmp:
        (tmp / "a.txt").write_text("first")
    assert (out / "a.txt").read_text() == "first"
    with pytest.raises(SegmintError, match="already exists; pass --force"):
        check_folder(out)
    with atomic_folder(out, force=True) as tmp:
        (tmp / "b.txt").write_text("second")
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_check_folder_errors(tmp_path: Path) -> None:
    a_file = tmp_path / "f"
    a_file.write_text("x")
    with pytest.raises(SegmintError, match="is a file, not a folder"):
        check_folder(a_file, force=True)
    with pytest.raises(SegmintError, match="does not exist"):
        check_folder(tmp_path / "missing" / "out")


def test_atomic_file(tmp_path: Path) -> None:
    target = tmp_path / "c.csv"
    target.write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_file(target, force=True) as tmp:
        tmp.write_text("new, half")
        raise KeyboardInterrupt
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["c.csv"]
    with atomic_file(target, force=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_write_atomic_replaces_whole_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    assert write_atomic(target, b"first") == target
    write_atomic(target, b"second, longer")
    assert target.read_bytes() == b"second, longer"
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]
    assert target.stat().st_mode & 0o644 == 0o644  # the usual permissions, not mkstemp's 0o600


def test_write_atomic_cleans_up_when_the_write_fails(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "missing" / "report.html", b"x")
    (tmp_path / "folder").mkdir()
    with pytest.raises(OSError):
        write_atomic(tmp_path / "folder", b"x")  # a folder cannot be replaced by a file
    assert [p.name for p in tmp_path.iterdir()] == ["folder"]


def test_write_files_makes_subfolders_and_refuses_to_leave_the_folder(tmp_path: Path) -> None:
    write_files(tmp_path, {"plots/a.png": b"png", "report.html": b"html"})
    assert (tmp_path / "plots" / "a.png").read_bytes() == b"png"
    assert (tmp_path / "report.html").read_bytes() == b"html"
    for bad in ("../escape.txt", "/etc/passwd", ""):
        with pytest.raises(SegmintError, match="not a path inside"):
            write_files(tmp_path / "plots", {bad: b"x"})
    assert not (tmp_path / "escape.txt").exists()
