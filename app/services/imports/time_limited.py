"""Running a CPU-heavy function, such as reading an uploaded workbook, in a child process that
is killed at a time limit, with only a few running at once.

A thread would not do: it cannot be stopped, and while it holds the GIL the event loop and
every other request wait (four workbooks read in threads made /healthz take 3.5 s). A child
process runs on a core of its own at a lower priority, and a kill leaves nothing behind.

A worker is a fresh interpreter, never a fork of the web process, whose threads and database
connections a fork would copy in whatever state they were in. It answers one call at a time
and stays for the next; one past its time is killed and replaced."""

import atexit
import importlib
import os
import subprocess
import sys
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from app.i18n import current_locale

T = TypeVar("T")

# Reads that may wait for a free slot, per slot; more are refused at once, so that waiting
# uploads never hold many of the threads that every other request needs too.
QUEUED_PER_SLOT = 4
# The child yields the CPU to the web process whenever both want it.
CHILD_NICENESS = 10


class TimedOut(Exception):
    """The function ran past the limit and was killed."""


class Busy(Exception):
    """Every slot stayed taken while this call waited."""


class Crashed(Exception):
    """The child died without an answer (killed from outside, out of memory)."""


@dataclass(frozen=True)
class Limits:
    # The longest a call may run (a new worker's imports included); a call also waits at
    # most this long for a free slot.
    seconds: float = 20
    # How many calls run at once in this process (each on a core of its own).
    parallel: int = 1


@dataclass
class _Slots:
    admitted: threading.BoundedSemaphore  # running or waiting
    running: threading.BoundedSemaphore


@cache
def _slots(parallel: int, queued_per_slot: int) -> _Slots:
    return _Slots(
        threading.BoundedSemaphore(parallel * (1 + queued_per_slot)),
        threading.BoundedSemaphore(parallel),
    )


def run(function: Callable[..., T], /, *args: Any, limits: Limits) -> T:
    """`function(*args)` computed in a child process, in the caller's language; what it raises
    is raised here. Raises `Busy` when no slot frees up in time and `TimedOut` when the child
    is still working at the limit. Blocks: call it from a worker thread."""
    slots = _slots(limits.parallel, QUEUED_PER_SLOT)
    if not slots.admitted.acquire(blocking=False):
        raise Busy
    try:
        if not slots.running.acquire(timeout=limits.seconds):
            raise Busy
        try:
            return _in_child(function, args, limits.seconds)
        finally:
            slots.running.release()
    finally:
        slots.admitted.release()


def _in_child(function: Callable[..., T], args: tuple[Any, ...], seconds: float) -> T:
    module = function.__module__
    worker = _take_worker(module)
    try:
        worker.calls.send((function, args, current_locale.get()))
        if not worker.answers.poll(seconds):
            raise TimedOut
        ok, value = worker.answers.recv()
    except TimedOut:
        worker.stop()
        raise
    except Exception as exc:  # the worker died: killed from outside, out of memory, a crash
        worker.stop()
        raise Crashed from exc
    _give_back(module, worker)
    if ok:
        result: T = value
        return result
    raise value


# A fresh interpreter, not multiprocessing: its children import the parent's main module
# again (a script, the `ronghe` command). Importing openpyxl takes the better part of a
# second, so a worker stays to serve the next call; one past its time is killed, and one
# that served many is replaced, so that nothing it kept in memory grows for long.
CALLS_PER_WORKER = 50
CHILD_MAIN = "from app.services.imports.time_limited import child_main; child_main()"


@dataclass
class _Worker:
    process: "subprocess.Popen[bytes]"
    calls: Connection
    answers: Connection
    served: int = 0

    @classmethod
    def start(cls, module: str) -> "_Worker":
        process = subprocess.Popen(  # noqa: S603 - this interpreter, running our own code
            [sys.executable, "-c", CHILD_MAIN, module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        calls = Connection(os.dup(process.stdin.fileno()), readable=False)
        answers = Connection(os.dup(process.stdout.fileno()), writable=False)
        process.stdin.close()
        process.stdout.close()
        return cls(process, calls, answers)

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        self.calls.close()
        self.answers.close()


_idle: dict[str, list[_Worker]] = {}
_idle_lock = threading.Lock()


def _take_worker(module: str) -> _Worker:
    with _idle_lock:
        workers = _idle.setdefault(module, [])
        while workers:
            worker = workers.pop()
            if worker.process.poll() is None:
                return worker
            worker.stop()
    return _Worker.start(module)


def _give_back(module: str, worker: _Worker) -> None:
    worker.served += 1
    if worker.served >= CALLS_PER_WORKER:
        worker.stop()
        return
    with _idle_lock:
        _idle.setdefault(module, []).append(worker)


@atexit.register
def _stop_idle_workers() -> None:
    with _idle_lock:
        for workers in _idle.values():
            for worker in workers:
                worker.stop()
        _idle.clear()


def child_main() -> None:
    """The worker's side: import the module named by the argument, then answer calls until
    the parent closes the pipe."""
    os.nice(CHILD_NICENESS)
    warnings.simplefilter("ignore")  # openpyxl warns of every Excel feature it skips
    answers = Connection(os.dup(1), readable=False)
    os.dup2(2, 1)  # a stray print goes to the log, not into an answer
    calls = Connection(os.dup(0), writable=False)
    importlib.import_module(sys.argv[1])
    while True:
        try:
            function, args, locale = calls.recv()
        except EOFError:
            return
        current_locale.set(locale)
        try:
            answer: tuple[bool, Any] = (True, function(*args))
        except Exception as exc:
            answer = (False, exc)
        try:
            answers.send(answer)
        except Exception as exc:  # an answer that does not pickle
            answers.send((False, Crashed(repr(exc))))
