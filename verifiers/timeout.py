"""Run a function in worker processes under a hard wall-clock limit, from any thread, without signals.

`WorkerPool.call` sends one call to an idle worker and waits on its pipe; if no answer comes within
the limit, the worker is killed and a fresh one takes its place on next use, so a runaway computation
(sympy on ``9^{9^{9^9}}``) costs one worker, never the caller. Workers start lazily, from a
``forkserver`` (or ``spawn``) context so callers that loaded torch or CUDA stay safe; each one caps its
own memory and, as a backstop if its parent dies mid-call, its CPU time. `close` (also run at exit)
stops them all.

    >>> pool = WorkerPool(size=1)
    >>> pool.call(pow, (2, 10), timeout=30).value
    1024
    >>> pool.close()
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
import weakref
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from rft.errors import RftError

STARTUP_TIMEOUT = 120.0
"""Seconds a new worker may take to import its modules and report ready (not part of any call's limit)."""


@dataclass(frozen=True)
class Outcome:
    """What became of one call: ``status`` is ``ok`` (``value`` holds the result), ``error`` (the
    function raised; ``value`` is the message), ``timeout`` or ``crashed`` (the worker died)."""

    status: str
    value: Any = None


def _limit_resources(memory_bytes: int | None) -> None:
    try:
        import resource
    except ImportError:  # not on Unix: no limits
        return
    if memory_bytes:
        try:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        except (ValueError, OSError):
            pass


def _cap_cpu(seconds: float) -> None:
    """Let the kernel end this worker if the current call uses ``seconds`` more CPU (orphan backstop)."""
    try:
        import resource
    except ImportError:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + seconds) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    try:
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ValueError, OSError):
        pass


def _worker_main(conn: Connection, memory_bytes: int | None, cpu_backstop: float,
                 initializer: Callable[[], Any] | None) -> None:
    """Worker loop: receive ``(fn, args)``, send back ``("ok", result)`` or ``("error", message)``."""
    _limit_resources(memory_bytes)
    if initializer is not None:
        try:
            initializer()
        except Exception:  # noqa: BLE001 - a failed warm-up only makes the first call slower
            pass
    try:
        conn.send(("ready", os.getpid()))
    except OSError:  # the pool gave up on this worker while it started
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        fn, args = message
        _cap_cpu(cpu_backstop)
        try:
            reply = ("ok", fn(*args))
        except BaseException as e:  # noqa: BLE001 - report every failure of model-driven input
            reply = ("error", f"{type(e).__name__}: {str(e)[:200]}")
        try:
            conn.send(reply)
        except (OSError, ValueError):
            return


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, ctx: Any, memory_bytes: int | None, cpu_backstop: float,
                 initializer: Callable[[], Any] | None):
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child, memory_bytes, cpu_backstop, initializer),
                                   daemon=True, name="rft-verifier-worker")
        self.process.start()
        child.close()
        try:
            if not self.conn.poll(STARTUP_TIMEOUT):
                raise TimeoutError(f"no sign of life within {STARTUP_TIMEOUT:.0f} s")
            self.conn.recv()
        except (EOFError, OSError) as e:
            self.kill()
            raise RftError(f"a verifier worker process failed to start ({e or type(e).__name__}); a script "
                           "that verifies must guard its entry point with `if __name__ == '__main__':`") from None

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)
        self.conn.close()

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(timeout=1)
        self.kill()


_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_POOLS):
        pool.close()


def default_context(preload: Sequence[str] = ()) -> Any:
    """A ``forkserver`` context (preloading ``preload`` so new workers start in milliseconds), else ``spawn``."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        ctx = multiprocessing.get_context("forkserver")
        if preload:
            ctx.set_forkserver_preload(["__main__", *preload])
        return ctx
    return multiprocessing.get_context("spawn")


class WorkerPool:
    """Up to ``size`` worker processes, started on first use; safe to call from many threads.

    A worker killed on timeout (or found dead) is replaced in the background at once, so the next
    call does not wait for a new process to start.

    Args:
        size: Most worker processes alive at once (and most calls running at once).
        preload: Modules the worker processes import before their first call.
        memory_limit: Address-space cap per worker in bytes (None: no cap).
        cpu_backstop: Extra CPU seconds a call may use before the kernel ends its worker; only
            matters if the parent died and can no longer enforce the wall-clock limit.
        initializer: Module-level function each worker runs once before its first call (a warm-up,
            so first calls are not charged for lazy imports and parser caches).
    """

    def __init__(self, size: int = 2, preload: Sequence[str] = (), memory_limit: int | None = 2 << 30,
                 cpu_backstop: float = 120.0, initializer: Callable[[], Any] | None = None):
        if size < 1:
            raise ValueError(f"size must be >= 1, got {size}")
        self.size = size
        self.preload = tuple(preload)
        self.memory_limit = memory_limit
        self.cpu_backstop = cpu_backstop
        self.initializer = initializer
        self._ctx: Any = None
        self._cond = threading.Condition()
        self._idle: list[_Worker] = []
        self._live: set[_Worker] = set()
        self._count = 0  # workers alive or starting
        self._generation = 0  # bumped by close(), so late replacements know they are not wanted
        _POOLS.add(self)

    def _spawn(self, generation: int) -> _Worker | None:
        """Start one worker already counted in ``_count``; None if the pool was closed meanwhile."""
        with self._cond:
            if self._ctx is None:
                self._ctx = default_context(self.preload)
            ctx = self._ctx
        try:
            worker = _Worker(ctx, self.memory_limit, self.cpu_backstop, self.initializer)
        except BaseException:
            with self._cond:
                if generation == self._generation:
                    self._count -= 1
                self._cond.notify()
            raise
        with self._cond:
            if generation != self._generation:
                worker.kill()
                return None
            self._live.add(worker)
        return worker

    def _checkout(self) -> _Worker:
        while True:
            with self._cond:
                while not self._idle and self._count >= self.size:
                    self._cond.wait()
                if self._idle:
                    return self._idle.pop()
                self._count += 1
                generation = self._generation
            worker = self._spawn(generation)
            if worker is not None:
                return worker

    def _checkin(self, worker: _Worker) -> None:
        with self._cond:
            if worker in self._live:
                self._idle.append(worker)
            self._cond.notify()

    def _replace(self, worker: _Worker) -> None:
        """Kill ``worker`` and start its successor in the background."""
        worker.kill()
        with self._cond:
            if worker not in self._live:  # the pool was closed meanwhile
                return
            self._live.discard(worker)
            generation = self._generation

        def refill() -> None:
            try:
                successor = self._spawn(generation)
            except Exception:  # noqa: BLE001 - the next call starts one itself
                return
            if successor is not None:
                self._checkin(successor)

        threading.Thread(target=refill, name="rft-verifier-refill", daemon=True).start()

    def start(self) -> None:
        """Start all ``size`` workers now (in parallel) instead of on first use."""
        with self._cond:
            missing = self.size - self._count
            self._count += max(0, missing)
            generation = self._generation
        if missing <= 0:
            return
        with ThreadPoolExecutor(max_workers=missing) as threads:
            for worker in threads.map(lambda _: self._spawn(generation), range(missing)):
                if worker is not None:
                    self._checkin(worker)

    def call(self, fn: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Outcome:
        """Run ``fn(*args)`` in a worker; give up (and kill that worker) after ``timeout`` seconds.

        ``fn`` must be importable by name (a module-level function). Time spent waiting for a free
        worker, or for a new one to start and warm up, does not count towards ``timeout``.
        """
        worker = self._checkout()
        try:
            worker.conn.send((fn, args))
            if not worker.conn.poll(timeout):
                self._replace(worker)
                return Outcome("timeout")
            status, value = worker.conn.recv()
        except (EOFError, OSError, ValueError):
            self._replace(worker)
            return Outcome("crashed")
        except BaseException:
            self._replace(worker)
            raise
        self._checkin(worker)
        return Outcome(status, value)

    def map(self, fn: Callable[..., Any], arg_tuples: Sequence[tuple[Any, ...]], timeout: float) -> list[Outcome]:
        """`call` for each argument tuple, up to ``size`` at once; results in input order."""
        if len(arg_tuples) <= 1:
            return [self.call(fn, args, timeout) for args in arg_tuples]
        with ThreadPoolExecutor(max_workers=min(self.size, len(arg_tuples)),
                                thread_name_prefix="rft-verify") as threads:
            return list(threads.map(lambda args: self.call(fn, args, timeout), arg_tuples))

    @property
    def pids(self) -> list[int]:
        """Process ids of the live workers (for tests and monitoring)."""
        with self._cond:
            return [w.process.pid for w in self._live if w.process.pid is not None]

    def close(self) -> None:
        """Stop every worker (idle ones cleanly, busy ones by kill); the pool restarts lazily if used again."""
        with self._cond:
            idle, self._idle = self._idle, []
            busy = [w for w in self._live if w not in idle]
            self._live.clear()
            self._count = 0
            self._generation += 1
            self._cond.notify_all()
        for worker in idle:
            worker.stop()
        for worker in busy:
            worker.kill()
