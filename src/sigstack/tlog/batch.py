"""Group commit: many concurrent submissions, one durable append per batch.

Both append-only logs (the transparency log and the CA's CT log) acknowledge an entry
only once it is durably stored, and stay fast under load by storing whatever has queued
up in one transaction on a single writer thread (which also keeps the order of accepted
entries the order of the tree). This is that machinery, once: callers ``submit`` an item
and await its result; ``append`` runs on the writer thread with the whole batch and
returns one result per item; a failure of the batch fails each of its items with the
error ``on_error`` makes of it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from sigstack.errors import LogError, SigstackError

T = TypeVar("T")
R = TypeVar("R")


class BatchWriter(Generic[T, R]):
    def __init__(self, append: Callable[[list[T]], Sequence[R]], on_error: Callable[[Exception], SigstackError],
                 *, max_batch: int, name: str) -> None:
        self._append = append
        self._on_error = on_error
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[T, asyncio.Future[R]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._pool.shutdown(wait=True)

    @property
    def running(self) -> bool:
        return self._queue is not None

    async def submit(self, item: T) -> R:
        """Queue ``item``; returns its result once its batch is durably stored."""
        if self._queue is None:
            raise LogError("the log is not running")
        fut: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        await self._queue.put((item, fut))
        return await fut

    async def _loop(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                results = await loop.run_in_executor(self._pool, self._append, [e for e, _ in batch])
            except Exception as exc:
                err = self._on_error(exc)
                for _, fut in batch:
                    if not fut.done():
                        fut.set_exception(err)
                continue
            for (_, fut), res in zip(batch, results, strict=True):
                if not fut.done():
                    fut.set_result(res)
