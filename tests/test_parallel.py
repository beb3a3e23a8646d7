"""segmint._parallel: forked tasks give the same results as running them in turn."""

from __future__ import annotations

import functools
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from segmint._parallel import Child, Worker, can_fork, effective_jobs, run_tasks
from segmint.errors import SegmintError

needs_fork = pytest.mark.skipif(not can_fork(), reason="tasks run in turn without fork")


def _pid_and(value: int) -> tuple[int, int]:
    return os.getpid(), value * value


def test_effective_jobs_is_bounded_by_tasks_and_at_least_one() -> None:
    assert effective_jobs(1, 10) == 1
    assert effective_jobs(8, 3) == (3 if can_fork() else 1)
    assert effective_jobs(4, 0) == 1
    assert 1 <= effective_jobs(None, 100) <= max(1, os.cpu_count() or 1)
    assert effective_jobs(-1, 100) == effective_jobs(None, 100)
    assert effective_jobs(-1000, 100) == 1


@needs_fork
@pytest.mark.parametrize("n_jobs", [2, 3])
def test_results_in_order_and_children_really_used(n_jobs: int) -> None:
    tasks = [functools.partial(_pid_and, v) for v in range(7)]
    results = run_tasks(tasks, n_jobs=n_jobs)
    assert [r[1] for r in results] == [v * v for v in range(7)]
    pids = {r[0] for r in results}
    assert os.getpid() in pids  # the caller takes a share
    assert len(pids) == n_jobs  # and each child another


def test_one_job_runs_in_the_caller() -> None:
    results = run_tasks([functools.partial(_pid_and, v) for v in range(3)], n_jobs=1)
    assert results == [(os.getpid(), 0), (os.getpid(), 1), (os.getpid(), 4)]


def _fail(message: str) -> None:
    raise SegmintError(message)


@needs_fork
def test_a_childs_exception_is_raised_in_the_caller() -> None:
    tasks = [lambda: 1, functools.partial(_fail, "disk full in the child")]
    with pytest.raises(SegmintError, match="disk full in the child"):
        run_tasks(tasks, n_jobs=2)


@needs_fork
def test_children_are_stopped_when_the_callers_share_fails() -> None:
    def slow() -> int:
        time.sleep(30)
        return 1

    started = time.monotonic()
    with pytest.raises(SegmintError, match="caller failed"):
        run_tasks([functools.partial(_fail, "caller failed"), slow], n_jobs=2)
    assert time.monotonic() - started < 10  # the sleeping child was killed, not awaited


@needs_fork
def test_a_killed_child_is_reported() -> None:
    child = Child([lambda: time.sleep(30)])
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    with pytest.raises(RuntimeError, match="killed by signal 9"):
        child.result()
    child.kill()  # safe after result()


@needs_fork
def test_unpicklable_result_is_an_error_not_a_hang() -> None:
    with pytest.raises(RuntimeError, match="could not be sent"):
        run_tasks([lambda: 1, lambda: lambda: None], n_jobs=2)


def _kmeans_labels(seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    X = np.random.default_rng(0).normal(size=(5_000, 3))
    return KMeans(4, n_init=2, random_state=seed).fit(X).labels_


@needs_fork
def test_kmeans_in_a_child_after_a_multithreaded_kmeans_in_the_parent() -> None:
    """GNU OpenMP hangs in a fork after a multi-threaded region unless limited to one thread."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=2):
        _kmeans_labels(0)  # the parent's OpenMP pool now has threads
    expected = [_kmeans_labels(s) for s in (1, 2)]
    got = run_tasks([functools.partial(_kmeans_labels, s) for s in (1, 2)], n_jobs=2)
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, g)


def _loaded(name: str) -> bool:
    import sys

    return name in sys.modules


def _import_wave() -> None:
    import wave  # noqa: F401  (a stdlib module nothing else here imports)


def _boom() -> None:
    raise ValueError("prepare failed")


@needs_fork
def test_worker_prepares_then_runs_the_task_it_is_sent() -> None:
    assert not _loaded("wave")
    worker = Worker(_import_wave)
    try:
        worker.submit(functools.partial(_loaded, "wave"))
        assert worker.result() == [True]  # imported in the worker, by prepare
    finally:
        worker.kill()
    assert worker.pid is None


@needs_fork
def test_worker_survives_a_failing_prepare_and_reports_task_errors() -> None:
    worker = Worker(_boom)
    try:
        worker.submit(functools.partial(_fail, "task failed"))
        with pytest.raises(SegmintError, match="task failed"):
            worker.result()
    finally:
        worker.kill()


@needs_fork
def test_worker_never_sent_a_task_is_killed_cleanly() -> None:
    worker = Worker(_import_wave)
    pid = worker.pid
    assert pid is not None
    worker.kill()
    worker.kill()  # twice is fine
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reaped: no zombie left


# --- what makes a fork safe (segmint._parallel module docstring) -----------------------------


class _Stop(BaseException):
    """Raised by the test's SIGTERM handler, as segmint.cli raises Terminated."""


def _raise_stop(signum: int, frame: object) -> None:
    raise _Stop(signum)


#: What the at-fork hook below does at the next fork (then it disarms): "parent" sends
#: SIGTERM to the parent from its after-fork callback, "child" to the child from the child's.
_ARMED: dict[str, str] = {}
_HOOKED: list[bool] = []


def _hook_forks() -> None:
    """Register (once per process: they cannot be removed) at-fork callbacks that send a real
    SIGTERM from inside ``os.fork()``, where Python only prints an exception a handler raises."""
    if _HOOKED:
        return

    def parent() -> None:
        if _ARMED.pop("parent", None):
            os.kill(os.getpid(), signal.SIGTERM)

    def child() -> None:
        if _ARMED.pop("child", None):
            os.kill(os.getpid(), signal.SIGTERM)

    os.register_at_fork(after_in_parent=parent, after_in_child=child)
    _HOOKED.append(True)


def _no_children_left() -> bool:
    try:
        os.waitpid(-1, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


@pytest.fixture
def sigterm_raises() -> Iterator[None]:
    previous = signal.signal(signal.SIGTERM, _raise_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _ARMED.clear()


@needs_fork
@pytest.mark.parametrize("make", ["child", "worker"])
def test_sigterm_during_the_fork_is_raised_in_the_parent_and_the_child_killed(
    sigterm_raises: None, make: str
) -> None:
    """Before: the handler ran inside the after-fork callback, "Exception ignored in ...",
    and the parent went on as if nothing had happened."""
    _hook_forks()
    _ARMED["parent"] = "yes"
    started = time.monotonic()
    with pytest.raises(_Stop):
        if make == "child":
            Child([lambda: time.sleep(30)])
        else:
            Worker(functools.partial(time.sleep, 30))
    assert time.monotonic() - started < 10
    assert _no_children_left()  # killed and reaped, not left sleeping
    assert signal.getsignal(signal.SIGTERM) is _raise_stop  # the handler is back


@needs_fork
def test_sigterm_to_a_child_during_the_fork_ends_the_child_only(sigterm_raises: None) -> None:
    _hook_forks()
    _ARMED["child"] = "yes"
    child = Child([lambda: time.sleep(30)])
    try:
        with pytest.raises(RuntimeError, match=f"killed by signal {int(signal.SIGTERM)}"):
            child.result()
    finally:
        child.kill()
    assert signal.getsignal(signal.SIGTERM) is _raise_stop


def _dispositions() -> tuple[Any, Any]:
    return signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)


def _ignored_sigint_survives() -> str:
    os.kill(os.getpid(), signal.SIGINT)
    return "still here"


@needs_fork
def test_children_take_default_actions_for_what_the_parent_handles(sigterm_raises: None) -> None:
    assert run_tasks([_dispositions, _dispositions], n_jobs=2)[1] == (
        signal.SIG_DFL,
        signal.SIG_DFL,
    )
    assert _dispositions() == (signal.default_int_handler, _raise_stop)  # parent unchanged


@needs_fork
def test_children_keep_an_ignored_sigint() -> None:
    """A run from a script that ignores SIGINT: a Ctrl-C to the group must not kill workers
    (before: they reset SIGINT to the default action, died, and the run failed with
    "Broken pipe" sending the report task)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        worker = Worker(_import_wave)
        try:
            worker.submit(_ignored_sigint_survives)
            assert worker.result() == ["still here"]
        finally:
            worker.kill()
        assert run_tasks([lambda: 0, _ignored_sigint_survives], n_jobs=2) == [0, "still here"]
    finally:
        signal.signal(signal.SIGINT, previous)


@needs_fork
def test_a_dead_worker_is_reported_not_a_broken_pipe() -> None:
    worker = Worker(_import_wave)
    try:
        assert worker.pid is not None
        os.kill(worker.pid, signal.SIGKILL)
        time.sleep(0.2)
        worker.submit(functools.partial(_loaded, "wave"))  # no BrokenPipeError
        with pytest.raises(RuntimeError, match="killed by signal 9"):
            worker.result()
    finally:
        worker.kill()


@needs_fork
def test_no_fork_while_another_thread_runs() -> None:
    import threading

    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="busy", daemon=True)
    thread.start()
    try:
        assert effective_jobs(2, 5) == 1
        results = run_tasks([functools.partial(_pid_and, v) for v in range(3)], n_jobs=2)
        assert {pid for pid, _ in results} == {os.getpid()}  # all in the caller
        with pytest.raises(RuntimeError, match="other threads run: busy"):
            Child([lambda: 1])
    finally:
        stop.set()
        thread.join()
    assert effective_jobs(2, 5) == 2
