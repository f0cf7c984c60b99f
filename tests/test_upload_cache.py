"""The cache folder: its sweep, its byte caps, the files requests hold, and the guard on uploads.

First the module's functions and UploadCache on real folders; then a real app server (``python
app.py``) with small caps: refusals and their messages, a file used by a running request outliving
the retention, a one-client flood, a many-client flood, and a crash (kill -9) followed by a restart.
The measured figures are printed (``pytest -s``) and quoted in README's Privacy and Limits sections.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

from emotion_core.upload_cache import (
    BUSY_MESSAGE,
    FILE_OVERHEAD,
    MARKER_NAME,
    CachedPath,
    CacheFolderError,
    CacheLimits,
    UploadCache,
    cache_folder,
    charged,
    claim_folder,
    client_address,
    refusal,
    scan,
)
from emotion_core.upload_guard import declared_length, is_multipart_post, scope_client, stored_paths

MB = 1_000_000


def write(path: Path, size: int = 1000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(size))
    return path


def later(limits: CacheLimits) -> float:
    """A time at which everything written now is past the retention (ctime cannot be set back)."""
    return time.time() + limits.max_age + 1


# --- where the cache lives, and whose it is ---

def test_the_cache_is_a_folder_of_its_own_unless_gradio_temp_dir_names_one(tmp_path):
    import tempfile

    assert cache_folder({}) == Path(tempfile.gettempdir()).absolute() / "emotion-reader-cache"
    assert cache_folder({"GRADIO_TEMP_DIR": str(tmp_path)}) == tmp_path


def test_a_new_or_empty_folder_is_claimed_and_a_marked_one_reused(tmp_path):
    folder = claim_folder(tmp_path / "new")
    assert (folder / MARKER_NAME).is_file()
    write(folder / "upload" / "a.jpg")
    assert claim_folder(folder) == folder  # marked: whatever it holds is the app's
    (tmp_path / "only-folders" / "vibe_edit_history").mkdir(parents=True)  # Gradio makes this one on import
    assert (claim_folder(tmp_path / "only-folders") / MARKER_NAME).is_file()


@pytest.mark.parametrize("content", ["file", "link"])
def test_a_folder_holding_someone_elses_files_is_refused_and_left_alone(tmp_path, content):
    folder = tmp_path / "shared"
    folder.mkdir()
    theirs = write(tmp_path / "elsewhere" / "theirs.txt")
    if content == "file":
        theirs = write(folder / "deep" / "theirs.txt")
    else:
        (folder / "link").symlink_to(theirs.parent, target_is_directory=True)
    with pytest.raises(CacheFolderError, match="set GRADIO_TEMP_DIR to a new or empty folder"):
        claim_folder(folder)
    assert theirs.is_file() and not (folder / MARKER_NAME).exists()


# --- who the client is ---

@pytest.mark.parametrize("peer, forwarded, client", [
    ("203.0.113.7", None, "203.0.113.7"),  # no proxy
    ("203.0.113.7", "198.51.100.1", "203.0.113.7"),  # a client cannot name itself: it is not a proxy
    ("10.16.3.80", "203.0.113.9", "203.0.113.9"),  # Spaces: the proxy (private network) forwards the client
    ("10.16.3.80", "6.6.6.6, 203.0.113.9, 10.0.0.5", "203.0.113.9"),  # forged first hop ignored, inner proxy skipped
    ("127.0.0.1", "10.0.0.5, 10.0.0.6", "10.0.0.5"),  # only proxies: the first one
    ("127.0.0.1", "not-an-address", "not-an-address"),
    ("127.0.0.1", None, "127.0.0.1"),
    (None, None, "unknown"),
])
def test_client_address(peer, forwarded, client):
    assert client_address(peer, forwarded) == client


def test_scope_client_reads_the_connection_and_the_forwarded_header():
    scope = {"type": "http", "client": ("10.1.2.3", 5000), "headers": [(b"x-forwarded-for", b"203.0.113.4")]}
    assert scope_client(scope) == "203.0.113.4"
    assert scope_client({"type": "http", "headers": []}) == "unknown"


# --- the caps ---

def test_limits_from_env_and_the_sweep_interval():
    assert CacheLimits.from_env({}) == CacheLimits(600.0, 2_000_000_000, 250_000_000)
    limits = CacheLimits.from_env({"EMOTION_CACHE_MAX_AGE": "20", "EMOTION_CACHE_MAX_BYTES": "8000"})
    assert (limits.max_age, limits.max_bytes, limits.client_max_bytes) == (20.0, 8000, 1000)
    assert CacheLimits.from_env({"EMOTION_CACHE_CLIENT_MAX_BYTES": "5"}).client_max_bytes == 5
    assert [CacheLimits(max_age=age).sweep_every for age in (2, 20, 600)] == [1.0, 2.0, 10.0]
    with pytest.raises(ValueError):
        CacheLimits(max_bytes=100, client_max_bytes=200)


def test_refusal_says_which_cap_and_what_to_do():
    limits = CacheLimits(max_age=60, max_bytes=100, client_max_bytes=40)
    assert refusal(40, total=60, client_total=0, limits=limits) is None  # exactly full is fine
    assert refusal(41, total=0, client_total=0, limits=limits).startswith("This upload is larger")
    assert refusal(10, total=95, client_total=0, limits=limits) == BUSY_MESSAGE  # the folder
    assert refusal(10, total=0, client_total=35, limits=limits) == BUSY_MESSAGE  # the client's share
    assert "try again in a few minutes" in BUSY_MESSAGE


def test_uploads_are_admitted_up_to_each_cap_and_nothing_is_evicted(tmp_path):
    cache = UploadCache(claim_folder(tmp_path / "cache"), CacheLimits(60, max_bytes=100_000, client_max_bytes=40_000))
    stored = []
    for index in range(3):
        upload, reason = cache.admit("a", 10_000)
        assert reason is None
        stored.append(write(cache.folder / f"h{index}" / "a.bin", 10_000 - FILE_OVERHEAD))
        cache.settle(upload, [stored[-1]])
    assert cache.usage("a") == 30_000
    assert cache.admit("a", 10_001) == (None, BUSY_MESSAGE)  # a's share is 40,000
    assert cache.admit("b", 40_000)[1] is None  # another client still has room; now 70,000 in all
    assert cache.admit("c", 30_001) == (None, BUSY_MESSAGE)  # the folder's cap
    assert all(path.stat().st_size == 10_000 - FILE_OVERHEAD for path in stored)  # nothing stored was touched


def test_a_body_longer_than_declared_is_stopped_when_it_passes_a_cap(tmp_path):
    cache = UploadCache(tmp_path, CacheLimits(60, max_bytes=100_000, client_max_bytes=40_000))
    upload, _ = cache.admit("a", 1_000)
    assert cache.extend(upload, 20_000) is None and upload.reserved == 21_000
    assert cache.extend(upload, 20_000).startswith("This upload is larger")  # 41,000 > the share
    assert cache.usage("a") == 21_000
    cache.release(upload)
    assert cache.usage() == 0 and cache.usage("a") == 0


def test_the_sweep_counts_the_whole_folder_and_frees_what_was_deleted(tmp_path):
    limits = CacheLimits(60, max_bytes=100_000, client_max_bytes=50_000)
    cache = UploadCache(claim_folder(tmp_path / "cache"), limits)
    write(cache.folder / "results" / "annotated.mp4", 60_000)  # not an upload: counted by the sweep
    reserved, reason = cache.admit("a", 45_000)
    assert reason is None  # the results are not measured yet
    cache.release(reserved)
    upload, _ = cache.admit("a", 1)
    cache.settle(upload, [write(cache.folder / "h" / "a.bin", 1000)])
    cache.sweep()
    assert cache.usage() == charged(60_000) + charged(1000) and cache.usage("a") == charged(1000)
    assert cache.admit("b", 45_000) == (None, BUSY_MESSAGE)
    (cache.folder / "h" / "a.bin").unlink()  # the app deleted it (a live chunk, read at once)
    (cache.folder / "results" / "annotated.mp4").unlink()
    cache.sweep()
    assert cache.usage() == 0 and cache.usage("a") == 0


def test_settle_looks_only_inside_the_folder(tmp_path):
    cache = UploadCache(claim_folder(tmp_path / "cache"))
    upload, _ = cache.admit("a", 10)
    cache.settle(upload, [write(tmp_path / "outside.bin", 5000), "/etc/passwd"])
    assert cache.usage() == 0


# --- the sweep ---

def test_the_sweep_deletes_what_is_past_the_retention_whoever_wrote_it_and_nothing_outside(tmp_path):
    limits = CacheLimits(max_age=30)
    cache = UploadCache(claim_folder(tmp_path / "cache"), limits)
    outside = write(tmp_path / "outside" / "keep.txt")
    leftovers = [write(cache.folder / "abc123" / "upload.mp4"), write(cache.folder / "tmpq1w2e3"),
                 write(cache.folder / "emotion-video-x" / "clip-annotated.mp4")]
    (cache.folder / "link-to-outside").symlink_to(outside.parent, target_is_directory=True)
    (cache.folder / "link-to-file").symlink_to(outside)

    young = cache.sweep()
    assert young.deleted_files == 0 and all(path.exists() for path in leftovers)
    report = cache.sweep(now=later(limits))
    assert report.deleted_files == 5 and report.deleted_folders == 2  # 3 files, 2 links; their folders
    assert sorted(path.name for path in cache.folder.iterdir()) == [MARKER_NAME]
    assert outside.is_file() and outside.read_bytes()  # links are removed, never followed
    claim_folder(cache.folder)  # the marker survives every sweep


def test_ages_are_real_seconds(tmp_path):
    cache = UploadCache(claim_folder(tmp_path / "cache"), CacheLimits(max_age=0.5))
    file = write(cache.folder / "h" / "a.jpg")
    assert cache.sweep().deleted_files == 0
    time.sleep(0.7)
    assert cache.sweep().deleted_files == 1 and not file.exists() and not file.parent.exists()


def test_files_that_running_requests_hold_are_never_deleted(tmp_path):
    limits = CacheLimits(max_age=30)
    cache = UploadCache(claim_folder(tmp_path / "cache"), limits)
    upload = write(cache.folder / "h1" / "video.mp4")
    results = cache.folder / "emotion-video-1"
    annotated = write(results / "video-annotated.mp4")
    other = write(cache.folder / "h2" / "other.jpg")
    with cache.hold(upload, None), cache.hold(results), cache.hold(upload):
        assert cache.in_use(upload) and cache.in_use(annotated) and not cache.in_use(other)
        report = cache.sweep(now=later(limits))
        assert upload.exists() and annotated.exists() and not other.exists()
        assert report.deleted_files == 1
        with cache.hold(other):
            pass
        assert cache.sweep(now=later(limits)).deleted_files == 0
    assert not cache.in_use(upload)
    assert cache.sweep(now=later(limits)).deleted_files == 2
    assert not upload.exists() and not results.exists()


def test_the_sweep_keeps_a_file_replaced_after_it_looked(tmp_path):
    """Gradio stores an upload at a path named after its content: the same file sent again replaces the
    expired one at the same path, and that new copy must stay."""
    limits = CacheLimits(max_age=30)
    cache = UploadCache(claim_folder(tmp_path / "cache"), limits)
    path = write(cache.folder / "h" / "a.jpg")
    (seen,) = [item for item in scan(cache.folder) if item.path == path]
    expired = CachedPath(seen.path, seen.is_dir, seen.size, changed=time.time() - limits.max_age - 5)
    assert not cache._remove(expired, now=time.time()) and path.exists()  # looked again: young, kept
    assert cache._remove(seen, now=later(limits)) and not path.exists()


def test_a_sweep_of_thousands_of_files_is_quick(tmp_path):
    cache = UploadCache(claim_folder(tmp_path / "cache"), CacheLimits(max_age=30))
    for index in range(2000):
        write(cache.folder / f"{index:064x}" / "chunk.wav", 100)
    keep = cache.sweep()
    gone = cache.sweep(now=later(cache.limits))
    print(f"FIGURE sweep of 2000 files: {keep.seconds * 1000:.0f} ms keeping them, "
          f"{gone.seconds * 1000:.0f} ms deleting them")
    assert keep.kept_files == 2000 and gone.deleted_files == 2000 and gone.deleted_folders == 2000
    assert keep.seconds < 2.0 and gone.seconds < 30.0  # deleting is the disk's time (a folder a file here)


def test_start_sweeps_at_once_then_on_schedule(tmp_path):
    cache = UploadCache(tmp_path / "cache", CacheLimits(max_age=0.5))
    assert cache.start().deleted_files == 0
    try:
        file = write(cache.folder / "h" / "a.jpg")
        deadline = time.monotonic() + 5
        while file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not file.exists()  # 0.5 s old, then the next 1 s sweep
    finally:
        cache.stop()


# --- the guard's parsing of requests and answers ---

def test_the_guard_reads_only_multipart_posts_and_the_upload_answer():
    def scope(method, content_type, length=None):
        headers = [(b"content-type", content_type.encode())] + ([(b"content-length", length)] if length else [])
        return {"type": "http", "method": method, "headers": headers}

    assert is_multipart_post(scope("POST", "multipart/form-data; boundary=x"))
    assert is_multipart_post(scope("POST", "Multipart/Form-Data; boundary=x"))
    assert not is_multipart_post(scope("POST", "application/json"))
    assert not is_multipart_post(scope("GET", "multipart/form-data"))
    assert declared_length(scope("POST", "", b"1234")) == 1234
    assert declared_length(scope("POST", "", b"-5")) == 0 and declared_length(scope("POST", "")) == 0
    assert stored_paths(b'["/c/h/a.jpg", 3]') == ["/c/h/a.jpg"]
    assert stored_paths(b"Could not parse") == [] and stored_paths(b'{"a": 1}') == []


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- a real server with small caps ---

MAX_AGE = 6  # seconds: the server sweeps every second
MAX_BYTES = 40 * MB
CLIENT_MAX_BYTES = 8 * MB
UPLOAD = MB  # each flood upload
SERVER_LIMITS = CacheLimits(MAX_AGE, MAX_BYTES, CLIENT_MAX_BYTES)


@pytest.fixture(scope="module")
def guarded_server(tmp_path_factory):
    """(url, cache folder) of an app whose cache keeps files 6 s, holds 40 MB, 8 MB per client."""
    from harness.server import start_app, stop_app

    cache = tmp_path_factory.mktemp("guarded") / "cache"
    cache.mkdir()
    process, url, _ = start_app({"GRADIO_TEMP_DIR": str(cache), "EMOTION_CACHE_MAX_AGE": str(MAX_AGE),
                                 "EMOTION_CACHE_MAX_BYTES": str(MAX_BYTES),
                                 "EMOTION_CACHE_CLIENT_MAX_BYTES": str(CLIENT_MAX_BYTES)})
    yield url, cache
    stop_app(process)


def cache_files(cache: Path) -> dict[Path, int]:
    """Every file under ``cache`` but the marker, with its size (files vanish while we look)."""
    found = {}
    for root, _, names in os.walk(cache):
        for name in names:
            path = Path(root, name)
            try:
                found[path] = path.lstat().st_size
            except FileNotFoundError:
                continue
    found.pop(cache / MARKER_NAME, None)
    return found


def upload(http, url: str, data: bytes, name: str = "a.bin", forwarded: str | None = None, chunked: bool = False):
    """POST ``data`` to /gradio_api/upload as a browser does, or in chunks with no Content-Length."""
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    if not chunked:
        return http.post(url + "gradio_api/upload", files={"files": (name, data)}, headers=headers)
    head = f'--b0undary\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n\r\n'.encode()
    body = head + data + b"\r\n--b0undary--\r\n"
    headers["Content-Type"] = "multipart/form-data; boundary=b0undary"
    return http.post(url + "gradio_api/upload", headers=headers,
                     content=(body[start:start + 65536] for start in range(0, len(body), 65536)))


def wait_for_quiet(cache: Path, timeout: float = 4 * MAX_AGE) -> None:
    """Let earlier tests' files expire, so that each test measures its own."""
    deadline = time.monotonic() + timeout
    while sum(cache_files(cache).values()) > MB and time.monotonic() < deadline:
        time.sleep(0.5)


def test_uploads_past_a_cap_are_refused_before_they_are_stored(guarded_server):
    import httpx

    url, cache = guarded_server
    with httpx.Client(timeout=60) as http:
        before = set(cache_files(cache))
        for chunked in (False, True):  # declared up front, or counted as it arrives
            answer = upload(http, url, os.urandom(CLIENT_MAX_BYTES + MB), forwarded="203.0.113.10", chunked=chunked)
            assert answer.status_code == 429 and "larger than the server accepts" in answer.text
            assert set(cache_files(cache)) == before, "a refused upload left something behind"
        sent = {}
        for index in range(8):
            data = os.urandom(UPLOAD)
            answer = upload(http, url, data, f"part{index}.bin", forwarded="203.0.113.11")
            if answer.status_code == 200:
                sent[Path(answer.json()[0])] = sha(data)
        assert len(sent) == 7  # 7 x (1 MB + FILE_OVERHEAD) fit in 8 MB, the 8th does not
        assert answer.status_code == 429 and answer.text == BUSY_MESSAGE
        assert answer.headers["retry-after"] == "60"
        assert upload(http, url, os.urandom(UPLOAD), forwarded="203.0.113.12").status_code == 200  # others still can
    assert {path: sha(path.read_bytes()) for path in sent} == sent  # nothing stored was touched


def test_a_file_a_running_request_uses_outlives_the_retention(guarded_server, tmp_path):
    from gradio_client import Client, handle_file

    from harness.videos import write_video

    url, cache = guarded_server
    # long enough that even a fast host is still analysing it when the retention and a sweep have passed
    video = write_video(tmp_path / "in-use-video.mp4", seconds=240.0, size=(320, 240), fps=15)
    client = Client(url, verbose=False, headers={"X-Forwarded-For": "203.0.113.20"})
    job = client.submit(handle_file(video), 4.0, True, api_name="/analyze_video")
    oldest_seen = 0.0  # the upload's greatest age seen while the request ran
    while not job.done():
        for path in cache.glob(f"*/{video.name}"):
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            oldest_seen = max(oldest_seen, time.time() - max(info.st_mtime, info.st_ctime))
        time.sleep(0.2)
    summary, _, timeline, annotated, files, result = job.result()
    assert result["segments"] > 0 and Path(annotated).stat().st_size > 0 and len(files) == 3
    sweep = SERVER_LIMITS.sweep_every
    print(f"FIGURE upload in use kept {oldest_seen:.1f} s (retention {MAX_AGE} s, sweep every {sweep:g} s)")
    assert oldest_seen > MAX_AGE + sweep + 1, "the analysis ended too soon to test anything: use a longer video"
    deadline = time.monotonic() + sweep + 3
    while list(cache.glob(f"*/{video.name}")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not list(cache.glob(f"*/{video.name}")), "released, past the retention, and still there"


class Sampler(threading.Thread):
    """Measure the cache folder's bytes every 0.1 s until stopped; keeps the peak."""

    def __init__(self, cache: Path):
        super().__init__(daemon=True)
        self.cache, self.peak, self.stopping = cache, 0, threading.Event()

    def run(self):
        while not self.stopping.wait(0.1):
            self.peak = max(self.peak, sum(cache_files(self.cache).values()))


def flood(url: str, seconds: float, threads: int, addresses: list[str | None]) -> dict:
    """Upload distinct UPLOAD-byte files from ``threads`` threads as fast as they go, each request from the
    next of ``addresses``; returns the statuses, the refusals' texts and {stored path: sha256}."""
    import httpx

    outcome = {"statuses": [], "errors": [], "refusals": set(), "stored": {}}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def work(index: int):
        with httpx.Client(timeout=60) as http:
            count = index
            while time.monotonic() < deadline:
                data, forwarded = os.urandom(UPLOAD), addresses[count % len(addresses)]
                count += threads
                try:
                    answer = upload(http, url, data, f"flood{count}.bin", forwarded=forwarded)
                except httpx.HTTPError as error:
                    with lock:
                        outcome["errors"].append(repr(error))
                    continue
                with lock:
                    outcome["statuses"].append(answer.status_code)
                    if answer.status_code == 200:
                        outcome["stored"][Path(answer.json()[0])] = sha(data)
                    elif answer.status_code == 429:
                        outcome["refusals"].add(answer.text)

    workers = [threading.Thread(target=work, args=(index,)) for index in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return outcome


@pytest.mark.slow
def test_one_client_cannot_fill_the_disk_and_others_are_still_served(guarded_server):
    from gradio_client import Client, handle_file

    from harness import FIXTURES

    url, cache = guarded_server
    wait_for_quiet(cache)
    bystander = Client(url, verbose=False, headers={"X-Forwarded-For": "203.0.113.50"})
    served, failures, latencies = [], [], []
    stop = threading.Event()

    def analyse_images():
        while not stop.is_set():
            started = time.monotonic()
            try:
                _, result = bystander.predict(handle_file(FIXTURES / "face.jpg"), api_name="/analyze_image")
                served.append(len(result["faces"]))
                latencies.append(time.monotonic() - started)
            except Exception as error:  # any failure is the finding
                failures.append(repr(error))

    sampler, other = Sampler(cache), threading.Thread(target=analyse_images)
    sampler.start()
    other.start()
    started = time.monotonic()
    outcome = flood(url, seconds=20, threads=6, addresses=[None])  # one client: 127.0.0.1
    elapsed = time.monotonic() - started
    stop.set()
    other.join()
    sampler.stopping.set()
    sampler.join()
    _, after = bystander.predict(handle_file(FIXTURES / "face.jpg"), api_name="/analyze_image")

    statuses = outcome["statuses"]
    accepted, refused = statuses.count(200), statuses.count(429)
    print(f"FIGURE one-client flood, {elapsed:.0f} s, 6 threads, 1 MB files: {len(statuses)} uploads, "
          f"{accepted} stored ({accepted * UPLOAD / MB:.0f} MB over the run), {refused} refused, "
          f"{sum(s >= 500 for s in statuses)} server errors, {len(outcome['errors'])} connection errors; "
          f"peak {sampler.peak / MB:.2f} MB on disk (cap {MAX_BYTES / MB:.0f} MB, "
          f"share {CLIENT_MAX_BYTES / MB:.0f} MB); "
          f"other client: {len(served)} images served during, {len(failures)} failed, "
          f"median {sorted(latencies)[len(latencies) // 2] if latencies else float('nan'):.2f} s")
    assert accepted > 0 and refused > 0
    assert not any(status >= 500 for status in statuses) and not outcome["errors"]
    assert set(statuses) <= {200, 429} and outcome["refusals"] == {BUSY_MESSAGE}
    assert sampler.peak <= MAX_BYTES + UPLOAD
    assert not failures and served and all(faces == 1 for faces in served)
    assert len(after["faces"]) == 1


@pytest.mark.slow
def test_many_clients_together_stay_under_the_cap_and_stored_files_stay_intact(guarded_server):
    url, cache = guarded_server
    wait_for_quiet(cache)
    sampler = Sampler(cache)
    sampler.start()
    outcome = flood(url, seconds=10, threads=6, addresses=[f"198.51.100.{n}" for n in range(1, 17)])
    sampler.stopping.set()
    sampler.join()
    statuses = outcome["statuses"]
    print(f"FIGURE 16-client flood, 10 s: {len(statuses)} uploads, {statuses.count(200)} stored, "
          f"{statuses.count(429)} refused, {sum(s >= 500 for s in statuses)} server errors; "
          f"peak {sampler.peak / MB:.2f} MB on disk (cap {MAX_BYTES / MB:.0f} MB)")
    assert statuses.count(429) > 0 and not any(status >= 500 for status in statuses) and not outcome["errors"]
    assert sampler.peak <= MAX_BYTES + UPLOAD
    still_there = {path: digest for path, digest in outcome["stored"].items() if path.exists()}
    assert still_there and {path: sha(path.read_bytes()) for path in still_there} == still_there


@pytest.mark.slow
def test_after_a_crash_the_restarted_app_deletes_the_leftovers_within_one_sweep(tmp_path):
    from gradio_client import Client, handle_file

    from harness.server import start_app, stop_app
    from harness.videos import write_video

    max_age = 20  # as in issue 23
    limits = CacheLimits(max_age=max_age)
    cache, outside = tmp_path / "cache", write(tmp_path / "outside" / "not-the-apps.txt")
    cache.mkdir()
    env = {"GRADIO_TEMP_DIR": str(cache), "EMOTION_CACHE_MAX_AGE": str(max_age)}
    video = write_video(tmp_path / "crash-video.mp4", seconds=60.0, size=(320, 240), fps=15)
    process, url, _ = start_app(env)
    try:
        job = Client(url, verbose=False).submit(handle_file(video), 2.0, True, api_name="/analyze_video")
        deadline = time.monotonic() + 120
        while not any(path.stat().st_size for path in cache.glob("*/*-annotated.mp4")):
            assert time.monotonic() < deadline and not job.done(), "the annotated video never started"
            time.sleep(0.1)
    finally:
        process.kill()  # kill -9, in the middle of writing the annotated video
        process.wait()
    leftovers = {path: max(info.st_mtime, info.st_ctime) for path in cache_files(cache)
                 for info in [path.stat()]}
    assert {path.name for path in leftovers} >= {video.name, f"{video.stem}-annotated.mp4"}

    process, url, log = start_app(env)  # the same folder
    ready = time.time()
    try:
        gone_at = {}
        deadline = time.monotonic() + max_age + 30
        while len(gone_at) < len(leftovers) and time.monotonic() < deadline:
            for path in leftovers.keys() - gone_at.keys():
                if not path.exists():
                    gone_at[path] = time.time()
            time.sleep(0.1)
    finally:
        stop_app(process)
    assert gone_at.keys() == leftovers.keys(), f"still there: {sorted(map(str, leftovers.keys() - gone_at.keys()))}"
    lags = [gone_at[path] - max(changed + max_age, ready) for path, changed in leftovers.items()]
    print(f"FIGURE crash: {len(leftovers)} leftovers ({', '.join(sorted(p.name for p in leftovers))}); restart "
          f"{ready - max(leftovers.values()):.0f} s after the last write; each gone at most {max(lags):.1f} s after "
          f"passing the {max_age} s retention (sweep every {limits.sweep_every:g} s); server's line: "
          f"{[line for line in log.read_text().splitlines() if 'at start-up' in line]}")
    assert max(lags) <= limits.sweep_every + 1.5
    assert outside.is_file()  # nothing outside the folder is touched
