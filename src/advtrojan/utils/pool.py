"""Worker processes of ``zoo train`` and ``zoo scan`` that end with the command that started them.

A :class:`concurrent.futures.ProcessPoolExecutor` leaves its workers running when its parent is
killed with SIGTERM (a job scheduler's time limit, ``timeout``, ``kill PID``): they keep training,
unseen, and hold the CPU. :func:`parallel_map` runs on a :class:`multiprocessing.pool.Pool`, whose
``terminate`` ends every worker, and turns SIGTERM into ``SystemExit`` while it runs, so that the
pool is terminated on the way out. The run folders stay resumable: a killed model resumes.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Iterator
from multiprocessing import get_context


def _call(job):
    fn, args = job
    return fn(*args)


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def parallel_map(fn: Callable, arglists: Iterable[tuple], workers: int) -> Iterator:
    """``fn(*args)`` for each of ``arglists`` in ``workers`` spawned processes, results in order.

    ``fn`` must be a module-level function (it is pickled). If the caller stops early, fails, or
    gets SIGTERM, every worker is terminated before this returns or raises."""
    jobs = [(fn, tuple(args)) for args in arglists]
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm) if main else None
    try:
        with get_context("spawn").Pool(processes=workers) as pool:  # exit: terminate()
            yield from pool.imap(_call, jobs)
    finally:
        if main:
            signal.signal(signal.SIGTERM, previous)
