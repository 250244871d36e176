"""A few worker threads running tasks that wait for other tasks.

Why not :mod:`concurrent.futures`: a copy is a small graph, not a flat list.
A child manifest is fetched, and only then are its blobs known; its own PUT
waits for those blobs; the root's PUT waits for every child.  Running that
graph as it unfolds (a blob starts as soon as the manifest naming it
arrives) instead of level by level saves the idle gaps between levels, which
are most of the time of a copy that only mounts blobs.  A pool of futures
would need worker threads blocked on other futures to express "after";
here a task is queued only once everything it waits for is done.  (And
``concurrent.futures`` imports :mod:`logging`, a few milliseconds that
every ``anyarch copy`` would pay at start-up.)

Semantics: the first failure wins; tasks not yet started are dropped, tasks
that wait for a failed one fail with it, running tasks finish, and
:meth:`TaskGroup.wait` raises that first error once nothing runs any more —
so a caller's rollback never races a worker still writing.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")

__all__ = ["Task", "TaskGroup"]


class Task(Generic[T]):
    """One unit of work in a :class:`TaskGroup`; done when it returned (or its returned task did)."""

    __slots__ = ("_dependents", "_done", "_error", "_fn", "_priority", "_result", "_waiting")

    def __init__(self, fn: Callable[[], T | Task[T]], priority: float) -> None:
        self._fn = fn
        self._priority = priority
        self._waiting = 0
        self._dependents: list[Callable[[Task[T]], None]] = []
        self._done = False
        self._error: BaseException | None = None
        self._result: T | None = None

    @property
    def done(self) -> bool:
        return self._done

    def result(self) -> T:
        """The value the task returned; only valid once :meth:`TaskGroup.wait` returned."""
        if not self._done:
            raise RuntimeError("task has not finished")
        if self._error is not None:
            raise self._error
        return self._result  # type: ignore[return-value]


class TaskGroup:
    """Runs submitted tasks on up to ``workers`` threads, each after the tasks it waits for.

    Lower ``priority`` runs first among ready tasks (a copy runs manifest
    fetches before blobs, and big blobs before small ones, for overlap).
    Threads start in :meth:`wait`, so a caller can queue work before the
    conditions it depends on hold, and only as many as there is work for
    (``--jobs 64`` on a copy of three blobs starts three).
    """

    def __init__(self, workers: int) -> None:
        self._workers = max(1, workers)
        self._cond = threading.Condition()
        self._ready: list[tuple[float, int, Task[Any]]] = []
        self._seq = itertools.count()
        self._pending = 0  # submitted, not yet done
        self._threads: list[threading.Thread] = []
        self._started = False
        self._idle = 0  # workers waiting for a ready task
        self._error: BaseException | None = None

    # --- submitting -----------------------------------------------------------------

    def submit(
        self,
        fn: Callable[[], T | Task[T]],
        *,
        after: Sequence[Task[Any]] = (),
        priority: float = 0.0,
    ) -> Task[T]:
        """Queue ``fn`` to run once every task in ``after`` is done.

        If ``fn`` returns a :class:`Task`, this task is done when that one is
        (a fetch that schedules further work can stand for all of it).
        """
        task: Task[T] = Task(fn, priority)
        with self._cond:
            self._pending += 1
            task._waiting = len(after) + 1  # +1: released below, once every callback is attached
        for dep in after:
            self._on_done(dep, self._releaser(task))
        self._dependency_done(task, None)
        return task

    def _releaser(self, task: Task[Any]) -> Callable[[Task[Any]], None]:
        return lambda dep: self._dependency_done(task, dep)

    def _forwarder(self, outer: Task[Any]) -> Callable[[Task[Any]], None]:
        return lambda inner: self._finish(outer, inner._error, inner._result)

    def _on_done(self, task: Task[T], callback: Callable[[Task[T]], None]) -> None:
        with self._cond:
            if not task._done:
                task._dependents.append(callback)
                return
        callback(task)

    def _dependency_done(self, task: Task[Any], dep: Task[Any] | None) -> None:
        failed = dep._error if dep is not None else None
        with self._cond:
            if failed is not None and task._error is None:
                task._error = failed
            task._waiting -= 1
            if task._waiting:
                return
            if task._error is None and self._error is None:
                heapq.heappush(self._ready, (task._priority, next(self._seq), task))
                if self._started and len(self._ready) > self._idle:
                    self._add_worker()
                self._cond.notify()
                return
        # a dependency failed, or the group already did: the task never runs
        self._finish(task, task._error or _Dropped(), None)

    # --- running ----------------------------------------------------------------------

    def _add_worker(self) -> None:
        """Start one more worker if the limit allows (lock held)."""
        if len(self._threads) < self._workers:
            t = threading.Thread(target=self._work, name=f"anyarch-task-{len(self._threads)}", daemon=True)
            self._threads.append(t)
            t.start()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._ready and self._pending:
                    self._idle += 1
                    self._cond.wait()
                    self._idle -= 1
                if not self._ready:
                    return  # nothing pending: the group is finished
                _, _, task = heapq.heappop(self._ready)
            try:
                value = task._fn()
            except BaseException as exc:  # handed to wait()
                self._finish(task, exc, None)
                continue
            if isinstance(value, Task):
                self._on_done(value, self._forwarder(task))
            else:
                self._finish(task, None, value)

    def _finish(self, task: Task[T], error: BaseException | None, value: T | None) -> None:
        with self._cond:
            task._done = True
            task._error = error
            task._result = value
            task._fn = _noop  # type: ignore[assignment]  # drop closures (and what they hold) early
            self._pending -= 1
            dropped = self._fail(error) if error is not None else []
            callbacks, task._dependents = task._dependents, []
            self._cond.notify_all()
        self._drop(dropped)
        for cb in callbacks:
            cb(task)

    def _fail(self, error: BaseException) -> list[Task[Any]]:
        """Record the group's first error and empty the ready queue (lock held)."""
        if self._error is None and not isinstance(error, _Dropped):
            self._error = error
        if self._error is None:
            return []
        dropped = [t for _, _, t in self._ready]
        self._ready.clear()
        return dropped

    def _drop(self, tasks: list[Task[Any]]) -> None:
        # queued tasks that will never run still finish, so waiters and dependents move on
        for t in tasks:
            self._finish(t, _Dropped(), None)

    def wait(self) -> None:
        """Run everything submitted; raise the first error once no task is running.

        Submit the first tasks before calling this; tasks may submit more
        while they run.  An interrupt (Ctrl-C) here stops new tasks from
        starting, waits for the running ones and re-raises.
        """
        with self._cond:
            self._started = True
            for _ in range(max(1, len(self._ready))):
                self._add_worker()
        try:
            with self._cond:
                while self._pending:
                    self._cond.wait()
        except BaseException as exc:
            with self._cond:
                dropped = self._fail(exc)
            self._drop(dropped)
            raise
        finally:
            with self._cond:
                threads = list(self._threads)
            for t in threads:
                t.join()
        if self._error is not None:
            raise self._error


class _Dropped(Exception):
    """A task that never ran because another task of its group failed first."""


def _noop() -> None:
    return None
