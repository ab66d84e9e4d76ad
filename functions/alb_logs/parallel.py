"""Counting blocks in worker processes, each worker folding its own results.

Parsing is pure Python and bound by one core, while Lambda gives a function up to six vCPUs
(one per 1,769 MB of memory). The parent decompresses and cuts blocks of whole lines; each worker
counts the blocks it is given (`counting.count_block`) and folds them into one running total,
which it returns at the end, so the parent only merges one small total per worker.

Why not `concurrent.futures.ProcessPoolExecutor` or `multiprocessing.Pool`: both need POSIX
semaphores in `/dev/shm`, which Lambda does not have. `multiprocessing.Process` with a `Pipe` per
worker works there, so this is that: each worker receives argument tuples and sends back results,
at most `IN_FLIGHT` blocks queued per worker so memory stays bounded. An acknowledgement per
block tells the parent which worker is free.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

__all__ = ["IN_FLIGHT", "LAMBDA_MB_PER_VCPU", "WorkerError", "available_cpus", "reduce_unordered"]

R = TypeVar("R")
#: Blocks sent to a worker and not yet answered.
IN_FLIGHT = 4


class WorkerError(RuntimeError):
    """A worker raised; the message carries its exception."""


#: Lambda allots one vCPU's worth of time per this much memory (its docs), whatever number of
#: CPUs the sandbox shows.
LAMBDA_MB_PER_VCPU = 1769


def available_cpus() -> int:
    """CPUs this process may run on; on Lambda, the vCPUs its memory size pays for."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    memory = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory.isdigit():
        cpus = min(cpus, max(1, int(memory) // LAMBDA_MB_PER_VCPU))
    return cpus


def _serve(connection: Connection, function: Callable[..., R], combine: Callable[[R, R], R]) -> None:
    """Worker loop: apply `function` to each item, fold results with `combine`, send the total."""
    total: R | None = None
    while True:
        arguments = connection.recv()
        if arguments is None:
            connection.send((True, total))
            connection.close()
            return
        try:
            result = function(*arguments)
            total = result if total is None else combine(total, result)
        except Exception as exc:
            connection.send((False, f"{type(exc).__name__}: {exc}"))
        else:
            connection.send((True, None))


def reduce_unordered(
    function: Callable[..., R],
    combine: Callable[[R, R], R],
    items: Iterable[tuple[Any, ...]],
    workers: int,
) -> R | None:
    """`combine` over `function(*item)` for every item, computed in `workers` processes (in this
    one when `workers` < 2); None when there are no items. `combine` must be associative and
    commutative: items are spread over the workers in no fixed order.

    When `items` itself raises, the items already sent are still processed and combined, and the
    exception propagates with that partial total attached as `exc.partial_result`.
    """
    if workers < 2:
        total: R | None = None
        try:
            for item in items:
                result = function(*item)
                total = result if total is None else combine(total, result)
        except Exception as exc:
            exc.partial_result = total  # type: ignore[attr-defined]
            raise
        return total
    return _reduce_in_processes(function, combine, items, workers)


def _reduce_in_processes(
    function: Callable[..., R],
    combine: Callable[[R, R], R],
    items: Iterable[tuple[Any, ...]],
    workers: int,
) -> R | None:
    context = multiprocessing.get_context("fork")
    pipes: list[Connection] = []
    processes = []
    for _ in range(workers):
        parent_end, child_end = context.Pipe()
        process = context.Process(target=_serve, args=(child_end, function, combine), daemon=True)
        process.start()
        child_end.close()
        pipes.append(parent_end)
        processes.append(process)
    pending = dict.fromkeys(pipes, 0)

    def acknowledge(ready: list[Any]) -> None:
        for connection in ready:
            assert isinstance(connection, Connection)
            ok, value = connection.recv()
            pending[connection] -= 1
            if not ok:
                raise WorkerError(value)

    total: R | None = None
    failure: BaseException | None = None
    try:
        try:
            for item in items:
                while True:
                    idle = min(pipes, key=pending.__getitem__)
                    if pending[idle] < IN_FLIGHT:
                        break
                    acknowledge(wait(pipes))
                idle.send(item)
                pending[idle] += 1
        except WorkerError:
            raise
        except Exception as exc:  # the items ran out early: keep what was sent
            failure = exc
        while any(pending.values()):
            acknowledge(wait([c for c, n in pending.items() if n]))
        for connection in pipes:
            connection.send(None)
            ok, value = connection.recv()
            if not ok:  # pragma: no cover - a worker only fails while processing an item
                raise WorkerError(value)
            if value is not None:
                total = value if total is None else combine(total, value)
    finally:
        for connection in pipes:
            connection.close()
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():  # pragma: no cover
                process.kill()
    if failure is not None:
        failure.partial_result = total  # type: ignore[attr-defined]
        raise failure
    return total
