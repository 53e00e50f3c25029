"""Wall-clock timing of batched inference with the first (warm-up) call reported apart.

Times are seconds.  A timed call includes whatever the callable does: in :mod:`noble.bench.inference` that is
the host-to-device copy of the inputs, the forward pass and the copy of the voltages back to the host.
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from typing import Callable

from noble.progress import tqdm

__all__ = ["Timing", "time_batches"]


@dataclass(frozen=True)
class Timing:
    """``n_batches`` timed calls of ``batch_size`` traces each, after one untimed-in-total warm-up call."""

    batch_size: int
    n_batches: int
    warmup_s: float
    total_s: float
    cpu_s: float = math.nan  # process CPU time of the timed calls (all threads), robust to a busy machine

    @property
    def n_traces(self) -> int:
        return self.batch_size * self.n_batches

    @property
    def seconds_per_trace(self) -> float:
        return self.total_s / self.n_traces

    @property
    def cpu_seconds_per_trace(self) -> float:
        return self.cpu_s / self.n_traces

    @property
    def traces_per_second(self) -> float:
        return self.n_traces / self.total_s if self.total_s > 0 else math.inf

    def seconds_per(self, n_traces: int) -> float:
        """Projected time for ``n_traces`` traces at this rate (the paper quotes 10,000)."""
        return self.seconds_per_trace * n_traces

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(n_traces=self.n_traces, seconds_per_trace=self.seconds_per_trace,
                   traces_per_second=self.traces_per_second, cpu_seconds_per_trace=self.cpu_seconds_per_trace)
        return out


def time_batches(
    run_batch: Callable[[int], object],
    batch_size: int,
    n_traces: int,
    *,
    sync: Callable[[], None] = lambda: None,
    warmup: int = 1,
    label: str = "",
    progress: bool = True,
) -> Timing:
    """Time ``run_batch(i)`` for ``ceil(n_traces / batch_size)`` batches after ``warmup`` warm-up calls.

    ``sync`` waits for queued device work (e.g. ``torch.cuda.synchronize``); it is called before the clock
    starts and before it stops, so asynchronous work is counted.
    """
    if batch_size < 1 or n_traces < 1:
        raise ValueError(f"batch size and trace count must be positive, got {batch_size} and {n_traces}")
    n_batches = max(1, math.ceil(n_traces / batch_size))
    sync()
    start = time.perf_counter()
    for i in range(warmup):
        run_batch(i)
    sync()
    warmup_s = time.perf_counter() - start
    start, cpu_start = time.perf_counter(), time.process_time()
    for i in tqdm(range(n_batches), desc=label or f"batch {batch_size}", leave=False, disable=not progress):
        run_batch(i)
    sync()
    return Timing(batch_size, n_batches, warmup_s, time.perf_counter() - start, time.process_time() - cpu_start)
