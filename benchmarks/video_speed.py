"""Video analysis speed and memory: seconds of video analysed per second of wall time, and peak memory.

Run: python -m benchmarks.video_speed [--seconds 20] [--long-minutes 10] [--repeats 3]

A 720p, 30 fps H.264 + AAC clip of the astronaut's face with looped speech is generated in a temp
folder (x264 "veryfast", which uses B-frames as cameras and editors do, with film grain for a
realistic bit rate). Its analysis at the default sampling rate is timed after the models are loaded
(the target is >= 10x real time on 2 cores), and so is drawing the annotated copy. For memory, the
clip is repeated (stream copy, no re-encoding) to ``--long-minutes`` and to 1 minute, and each is
analysed in a fresh process that reports how far its resident memory rose above what the loaded
models take (peak reset after loading) and the peak of Python/numpy allocations (tracemalloc): if
decoding is streamed, the figures for 1 and 10 minutes are about equal. Prints a table and writes
reports/video_benchmark.json. Numbers depend on the machine and its load at the time; the load
average and the CPU seconds (less sensitive to other processes) are recorded with them.
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
import tracemalloc
from pathlib import Path

from harness import PROJECT_ROOT

REPORT = PROJECT_ROOT / "reports" / "video_benchmark.json"
SIZE, FPS = (1280, 720), 30
GRAIN = 5.0  # noise std (grey levels): brings the bit rate near a webcam's (1-3 Mbit/s)


def make_clip(path: Path, seconds: float) -> Path:
    from harness.videos import write_video

    return write_video(path, seconds=seconds, size=SIZE, fps=FPS, sound_kind="speech", grain=GRAIN, preset="veryfast")


def repeat_clip(source: Path, destination: Path, times: int) -> Path:
    """``source`` played ``times`` times in a row, by copying its packets with shifted timestamps."""
    import av

    with av.open(str(source)) as first:
        low, high = {}, {}  # per stream: earliest timestamp, and latest timestamp + duration
        for packet in first.demux():
            if packet.dts is None:
                continue
            index, stamps = packet.stream.index, (packet.dts, packet.pts if packet.pts is not None else packet.dts)
            low[index] = min(low.get(index, min(stamps)), *stamps)
            high[index] = max(high.get(index, 0), max(stamps) + (packet.duration or 0))
        spans = {index: high[index] - low[index] for index in low}  # so each turn starts after the last ends
    with av.open(str(destination), "w") as output:
        with av.open(str(source)) as template:
            streams = {s.index: output.add_stream_from_template(s) for s in template.streams}
        for turn in range(times):
            with av.open(str(source)) as container:
                for packet in container.demux():
                    if packet.dts is None:
                        continue
                    shift = turn * spans[packet.stream.index]
                    packet.pts, packet.dts = packet.pts + shift, packet.dts + shift
                    packet.stream = streams[packet.stream.index]
                    output.mux(packet)
    return destination


def clip_facts(path: Path) -> dict:
    from emotion_core.media import probe

    info = probe(path)
    return {"width": info.width, "height": info.height, "frame_rate": info.frame_rate,
            "duration_s": info.duration, "size_mb": info.size_bytes / 2**20,
            "bit_rate_kbps": info.size_bytes * 8 / 1000 / info.duration, "video_codec": info.video_codec,
            "audio_codec": info.audio_codec}


def timed(call) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) for one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    call()
    return time.perf_counter() - wall, time.process_time() - cpu


def speed(clip: Path, repeats: int) -> dict:
    import emotion_core
    from emotion_core.video import DEFAULT_FRAMES_PER_SECOND

    emotion_core.load_models()
    duration = emotion_core.analyze_video(clip).duration  # warm-up
    results = {}
    for fps in (DEFAULT_FRAMES_PER_SECOND, 5.0):
        runs = [timed(lambda fps=fps: emotion_core.analyze_video(clip, fps)) for _ in range(repeats)]
        wall = statistics.median(r[0] for r in runs)
        results[f"analyze_{fps:g}fps"] = {"wall_s": wall, "cpu_s": statistics.median(r[1] for r in runs),
                                          "x_real_time": duration / wall, "runs_wall_s": [r[0] for r in runs]}
    analysis = emotion_core.analyze_video(clip)
    with tempfile.TemporaryDirectory() as folder:
        wall, cpu = timed(lambda: emotion_core.write_annotated_video(clip, analysis, Path(folder) / "a.mp4"))
    results["annotated_video"] = {"wall_s": wall, "cpu_s": cpu, "x_real_time": duration / wall}
    return results


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS: now, VmHWM: peak), in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


def child_peak_memory(clip: Path) -> dict:
    """Analyse ``clip`` in this (fresh) process; report resident memory before and at the peak.

    The peak is reset after the models are loaded (``clear_refs``, Linux >= 4.0), so it is the
    peak of the analysis alone; tracemalloc gives the peak of Python and numpy allocations.
    """
    import numpy as np

    import emotion_core
    from emotion_core import media, video

    # Each join of the repeated clip adds a frame or two: 10 x 60 s comes to a little over the limit.
    video.MAX_VIDEO_SECONDS = max(video.MAX_VIDEO_SECONDS, media.probe(clip).duration + 1.0)
    emotion_core.load_models()
    emotion_core.analyze_frame(np.zeros((64, 64, 3), np.uint8))
    lifetime_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path("/proc/self/clear_refs").write_text("5")  # peak RSS := current RSS
    before = status_mb("VmRSS")
    tracemalloc.start()
    wall, cpu = timed(lambda: emotion_core.analyze_video(clip))
    traced_peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    peak = status_mb("VmHWM")
    return {"rss_after_models_mb": before, "peak_rss_mb": peak, "growth_mb": peak - before,
            "python_numpy_peak_mb": traced_peak, "process_lifetime_peak_mb": max(lifetime_peak, peak),
            "wall_s": wall, "cpu_s": cpu}


def peak_memory(clip: Path) -> dict:
    done = subprocess.run([sys.executable, "-m", "benchmarks.video_speed", "--child", str(clip)], cwd=PROJECT_ROOT,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"the memory run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the speed clip")
    parser.add_argument("--long-minutes", type=int, default=10, help="length of the memory clip")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_peak_memory(args.child)))
        return
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="video-benchmark-") as folder:
        clip = make_clip(Path(folder) / "clip720p.mp4", args.seconds)
        results = {"clip": clip_facts(clip), "speed": speed(clip, args.repeats)}
        one_minute = repeat_clip(clip, Path(folder) / "one_minute.mp4", max(1, round(60 / args.seconds)))
        long = repeat_clip(clip, Path(folder) / "long.mp4", max(1, round(args.long_minutes * 60 / args.seconds)))
        results["memory"] = {name: {**peak_memory(path), "duration_s": clip_facts(path)["duration_s"]}
                             for name, path in (("1_min", one_minute), (f"{args.long_minutes}_min", long))}
    results["machine"] = {"cpus": os.cpu_count(), "load_average_before": load_before,
                          "load_average_after": os.getloadavg(), "platform": platform.platform(),
                          "python": platform.python_version()}
    print_table(results)
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text(json.dumps(results, indent=2) + "\n")


def print_table(results: dict) -> None:
    clip = results["clip"]
    print(f"clip: {clip['width']}x{clip['height']} {clip['frame_rate']:g} fps {clip['video_codec']}+"
          f"{clip['audio_codec']}, {clip['duration_s']:.0f} s, {clip['bit_rate_kbps']:.0f} kbit/s")
    print(f"{'task':22s} {'wall s':>8s} {'cpu s':>8s} {'x real time':>12s}")
    for name, row in results["speed"].items():
        print(f"{name:22s} {row['wall_s']:8.2f} {row['cpu_s']:8.2f} {row['x_real_time']:12.1f}")
    print(f"{'memory':22s} {'video s':>8s} {'RSS MB':>8s} {'peak MB':>8s} {'growth MB':>10s} {'numpy peak MB':>14s}")
    for name, row in results["memory"].items():
        print(f"{name:22s} {row['duration_s']:8.0f} {row['rss_after_models_mb']:8.0f} {row['peak_rss_mb']:8.0f} "
              f"{row['growth_mb']:10.1f} {row['python_numpy_peak_mb']:14.1f}")
    print(f"load average before/after: {results['machine']['load_average_before']} / "
          f"{results['machine']['load_average_after']}")


if __name__ == "__main__":
    main()
