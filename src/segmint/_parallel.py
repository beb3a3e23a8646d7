"""Independent tasks on several cores by forking the process: :func:`run_tasks`, :class:`Child`.

:class:`Worker` is a child forked early that gets ready (imports) on a spare core and runs one
task later: the run forks the process that draws its report before importing scikit-learn.

The report's figures and the saved model do not depend on each other, and drawing a figure or
writing a model is pure Python, so threads cannot run them side by side (the GIL). A forked
child starts with every module the parent already imported; a spawned worker (joblib's loky)
would import scikit-learn and matplotlib again, about 2-3 s each on the reference machine,
which is longer than all the work there is on an Online Retail-sized run (measured: a fit of
1,749 customers took 2.7 s in one process, 4.1 s with two loky workers, 1.9 s forked).
joblib's ``multiprocessing`` backend forks too, but sends every task and its arguments by
pickle (closures cannot go) and follows the interpreter's default start method, which is no
longer ``fork`` from Python 3.14; forking here is explicit and the tasks travel for free.

A forked child runs its tasks with BLAS and OpenMP limited to one thread (threadpoolctl): GNU
OpenMP, which scikit-learn's KMeans uses, hangs in a child forked after the parent used it with
several threads, and works with one (measured, and the reason ``tests/test_parallel.py`` forks
after a two-thread KMeans). Results and exceptions come back pickled through a pipe; when the
parent fails, it kills its children.

What makes a fork safe here (:func:`_forking`, tested in ``tests/test_parallel.py`` and
``tests/test_signals.py``):

- **No other Python thread runs.** :func:`effective_jobs` answers 1 (everything runs in the
  calling process) while another Python thread is alive, and :func:`_forking` refuses outright.
  The caller joins its own threads first (``pipeline.run`` joins the thread importing
  scikit-learn once DuckDB is closed; DuckDB's threads end when its connection is closed,
  measured). The native threads still alive at a fork belong to libraries with fork handlers
  of their own: OpenBLAS stops its pool before every fork (``pthread_atfork``), jemalloc and
  Arrow's CPU pool (pyarrow, behind pandas) lock and reset their state around it.
- **No signal is lost in the fork.** Python runs its ``os.register_at_fork`` callbacks inside
  ``os.fork()`` and only prints an exception raised there ("Exception ignored in ..."): a
  SIGTERM whose handler ran at that moment was swallowed and the run went on. During the fork,
  the Python handlers of SIGINT, SIGTERM, SIGHUP and SIGQUIT are replaced by one that only
  notes the signal; afterwards the parent puts its handlers back and delivers what was noted
  (``signal.raise_signal``), so the handler raises in ordinary code, and the child just
  forked is killed.
- **Children take the dispositions a plain process would have:** the default action for every
  signal the parent handles in Python (so a Ctrl-C or a ``kill`` ends a child silently while
  the parent cleans up), and ``SIG_IGN`` kept where the parent ignores a signal (a run started
  by a script that ignores SIGINT keeps its workers when the process group gets a Ctrl-C).

Where ``fork`` is not the platform's way (Windows, macOS) the tasks run one after the other in
the calling process, with the same results.

Examples
--------
>>> from segmint._parallel import run_tasks
>>> run_tasks([lambda: 1 + 1, lambda: "b" * 2], n_jobs=2)
[2, 'bb']
"""

from __future__ import annotations

import contextlib
import os
import pickle
import signal
import struct
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any, TypeVar

__all__ = [
    "Child",
    "Worker",
    "can_fork",
    "effective_jobs",
    "other_threads",
    "run_tasks",
    "single_threaded",
]

T = TypeVar("T")

_controller: tuple[int, Any] | None = None  # (len(sys.modules) when made, ThreadpoolController)


def single_threaded() -> contextlib.AbstractContextManager[Any]:
    """A context in which BLAS and OpenMP run one thread (threadpoolctl), cheap to re-enter.

    ``threadpool_limits(1)`` lists the loaded libraries on every call (about 9 ms, over 70
    calls a run); the list is kept instead, and made again only once more modules (and so
    perhaps more libraries) have been imported.
    """
    global _controller
    from threadpoolctl import ThreadpoolController

    if _controller is None or _controller[0] != len(sys.modules):
        _controller = (len(sys.modules), ThreadpoolController())
    return _controller[1].limit(limits=1)


def can_fork() -> bool:
    """True where tasks may run in forked children (Linux)."""
    return sys.platform.startswith("linux") and hasattr(os, "fork")


def other_threads() -> list[str]:
    """Names of the Python threads other than the calling one that are alive."""
    me = threading.current_thread()
    return [t.name for t in threading.enumerate() if t is not me]


def effective_jobs(n_jobs: int | None, n_tasks: int) -> int:
    """Number of processes to use: ``n_jobs`` (default: the usable cores), at most ``n_tasks``.

    Parameters
    ----------
    n_jobs : int or None
        Processes wanted; ``None`` means one per usable core and a negative number counts
        back from it (scikit-learn's convention: -1 is every core, -2 all but one).
    n_tasks : int
        Number of tasks.

    Returns
    -------
    int
        At least 1; 1 where :func:`can_fork` is false or while another Python thread runs
        (the tasks then run in the calling process).
    """
    if not can_fork() or other_threads():
        return 1
    cores = len(os.sched_getaffinity(0))
    if n_jobs is None:
        n_jobs = cores
    elif n_jobs < 0:
        n_jobs = cores + 1 + n_jobs
    return max(1, min(int(n_jobs), n_tasks))


class Child:
    """Tasks running in a forked child process; :meth:`result` waits for their return values.

    Parameters
    ----------
    tasks : sequence of callables
        Called in order in the child, without arguments. Their return values (and an
        exception, if one is raised) must be picklable.
    """

    def __init__(self, tasks: Sequence[Callable[[], Any]]) -> None:
        self.pid: int | None = None
        self._fd: int | None = None
        read_fd, write_fd = os.pipe()
        try:
            with _forking() as fork:
                pid = fork()
                if pid == 0:  # pragma: no cover - runs in the child; covered by its results
                    _child_main(tasks, read_fd, write_fd)
                self.pid, self._fd = pid, read_fd
        except BaseException:
            if self._fd is None:
                os.close(read_fd)
            self.kill()  # a signal that came during the fork: the child goes at once
            raise
        finally:
            os.close(write_fd)

    def result(self) -> list[Any]:
        """Wait for the child; the tasks' return values, or re-raise the task's exception.

        Raises
        ------
        RuntimeError
            When the child died without an answer (killed, or out of memory).
        """
        assert self._fd is not None and self.pid is not None, "result() called twice"
        with os.fdopen(self._fd, "rb") as pipe:
            self._fd = None
            data = pipe.read()
        _, status = os.waitpid(self.pid, 0)
        self.pid = None
        if not data:
            if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT:
                raise KeyboardInterrupt  # Ctrl-C reached the child first; the parent stops too
            raise RuntimeError(f"a worker process ended without an answer ({_describe(status)})")
        kind, value = pickle.loads(data)
        if kind == "error":
            raise value
        return list(value)

    def kill(self) -> None:
        """Stop the child (if it still runs) and release its pipe; safe to call twice."""
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            self.pid = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class Worker(Child):
    """A child forked early that gets ready (``prepare``), then runs one task sent to it later.

    Fork it before the heavy imports and the threads of the caller: the child spends the
    caller's busy time on a spare core (importing matplotlib, say), so that the task, when it
    comes, starts at once. :meth:`submit` sends the task (a picklable callable, such as a
    :func:`functools.partial` of a module-level function); :meth:`result` waits for its return
    value, as a one-item list. A worker that is never sent a task ends when :meth:`kill` is
    called or the caller exits.

    Parameters
    ----------
    prepare : callable
        Run in the child right away; an exception in it is ignored (the task will meet it
        again, with its usual message).
    """

    def __init__(self, prepare: Callable[[], None]) -> None:
        self.pid = None
        self._fd = None
        self._task_fd: int | None = None
        task_read, task_write = os.pipe()
        read_fd, write_fd = os.pipe()
        try:
            with _forking() as fork:
                pid = fork()
                if pid == 0:  # pragma: no cover - runs in the child; covered by its results
                    os.close(task_write)
                    _worker_main(prepare, task_read, read_fd, write_fd)
                self.pid, self._fd, self._task_fd = pid, read_fd, task_write
        except BaseException:
            if self._fd is None:
                os.close(read_fd)
                os.close(task_write)
            self.kill()  # a signal that came during the fork: the worker goes at once
            raise
        finally:
            os.close(task_read)
            os.close(write_fd)

    def submit(self, task: Callable[[], Any]) -> None:
        """Send ``task`` to the worker (once)."""
        assert self._task_fd is not None, "submit() called twice"
        data = pickle.dumps(task, protocol=pickle.HIGHEST_PROTOCOL)
        pipe = os.fdopen(self._task_fd, "wb")
        self._task_fd = None
        # A worker that has died (killed by a signal) closed its end: result() says how it
        # ended, rather than a bare "Broken pipe" here.
        with contextlib.suppress(BrokenPipeError), pipe:
            pipe.write(struct.pack("<Q", len(data)) + data)

    def kill(self) -> None:
        """Stop the worker (if it still runs) and release its pipes; safe to call twice."""
        if self._task_fd is not None:
            os.close(self._task_fd)
            self._task_fd = None
        super().kill()


@contextlib.contextmanager
def _forking() -> Iterator[Callable[[], int]]:
    """A context giving ``fork()``; signals arriving inside it are delivered when it ends.

    ``fork()`` is ``os.fork()``, with the child left with plain dispositions (0 in the child,
    which must leave by ``os._exit`` and never end the context). Keep the parent's work inside
    the context short and free of Python handlers' effects: record the child's pid there, so
    that when the signal noted during the fork raises at the end, the caller can kill it. See
    the module docstring.

    Raises
    ------
    RuntimeError
        While another Python thread runs (it could hold a lock the child would wait for).
    """
    running = other_threads()
    if running:
        raise RuntimeError(f"not forking while other threads run: {', '.join(running)}")
    sys.stdout.flush()
    sys.stderr.flush()
    noted: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        noted.append(signum)

    def fork() -> int:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            _plain_dispositions(saved, noted)
        return pid

    saved: dict[int, Any] = {}
    try:
        for signum in _python_handled_signals():
            saved[signum] = signal.signal(signum, note)
        yield fork
    finally:
        _restore(saved, noted)  # raises the exception of a noted signal


def _python_handled_signals() -> list[int]:
    """The signals whose handler is Python code (SIGINT's, segmint's SIGTERM handler, ...)."""
    found: list[int] = []
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
        if callable(signal.getsignal(signum)):
            found.append(signum)
    return found


def _restore(saved: dict[int, Any], noted: list[int]) -> None:
    """Put the handlers back, then deliver the noted signals to them (in the parent)."""
    for signum, handler in saved.items():
        signal.signal(signum, handler)
    for signum in dict.fromkeys(noted):
        signal.raise_signal(signum)  # the handler runs here, and may raise


def _plain_dispositions(
    saved: dict[int, Any], noted: list[int]
) -> None:  # pragma: no cover - runs in the child
    """In a child: the default action for what the parent handled in Python; SIG_IGN stays."""
    for signum in saved:
        signal.signal(signum, signal.SIG_DFL)
    for signum in dict.fromkeys(noted):
        signal.raise_signal(signum)  # the default action: the child ends


def _read_exactly(fd: int, size: int) -> bytes:
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return b""
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def _worker_main(
    prepare: Callable[[], None], task_fd: int, read_fd: int, write_fd: int
) -> None:  # pragma: no cover - runs in the child
    """Prepare, wait for the task (length-prefixed pickle), run it as :func:`_child_main`."""
    try:
        with contextlib.suppress(Exception):
            prepare()
        header = _read_exactly(task_fd, 8)
        data = _read_exactly(task_fd, struct.unpack("<Q", header)[0]) if header else b""
        os.close(task_fd)
        if not data:  # the caller ended, or killed the worker without a task
            return
        task = pickle.loads(data)
        _child_main([task], read_fd, write_fd)
    finally:
        os._exit(0)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"


def _child_main(
    tasks: Sequence[Callable[[], Any]], read_fd: int, write_fd: int
) -> None:  # pragma: no cover - runs in the child
    """Run ``tasks``, send the pickled outcome, and leave without unwinding the parent's stack.

    ``os._exit`` skips the parent's ``finally`` blocks and atexit handlers, which would
    otherwise delete the run's temporary folder from inside the child.
    """
    try:
        os.close(read_fd)
        try:
            # GNU OpenMP (scikit-learn's KMeans, also inside GaussianMixture's initialisation)
            # hangs in a forked child unless it runs single-threaded there.
            with single_threaded():
                payload: tuple[str, Any] = ("ok", [task() for task in tasks])
        except BaseException as exc:  # sent to the parent, raised there
            payload = ("error", exc)
        try:
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            error = RuntimeError(f"a worker's result could not be sent: {type(exc).__name__}")
            data = pickle.dumps(("error", error))
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(data)
    finally:
        os._exit(0)


def run_tasks(tasks: Sequence[Callable[[], T]], n_jobs: int | None = None) -> list[T]:
    """Call every task and return their results in order, on up to ``n_jobs`` processes.

    The calling process runs tasks 0, n, 2n, ...; forked children run the others (tasks
    1, n + 1, ... in the first child, and so on). Give tasks of similar cost.

    Parameters
    ----------
    tasks : sequence of callables
        Independent tasks without arguments, with picklable results.
    n_jobs : int or None, default=None
        Processes to use, see :func:`effective_jobs`.

    Returns
    -------
    list
        ``[task() for task in tasks]``, the same whatever ``n_jobs`` is.

    Raises
    ------
    BaseException
        The first exception a task raised (a child's is re-raised in the caller); the other
        children are then stopped.
    """
    n = effective_jobs(n_jobs, len(tasks))
    if n <= 1:
        return [task() for task in tasks]
    shares = [list(range(i, len(tasks), n)) for i in range(n)]
    children: list[Child] = []
    try:
        for share in shares[1:]:
            children.append(Child([tasks[j] for j in share]))
        outcomes = [[tasks[j]() for j in shares[0]]]
        outcomes += [child.result() for child in children]
    finally:
        for child in children:
            child.kill()
    results: list[Any] = [None] * len(tasks)
    for share, values in zip(shares, outcomes, strict=True):
        for j, value in zip(share, values, strict=True):
            results[j] = value
    return results
