"""Command line: ``python -m emotion_core FILE`` reads the emotions in an image, a recording or a video.

Prints a table on stdout; ``--json`` / ``--csv`` write the full results, ``--annotated`` a copy with
the faces drawn on (image or video), ``--timeline`` a picture of a video's emotions over time.
Progress goes to stderr. Exit status: 0 done, 1 the file could not be analysed, 2 bad arguments.
``python -m emotion_core batch INPUT... --out results.parquet`` analyses many files (see batch_cli).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from .file_analysis import IMAGE_SUFFIXES, media_kind  # noqa: F401 - the rule batch shares; IMAGE_SUFFIXES kept here
from .labels import EMOTIONS
from .reading import LOUD_NOISE, caption
from .results import SpeechResult

PROGRESS_LINE_STEP = 0.1  # without a terminal, one progress line per tenth of the work
PROGRESS_AFTER_SECONDS = 2.0  # work that ends sooner shows no progress at all


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from .video import DEFAULT_FRAMES_PER_SECOND, MAX_FRAMES_PER_SECOND, MIN_FRAMES_PER_SECOND

    parser = argparse.ArgumentParser(
        prog="python -m emotion_core", description="Read the emotions in an image, a recording or a video: "
        "prints a table; progress goes to stderr; exit status 1 when the file cannot be analysed.",
        epilog="Many files at once, on a Dask cluster: python -m emotion_core batch --help")
    parser.add_argument("file", type=Path, help="an image, audio or video file")
    parser.add_argument("--fps", type=float, default=DEFAULT_FRAMES_PER_SECOND,
                        help=f"video frames analysed per second ({MIN_FRAMES_PER_SECOND}-{MAX_FRAMES_PER_SECOND}, "
                             f"default {DEFAULT_FRAMES_PER_SECOND})")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the full results as JSON")
    parser.add_argument("--csv", type=Path, metavar="PATH", help="write one row per face / voice window / segment")
    parser.add_argument("--annotated", type=Path, metavar="PATH",
                        help="write the image or video (.mp4) with boxes and labels drawn on it")
    parser.add_argument("--timeline", type=Path, metavar="PATH", help="video only: write the timeline as a PNG")
    parser.add_argument("--summary-only", action="store_true", help="video only: print the summary, not every segment")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    return parser.parse_args(argv)


class StderrProgress:
    """``progress(fraction, message)`` for long work: a bar redrawn on a terminal, else a line per tenth.

    Nothing is shown during the first ``delay`` seconds, so short files stay quiet.
    """

    def __init__(self, stream=None, delay: float = PROGRESS_AFTER_SECONDS, clock=time.monotonic):
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._next_line = 0.0
        self._clock, self._show_from = clock, clock() + delay
        self._shown = False
        self._last = 0.0

    def __call__(self, fraction: float, message: str) -> None:
        if self._clock() < self._show_from and not self._shown:
            return
        self._shown = True
        if fraction < self._last:  # a new stage (drawing the video after analysing it) starts again at 0
            self._next_line = 0.0
        self._last = fraction
        if self._tty:
            bar = "#" * int(fraction * 30)
            end = "\n" if fraction >= 1.0 else ""
            self._stream.write(f"\r[{bar:<30}] {fraction:4.0%} {message}\033[K{end}")
        elif fraction >= self._next_line or fraction >= 1.0:
            self._stream.write(f"{fraction:4.0%} {message}\n")
            self._next_line = (int(fraction / PROGRESS_LINE_STEP + 1e-9) + 1) * PROGRESS_LINE_STEP
        self._stream.flush()


def format_table(header: list[str], rows: list[list[object]]) -> str:
    """A plain fixed-width text table (floats with 2 decimals; None as '-')."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) if cells else len(str(h)) for i, h in enumerate(header)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def _cell(value: object) -> str:
    if value is None or value == "":
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def speech_table(result: SpeechResult) -> str:
    """A recording's reading on a line ("voice: sad 62%", "voice: uncertain"), then each emotion's score."""
    if not result.activity.has_speech:
        return "no speech found"
    scores = format_table(["emotion", "score"], [[name, result.scores[name]] for name in EMOTIONS])
    noise = f" ({LOUD_NOISE})" if result.in_loud_noise else ""
    return f"voice: {caption(result.scores)}{noise}\n{scores}"


def _write_rows(path: Path, rows: list[dict]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["empty"])
        writer.writeheader()
        writer.writerows(rows)


def run_image(args: argparse.Namespace) -> None:
    from .analysis import analyze_frame
    from .images import load_image
    from .overlay import draw_faces

    frame = load_image(args.file)
    faces = analyze_frame(frame)
    rows = [[i, *face.box, caption(face.scores), face.detection_score] for i, face in enumerate(faces)]
    print(format_table(["face", "x", "y", "w", "h", "emotion", "detection"], rows) if faces else "no face found")
    if args.json:
        args.json.write_text(json.dumps({"faces": [f.to_dict() for f in faces], "width": frame.shape[1],
                                         "height": frame.shape[0]}, indent=1))
    if args.csv:
        _write_rows(args.csv, [{"face": i, "x": f.box[0], "y": f.box[1], "w": f.box[2], "h": f.box[3],
                                "label": f.label, "detection_score": f.detection_score, **f.scores}
                               for i, f in enumerate(faces)])
    if args.annotated:
        from PIL import Image

        Image.fromarray(draw_faces(frame, faces)).save(args.annotated)


def run_audio(args: argparse.Namespace) -> None:
    from .analysis import analyze_speech
    from .audio import load_audio

    samples, rate = load_audio(args.file)
    result = analyze_speech(samples, rate)
    activity = result.activity
    print(f"{activity.total_seconds:.1f} s of sound, {activity.speech_seconds:.1f} s of speech")
    print(speech_table(result))
    if args.json:
        args.json.write_text(json.dumps(result.to_dict(), indent=1))
    if args.csv:
        rows = [{"start": w["start"], "end": w["end"], "speech": w["speech"], **w["scores"]}
                for w in result.to_dict()["window_scores"]]
        _write_rows(args.csv, rows)


def run_video(args: argparse.Namespace, progress) -> None:
    from . import timeline
    from .annotate import write_annotated_video
    from .video import analyze_video

    started = time.perf_counter()
    analysis = analyze_video(args.file, args.fps, progress=progress)
    elapsed = time.perf_counter() - started
    if not args.summary_only:
        rows = [[s.start, s.end, len(s.faces), caption(s.face_scores), caption(s.voice_scores), caption(s.fused.scores)]
                for s in analysis.segments]
        print(format_table(["start", "end", "faces", "face", "voice", "fused"], rows))
        print()
    print(summary_text(analysis, elapsed))
    if args.json:
        timeline.write_json(analysis, args.json)
    if args.csv:
        timeline.write_csv(analysis, args.csv)
    if args.timeline:
        timeline.plot_timeline(analysis, args.timeline, title=analysis.info.name)
    if args.annotated:
        write_annotated_video(args.file, analysis, args.annotated, progress=progress)


def summary_text(analysis, elapsed: float | None = None) -> str:
    """The per-channel summary of a video as a table, with what is missing said plainly."""
    from .timeline import summarize

    summary = summarize(analysis)
    rows = [[c.channel, f"{c.coverage:.0%}", c.dominant,
             *(f"{c.shares[name]:.0%}" if c.shares else None for name in EMOTIONS)] for c in summary.channels()]
    lines = [format_table(["channel", "covered", "dominant", *EMOTIONS], rows)]
    if not analysis.has_face:
        lines.append("no face found in the video")
    if not analysis.info.has_audio:
        lines.append("the video has no audio track")
    elif not analysis.has_speech:
        lines.append("no speech found in the audio track")
    speed = f", analysed in {elapsed:.1f} s ({analysis.duration / elapsed:.1f}x real time)" if elapsed else ""
    lines.append(f"{analysis.duration:.1f} s of video, {len(analysis.segments)} segments{speed}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["batch"]:
        from .batch_cli import main as batch_main

        return batch_main(argv[1:], StderrProgress())
    args = parse_args(argv)
    progress = None if args.quiet else StderrProgress()
    try:
        kind = media_kind(args.file)
        if kind != "video" and (args.timeline or args.summary_only):
            raise ValueError("--timeline and --summary-only are for videos")
        if kind == "audio" and args.annotated:
            raise ValueError("--annotated is for images and videos")
        if kind == "image":
            run_image(args)
        elif kind == "audio":
            run_audio(args)
        else:
            run_video(args, progress)
    except (ValueError, KeyError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
