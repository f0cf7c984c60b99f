"""The live view's speed, measured in the browser: latency from a frame sent to its label shown.

Starts the real app on 127.0.0.1 and Debian's Chromium with a fake webcam and microphone (the moving
face video and espeak-ng speech of harness/browser.py), opens one page per session and presses
Start on each. Every video frame carries its number in the blocks along its top edge; a script in
the page reads that number from each frame the webcam component sends (as it is encoded) and from
each annotated frame that comes back (when it is painted), so each label is matched to its frame.

Reports, per number of simultaneous sessions: end-to-end latency (median, p95), annotated frames
shown per second per session (each one analysed), frames sent, and CPU per session (the app
process's CPU time over the window; the browser's is listed apart). Writes reports/live_benchmark.json.

    python -m benchmarks.live_latency [--sessions 1 2] [--seconds 30] [--warmup 8]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import PROJECT_ROOT
from harness.browser import CODE_BITS, CODE_BLOCK, launch_chromium, write_speech_wav, write_y4m
from harness.server import start_app, stop_app

REPORT = PROJECT_ROOT / "reports" / "live_benchmark.json"
TICKS = os.sysconf("SC_CLK_TCK")

# Record [frame number, time] for each frame the webcam sends and each annotated frame painted.
PROBE_JS = """(() => {
  const BITS = CODE_BITS_VALUE, BLOCK = CODE_BLOCK_VALUE;
  const readCode = (ctx) => {
    const row = ctx.getImageData(0, BLOCK / 2, BITS * BLOCK, 1).data;
    let code = 0;
    for (let bit = 0; bit < BITS; bit++) {
      const i = 4 * (bit * BLOCK + BLOCK / 2);
      if ((row[i] + row[i + 1] + row[i + 2]) / 3 > 128) code |= 1 << bit;
    }
    return code;
  };
  window.liveProbe = {sent: [], shown: []};
  const toDataURL = HTMLCanvasElement.prototype.toDataURL;
  HTMLCanvasElement.prototype.toDataURL = function (...args) {
    if (args[0] === "image/jpeg" && this.width >= BITS * BLOCK)
      window.liveProbe.sent.push([readCode(this.getContext("2d")), performance.now()]);
    return toDataURL.apply(this, args);
  };
  document.addEventListener("load", (event) => {
    const img = event.target;
    if (img.tagName !== "IMG" || !img.closest("#live-faces") || !img.naturalWidth) return;
    const canvas = Object.assign(document.createElement("canvas"), {width: img.naturalWidth, height: BLOCK});
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const code = readCode(ctx);
    requestAnimationFrame(() => window.liveProbe.shown.push([code, performance.now()]));
  }, true);
})();""".replace("CODE_BITS_VALUE", str(CODE_BITS)).replace("CODE_BLOCK_VALUE", str(CODE_BLOCK))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, in seconds (0 when it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def descendants(root: int) -> set[int]:
    """Every process below ``root`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid, parent = int(stat.parent.name), int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        children.setdefault(parent, []).append(pid)
    found, todo = set(), [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def latencies(sent: list, shown: list) -> list[float]:
    """Milliseconds from each painted frame's sending (the latest send of its number before it)."""
    result = []
    for code, painted in shown:
        sends = [t for c, t in sent if c == code and t <= painted]
        if sends:
            result.append(painted - max(sends))
    return result


def measure(browser, url: str, sessions: int, warmup: float, seconds: float, app_pid: int) -> dict:
    pages = []
    for _ in range(sessions):
        context = browser.new_context(viewport={"width": 1280, "height": 1400})
        context.add_init_script(PROBE_JS)
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#live-start")
        page.wait_for_timeout(1500)
        pages.append(page)
    for page in pages:
        page.click("#live-start")
    pages[0].wait_for_timeout(warmup * 1000)
    for page in pages:
        page.evaluate("() => { window.liveProbe.sent = []; window.liveProbe.shown = []; }")
    browser_pids = descendants(os.getpid()) - {app_pid}
    app_cpu, browser_cpu, start = cpu_seconds(app_pid), sum(map(cpu_seconds, browser_pids)), time.monotonic()
    load_before = os.getloadavg()[0]
    pages[0].wait_for_timeout(seconds * 1000)
    wall = time.monotonic() - start
    app_cpu = cpu_seconds(app_pid) - app_cpu
    browser_cpu = sum(map(cpu_seconds, browser_pids)) - browser_cpu
    probes = [page.evaluate("() => window.liveProbe") for page in pages]
    statuses = [page.locator("#live-status textarea").input_value() for page in pages]
    for page in pages:
        page.click("#live-stop")
    pages[0].wait_for_timeout(1500)
    for page in pages:
        page.context.close()
    lat = [ms for probe in probes for ms in latencies(probe["sent"], probe["shown"])]
    return {
        "sessions": sessions,
        "seconds": round(wall, 1),
        "latency_ms_median": round(float(np.median(lat)), 1) if lat else None,
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 1) if lat else None,
        "frames_matched": len(lat),
        "labels_per_second_per_session": round(float(np.mean([len(p["shown"]) for p in probes])) / wall, 2),
        "frames_sent_per_second_per_session": round(float(np.mean([len(p["sent"]) for p in probes])) / wall, 2),
        "app_cpu_cores_per_session": round(app_cpu / wall / sessions, 3),
        "browser_cpu_cores_per_session": round(browser_cpu / wall / sessions, 3),
        "load_average_1min": round(load_before, 2),
        "last_status": statuses,
    }


def cache_files(cache: Path) -> dict:
    """What the live view left in Gradio's cache: frames (should be none) and microphone chunks.

    Gradio uploads each microphone chunk as a file, which the app deletes once read; a chunk that
    arrives while the previous one is still being analysed replaces it unread, and stays.
    """
    files = [path for path in cache.rglob("*") if path.is_file()]
    frames = [path for path in files if path.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}]
    return {"frame_files_in_cache": len(frames), "audio_chunk_files_in_cache": sum(p.suffix == ".wav" for p in files)}


def table(rows: list[dict]) -> str:
    header = ("sessions", "latency median ms", "p95 ms", "labels/s/session", "sent/s/session",
              "app CPU/session", "browser CPU/session")
    keys = ("sessions", "latency_ms_median", "latency_ms_p95", "labels_per_second_per_session",
            "frames_sent_per_second_per_session", "app_cpu_cores_per_session", "browser_cpu_cores_per_session")
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    lines += [" | ".join(str(row[key]) for key in keys) for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2], help="simultaneous sessions to try")
    parser.add_argument("--seconds", type=float, default=30.0, help="measuring window per run")
    parser.add_argument("--warmup", type=float, default=8.0, help="seconds streamed before measuring")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="live-bench-") as folder:
        media = write_y4m(Path(folder) / "face.y4m"), write_speech_wav(Path(folder) / "speech.wav")
        cache = Path(folder) / "gradio-cache"
        process, url, _ = start_app({"GRADIO_TEMP_DIR": str(cache), "EMOTION_LIVE_TIME_LIMIT": "600"})
        try:
            rows = []
            with sync_playwright() as playwright:
                for sessions in args.sessions:
                    browser = launch_chromium(playwright, *media)
                    try:
                        rows.append(measure(browser, url, sessions, args.warmup, args.seconds, process.pid))
                    finally:
                        browser.close()
                    rows[-1].update(cache_files(cache))
        finally:
            stop_app(process)
    report = {
        "what": "end-to-end latency in Chromium from a webcam frame sent to its annotated frame painted",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "runs": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
