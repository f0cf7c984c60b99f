"""Batch throughput: hours of media analysed per hour of wall time, batch on 1 and 2 workers vs the single-file command.

Run: python -m benchmarks.batch_throughput [--files 16] [--seconds 80] [--repeats 1]

``--files`` recordings of ``--seconds`` each are made from the 720p, 30 fps clip of
``benchmarks.video_speed`` (astronaut's face, looped speech, x264 with B-frames and film grain),
repeated by copying packets and each given its own title, so every file has its own content hash.
On the same folder, at the default 2 frames/s, it then times as separate commands: today's
single-file command once per file (``python -m emotion_core FILE --summary-only``, a process and a
model load per file), and ``python -m emotion_core batch`` with ``--workers 1`` and ``--workers 2``
(a fresh output each time). The figures are whole-command wall times, start-up included, and the
CPU seconds of each command and its workers; from each batch's ``files`` table also the rate once
running: per worker, the media it finished after its first file over the time that took.
Targets: 2 workers >= 1.7x one worker, one worker >= the single-file command. Prints a table and
writes reports/batch/batch_throughput.json; figures depend on what else the machine is doing, so
the load average before and after each command is recorded with it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "batch" / "batch_throughput.json"
TARGET_TWO_VS_ONE = 1.7
TARGET_ONE_VS_CLI = 1.0
BASE_SECONDS = 20.0  # the clip that is encoded; longer files repeat it


def stamped_copy(source: Path, destination: Path, title: str) -> Path:
    """``source`` with its packets copied unchanged and the container titled ``title`` (other bytes, same media)."""
    import av

    with av.open(str(source)) as original, av.open(str(destination), "w") as output:
        output.metadata["title"] = title
        streams = {s.index: output.add_stream_from_template(s) for s in original.streams}
        for packet in original.demux():
            if packet.dts is None:
                continue
            packet.stream = streams[packet.stream.index]
            output.mux(packet)
    return destination


def make_archive(folder: Path, files: int, seconds: float) -> list[Path]:
    from benchmarks.video_speed import make_clip, repeat_clip

    clip = make_clip(folder / "clip.mp4", BASE_SECONDS)
    long = repeat_clip(clip, folder / "long.mp4", max(1, round(seconds / BASE_SECONDS)))
    archive = folder / "archive"
    archive.mkdir()
    return [stamped_copy(long, archive / f"interview_{index:02d}.mp4", f"interview {index}") for index in range(files)]


def timed_commands(commands: list[list[str]]) -> dict:
    """Run ``commands`` one after another; wall seconds, CPU seconds of them and their children, load average."""
    load_before = os.getloadavg()[0]
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    for command in commands:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr[-3000:]}")
    wall = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "load_before": load_before, "load_after": os.getloadavg()[0]}


def running_rate(out: Path) -> dict:
    """From a batch's files table: media per wall second once each worker had finished its first file."""
    import pandas as pd

    files = pd.read_parquet(out / "files")
    rate, per_worker = 0.0, {}
    for worker, rows in files[files.status == "ok"].groupby("worker"):
        rows = rows.sort_values("finished")
        span = (rows.finished.iloc[-1] - rows.finished.iloc[0]).total_seconds()
        per_worker[worker] = {"files": len(rows), "analysis_s": float(rows.analysis_seconds.sum())}
        if len(rows) > 1 and span > 0:
            rate += float(rows.duration.iloc[1:].sum()) / span
    return {"x_real_time_running": rate, "workers": per_worker}


def run_once(paths: list[Path], folder: Path, repeat: int) -> dict:
    python = sys.executable
    results = {}
    for workers in (2, 1):
        out = folder / f"out_{workers}_{repeat}.parquet"
        command = [python, "-m", "emotion_core", "batch", str(paths[0].parent), "--out", str(out),
                   "--workers", str(workers), "--quiet"]
        results[f"batch_{workers}_worker{'s' if workers > 1 else ''}"] = {**timed_commands([command]),
                                                                         **running_rate(out)}
    single = [[python, "-m", "emotion_core", str(path), "--summary-only", "--quiet"] for path in paths]
    results["single_file_cli"] = timed_commands(single)
    return results


def summarize(runs: list[dict], media_seconds: float) -> dict:
    """Median over repeats of each command; hours of media per hour of wall time, and the two ratios."""
    names = runs[0].keys()
    table = {}
    for name in names:
        wall = statistics.median(run[name]["wall_s"] for run in runs)
        cpu = statistics.median(run[name]["cpu_s"] for run in runs)
        table[name] = {"wall_s": wall, "cpu_s": cpu, "media_hours_per_hour": media_seconds / wall,
                       "cores_used": cpu / wall, "cpu_s_per_media_minute": cpu / (media_seconds / 60)}
        running = [run[name]["x_real_time_running"] for run in runs if "x_real_time_running" in run[name]]
        if running:
            table[name]["x_real_time_running"] = statistics.median(running)
    one, two, cli = (table[n]["media_hours_per_hour"] for n in ("batch_1_worker", "batch_2_workers", "single_file_cli"))
    ratios = {"two_vs_one_worker": two / one, "one_worker_vs_single_file_cli": one / cli,
              "two_vs_one_worker_running": table["batch_2_workers"]["x_real_time_running"]
              / table["batch_1_worker"]["x_real_time_running"]}
    targets = {"two_vs_one_worker >= 1.7": ratios["two_vs_one_worker"] >= TARGET_TWO_VS_ONE,
               "one_worker_vs_single_file_cli >= 1.0": ratios["one_worker_vs_single_file_cli"] >= TARGET_ONE_VS_CLI}
    return {"commands": table, "ratios": ratios, "targets_met": targets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=80.0, help="length of each file (a multiple of 20 s)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from emotion_core.media import probe
    from harness.machine import describe_cpu

    with tempfile.TemporaryDirectory(prefix="batch-benchmark-") as name:
        folder = Path(name)
        paths = make_archive(folder, args.files, args.seconds)
        media_seconds = sum(probe(path).duration for path in paths)
        runs = [run_once(paths, folder, repeat) for repeat in range(args.repeats)]
    results = {"media": {"files": len(paths), "seconds_each": media_seconds / len(paths),
                         "hours": media_seconds / 3600, "video": "1280x720 30 fps h264 + aac", "fps_analysed": 2.0},
               **summarize(runs, media_seconds), "runs": runs,
               "machine": {"cpu": describe_cpu(), "platform": platform.platform(), "python": platform.python_version()}}
    print_table(results)
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(results, indent=2) + "\n")


def print_table(results: dict) -> None:
    media = results["media"]
    print(f"{media['files']} files of {media['seconds_each']:.0f} s ({media['hours']:.2f} h), {media['video']}, "
          f"{media['fps_analysed']:g} frames/s")
    print(f"{'command':18s} {'wall s':>8s} {'cpu s':>8s} {'h media/h':>10s} {'x running':>10s}")
    for name, row in results["commands"].items():
        running = f"{row['x_real_time_running']:10.1f}" if "x_real_time_running" in row else f"{'-':>10s}"
        print(f"{name:18s} {row['wall_s']:8.1f} {row['cpu_s']:8.1f} {row['media_hours_per_hour']:10.1f} {running}")
    for name, value in results["ratios"].items():
        print(f"{name}: {value:.2f}")
    print("targets met:", results["targets_met"])


if __name__ == "__main__":
    main()
