"""The batch on Dask ``distributed``: a local cluster or an existing one, files sent out as tasks.

Every file is two tasks: its hash (:func:`emotion_core.batch.hash_task`), then, if the plan says so,
its analysis (:func:`emotion_core.batch.analyse_task`). Workers are processes that run one task at a
time, in the threads :func:`emotion_core.batch.task_threads` gives them (a local cluster's workers
share this machine's cores); the models are cached per process, so each worker loads them once, on
its first file, and keeps them for every file after. Results come back to this process, which writes
them; Ctrl-C (or SIGTERM) stops the batch after writing what had finished.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import dask
from distributed import Client, LocalCluster, WorkerPlugin, as_completed

from .batch import (
    BatchPlan,
    BatchTally,
    FileOutcome,
    analyse_task,
    failed_outcome,
    hash_task,
    task_threads,
    worker_cores,
)
from .batch_store import ResultStore

CONNECT_TIMEOUT = "30s"  # to reach an existing scheduler
CLOSE_TIMEOUT = 20  # seconds to stop a local cluster
WORKER_LOG_LEVEL = logging.ERROR  # the workers' own log lines (they are many, and about Dask, not files)
WORKER_SETTINGS = Path(__file__).with_name("dask_workers.yaml")  # the workers' Dask settings, local or not

Progress = Callable[[BatchTally], None]


def worker_settings(path: Path = WORKER_SETTINGS) -> dict[str, object]:
    """The Dask settings in the YAML file ``path`` as dotted keys (what ``dask.config.set`` takes)."""
    import yaml

    return dict(_dotted(yaml.safe_load(path.read_text()) or {}))


def _dotted(tree: dict, prefix: str = "") -> Iterator[tuple[str, object]]:
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _dotted(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


@contextmanager
def connect(workers: int, scheduler: str | None) -> Iterator[Client]:
    """A client of the cluster at ``scheduler``, or of a new local one of ``workers`` processes."""
    if scheduler:
        with Client(scheduler, timeout=CONNECT_TIMEOUT) as client:
            yield client
        return
    with _environment_kept():
        with _children_ignore_interrupt(), dask.config.set(worker_settings()):
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                                   silence_logs=WORKER_LOG_LEVEL)
        try:
            with Client(cluster) as client:
                if hasattr(os, "sched_setaffinity"):
                    client.register_plugin(OwnCores(workers, sorted(os.sched_getaffinity(0))))
                yield client
        finally:
            cluster.close(timeout=CLOSE_TIMEOUT)


class OwnCores(WorkerPlugin):
    """Keeps each worker of a local cluster to its own cores (:func:`emotion_core.batch.worker_cores`).

    Measured on the 2-core machine: two workers each on its own core analysed a file 7-11 % faster than
    two the system moved between cores (``reports/batch/REPORT.md``). Runs again in a worker the nanny
    restarts. Not used on a joined cluster (``--scheduler``): how its workers share a host is not asked.
    """

    name = "emotion-core-own-cores"

    def __init__(self, workers: int, cores: list[int]):
        self.workers, self.cores = workers, cores

    def setup(self, worker) -> None:
        index = worker.name if isinstance(worker.name, int) else None
        cores = worker_cores(index, self.workers, self.cores) if index is not None else None
        if cores:
            for thread in os.listdir("/proc/self/task"):  # every thread already running; later ones inherit
                with suppress(OSError):  # a thread that just ended, or cores taken away: an optimisation only
                    os.sched_setaffinity(int(thread), cores)


@contextmanager
def _environment_kept() -> Iterator[None]:
    """This process's environment variables as they were, once the block ends.

    Dask's nannies set their workers' variables (OMP/MKL/OPENBLAS_NUM_THREADS=1, PYTHONHASHSEED, ...) in
    the process that hosts them, before every worker they start; left there, they would reach every
    program this process runs after the batch.
    """
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _children_ignore_interrupt() -> Iterator[None]:
    """Processes started in here ignore Ctrl-C (an ignored signal stays ignored in a new program).

    A terminal sends Ctrl-C to every process of the command, workers included; only this process
    should act on it, so the workers finish cleanly when it closes the cluster. A Ctrl-C during
    the few seconds the cluster takes to start is lost.
    """
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler's or ``kill``'s polite stop) ends the batch like Ctrl-C does."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_batch(paths: list[Path], store: ResultStore, plan: BatchPlan, *, workers: int, scheduler: str | None,
              progress: Progress | None = None) -> BatchTally:
    """Analyse ``paths`` on the cluster as ``plan`` decides, writing every outcome to ``store``.

    Returns the tally; ``tally.interrupted`` is set when Ctrl-C stopped it (what had finished is written).
    """
    tally = BatchTally(total=len(paths))
    threads = task_threads(workers, scheduler)
    with _sigterm_as_interrupt():
        try:
            with connect(workers, scheduler) as client:
                _drive(client, [str(path) for path in paths], store, plan, tally, progress, threads)
        except KeyboardInterrupt:
            tally.interrupted = True
        finally:
            store.flush()
    return tally


def _drive(client: Client, paths: list[str], store: ResultStore, plan: BatchPlan, tally: BatchTally,
           progress: Progress | None, threads: int) -> None:
    jobs: dict[str, tuple[str, str, str | None]] = {}  # task key -> (what, path, hash)
    pending = as_completed()
    numbers = itertools.count()

    def submit(task, what: str, path: str, *args) -> None:
        future = client.submit(task, path, *args, pure=False, key=f"{what}-{next(numbers)}-{Path(path).name}")
        jobs[future.key] = (what, path, args[0] if args else None)
        pending.add(future)

    settings = (store.frames_per_second, threads)  # analyse_task's arguments after the path and hash
    for path in paths:
        submit(hash_task, "hash", path)
    try:
        for future in pending:
            what, path, file_hash = jobs.pop(future.key)
            if what == "hash":
                finished = _hashed(plan, path, _result_or_none(future), tally, submit, settings)
            else:
                finished = _analysed(plan, _outcome(future, path, file_hash), submit, settings)
            for outcome in finished:
                tally.count(outcome)
            store.add(finished)
            if store.flush_due():
                store.flush()
            if progress is not None:
                progress(tally)
    except KeyboardInterrupt:
        client.cancel(list(pending.futures))
        raise


def _hashed(plan: BatchPlan, path: str, file_hash: str | None, tally: BatchTally, submit, settings: tuple) -> list:
    step = plan.hashed(path, file_hash)
    if step.action == "analyse":
        submit(analyse_task, "analyse", path, file_hash, *settings)
    elif step.action == "skip":
        tally.skipped += 1
    elif step.action == "duplicate":
        return [FileOutcome(path, file_hash, "duplicate", duplicate_of=step.original)]
    return []


def _analysed(plan: BatchPlan, outcome: FileOutcome, submit, settings: tuple) -> list[FileOutcome]:
    duplicates, again = plan.finished(outcome)
    for path in again:
        submit(analyse_task, "analyse", path, outcome.file_hash, *settings)
    return [outcome, *duplicates]


def _result_or_none(future):
    try:
        return future.result()
    except Exception:  # noqa: BLE001 - a lost hash only means the file is analysed without one
        return None


def _outcome(future, path: str, file_hash: str | None) -> FileOutcome:
    try:
        return future.result()
    except Exception as error:  # noqa: BLE001 - one file (a crashed worker, an unforeseen error) never stops the batch
        return failed_outcome(path, file_hash, error)
