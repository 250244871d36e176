"""The task runner under every copy: order, results, and how a failure stops the rest."""

from __future__ import annotations

import threading
import time

import pytest

from anyarch._util.tasks import Task, TaskGroup


def test_a_task_runs_after_what_it_waits_for_and_a_returned_task_stands_for_its_work() -> None:
    group = TaskGroup(4)
    log: list[str] = []
    lock = threading.Lock()

    def note(what: str) -> str:
        time.sleep(0.005)
        with lock:
            log.append(what)
        return what

    def fetch(name: str) -> Task[str]:
        # like a manifest fetch: only now are its blobs known
        blobs = [group.submit(lambda b=b: note(f"{name}/blob{b}")) for b in range(3)]
        return group.submit(lambda: note(f"{name}/put"), after=blobs)

    fetches = [group.submit(lambda n=n: fetch(n)) for n in ("a", "b", "c")]
    root = group.submit(lambda: note("root"), after=fetches)
    group.wait()

    assert root.result() == "root" and [f.result() for f in fetches] == ["a/put", "b/put", "c/put"]
    assert log[-1] == "root"
    for name in "abc":
        put = log.index(f"{name}/put")
        assert all(log.index(f"{name}/blob{b}") < put for b in range(3)), log
    assert len(log) == 13


def test_ready_tasks_run_lowest_priority_first() -> None:
    group = TaskGroup(1)
    order: list[int] = []
    for size in (10, 500, 30, 200):
        group.submit(lambda s=size: order.append(s), priority=-size)
    group.wait()
    assert order == [500, 200, 30, 10]


def test_the_first_failure_is_raised_after_running_tasks_finish_and_nothing_new_starts() -> None:
    group = TaskGroup(2)
    started: list[str] = []
    finished: list[str] = []
    gate = threading.Event()

    def slow() -> None:
        started.append("slow")
        gate.wait(5)
        time.sleep(0.05)
        finished.append("slow")

    def boom() -> None:
        started.append("boom")
        gate.set()
        raise ValueError("registry said no")

    group.submit(slow, priority=0)
    failing = group.submit(boom, priority=0)
    dependent = group.submit(lambda: started.append("dependent"), after=[failing])
    for i in range(5):  # queued behind the two above: dropped once boom fails
        group.submit(lambda i=i: started.append(f"later{i}"), priority=1)

    with pytest.raises(ValueError, match="registry said no"):
        group.wait()
    # wait() returned only after the running task ended: no worker writes after a rollback
    assert finished == ["slow"]
    assert sorted(started) == ["boom", "slow"]
    assert dependent.done
    with pytest.raises(ValueError):
        dependent.result()
    assert not [t for t in threading.enumerate() if t.name.startswith("anyarch-task-")]


def test_an_empty_group_and_a_single_worker_finish() -> None:
    TaskGroup(4).wait()
    group = TaskGroup(1)
    t = group.submit(lambda: 42)
    group.wait()
    assert t.result() == 42


def test_threads_start_only_for_work_that_is_ready() -> None:
    group = TaskGroup(64)
    seen: set[str] = set()
    gate = threading.Barrier(3, timeout=5)

    def blob() -> None:
        seen.add(threading.current_thread().name)
        gate.wait()  # all three run at once: three threads, not one after another

    for _ in range(3):
        group.submit(blob)
    group.wait()
    assert len(seen) == 3
    assert not [t for t in threading.enumerate() if t.name.startswith("anyarch-task-")]


def test_a_graph_that_widens_gets_more_threads_up_to_the_limit() -> None:
    group = TaskGroup(4)
    names: set[str] = set()
    lock = threading.Lock()

    def leaf() -> None:
        time.sleep(0.02)
        with lock:
            names.add(threading.current_thread().name)

    def fetch() -> Task[None]:
        leaves = [group.submit(leaf) for _ in range(10)]
        return group.submit(lambda: None, after=leaves)

    group.submit(fetch)  # one task ready at first: one thread
    group.wait()
    assert 2 <= len(names) <= 4
