"""``python -m emotion_core batch INPUT... --out results.parquet``: many files, on a Dask cluster.

Exit status: 0 every input has its row (a file that could not be analysed has an "error" row),
1 the batch could not run (no engine installed, no scheduler, an unusable ``--out``), 2 bad
arguments, 130 stopped by Ctrl-C (what had finished is written; run the same command to go on).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable
from pathlib import Path

ENGINE_MODULES = ("distributed", "pyarrow")
ENGINE_INSTALL = "pip install -r requirements-batch.txt"
INTERRUPTED_STATUS = 130  # what shells report for a command stopped by SIGINT

DrawProgress = Callable[[float, str], None]  # (fraction done, message): the command line's progress bar


def default_workers() -> int:
    """One worker process per CPU core this process may use."""
    from .batch import usable_cores

    return usable_cores()


def parse_args(argv: list[str]) -> argparse.Namespace:
    from .batch_store import FLUSH_SECONDS
    from .video import DEFAULT_FRAMES_PER_SECOND, check_frames_per_second

    parser = argparse.ArgumentParser(
        prog="python -m emotion_core batch",
        description="Analyse many images, recordings and videos on a Dask cluster (a local one by default); "
                    "writes a Parquet dataset and resumes where an earlier run with the same --out stopped.")
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="files, folders (searched recursively) or .txt lists of paths (one a line)")
    parser.add_argument("--out", type=Path, required=True, metavar="PATH",
                        help="output folder (e.g. results.parquet) with segments/ and files/ Parquet parts")
    parser.add_argument("--workers", type=int, default=default_workers(),
                        help="worker processes of the local cluster (default: one per core, here %(default)s)")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="join this Dask cluster (e.g. tcp://host:8786) instead of starting a local one")
    parser.add_argument("--fps", type=check_frames_per_second, default=DEFAULT_FRAMES_PER_SECOND,
                        help=f"video frames analysed per second (default {DEFAULT_FRAMES_PER_SECOND})")
    parser.add_argument("--flush-seconds", type=float, default=FLUSH_SECONDS,
                        help="write finished files at least this often; a killed batch loses at most this "
                             "much work (default %(default)s)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def missing_engine() -> list[str]:
    """The engine's packages that cannot be imported."""
    missing = []
    for name in ENGINE_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
    return missing


def main(argv: list[str], draw: DrawProgress | None = None) -> int:
    """Run the batch command; ``draw`` shows progress (the single-file command's bar), None for none."""
    args = parse_args(argv)
    missing = missing_engine()
    if missing:
        print(f"error: the batch command runs on Dask distributed and writes Parquet with pyarrow; "
              f"{' and '.join(missing)} not installed: {ENGINE_INSTALL}", file=sys.stderr)
        return 1
    from .batch import BatchPlan, list_inputs
    from .batch_dask import run_batch
    from .batch_store import ResultStore

    try:
        paths = list_inputs(args.inputs)
        store = ResultStore(args.out, args.fps, args.flush_seconds)
        store.check_frames_per_second()
        store.forget_failures({str(path) for path in paths})
        plan = BatchPlan(store.read().to_pylist())
    except (OSError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    show = None if args.quiet or draw is None else (lambda tally: draw(tally.done / max(tally.total, 1), tally.line()))
    try:
        tally = run_batch(paths, store, plan, workers=args.workers, scheduler=args.scheduler, progress=show)
    except OSError as error:  # the scheduler cannot be reached, or a cluster cannot start
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(tally.report())
    if tally.interrupted:
        print(f"stopped by the user: what had finished is in {args.out}; run the same command to go on",
              file=sys.stderr)
        return INTERRUPTED_STATUS
    return 0
