"""Data-parallel training on one machine's CPU cores: ``workers`` processes, one torch thread each.

On a small CPU one thread trains about as fast as two (the per-sample work is too small to split well inside an
operator), so two processes that each take half of every batch do about twice the samples per second. Every
process holds the whole model and optimiser and walks the same seeded batch order; process ``r`` predicts rows
``r, r + workers, ...`` of each batch, scales its loss by its share of the batch, and the gradients are summed
over the processes (gloo all-reduce) before each Adam step. The summed gradient is the full batch's mean
gradient, so the run follows the one-process run up to floating-point summation order, and every process takes
the same step. Process 0 is :func:`noble.training.loop.train` itself (evaluation, selection, checkpoints, logs);
the others only train, receiving each epoch's learning rate, or the order to stop, from process 0.
"""
from __future__ import annotations

import copy
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from noble.errors import NobleError


class ParallelError(NobleError):
    """Data-parallel training cannot run as asked."""


@dataclass(frozen=True)
class GradientReducer:
    """This process's place among ``world`` training processes (rank 0 drives the run)."""

    rank: int
    world: int

    def shard(self, rows: torch.Tensor) -> torch.Tensor:
        """This process's rows of a batch (every ``world``-th, from ``rank``)."""
        return rows[self.rank::self.world]

    def sum_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Sum ``tensor`` over the processes, in place (real or complex)."""
        buffer = torch.view_as_real(tensor) if tensor.is_complex() else tensor
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
        return tensor

    def sum_gradients_(self, net: torch.nn.Module) -> None:
        """Replace every parameter's gradient by its sum over the processes (one flat all-reduce)."""
        params = [p for p in net.parameters() if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        flat = [torch.view_as_real(p.grad).reshape(-1) if p.grad.is_complex() else p.grad.reshape(-1) for p in params]
        buffer = torch.cat(flat)
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
        offset = 0
        for p, piece in zip(params, flat):
            n = piece.numel()
            piece.copy_(buffer[offset:offset + n])
            offset += n

    def broadcast_(self, tensor: torch.Tensor) -> torch.Tensor:
        """Process 0's ``tensor`` in every process, in place."""
        dist.broadcast(tensor, src=0)
        return tensor


def check_workers(workers: int, device: torch.device) -> None:
    """Refuse settings data-parallel training does not cover (GPU runs, a bad count)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ParallelError(f"workers must be a positive integer, not {workers!r}")
    if workers > 1 and device.type != "cpu":
        raise ParallelError(f"data-parallel training is for CPU cores; the run is on {device} (use workers=1)")
    if workers > (os.cpu_count() or 1):
        raise ParallelError(f"{workers} workers on a machine with {os.cpu_count()} CPU cores")


class ParallelGroup:
    """The helper processes of a data-parallel run, as a context: started on entry (each with one thread),
    stopped on exit. ``reducer`` is process 0's :class:`GradientReducer`."""

    def __init__(self, workers: int, payload: Mapping[str, Any]) -> None:
        self.workers, self.payload = workers, dict(payload)
        self.reducer: GradientReducer | None = None
        self._context = None
        self._store = None
        self._threads: int | None = None

    def __enter__(self) -> "ParallelGroup":
        if self.workers == 1:
            return self
        self._threads = torch.get_num_threads()
        torch.set_num_threads(1)  # process 0 is one of the ``workers`` one-thread processes
        fd, store = tempfile.mkstemp(prefix="noble-ddp-")
        os.close(fd)
        os.unlink(store)  # the file store creates it
        self._store = store
        self._context = mp.start_processes(_helper_main, args=(self.workers, store, self.payload),
                                           nprocs=self.workers - 1, join=False, start_method="spawn")
        dist.init_process_group("gloo", init_method=f"file://{store}", rank=0, world_size=self.workers)
        self.reducer = GradientReducer(0, self.workers)
        return self

    def next_epoch(self, learning_rate: float | None) -> None:
        """Tell the helpers the next epoch's learning rate, or (``None``) to stop."""
        if self.reducer is not None:
            self.reducer.broadcast_(torch.tensor([float("nan") if learning_rate is None else learning_rate],
                                                 dtype=torch.float64))

    def __exit__(self, *exc: Any) -> None:
        if self.reducer is None:
            return
        try:
            if exc[0] is None:
                self.next_epoch(None)
                self._context.join()
        finally:
            if exc[0] is not None:
                for process in self._context.processes:
                    if process.is_alive():
                        process.terminate()
            dist.destroy_process_group()
            if self._store and Path(self._store).exists():
                Path(self._store).unlink()
            if self._threads is not None:
                torch.set_num_threads(self._threads)


def _helper_main(index: int, world: int, store: str, payload: Mapping[str, Any]) -> None:
    """A helper process (rank ``index + 1``): train the epochs process 0 announces, then return."""
    from noble.training.trainer import run_epoch  # lazy: the spawned process imports the training stack itself

    torch.set_num_threads(1)
    rank = index + 1
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        # private copies: tensors arrive in memory shared with process 0, whose own optimiser updates them
        model = copy.deepcopy(payload["model"])
        model.train()
        tc = payload["training"]
        optimizer = torch.optim.Adam(model.parameters(), lr=tc.learning_rate, weight_decay=tc.weight_decay)
        if payload.get("optimizer") is not None:
            optimizer.load_state_dict(copy.deepcopy(payload["optimizer"]))
        reducer = GradientReducer(rank, world)
        epoch = int(payload["start_epoch"])
        while True:
            lr = reducer.broadcast_(torch.zeros(1, dtype=torch.float64))
            if torch.isnan(lr).item():
                break
            for group in optimizer.param_groups:
                group["lr"] = float(lr.item())
            run_epoch(model, optimizer, None, tc, epoch, payload["train_rows"], payload["amp"], payload["feats"],
                      payload["volt"], None, reducer)
            epoch += 1
    finally:
        dist.destroy_process_group()


__all__ = ["GradientReducer", "ParallelError", "ParallelGroup", "check_workers"]
