"""Ctrl-C and SIGTERM in the middle of a real ``segmint run``: exit 130/143, nothing half-done.

A real subprocess runs on a synthetic log big enough to be mid-run when the signal comes; the
tests wait for a stage to start (a progress line on stderr, or the first file in the temporary
output folder), not for a fixed time. After the exit: the exit code, one line on stderr and no
traceback; no output folder (or the earlier one, untouched, when ``--force`` would replace it);
no temporary folder beside it, in TMPDIR or in the working folder; the input byte-identical;
no process left behind (the forked workers of segmint._parallel).
"""

from __future__ import annotations

import hashlib
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        sys.platform == "win32" or not Path("/proc/self").is_dir(), reason="POSIX signals and /proc"
    ),
]

SEGMINT = str(Path(sys.executable).parent / "segmint")
ROWS = 300_000
WAIT = 180.0  # seconds to wait for a stage on a slow, busy machine


@pytest.fixture(scope="module")
def big_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A synthetic log of 300,000 rows (about 10 s of work) and its sha256."""
    path = tmp_path_factory.mktemp("signals") / "log.csv"
    done = subprocess.run(
        [SEGMINT, "synth", "-o", str(path), "--rows", str(ROWS)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return path, _sha256(path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found |= {int(c) for c in task.read_text().split()}
        except OSError:
            continue
    for child in list(found):
        found |= _descendants(child)
    return found


def _alive(pids: set[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


class Run:
    """A ``segmint run`` subprocess in its own session, its stderr read by a thread."""

    def __init__(
        self, args: list[str], cwd: Path, env: dict[str, str], *, ignore_sigint: bool = False
    ) -> None:
        self.proc = subprocess.Popen(
            [SEGMINT, "run", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            # as started by a script that ignores SIGINT (`trap '' INT`)
            preexec_fn=_ignore_sigint if ignore_sigint else None,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.stderr: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)
            self.lines.put(line)
        self.lines.put(None)

    def wait_for_line(self, text: str) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1.0)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"segmint run ended before {text!r}: {''.join(self.stderr)}")
            if text in line:
                return
        pytest.fail(f"no {text!r} within {WAIT} s: {''.join(self.stderr)}")

    def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            if condition():
                return
            if self.proc.poll() is not None:
                pytest.fail(f"segmint run ended before {what}: {''.join(self.stderr)}")
            time.sleep(0.02)
        pytest.fail(f"no {what} within {WAIT} s")

    def signal(self, signum: int, *, group: bool) -> tuple[int, str, set[int]]:
        """Send the signal (to the whole process group, as a terminal does, or to the
        process); return the exit code, stderr and every process that existed before."""
        before = _descendants(self.proc.pid)
        if group:
            os.killpg(self.proc.pid, signum)
        else:
            self.proc.send_signal(signum)
        code = self.proc.wait(timeout=WAIT)
        self.reader.join(timeout=10)
        return code, "".join(self.stderr), before

    def close(self) -> None:
        """Kill what is left (after a failed test) and close the pipe."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=WAIT)
        self.reader.join(timeout=10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


Starter = Callable[[list[str]], Run]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Starter]:
    """Start ``segmint run ARGS`` in ``tmp_path``; everything started is closed afterwards."""
    started: list[Run] = []

    def launch(args: list[str]) -> Run:
        started.append(Run(args, tmp_path, _environment(tmp_path)))
        return started[-1]

    yield launch
    for run in started:
        run.close()


def _environment(tmp: Path) -> dict[str, str]:
    """TMPDIR and joblib's temporary folder inside the test folder, to see what is left."""
    (tmp / "tmpdir").mkdir()
    return {**os.environ, "TMPDIR": str(tmp / "tmpdir"), "JOBLIB_TEMP_FOLDER": str(tmp / "tmpdir")}


def _check_after(
    code: int,
    stderr: str,
    processes: set[int],
    signum: int,
    work: Path,
    expected: list[str],
    log: tuple[Path, str],
) -> None:
    wanted = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "terminated")}[signum]
    assert code == wanted[0], stderr
    assert "Traceback" not in stderr, stderr
    assert stderr.strip().splitlines()[-1] == f"{wanted[1]}; no output was written", stderr
    assert sorted(p.name for p in work.iterdir()) == expected, stderr  # no stray folders
    assert list((work / "tmpdir").iterdir()) == [], "temporary files left in TMPDIR"
    deadline = time.monotonic() + 15
    while _alive(processes) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(processes) == [], "processes left behind"
    assert _sha256(log[0]) == log[1]  # the input is untouched


@pytest.mark.parametrize(
    ("signum", "group", "threads"),
    [
        (signal.SIGINT, True, "2"),  # Ctrl-C in a terminal: every process of the group
        (signal.SIGTERM, False, "2"),  # kill PID: the main process only, workers running
        (signal.SIGTERM, False, "1"),
    ],
    ids=["ctrl-c-group-2-threads", "sigterm-2-threads", "sigterm-1-thread"],
)
def test_signal_while_clustering(
    tmp_path: Path,
    big_log: tuple[Path, str],
    start: Starter,
    signum: int,
    group: bool,
    threads: str,
) -> None:
    run = start([str(big_log[0]), "-o", str(tmp_path / "result"), "--threads", threads])
    run.wait_for_line("clustering")
    if threads != "1":  # the forked workers must be stopped too: the report process, forked
        # at the start, and at least one clustering worker
        run.wait_until(lambda: len(_descendants(run.proc.pid)) >= 2, "forked workers at work")
    time.sleep(0.5)
    code, stderr, processes = run.signal(signum, group=group)
    _check_after(code, stderr, processes, signum, tmp_path, ["tmpdir"], big_log)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_signal_while_duckdb_reads(
    tmp_path: Path, big_log: tuple[Path, str], start: Starter, signum: int
) -> None:
    run = start([str(big_log[0]), "-o", str(tmp_path / "result"), "--threads", "1"])
    run.wait_for_line("reading, cleaning and aggregating")
    time.sleep(0.5)
    code, stderr, processes = run.signal(signum, group=False)
    _check_after(code, stderr, processes, signum, tmp_path, ["tmpdir"], big_log)


def test_sigterm_while_writing_keeps_the_previous_outdir(
    tmp_path: Path, big_log: tuple[Path, str], start: Starter
) -> None:
    """With --force, a run stopped while writing leaves the earlier OUTDIR as it was."""
    out = tmp_path / "result"
    out.mkdir()
    (out / "segments.csv").write_text("an earlier run\n")
    run = start([str(big_log[0]), "-o", str(out), "--force", "--threads", "1"])
    run.wait_until(
        lambda: any(tmp_path.glob(".result.*.tmp/segments.csv")),
        "a file in the temporary output folder",
    )
    code, stderr, processes = run.signal(signal.SIGTERM, group=False)
    _check_after(code, stderr, processes, signal.SIGTERM, tmp_path, ["result", "tmpdir"], big_log)
    assert sorted(p.name for p in out.iterdir()) == ["segments.csv"]
    assert (out / "segments.csv").read_text() == "an earlier run\n"


SPIN = textwrap.dedent(
    """
    import os, signal, sys, threading
    from segmint import cli
    from segmint.pipeline import get_engine
    from segmint.io.sources import Source

    SIGNAL = int(sys.argv[2])

    @cli.app.command("spin")
    @cli.handled
    def spin() -> None:
        engine = get_engine("duckdb", threads=1)
        threading.Timer(1.0, os.kill, (os.getpid(), SIGNAL)).start()
        try:  # as clean.py does: an engine error becomes a SegmintError
            engine.fetch("SELECT count(*) FROM range(1000000000000) t(i) WHERE i % 7 = 3")
        except Exception as exc:
            raise Source(paths=[], format="frame").read_error(exc) from None

    sys.argv = sys.argv[:2]
    cli.main()
    """
)


@pytest.mark.parametrize(
    ("signum", "code", "word"),
    [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")],
)
def test_signal_inside_a_duckdb_query(tmp_path: Path, signum: int, code: int, word: str) -> None:
    """DuckDB answers a signal during a query with its own error ("Query interrupted"); the
    command must still exit 130/143, not 2 with a read error."""
    done = subprocess.run(
        [sys.executable, "-c", SPIN, "spin", str(int(signum))],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == code, done.stderr
    assert done.stderr == f"{word}; no output was written\n"


FORK_HOOK = textwrap.dedent(
    """
    import os, signal, sys
    from segmint import cli

    # A real SIGTERM to this process from inside os.fork() (an after-fork callback in the
    # parent), at the Nth fork: where Python only prints what a handler raises.
    NTH = int(sys.argv[1])
    forks = []

    def after_in_parent() -> None:
        forks.append(1)
        if len(forks) == NTH:
            os.kill(os.getpid(), signal.SIGTERM)

    os.register_at_fork(after_in_parent=after_in_parent)
    sys.argv = ["segmint", *sys.argv[2:]]
    cli.main()
    """
)


@pytest.fixture(scope="module")
def small_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A synthetic log of 20,000 rows (a run of a few seconds)."""
    path = tmp_path_factory.mktemp("signals-small") / "log.csv"
    done = subprocess.run(
        [SEGMINT, "synth", "-o", str(path), "--rows", "20000"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return path, _sha256(path)


@pytest.mark.parametrize("nth", [1, 2], ids=["forking-the-report-process", "forking-a-worker"])
def test_sigterm_during_a_fork_stops_the_run(
    tmp_path: Path, small_log: tuple[Path, str], nth: int
) -> None:
    """Before: "Exception ignored in ...", the run went on, replaced the output and exited 0."""
    out = tmp_path / "result"
    out.mkdir()
    (out / "segments.csv").write_text("an earlier run\n")
    env = _environment(tmp_path)
    args = [str(small_log[0]), "-o", str(out), "--force", "--threads", "2", "--bootstrap", "2"]
    proc = subprocess.Popen(
        [sys.executable, "-c", FORK_HOOK, str(nth), "run", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _, stderr = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert "Exception ignored" not in stderr, stderr
    _check_after(
        proc.returncode, stderr, set(), signal.SIGTERM, tmp_path, ["result", "tmpdir"], small_log
    )
    assert sorted(p.name for p in out.iterdir()) == ["segments.csv"]
    assert (out / "segments.csv").read_text() == "an earlier run\n"
    with pytest.raises(ProcessLookupError):
        os.killpg(proc.pid, 0)  # no process of the run's group is left


def test_a_run_that_ignores_sigint_survives_a_ctrl_c_to_its_group(
    tmp_path: Path, big_log: tuple[Path, str]
) -> None:
    """Started by a script that ignores SIGINT (``trap '' INT``): a Ctrl-C to the process
    group while the workers are forked changes nothing (before: the workers died of it and
    the run failed with "error: Broken pipe")."""
    out = tmp_path / "result"
    run = Run(
        [str(big_log[0]), "-o", str(out), "--threads", "2"],
        tmp_path,
        _environment(tmp_path),
        ignore_sigint=True,
    )
    try:
        run.wait_for_line("clustering")
        run.wait_until(lambda: len(_descendants(run.proc.pid)) >= 2, "forked workers at work")
        for _ in range(3):  # a few presses, while the workers run
            os.killpg(run.proc.pid, signal.SIGINT)
            time.sleep(0.3)
        code = run.proc.wait(timeout=WAIT)
        run.reader.join(timeout=10)
    finally:
        run.close()
    stderr = "".join(run.stderr)
    assert code == 0, stderr
    assert "Broken pipe" not in stderr and "Traceback" not in stderr, stderr
    assert {p.name for p in out.iterdir()} >= {"report.html", "segments.csv", "model.skops"}
    assert list((tmp_path / "tmpdir").iterdir()) == [], "temporary files left in TMPDIR"
