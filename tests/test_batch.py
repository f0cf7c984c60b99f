"""The batch command, ``python -m emotion_core batch``, on a real Dask cluster of 2 worker processes.

The pure parts (input listing, hashing, the plan, the Parquet store, the per-file analysis) are
checked on their own; then whole batches run over generated clips, the committed fixtures, a
duplicate under another name and the bad-input corpus: once on a local cluster this test starts
(joined with ``--scheduler``, so each worker's model loads can be counted), and as a process that
starts its own cluster, is killed and resumed, or stopped with Ctrl-C.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

pytest.importorskip("distributed", reason="the batch engine: pip install -r requirements-batch.txt")
pytest.importorskip("pyarrow")

import emotion_core  # noqa: E402
from emotion_core import EMOTIONS, batch_cli  # noqa: E402
from emotion_core.batch import (  # noqa: E402
    WORKER_THREADS,
    BatchPlan,
    BatchTally,
    FileOutcome,
    content_hash,
    hash_task,
    list_inputs,
    task_threads,
    threads_per_worker,
    usable_cores,
    worker_cores,
)
from emotion_core.batch_store import FILE_SCHEMA, ResultStore  # noqa: E402
from emotion_core.file_analysis import analyze_file, image_analysis  # noqa: E402
from harness import FIXTURES, PROJECT_ROOT  # noqa: E402
from harness.videos import write_video  # noqa: E402
from tests.make_bad_inputs import CORPUS_DIR, load_manifest, make_case  # noqa: E402

BATCH = [sys.executable, "-m", "emotion_core", "batch"]
RUN_TIMEOUT = 300  # seconds for one batch process on a busy 2-core machine


def read(out: Path, table: str = "files") -> list[dict]:
    import pandas as pd

    frame = pd.read_parquet(out / table)
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


# --- the pure parts ---------------------------------------------------------------------------------

def test_inputs_are_files_folders_and_lists(tmp_path):
    (tmp_path / "archive" / "2024" / ".thumbs").mkdir(parents=True)
    for name in ("archive/a.mp4", "archive/2024/b.WAV", "archive/2024/notes.md", "archive/2024/.thumbs/c.jpg",
                 "loose.bin", "other.png"):
        (tmp_path / name).write_bytes(b"x")
    listing = tmp_path / "todo.txt"
    listing.write_text("# interviews to do\n\nother.png\n" + str(tmp_path / "archive") + "\n")
    found = list_inputs([tmp_path / "loose.bin", listing, tmp_path / "archive" / "a.mp4"])
    assert found == [tmp_path / "loose.bin", tmp_path / "other.png", tmp_path / "archive/2024/b.WAV",
                     tmp_path / "archive/a.mp4"]  # named files whatever their suffix; folders: media, not hidden
    with pytest.raises(FileNotFoundError, match="no such file or folder: nowhere"):
        list_inputs(["nowhere"])


def test_content_hash_is_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(os.urandom(3 * 2**20 + 5))  # more than one read
    assert content_hash(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert hash_task(str(tmp_path / "missing.mp4")) is None


def test_the_plan_skips_what_is_done_and_analyses_each_content_once():
    done = [{"file": "/a/old.mp4", "file_hash": "h1", "status": "ok"},
            {"file": "/a/copy.mp4", "file_hash": "h1", "status": "duplicate"}]
    plan = BatchPlan(done)
    assert plan.hashed("/a/old.mp4", "h1").action == "skip"
    assert plan.hashed("/a/copy.mp4", "h1").action == "skip"
    renamed = plan.hashed("/b/renamed.mp4", "h1")
    assert (renamed.action, renamed.original) == ("duplicate", "/a/old.mp4")
    assert plan.hashed("/a/old.mp4", "h2").action == "analyse"  # the file changed: analysed again
    assert plan.hashed("/a/pic.png", "h1").action == "analyse"  # same bytes, but read as a picture
    assert plan.hashed("/x/new.mp4", "h3").action == "analyse"
    assert plan.hashed("/y/new_copy.mp4", "h3").action == "wait"
    rows, again = plan.finished(FileOutcome("/x/new.mp4", "h3", "ok"))
    assert again == [] and [(r.file, r.status, r.duplicate_of) for r in rows] == [
        ("/y/new_copy.mp4", "duplicate", "/x/new.mp4")]
    assert plan.hashed("/x/bad.mp4", "h4").action == "analyse"
    assert plan.hashed("/y/bad_copy.mp4", "h4").action == "wait"
    rows, again = plan.finished(FileOutcome("/x/bad.mp4", "h4", "error", error="damaged"))
    assert rows == [] and again == ["/y/bad_copy.mp4"]  # a failure is not copied: the copy is tried itself
    assert plan.hashed("/z/unreadable.mp4", None).action == "analyse"
    assert BatchPlan([{"file": "/a/f.mp4", "file_hash": "h5", "status": "error"}]).hashed("/a/f.mp4", "h5").action \
        == "analyse"  # failed files are tried again


def test_progress_line_and_report():
    tally = BatchTally(total=4, started=0.0)
    tally.count(FileOutcome("a", "h", "error", error="x"))
    tally.skipped += 1
    assert tally.line(now=10.0) == "2/4 files, 0 s of media, 0.0x real time, 1 failed"
    assert tally.report(now=10.0).startswith("done: 2/4 files (0 analysed, 1 failed, 0 duplicates, 1 already done)")


def test_the_store_commits_whole_parts_and_forgets_failures_to_retry(tmp_path):
    out = tmp_path / "results.parquet"
    store = ResultStore(out, 2.0, flush_seconds=3600)
    face = FileOutcome("/m/face.jpg", "h1", "ok", image_analysis([]), seconds=0.1, worker="w:1")
    store.add([face, FileOutcome("/m/bad.mp4", "h2", "error", error="bad.mp4 is damaged")])
    assert not store.flush_due()  # 2 files, and the flush interval has not passed
    store.flush()
    (out / "segments" / "part-killed-00000.parquet").write_bytes(b"never committed")  # killed before its twin
    (out / "files" / ".part-x.parquet.tmp").write_bytes(b"half written")
    again = ResultStore(out, 2.0)
    assert not (out / "segments" / "part-killed-00000.parquet").exists()
    assert not (out / "files" / ".part-x.parquet.tmp").exists()
    assert [(r["file"], r["status"], r["segments"]) for r in read(out)] == [("/m/face.jpg", "ok", 1),
                                                                             ("/m/bad.mp4", "error", None)]
    assert again.forget_failures({"/m/bad.mp4"}) == 1
    assert [r["file"] for r in read(out)] == ["/m/face.jpg"] and len(read(out, "segments")) == 1
    with pytest.raises(ValueError, match=r"results at \[2.0\] frames/s"):
        ResultStore(out, 5.0).check_frames_per_second()
    assert set(read(out)[0]) == set(FILE_SCHEMA.names)


def test_a_recording_segments_are_its_voice_windows_on_the_recording_timeline(speech):
    samples, rate = speech
    padded = np.concatenate([np.zeros(2 * rate, np.float32), samples])
    recording = analyze_file_samples(padded, rate)
    times = [(s.start, s.end) for s in recording.segments]
    assert times == [pytest.approx(t) for t in emotion_core.analyze_speech(padded, rate).window_times]
    assert times[-1][1] == pytest.approx(padded.size / rate, abs=0.02)  # the windows cover the whole recording


def analyze_file_samples(samples: np.ndarray, rate: int):
    from emotion_core.file_analysis import recording_analysis

    return recording_analysis(samples, rate, emotion_core.analyze_speech(samples, rate))


def test_the_file_analysis_is_the_command_line_analysis(tmp_path):
    """Segments of a video equal the single-file command's --csv; a recording's windows its --json."""
    from emotion_core.__main__ import main

    video = write_video(tmp_path / "talking.mp4", seconds=2.0)
    assert main([str(video), "--csv", str(tmp_path / "v.csv"), "--quiet"]) == 0
    expected = list(csv.DictReader((tmp_path / "v.csv").open()))
    analysis = analyze_file(video)
    assert analysis.kind == "video" and len(analysis.segments) == len(expected) == 4
    for segment, row in zip(analysis.segments, expected, strict=True):
        assert (segment.start, segment.fused_label) == (pytest.approx(float(row["start"])), row["fused_label"])
        assert segment.fused.scores["happy"] == pytest.approx(float(row["fused_happy"]))
    assert 0 < analysis.face_coverage <= 1 and analysis.voice_coverage is not None
    assert main([str(FIXTURES / "speech.wav"), "--json", str(tmp_path / "s.json"), "--quiet"]) == 0
    windows = json.loads((tmp_path / "s.json").read_text())["window_scores"]
    recording = analyze_file(FIXTURES / "speech.wav")
    expected = [w["scores"]["neutral"] for w in windows]
    assert [s.voice_scores["neutral"] for s in recording.segments] == pytest.approx(expected)
    picture = analyze_file(FIXTURES / "face.jpg")
    assert (picture.kind, picture.duration, picture.face_coverage, picture.voice_coverage) == ("image", 0.0, 1.0, None)
    assert picture.fused.shares[picture.dominant] == 1.0


def test_a_clear_error_when_the_engine_is_not_installed(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an import of a missing package does
    assert batch_cli.main([str(FIXTURES / "face.jpg"), "--out", str(tmp_path / "r.parquet")]) == 1
    err = capsys.readouterr().err
    assert "distributed not installed: pip install -r requirements-batch.txt" in err
    assert not (tmp_path / "r.parquet").exists()


# --- whole batches on a cluster of 2 workers ----------------------------------------------------------

def count_model_loads() -> int:
    """Runs in a worker: count every model built in this process from now on (the models still load)."""
    from emotion_core.classifier import LiteClassifier
    from emotion_core.face import FaceDetector

    for cls in (LiteClassifier, FaceDetector):
        original = cls.__init__

        def counted(self, *args, _cls=cls, _original=original, **kwargs):
            _cls.loads += 1
            _original(self, *args, **kwargs)

        cls.loads, cls.__init__ = 0, counted
    return os.getpid()


def model_loads() -> tuple[int, int, int]:
    """Runs in a worker: (pid, classifiers built, face detectors built)."""
    from emotion_core.classifier import LiteClassifier
    from emotion_core.face import FaceDetector

    return os.getpid(), LiteClassifier.loads, FaceDetector.loads


@pytest.fixture(scope="module")
def cluster():
    from distributed import Client, LocalCluster

    # A plain cluster, as `dask worker` starts them; its nannies set their environment variables in this
    # process too (Dask's documented leak), so the environment is put back for the tests after it.
    with mock.patch.dict(os.environ):
        local = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    with local:
        with Client(local) as client:
            client.run(count_model_loads)
            yield local.scheduler_address, client


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Generated clips and the fixtures, a copy of a clip under another name, damaged files and a too-long one."""
    folder = tmp_path_factory.mktemp("archive")
    talking = write_video(folder / "talking.mp4", seconds=3.0)
    write_video(folder / "silent.webm", seconds=2.0, sound_kind=None)
    for name in ("face.jpg", "no_face.jpg", "speech.wav"):
        shutil.copy(FIXTURES / name, folder / name)
    (folder / "session 2" / "day 1").mkdir(parents=True)
    shutil.copy(talking, folder / "session 2" / "day 1" / "renamed.mp4")
    make_case("audio_too_long_11min.wav", folder)
    (folder / "notes.md").write_text("not media: left out of the folder")
    return folder


def corpus_list(folder: Path) -> tuple[Path, dict]:
    """A list file of the committed bad-input corpus; returns it and {path: case}."""
    cases = {str(CORPUS_DIR / case.file): case for case in load_manifest() if not case.generated}
    listing = folder / "corpus.txt"
    listing.write_text("# the bad-input corpus\n\n" + "\n".join(cases) + "\n")
    return listing, cases


@pytest.fixture(scope="module")
def first_run(cluster, media, tmp_path_factory):
    """One batch over the media folder and the corpus list, on the test's cluster; its tables, as written."""
    address, client = cluster
    out = tmp_path_factory.mktemp("out") / "results.parquet"
    listing, cases = corpus_list(tmp_path_factory.mktemp("lists"))
    status = batch_cli.main([str(media), str(listing), "--out", str(out), "--scheduler", address, "--quiet"])
    loads = {pid: (classifiers, detectors) for pid, classifiers, detectors in client.run(model_loads).values()}
    return {"status": status, "out": out, "files": read(out), "segments": read(out, "segments"),
            "cases": cases, "loads": loads, "listing": listing}


def test_every_file_gets_one_row_and_copies_are_analysed_once(first_run, media):
    assert first_run["status"] == 0
    rows = {row["file"]: row for row in first_run["files"]}
    assert len(rows) == len(first_run["files"]) == 7 + len(first_run["cases"])  # notes.md is not media
    pair = [rows[str(media / "talking.mp4")], rows[str(media / "session 2" / "day 1" / "renamed.mp4")]]
    original, copy = sorted(pair, key=lambda row: row["status"] != "ok")
    assert (original["status"], copy["status"], copy["duplicate_of"]) == ("ok", "duplicate", original["file"])
    assert copy["file_hash"] == original["file_hash"] and copy["duration"] is None
    assert (original["kind"], original["segments"], original["dominant"]) == ("video", 6, "happy")
    assert original["duration"] == pytest.approx(3.0, abs=0.1) and original["face_coverage"] == pytest.approx(1.0)
    assert sum(original[f"share_{name}"] for name in EMOTIONS) == pytest.approx(1.0)
    silent = rows[str(media / "silent.webm")]
    assert silent["status"] == "ok" and silent["voice_coverage"] is None  # no sound track
    speech, no_face = rows[str(media / "speech.wav")], rows[str(media / "no_face.jpg")]
    assert speech["kind"] == "audio" and speech["voice_coverage"] > 0 and speech["face_coverage"] is None
    assert no_face["face_coverage"] == 0.0 and no_face["dominant"] is None
    too_long = rows[str(media / "audio_too_long_11min.wav")]
    assert too_long["status"] == "error" and "longer than 10 minutes" in too_long["error"]
    counted = Counter(segment["file"] for segment in first_run["segments"])
    analysed = {path: row["segments"] for path, row in rows.items() if row["status"] == "ok"}
    assert set(counted) <= set(analysed) and all(counted[path] == count for path, count in analysed.items())


def test_damaged_files_get_the_command_lines_message(first_run):
    """Each case of the bad-input corpus: the row the single-file command's outcome calls for."""
    rows = {row["file"]: row for row in first_run["files"]}
    for path, case in first_run["cases"].items():
        row, expect = rows[path], case.expected("cli")
        if expect == "result":
            assert row["status"] == "ok", f"{case.file}: {row['error']}"
            if case.min_faces:
                assert row["face_coverage"] > 0, case.file
            if case.speech is not None:
                assert bool(row["voice_coverage"]) == case.speech, case.file
        else:
            assert row["status"] == "error", f"{case.file}: expected {expect}"
            assert re.search(expect.removeprefix("error: "), row["error"]), f"{case.file}: {row['error']!r}"


def test_models_load_once_per_worker_not_per_file(first_run):
    analysed = {}
    for row in first_run["files"]:
        if row["worker"] and row["status"] == "ok":
            pid = int(row["worker"].rsplit(":", 1)[1])
            analysed[pid] = analysed.get(pid, 0) + 1
    assert set(analysed) <= set(first_run["loads"]) and sum(analysed.values()) >= 30
    for pid, files in analysed.items():
        classifiers, detectors = first_run["loads"][pid]
        # two detectors: full range, and short range for frames where full range finds nothing
        assert 1 <= classifiers <= 2 and detectors <= 2, f"worker {pid}: {files} files, loads {classifiers, detectors}"
    assert max(analysed.values()) > 3  # a worker that analysed more files than there are models


def test_a_second_run_skips_what_is_done_and_retries_failures(first_run, cluster, media, tmp_path):
    address, _ = cluster
    out, before = first_run["out"], {row["file"]: row for row in first_run["files"]}
    another_copy = tmp_path / "face again.jpg"
    shutil.copy(media / "face.jpg", another_copy)
    status = batch_cli.main([str(media), str(first_run["listing"]), str(another_copy), "--out", str(out),
                             "--scheduler", address, "--quiet"])
    assert status == 0
    after = {row["file"]: row for row in read(out)}
    assert set(after) == set(before) | {str(another_copy)} and len(read(out)) == len(after)  # one row each
    for path, row in before.items():
        if row["status"] == "error":  # tried again, in the new run, with the same message
            assert after[path]["run"] != row["run"] and after[path]["error"] == row["error"]
        else:
            assert after[path]["run"] == row["run"], f"{path} was analysed again"
    new = after[str(another_copy)]
    assert (new["status"], new["duplicate_of"]) == ("duplicate", str(media / "face.jpg"))
    assert len(read(out, "segments")) == len(first_run["segments"])


# --- threads per worker ------------------------------------------------------------------------------

def test_workers_share_the_cores_out_and_a_joined_cluster_gets_one_thread():
    assert threads_per_worker(2, 2) == 1  # the 2-core machine with its default 2 workers: 1.91x one worker
    assert threads_per_worker(2, 1) == 2  # a lone worker decodes as the single-file command does
    assert [threads_per_worker(16, n) for n in (1, 3, 4, 16, 32)] == [16, 5, 4, 1, 1]  # at least one each
    with pytest.raises(ValueError, match="workers must be at least 1"):
        threads_per_worker(2, 0)
    cores = usable_cores()
    assert task_threads(cores, None) == 1 and task_threads(1, None) == cores
    assert task_threads(1, "tcp://127.0.0.1:8786") == WORKER_THREADS == 1  # its hosts are not asked


def test_each_local_worker_keeps_to_its_own_cores_when_they_go_round():
    assert [worker_cores(i, 2, [0, 1]) for i in (0, 1)] == [{0}, {1}]
    assert [worker_cores(i, 2, [2, 5, 7, 9]) for i in (0, 1)] == [{2, 5}, {7, 9}]  # the cores this process may use
    assert [worker_cores(i, 3, [0, 1, 2, 3, 4]) for i in (0, 1, 2)] == [{0}, {1}, {2}]  # spare cores stay free
    assert worker_cores(0, 1, [0, 1]) is None  # a lone worker has them all already
    assert worker_cores(0, 3, [0, 1]) is None and worker_cores(2, 2, [0, 1]) is None  # sharing; no such worker


def cores_of_this_task() -> list[int]:
    return sorted(os.sched_getaffinity(0))


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity") or usable_cores() < 2, reason="needs two cores to pin")
def test_two_local_workers_run_their_files_on_different_cores():
    from emotion_core.batch_dask import connect

    with connect(2, None) as client:
        workers = list(client.scheduler_info()["workers"])
        cores = [client.submit(cores_of_this_task, workers=[address], pure=False).result() for address in workers]
    assert all(len(own) == 1 for own in cores) and cores[0] != cores[1], cores


def test_workers_started_by_hand_with_the_readme_settings_run_as_local_ones(tmp_path):
    """README's cluster recipe: `dask scheduler`, then `dask worker` with DASK_CONFIG naming the
    package's worker settings: no heap trimming from the nanny and no stack profiler, as locally."""
    from distributed import Client

    from emotion_core.batch_dask import WORKER_SETTINGS, worker_settings

    assert worker_settings() == {"distributed.admin.tick.interval": "1s",
                                 "distributed.admin.system-monitor.interval": "2s",
                                 "distributed.worker.memory.monitor-interval": "500ms",
                                 "distributed.worker.profile.enabled": False,
                                 "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}
    address = tmp_path / "scheduler.json"
    environment = {**os.environ, "DASK_CONFIG": str(WORKER_SETTINGS), "PYTHONPATH": str(PROJECT_ROOT)}
    environment.pop("MALLOC_TRIM_THRESHOLD_", None)
    dask = [sys.executable, "-m", "dask"]
    scheduler = subprocess.Popen([*dask, "scheduler", "--scheduler-file", str(address), "--port", "0",
                                  "--no-dashboard"], env=environment, cwd=tmp_path,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([*dask, "worker", "--scheduler-file", str(address), "--nthreads", "1",
                               "--no-dashboard"], env=environment, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not address.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        with Client(scheduler_file=str(address), timeout="60s") as client:
            client.wait_for_workers(1, timeout=60)
            seen = client.run(lambda dask_worker: (os.environ.get("MALLOC_TRIM_THRESHOLD_"),
                                                   "profile" in dask_worker.periodic_callbacks,
                                                   timers(dask_worker)))
        assert list(seen.values()) == [(None, False, QUIET_TIMERS)]
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)


QUIET_TIMERS = {"tick": 1000, "monitor": 2000, "memory_monitor": 500}  # ms, from emotion_core/dask_workers.yaml


def timers(server) -> dict[str, float]:
    """How often a Dask server wakes for its event-loop check, system sampler and memory check (ms)."""
    return {name: server.periodic_callbacks[name].callback_time for name in QUIET_TIMERS}


def ffmpeg_threads() -> set[str]:
    """Names of this process's FFmpeg threads (FFmpeg names them ``av:CODEC:...``, e.g. ``av:h264:df0``)."""
    names = set()
    for task in Path("/proc/self/task").iterdir():
        try:
            names.add((task / "comm").read_text().strip())
        except OSError:  # the thread ended meanwhile
            continue
    return {name for name in names if name.startswith("av:")}


def ffmpeg_threads_during(call):
    """``call()``, and every FFmpeg thread this process had while it ran (looked at every millisecond)."""
    seen: set[str] = set()
    done = threading.Event()

    def watch():
        while not done.wait(0.001):
            seen.update(ffmpeg_threads())

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        return call(), seen
    finally:
        done.set()
        watcher.join()


def threads_in_worker(path: str, threads: int) -> dict:
    """Runs in a worker: the batch's analysis of ``path`` in ``threads`` threads, and the threads its
    libraries used (FFmpeg's decoder threads are seen as they run; 1 decodes in the caller's thread)."""
    import cv2
    from distributed import get_worker
    from threadpoolctl import threadpool_info

    from emotion_core.analysis import default_reader
    from emotion_core.batch import analyse_task

    outcome, decoder = ffmpeg_threads_during(lambda: analyse_task(path, None, 2.0, threads))
    models = default_reader().face_model, default_reader().voice_model
    return {"status": outcome.status, "decoder": decoder,
            "opencv": cv2.getNumThreads(), "interpreters": tuple(model.num_threads for model in models),
            "blas": {info["filepath"]: info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"},
            "profiler": "profile" in get_worker().periodic_callbacks, "timers": timers(get_worker()),
            "malloc_trim": os.environ.get("MALLOC_TRIM_THRESHOLD_")}


def test_a_local_worker_works_in_the_threads_it_is_given(tmp_path):
    """The batch's own local cluster: the decoder and OpenCV run the task's threads; the interpreters
    and BLAS one each whatever the count (as in the single-file command, and Dask's nanny for BLAS);
    no stack profiler, and the heap trimmed as glibc does it by default."""
    from emotion_core.batch_dask import connect

    video = write_video(tmp_path / "talking.mp4", seconds=3.0)
    environment = dict(os.environ)
    with connect(1, None) as client:
        reports = {threads: client.submit(threads_in_worker, str(video), threads, pure=False).result()
                   for threads in (1, 2)}
        assert os.environ.get("OMP_NUM_THREADS") == "1"  # the nanny's, set in this process for its workers
    assert dict(os.environ) == environment  # and taken away again: programs run after the batch never see it
    for threads, report in reports.items():
        assert report["status"] == "ok"
        assert len(report["decoder"]) == (0 if threads == 1 else threads), (threads, report["decoder"])
        assert report["opencv"] == threads and report["interpreters"] == (1, 1)
        assert report["blas"] and set(report["blas"].values()) == {1}, report["blas"]
        assert report["profiler"] is False  # Dask's stack sampler, on the worker's event loop every 10 ms
        assert report["malloc_trim"] is None  # glibc's own trimming: the nanny's 64 kB made files 8-10 % slower
        assert report["timers"] == QUIET_TIMERS  # Dask's 20 ms / 0.5 s / 0.1 s wake-ups took the GIL from the file
    with pytest.raises(ValueError, match="decode_threads must be a whole number >= 1"):
        analyze_file(video, decode_threads=0)


# --- a batch process: killed and resumed, stopped with Ctrl-C ------------------------------------------

@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> Path:
    """A long clip that keeps a worker busy, and short ones that finish while it runs (120 s: the batch
    reads such clips at about 10x real time, and at 20 s or 45 s it twice finished every file before
    the test's signal reached it)."""
    folder = tmp_path_factory.mktemp("clips")
    write_video(folder / "a_long.mp4", seconds=120.0)
    for index in range(4):
        write_video(folder / f"short_{index}.mp4", seconds=2.0 + 0.5 * index)
    return folder


def start_batch(clips: Path, out: Path) -> subprocess.Popen:
    """The batch as a command in its own process group (as a terminal runs it), writing every file at once.

    Ctrl-C is set back to its default in it: a test run started in the background by a shell ignores
    SIGINT, and Python in a process that inherits the ignored signal never turns it into KeyboardInterrupt.
    """
    command = [*BATCH, str(clips), "--out", str(out), "--workers", "2", "--fps", "10", "--flush-seconds", "0"]
    return subprocess.Popen(command, cwd=PROJECT_ROOT, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def wait_for_rows(out: Path, process: subprocess.Popen, timeout: float = RUN_TIMEOUT) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1][-3000:]
        if list((out / "files").glob("*.parquet")):
            return read(out)
        time.sleep(0.1)
    raise TimeoutError("no file was written")


def live_processes(session: int) -> list[int]:
    """Processes of a session that are still running (zombies waiting to be reaped are not)."""
    alive = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and os.getsid(int(entry)) == session:
                if Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    alive.append(int(entry))
        except (ProcessLookupError, FileNotFoundError):
            continue
    return alive


def test_a_killed_batch_resumes_without_losing_or_repeating_work(clips, tmp_path):
    out = tmp_path / "results.parquet"
    first = start_batch(clips, out)
    committed = wait_for_rows(out, first)
    os.killpg(first.pid, signal.SIGKILL)  # the whole command, workers included, with no chance to clean up
    first.communicate(timeout=30)
    committed = read(out)
    assert 1 <= len(committed) < 5, "the kill came too late to test resuming"
    done = subprocess.run([*BATCH, str(clips), "--out", str(out), "--workers", "2", "--fps", "10"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{len(committed)} already done" in done.stdout
    rows = read(out)
    assert sorted(row["file"] for row in rows) == sorted(str(path) for path in clips.iterdir())
    assert {row["file"]: row["run"] for row in committed} == {
        row["file"]: row["run"] for row in rows if row["file"] in {c["file"] for c in committed}}
    assert len({row["run"] for row in rows}) == 2 and all(row["status"] == "ok" for row in rows)
    segments = read(out, "segments")
    assert len(segments) == sum(row["segments"] for row in rows) == len({(s["file"], s["start"]) for s in segments})


def test_ctrl_c_stops_the_batch_cleanly(clips, tmp_path):
    out = tmp_path / "results.parquet"
    process = start_batch(clips, out)
    wait_for_rows(out, process)
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: every process of the command gets it
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == batch_cli.INTERRUPTED_STATUS, stderr[-3000:]
    assert stdout.startswith("interrupted: ") and "run the same command to go on" in stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    rows = read(out)
    assert 1 <= len(rows) < 5 and len({row["file"] for row in rows}) == len(rows)
    deadline = time.monotonic() + 20
    while live_processes(process.pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert live_processes(process.pid) == [], "worker processes outlived the batch"
