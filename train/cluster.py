"""The engine for the parallel parts of a job (the pictures' features for training, batch prediction):
Dask `distributed`, an optional install (`bash setup.sh --cluster`, requirements-cluster.txt).

Where the tasks run (EngineOptions in config.py):
- `--cluster ADDRESS`, or Dask's own DASK_SCHEDULER_ADDRESS: the workers of that Dask cluster. They run
  this project (the same image) and must see the pictures, and for prediction the run folder, at the
  same paths (a shared volume);
- else `--workers N`: a local cluster of N worker processes on this machine, started and stopped with
  the job (no set-up);
- neither: the same tasks one after the other in this process (no engine, nothing to install).

A job is cut into chunks, one task each. The engine does the rest: it hands tasks to free workers, and
when a worker dies (killed, out of memory, its machine gone) the scheduler runs that worker's tasks again
on another one (up to `distributed.scheduler.allowed-failures` times) while the others go on; a local
worker is restarted by its nanny. What this module adds is the landing: every finished chunk is given to
the caller's `land`, on this machine, which writes it at once as one complete file, so a job stopped and
started again runs only the chunks that did not land.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from dataclasses import dataclass

from .errors import InputError

ADDRESS_VARIABLE = "DASK_SCHEDULER_ADDRESS"  # Dask's own: a client started without an address uses it
INSTALL = "bash setup.sh --cluster"
CLOSE_TIMEOUT_S = 120


@dataclass(frozen=True)
class Engine:
    """Where a job's chunks run: a Dask scheduler's address, else `workers` local processes."""
    address: str | None = None
    workers: int = 1
    chunk: int = 512  # pictures per task

    def where(self) -> str:
        return f"the Dask cluster at {self.address}" if self.address else \
            f"a local Dask cluster of {self.workers} worker process{'es' * (self.workers != 1)}"


def engine_of(cluster: str | None, workers: int | None, chunk: int) -> Engine | None:
    """The options (--cluster, --workers, --chunk) -> an Engine, or None: run in this process."""
    address = cluster or os.environ.get(ADDRESS_VARIABLE) or None
    if address is None and workers is None:
        return None
    return Engine(address=address, workers=workers or 1, chunk=chunk)


@contextlib.contextmanager
def client(engine: Engine):
    """A Dask client for the engine: connected to its scheduler, or to a local cluster made for the job."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise InputError(f"--cluster/--workers: the engine (Dask distributed) is not installed; run `{INSTALL}`") \
            from None
    if engine.address:
        try:
            c = Client(engine.address, timeout="30s")
        except (OSError, TimeoutError) as e:
            raise InputError(f"--cluster {engine.address}: no Dask scheduler answers there ({e})") from None
        with c:
            yield c
        return
    # One thread a worker: TensorFlow already uses the cores it has, and a worker's tasks share its model.
    local = LocalCluster(n_workers=engine.workers, threads_per_worker=1, processes=True, dashboard_address=None,
                         silence_logs=logging.ERROR)
    try:
        with Client(local) as c:
            yield c
    finally:
        try:  # workers holding TensorFlow can be slow to exit on a loaded machine; what landed is kept anyway
            local.close(timeout=CLOSE_TIMEOUT_S)
        except (TimeoutError, asyncio.TimeoutError):
            print(f"warning: the local Dask workers took over {CLOSE_TIMEOUT_S} s to stop", file=sys.stderr)


def run_chunks(engine: Engine | None, task, chunks: list, land, *args, label: str = "pictures") -> None:
    """task(chunk, *args) for every chunk: on the engine's workers, or here when `engine` is None;
    land(index, result) here as each one finishes (on the engine: in the order they finish). A task's
    error stops the job (the chunks landed so far stay landed)."""
    from .progress import Progress

    bar = Progress(label, sum(map(len, chunks)), quiet_below=50)
    if not chunks:
        return
    if engine is None:
        for i, chunk in enumerate(chunks):
            land(i, task(chunk, *args))
            bar.add(len(chunk))
        bar.close()
        return
    from distributed import as_completed

    with client(engine) as c:
        print(f"engine: {len(chunks)} tasks on {engine.where()}", flush=True)
        futures = {c.submit(task, chunk, *args, pure=False): i for i, chunk in enumerate(chunks)}
        try:
            for future in as_completed(futures):
                i = futures[future]
                land(i, future.result())
                future.release()  # the result leaves the workers' memory
                bar.add(len(chunks[i]))
        finally:
            c.cancel([f for f in futures if not f.done()])
    bar.close()
