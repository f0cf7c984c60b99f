"""The live view over an emulated network, in the browser: readings per second and frame-to-paint latency.

Starts the real app on 127.0.0.1 and Debian's Chromium with a fake webcam and microphone (the moving
face video and espeak-ng speech of harness/browser.py), opens one page per session and presses
Start on each. Chromium's own network emulation (DevTools ``Network.emulateNetworkConditions``,
the same latency and bandwidth both ways) stands for the user's link: ``--latency-ms`` and
``--kbps``, or ``--matrix`` for the standard set of links.

Two designs can run side by side, each on its own server (``--designs new old``): ``new`` is this
checkout's app, whose page counts the readings it paints in ``window.liveUpdates`` and keeps each
reading's latency from the frame's capture to its paint in ``window.liveLatencies``; ``old`` is
``app.py`` of ``--old-ref`` (git), which sent whole frames and got annotated frames back: each
frame carries its number in its top blocks, read from the frame sent and from the annotated frame
painted, so each painted frame is matched to its sending.

Reported per link, design and number of sessions: readings painted per second per session,
latency (median, p95, and the median less the emulated latency), bytes per reading up (frames,
and all uploads with the microphone's) and down (all response bodies), and the app process's CPU
per session (and per reading), and the browser's CPU (all its pages). Writes reports/live/benchmark.json.

    python -m benchmarks.live_latency [--latency-ms 100 --kbps 2000] [--matrix] [--designs new old]
        [--base-ref HEAD] [--together] [--rounds 1] [--sessions 1] [--seconds 25] [--warmup 5] [--long-seconds 120]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from harness import PROJECT_ROOT
from harness.browser import CODE_BITS, CODE_BLOCK, launch_chromium, write_speech_wav, write_y4m
from harness.machine import describe_cpu
from harness.server import start_app, stop_app

REPORT = PROJECT_ROOT / "reports" / "live" / "benchmark.json"
TICKS = os.sysconf("SC_CLK_TCK")
MATRIX = ((0, 0), (50, 20000), (100, 5000), (100, 2000), (150, 2000), (200, 1000))  # (latency ms, kbit/s)
LONG_LINK = (100, 2000)  # the link of the long run (is the latency flat?)

# Old design: record [frame number, time] for each frame the webcam sends and each annotated frame painted.
OLD_PROBE_JS = """(() => {
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
    if (args[0] === "image/jpeg" && this.width >= BITS * BLOCK && !document.querySelector("#live-view"))
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

# Both designs: bytes the page uploads (request bodies), by kind: webcam frames, microphone chunks, the rest.
UPLOAD_PROBE_JS = """(() => {
  window.liveUploads = {frames: 0, frame_count: 0, audio: 0, other: 0};
  performance.setResourceTimingBufferSize(1000000);  // every frame's timing, for its breakdown
  const size = (body) => {
    if (!body) return 0;
    if (typeof body === "string") return body.length;
    if (body instanceof Blob) return body.size;
    if (body instanceof FormData) {
      let total = 0;
      for (const [, value] of body) total += typeof value === "string" ? value.length : value.size;
      return total;
    }
    return body.byteLength || String(body).length;
  };
  const fetch = window.fetch;
  window.fetch = function (input, init = {}) {
    const body = init.body, bytes = size(body), url = String(input.url || input);
    // Frames: JPEG bytes to /live/frame, or (earlier designs) a data URL inside a JSON body.
    const isFrame = url.includes("/live/frame") || (typeof body === "string" && body.includes("data:image/jpeg"));
    if (isFrame) { window.liveUploads.frames += bytes; window.liveUploads.frame_count += 1; }
    else if (body instanceof FormData || url.includes("/upload") || url.includes("/live/audio"))
      window.liveUploads.audio += bytes;
    else window.liveUploads.other += bytes;
    return fetch.apply(this, arguments);
  };
})();"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, in seconds (0 when it has gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def browser_cpu_seconds() -> float:
    """User + system CPU time of this process's Chromium descendants (browser, renderers, GPU and utility
    processes; processes gone meanwhile are not counted), in seconds."""
    children: dict[int, list[int]] = {}
    names = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            head, rest = stat.read_text().rsplit(")", 1)
        except OSError:
            continue
        pid = int(stat.parent.name)
        names[pid] = head.split("(", 1)[1]
        children.setdefault(int(rest.split()[1]), []).append(pid)
    found, todo = [], [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), []):
            todo.append(child)
            if "chrom" in names[child].lower():
                found.append(child)
    return sum(cpu_seconds(pid) for pid in found)


def matched_latencies(sent: list, shown: list) -> list[float]:
    """Old design: ms from each painted frame's sending (the latest send of its number before it)."""
    result = []
    for code, painted in shown:
        sends = [t for c, t in sent if c == code and t <= painted]
        if sends:
            result.append(painted - max(sends))
    return result


def link_conditions(latency_ms: float, kbps: float) -> dict:
    """``Network.emulateNetworkConditions`` parameters: latency, and kbit/s both ways (0: no emulation)."""
    rate = kbps * 1000 / 8 if kbps else -1  # bytes per second; -1 turns throttling off
    return {"offline": False, "latency": latency_ms, "downloadThroughput": rate, "uploadThroughput": rate}


def open_page(browser, url: str, link: tuple[float, float]):
    """A page of its own (own context) on the emulated link, counting the bytes it uploads and downloads."""
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    context.add_init_script(OLD_PROBE_JS)
    context.add_init_script(UPLOAD_PROBE_JS)
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    page.downloaded = [0]  # response body bytes

    def received(event: dict) -> None:
        page.downloaded[0] += event["dataLength"]

    cdp.on("Network.dataReceived", received)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", link_conditions(*link))
    page.goto(url, timeout=120_000)
    page.wait_for_selector("#live-start", timeout=120_000)
    page.wait_for_timeout(1500)
    return page


def page_counts(page, design: str, restart: bool = False) -> dict:
    """What the page has counted so far: readings, latencies, uploads, bytes downloaded.

    ``restart``: empty the latency lists after reading them (they then hold the window's only).
    """
    counts = page.evaluate("""(restart) => {
        const counts = {uploads: {...window.liveUploads}, updates: window.liveUpdates ?? 0,
                        latencies: window.liveLatencies ?? [], probe: window.liveProbe,
                        frames: performance.getEntriesByType("resource").filter((e) => e.name.includes("/live/frame"))
                          .map((e) => [e.requestStart - e.startTime, e.responseStart - e.requestStart,
                                       e.serverTiming?.find((t) => t.name === "handler")?.duration ?? null,
                                       e.responseEnd - e.responseStart])};
        if (restart) {
          window.liveLatencies = []; window.liveProbe = {sent: [], shown: []}; performance.clearResourceTimings();
        }
        return counts;
    }""", restart)
    if design == "old":
        counts["updates"] = len(counts["probe"]["shown"])
    counts["downloaded"] = page.downloaded[0]
    return counts


def difference(after: dict, before: dict, design: str) -> dict:
    """Readings, latencies (ms) and bytes between a restarted page count and a later one."""
    if design == "old":
        readings = after["updates"]  # the probe restarted at ``before``
        latencies = matched_latencies(after["probe"]["sent"], after["probe"]["shown"])
    else:
        readings, latencies = after["updates"] - before["updates"], after["latencies"]
    up = {key: after["uploads"][key] - before["uploads"][key] for key in after["uploads"]}
    return {"readings": readings, "latencies": latencies, "up": up, "down": after["downloaded"] - before["downloaded"],
            "frames": after["frames"]}


def frame_breakdown(frames: list[list[float | None]]) -> dict | None:
    """Median ms of a frame request's parts (Resource Timing; pages that POST to /live/frame): queued in the
    page before it went out, sent to first byte back (link, server), the server's own share of that
    (Server-Timing: waiting for a thread and handling), and the answer's body."""
    if not frames:
        return None
    columns = list(zip(*frames, strict=True))
    handler = [ms for ms in columns[2] if ms is not None]
    return {"queued_in_page": round(float(np.median(columns[0])), 1),
            "request_to_first_byte": round(float(np.median(columns[1])), 1),
            "server_handler": round(float(np.median(handler)), 1) if handler else None,
            "response_body": round(float(np.median(columns[3])), 1)}


def quarter_medians(latencies: list[float]) -> list[float | None]:
    """Median latency of each quarter of the window (in the order painted): flat means no backlog."""
    quarters = np.array_split(np.asarray(latencies, dtype=float), 4)
    return [round(float(np.median(q)), 1) if q.size else None for q in quarters]


def summarize(parts: list[dict], wall: float, sessions: int, link: tuple[float, float], app_cpu: float,
              browser_cpu: float) -> dict:
    """One row of the report from each session's differences over ``wall`` seconds."""
    readings = sum(p["readings"] for p in parts)
    latencies = [ms for p in parts for ms in p["latencies"]]
    up = {key: sum(p["up"][key] for p in parts) for key in parts[0]["up"]}
    per = max(readings, 1)
    median = float(np.median(latencies)) if latencies else None
    return {
        "latency_ms_link": link[0], "kbps_link": link[1], "sessions": sessions, "seconds": round(wall, 1),
        "readings_per_second_per_session": round(readings / wall / sessions, 2),
        "latency_ms_median": round(median, 1) if latencies else None,
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 1) if latencies else None,
        "latency_ms_median_above_link": round(median - link[0], 1) if latencies else None,
        "latencies_measured": len(latencies),
        "latency_ms_median_by_quarter": quarter_medians(parts[0]["latencies"]),
        "frame_request_ms_median": frame_breakdown([f for p in parts for f in p["frames"]]),
        "frames_sent_per_second_per_session": round(up["frame_count"] / wall / sessions, 2),
        "bytes_up_per_reading_frames": round(up["frames"] / per),
        "bytes_up_per_reading_all": round((up["frames"] + up["audio"] + up["other"]) / per),
        "microphone_kbps_up_per_session": round(up["audio"] * 8 / 1000 / wall / sessions, 1),
        "bytes_down_per_reading": round(sum(p["down"] for p in parts) / per),
        "app_cpu_cores_per_session": round(app_cpu / wall / sessions, 3),
        "app_cpu_ms_per_reading": round(app_cpu * 1000 / per, 1),
        # All pages of the browser: with --together, every design's pages at once.
        "browser_cpu_cores": round(browser_cpu / wall, 3),
    }


def measure(browser, apps: dict[str, tuple], link: tuple[float, float], sessions: int, warmup: float,
            seconds: float) -> list[dict]:
    """Stream ``sessions`` pages of each design in ``apps`` (design -> (process, url)) over one link, all
    at the same time; one row for the report per design."""
    pages = {design: [open_page(browser, url, link) for _ in range(sessions)] for design, (_, url) in apps.items()}
    everything = [page for group in pages.values() for page in group]
    try:
        for page in everything:
            page.click("#live-start")
        everything[0].wait_for_timeout(warmup * 1000)
        before = {design: [page_counts(page, design, restart=True) for page in group]
                  for design, group in pages.items()}
        cpu = {design: cpu_seconds(process.pid) for design, (process, _) in apps.items()}
        browser_cpu = browser_cpu_seconds()
        start, load = time.monotonic(), os.getloadavg()[0]
        everything[0].wait_for_timeout(seconds * 1000)
        wall = time.monotonic() - start
        cpu = {design: cpu_seconds(process.pid) - cpu[design] for design, (process, _) in apps.items()}
        browser_cpu = browser_cpu_seconds() - browser_cpu
        rows = []
        for design, group in pages.items():
            parts = [difference(page_counts(page, design), b, design)
                     for page, b in zip(group, before[design], strict=True)]
            rows.append({"design": design, **summarize(parts, wall, sessions, link, cpu[design], browser_cpu),
                         "load_average_1min": round(load, 2), "together": len(apps) > 1,
                         "last_status": [page.locator("#live-status textarea").input_value() for page in group]})
        for page in everything:
            page.click("#live-stop")
        everything[0].wait_for_timeout(1000)
        return rows
    finally:
        for page in everything:
            page.context.close()


def old_app(ref: str, folder: Path) -> Path:
    """``app.py`` of git ``ref``, written into ``folder`` (it imports this checkout's emotion_core)."""
    source = subprocess.run(["git", "show", f"{ref}:app.py"], cwd=PROJECT_ROOT, check=True, capture_output=True,
                            text=True).stdout
    path = folder / "app_old.py"
    path.write_text(source)
    return path


def base_app(ref: str, folder: Path) -> Path:
    """``app.py`` and the page's ``ui/`` files of git ``ref``, written into ``folder/base`` (which the app
    reads its page from); it imports this checkout's emotion_core."""
    base = folder / "base"
    names = subprocess.run(["git", "ls-tree", "--name-only", ref, "ui/"], cwd=PROJECT_ROOT, check=True,
                           capture_output=True, text=True).stdout.split()
    for name in ["app.py", *names]:
        source = subprocess.run(["git", "show", f"{ref}:{name}"], cwd=PROJECT_ROOT, check=True, capture_output=True,
                                text=True).stdout
        (base / name).parent.mkdir(parents=True, exist_ok=True)
        (base / name).write_text(source)
    return base / "app.py"


def table(rows: list[dict]) -> str:
    keys = ("latency_ms_link", "kbps_link", "design", "sessions", "seconds", "readings_per_second_per_session",
            "latency_ms_median", "latency_ms_p95", "bytes_up_per_reading_frames", "bytes_up_per_reading_all",
            "bytes_down_per_reading", "app_cpu_cores_per_session", "browser_cpu_cores")
    header = ("link ms", "kbit/s", "design", "sessions", "s", "readings/s", "median ms", "p95 ms",
              "up B/reading (frames)", "up B/reading (all)", "down B/reading", "app CPU/session", "browser CPU")
    lines = [" | ".join(header), " | ".join("---" for _ in header)]
    lines += [" | ".join(str(row[key]) for key in keys) for row in rows]
    return "\n".join(lines)


def runs(args: argparse.Namespace) -> list[tuple[tuple[float, float], int, float]]:
    """(link, sessions, seconds) of each run asked for."""
    links = MATRIX if args.matrix else ((args.latency_ms, args.kbps),)
    planned = [(link, sessions, args.seconds) for link in links for sessions in args.sessions]
    if args.long_seconds:
        planned.append((LONG_LINK, 1, args.long_seconds))
    return planned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=0.0, help="emulated latency (0: none)")
    parser.add_argument("--kbps", type=float, default=0.0, help="emulated bandwidth each way, kbit/s (0: unlimited)")
    parser.add_argument("--matrix", action="store_true", help=f"every link of {MATRIX} (latency ms, kbit/s)")
    parser.add_argument("--long-seconds", type=float, default=0.0, help=f"add one run this long on {LONG_LINK}")
    parser.add_argument("--designs", nargs="+", default=["new"], choices=["new", "old", "base"])
    parser.add_argument("--old-ref", default="main", help="git ref whose app.py is the old design")
    parser.add_argument("--base-ref", default="HEAD", help="git ref whose app.py and ui/ are the base design")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1], help="simultaneous sessions to try")
    parser.add_argument("--seconds", type=float, default=25.0, help="measuring window per run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds streamed before measuring")
    parser.add_argument("--together", action="store_true",
                        help="stream every design at once (one browser): a fair comparison on a busy machine")
    parser.add_argument("--rounds", type=int, default=1, help="repeat every run this often (short runs, busy machine)")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory(prefix="live-bench-") as folder:
        folder = Path(folder)
        media = write_y4m(folder / "face.y4m"), write_speech_wav(folder / "speech.wav")
        env = {"GRADIO_TEMP_DIR": str(folder / "gradio-cache"), "EMOTION_LIVE_TIME_LIMIT": "900",
               "PYTHONPATH": str(PROJECT_ROOT)}
        apps = {}
        try:
            for design in args.designs:
                file = {"old": lambda: old_app(args.old_ref, folder), "base": lambda: base_app(args.base_ref, folder),
                        "new": lambda: PROJECT_ROOT / "app.py"}[design]()
                process, url, _ = start_app(env, app=file)
                apps[design] = (process, url)
            with sync_playwright() as playwright:
                for turn, (link, sessions, seconds) in enumerate(runs(args) * args.rounds):
                    # The designs stream at once (--together), or take turns, first one then the other, so
                    # that all see the same machine load.
                    order = args.designs if turn % 2 == 0 else args.designs[::-1]
                    for group in [order] if args.together else [[design] for design in order]:
                        browser = launch_chromium(playwright, *media)
                        try:
                            found = measure(browser, {d: apps[d] for d in group}, link, sessions, args.warmup,
                                            seconds)
                        finally:
                            browser.close()
                        rows += found
                        print("\n".join(table(found).splitlines()[2:]), flush=True)
        finally:
            for process, _ in apps.values():
                stop_app(process)
    report = {"what": __doc__.splitlines()[0], "cpu": describe_cpu(), "old_ref": args.old_ref,
              "base_ref": args.base_ref, "runs": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(rows))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
