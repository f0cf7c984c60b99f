"""Load test on loopback: many gradio_client users on the image and audio endpoints, plus live sessions.

Run: python -m benchmarks.load_test [--clients 24] [--seconds 120] [--streams 4]

Starts ``python app.py`` on 127.0.0.1 (never another host), then for ``--seconds`` (and at most
``--max-requests`` requests in all) each of ``--clients`` threads, with a gradio_client Client of its
own, alternates /analyze_image (the face photo) and /analyze_audio (the speech recording). Alongside,
a second process runs ``--streams`` live sessions through emotion_core.live.LiveSession, as the Live
tab's handlers do (its stream events are private, so gradio_client cannot drive them): 10 webcam
frames (320x240, one face) and 4 microphone chunks (48 kHz int16) a second each, in real time.
The server's memory (RSS) is sampled every second. Writes reports/load_test.json and prints a table.
Figures depend on the machine and what else runs on it: the load average is recorded with them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from harness import FIXTURES, PROJECT_ROOT
from harness.media import MIC_RATE, face_frame, microphone_speech
from harness.server import start_app, stop_app

REPORT = PROJECT_ROOT / "reports" / "load_test.json"
STREAM_FPS = 10.0  # webcam frames a second per live session (the Live tab's FRAME_EVERY = 0.1 s)
STREAM_AUDIO_EVERY = 0.25  # seconds of microphone audio per chunk (AUDIO_EVERY)
HTTP_TIMEOUT = 60.0  # seconds; gradio_client's default (5 s) is shorter than a queued request may wait here


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def latency_summary(latencies: list[float]) -> dict:
    return {"p50_ms": _ms(percentile(latencies, 0.50)), "p95_ms": _ms(percentile(latencies, 0.95)),
            "max_ms": _ms(max(latencies) if latencies else None),
            "mean_ms": _ms(statistics.fmean(latencies) if latencies else None)}


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000.0, 1)


def rss_mb(pid: int) -> float | None:
    """Resident memory of process ``pid`` in MB (from /proc), or None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


class MemorySampler(threading.Thread):
    """Samples a process's RSS every ``every`` seconds until stopped."""

    def __init__(self, pid: int, every: float = 1.0):
        super().__init__(daemon=True)
        self.pid, self.every, self.samples = pid, every, []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            value = rss_mb(self.pid)
            if value is not None:
                self.samples.append(value)
            self._stop_event.wait(self.every)

    def stop(self) -> dict:
        self._stop_event.set()
        self.join()
        samples = self.samples or [float("nan")]
        return {"start_mb": round(samples[0], 1), "peak_mb": round(max(samples), 1), "end_mb": round(samples[-1], 1)}


def client_loop(url: str, index: int, deadline: float, budget: list[int], lock: threading.Lock, records: list) -> None:
    """One user: image and audio requests in turn until the deadline or the shared request budget runs out."""
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False, httpx_kwargs={"timeout": HTTP_TIMEOUT})
    jobs = [("/analyze_image", FIXTURES / "face.jpg"), ("/analyze_audio", FIXTURES / "speech.wav")]
    turn = index % 2
    while time.monotonic() < deadline:
        with lock:
            if budget[0] <= 0:
                return
            budget[0] -= 1
        endpoint, path = jobs[turn]
        turn = 1 - turn
        started = time.monotonic()
        try:
            client.predict(handle_file(path), api_name=endpoint)
            error = None
        except Exception as failure:  # noqa: BLE001 - every failure is counted and reported, none may stop the run
            error = f"{type(failure).__name__}: {str(failure)[:200]}"
        records.append((endpoint, time.monotonic() - started, error))


def start_streams(sessions: int, seconds: float) -> subprocess.Popen:
    command = [sys.executable, "-m", "benchmarks.load_test", "--stream-worker", str(sessions),
               "--seconds", str(seconds)]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def stream_worker(sessions: int, seconds: float) -> dict:
    """Run ``sessions`` live sessions in real time for ``seconds``; per-frame and per-chunk latencies."""
    from emotion_core import load_models
    from emotion_core.live import LiveSession

    load_models()
    frame, mic = face_frame(), microphone_speech(MIC_RATE)
    chunk = int(STREAM_AUDIO_EVERY * MIC_RATE)
    results = {"frames": [], "chunks": [], "errors": []}
    deadline = time.monotonic() + seconds

    def video(session: LiveSession) -> None:
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            started = time.monotonic()
            try:
                session.add_frame(frame)
                results["frames"].append(time.monotonic() - started)
            except Exception as failure:  # noqa: BLE001
                results["errors"].append(f"frame: {failure}")
            next_at += 1.0 / STREAM_FPS
            time.sleep(max(0.0, next_at - time.monotonic()))  # a late frame is not made up for, as in a browser
            next_at = max(next_at, time.monotonic())

    def microphone(session: LiveSession) -> None:
        position, next_at = 0, time.monotonic()
        while time.monotonic() < deadline:
            piece = np.take(mic, np.arange(position, position + chunk), mode="wrap")
            position += chunk
            started = time.monotonic()
            try:
                session.add_audio(piece, MIC_RATE)
                results["chunks"].append(time.monotonic() - started)
            except Exception as failure:  # noqa: BLE001
                results["errors"].append(f"audio: {failure}")
            next_at += STREAM_AUDIO_EVERY
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at = max(next_at, time.monotonic())

    threads = []
    for _ in range(sessions):
        session = LiveSession(time_limit=seconds + 60)
        threads += [threading.Thread(target=video, args=(session,)),
                    threading.Thread(target=microphone, args=(session,))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"sessions": sessions, "seconds": seconds, "frames": len(results["frames"]),
            "frames_per_second_per_session": round(len(results["frames"]) / seconds / sessions, 2),
            "frame_latency": latency_summary(results["frames"]), "audio_chunks": len(results["chunks"]),
            "audio_latency": latency_summary(results["chunks"]), "errors": len(results["errors"]),
            "error_examples": results["errors"][:5], "rss_mb": round(rss_mb(os.getpid()) or 0, 1)}


def run(clients: int, seconds: float, streams: int, max_requests: int) -> dict:
    process, url, log = start_app()
    assert url.startswith("http://127.0.0.1:"), "the load test runs on loopback only"
    memory = MemorySampler(process.pid)
    memory.start()
    load_before = os.getloadavg()
    try:
        stream_process = start_streams(streams, seconds) if streams else None
        records: list = []
        budget, lock = [max_requests], threading.Lock()
        started = time.monotonic()
        deadline = started + seconds
        threads = [threading.Thread(target=client_loop, args=(url, i, deadline, budget, lock, records))
                   for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        stream_report = None
        if stream_process is not None:  # its report is the last line it prints
            stream_report = json.loads(stream_process.communicate(timeout=seconds + 300)[0].strip().splitlines()[-1])
        from gradio_client import Client, handle_file

        _, after = Client(url, verbose=False).predict(handle_file(FIXTURES / "face.jpg"), api_name="/analyze_image")
        still_serving = len(after["faces"]) == 1
    finally:
        server_memory = memory.stop()
        stop_app(process, timeout=30)
    endpoints = {}
    for endpoint in ("/analyze_image", "/analyze_audio"):
        mine = [r for r in records if r[0] == endpoint]
        served = [latency for _, latency, error in mine if error is None]
        endpoints[endpoint] = {"requests": len(mine), "served": len(served), "errors": len(mine) - len(served),
                               "per_second": round(len(served) / elapsed, 2), **latency_summary(served)}
    errors = [error for _, _, error in records if error]
    return {"clients": clients, "seconds": round(elapsed, 1), "max_requests": max_requests,
            "requests": len(records), "served": len(records) - len(errors), "errors": len(errors),
            "error_examples": sorted(set(errors))[:5], "endpoints": endpoints, "streams": stream_report,
            "server_memory": server_memory, "still_serving_after": still_serving,
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in os.getloadavg()], "cpu_count": os.cpu_count()}


def print_table(report: dict) -> None:
    print(f"{report['clients']} clients for {report['seconds']} s on loopback: {report['served']} requests served, "
          f"{report['errors']} errors")
    print(f"{'endpoint':16s} {'served':>7s} {'errors':>7s} {'req/s':>6s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}")
    for name, row in report["endpoints"].items():
        print(f"{name:16s} {row['served']:7d} {row['errors']:7d} {row['per_second']:6.2f} "
              f"{row['p50_ms'] or 0:8.0f} {row['p95_ms'] or 0:8.0f} {row['max_ms'] or 0:8.0f}")
    streams = report["streams"]
    if streams:
        frame, chunk = streams["frame_latency"], streams["audio_latency"]
        print(f"{'live frames':16s} {streams['frames']:7d} {streams['errors']:7d} "
              f"{streams['frames'] / streams['seconds']:6.2f} {frame['p50_ms'] or 0:8.0f} {frame['p95_ms'] or 0:8.0f} "
              f"{frame['max_ms'] or 0:8.0f}   ({streams['sessions']} sessions, "
              f"{streams['frames_per_second_per_session']} of {STREAM_FPS:g} frames/s each)")
        print(f"{'live audio':16s} {streams['audio_chunks']:7d} {'':7s} "
              f"{streams['audio_chunks'] / streams['seconds']:6.2f} {chunk['p50_ms'] or 0:8.0f} "
              f"{chunk['p95_ms'] or 0:8.0f} {chunk['max_ms'] or 0:8.0f}")
    memory = report["server_memory"]
    print(f"server RSS: {memory['start_mb']:.0f} MB at start, {memory['peak_mb']:.0f} MB peak, "
          f"{memory['end_mb']:.0f} MB at the end; still serving: {report['still_serving_after']}; load average before "
          f"{report['load_average_before'][0]}, after {report['load_average_after'][0]} on {report['cpu_count']} CPUs")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=24, help="concurrent gradio_client users (default 24)")
    parser.add_argument("--seconds", type=float, default=120.0, help="duration (default 120)")
    parser.add_argument("--streams", type=int, default=4, help="live sessions alongside (default 4)")
    parser.add_argument("--max-requests", type=int, default=20000, help="stop after this many requests in all")
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument("--stream-worker", type=int, help=argparse.SUPPRESS)  # internal: the live-session process
    args = parser.parse_args()
    if args.stream_worker is not None:
        print(json.dumps(stream_worker(args.stream_worker, args.seconds)))
        return
    report = run(args.clients, args.seconds, args.streams, args.max_requests)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print_table(report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
