"""Where individuals are scored: in this process, a pool of local processes, or a Dask cluster.

Results always come back in submission order, so a fit gives the same result whatever the backend.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Sequence

from noble.fit.errors import FitError


class Mapper:
    """``map(fn, items, on_done)`` over a backend; use as a context manager to release workers."""

    description = "serial"

    def map(self, fn: Callable[[Any], Any], items: Sequence[Any], on_done: Callable[[], None] | None = None) -> list:
        out = []
        for item in items:
            out.append(fn(item))
            if on_done:
                on_done()
        return out

    def close(self) -> None:
        """Release workers (nothing to do for the serial backend)."""

    def __enter__(self) -> "Mapper":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ProcessMapper(Mapper):
    """Local worker processes (started with ``spawn``, so no simulator state is inherited)."""

    def __init__(self, workers: int):
        self.description = f"{workers} local processes"
        self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))

    def map(self, fn, items, on_done=None) -> list:
        futures = {self._pool.submit(fn, item): i for i, item in enumerate(items)}
        out: list = [None] * len(futures)
        for fut in as_completed(futures):
            out[futures[fut]] = fut.result()
            if on_done:
                on_done()
        return out

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskMapper(Mapper):
    """A running Dask distributed scheduler at ``address`` (e.g. ``tcp://10.0.0.1:8786``)."""

    def __init__(self, address: str):
        try:
            from distributed import Client  # lazy: dask.distributed is needed only with a scheduler address
        except ImportError as exc:  # pragma: no cover - distributed is a base requirement
            raise FitError(f"--scheduler needs the `distributed` package: {exc}") from None
        try:
            self._client = Client(address, timeout="30s")
        except (OSError, TimeoutError) as exc:
            raise FitError(f"cannot connect to the Dask scheduler at {address!r}: {exc}") from None
        self.description = f"Dask scheduler {address}"

    def map(self, fn, items, on_done=None) -> list:
        from distributed import as_completed as dask_completed  # lazy: dask.distributed is needed only with a scheduler address

        futures = self._client.map(fn, list(items), pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        out: list = [None] * len(futures)
        for fut in dask_completed(futures):
            out[index[fut.key]] = fut.result()
            if on_done:
                on_done()
        return out

    def close(self) -> None:
        self._client.close()


def make_mapper(workers: int = 1, scheduler: str | None = None) -> Mapper:
    """The Dask backend when ``scheduler`` is given, else ``workers`` local processes (1: this process)."""
    if scheduler:
        return DaskMapper(scheduler)
    if workers < 1:
        raise FitError(f"workers must be >= 1, not {workers}")
    return Mapper() if workers == 1 else ProcessMapper(workers)
