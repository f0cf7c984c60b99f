"""The Live tab in a real browser: Debian's Chromium against the real app on 127.0.0.1.

Chromium's fake webcam plays a moving face (the scikit-image astronaut) and its fake microphone
plays espeak-ng speech, both made at test time (harness/browser.py). One page streams; a second
page, open at the same time, must see nothing of it. The page draws the boxes and readings the server
sends back over its own preview (ui/live_view.js). Saves reports/live_view.png and, on a phone-sized
screen, reports/live_view_phone.png for the README.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from emotion_core import EMOTIONS
from emotion_core.overlay import BOX_COLOUR
from harness import PROJECT_ROOT
from harness.browser import launch_chromium, write_speech_wav, write_y4m
from harness.server import start_app, stop_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TIME_LIMIT = 40  # seconds; the app's live time limit for this test, to see it stop and restart
SCREENSHOT = PROJECT_ROOT / "reports" / "live_view.png"
PHONE_SCREENSHOT = PROJECT_ROOT / "reports" / "live_view_phone.png"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
READINGS = {*EMOTIONS, "uncertain"}
DISAGREEMENT = re.compile(r"face: (\w+) · voice: (\w+)")  # emotion_core.reading.disagreement

# How many pixels of the overlay drawn over the preview have the face-box colour.
BOX_PIXELS_JS = """([r, g, b]) => {
  const canvas = document.querySelector("#live-view canvas");
  if (!canvas || !canvas.width) return 0;
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4)
    if (Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40) count++;
  return count;
}"""


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("media")
    return write_y4m(folder / "face.y4m"), write_speech_wav(folder / "speech.wav")


@pytest.fixture(scope="module")
def live_app(tmp_path_factory):
    cache = tmp_path_factory.mktemp("gradio-cache")
    process, url, log = start_app({"GRADIO_TEMP_DIR": str(cache), "EMOTION_LIVE_TIME_LIMIT": str(TIME_LIMIT)})
    yield url, cache
    stop_app(process)


def status(page) -> str:
    return page.locator("#live-status textarea").input_value()


def headline(page, bars: str) -> str:
    found = page.locator(f"#{bars} [data-testid='label-output-value']")
    return found.inner_text().strip() if found.count() else ""


def confidences(page, bars: str) -> list[str]:
    return page.locator(f"#{bars} meter").evaluate_all("meters => meters.map(m => m.getAttribute('value'))")


def chip(page, channel: str) -> str:
    """A reading shown under the preview ("happy 87%", "uncertain", "no face"...)."""
    return page.locator(f"#live-view [data-channel={channel}] .value").inner_text().strip()


def painted(page) -> int:
    return page.evaluate("() => window.liveUpdates ?? 0")


def timeline_points(page) -> int:
    return page.locator("#live-timeline g.role-mark path").count()


def wait_until(check, timeout: float, what: str, poll: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def open_live_page(browser, url, **context):
    page = browser.new_context(**(context or {"viewport": {"width": 1280, "height": 1500}})).new_page()
    page.goto(url)
    page.wait_for_selector("#live-start")
    page.wait_for_timeout(1500)  # let the page's components finish loading
    return page


def test_live_view_streams_face_and_voice(live_app, media):
    from playwright.sync_api import sync_playwright

    url, cache = live_app
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, *media)
        try:
            page, bystander = open_live_page(browser, url), open_live_page(browser, url)
            page.click("#live-start")

            # Face boxes and their captions are drawn over the preview, reading after reading.
            wait_until(lambda: re.search(r"· \d+ faces? ·", status(page)), 60, "a face in the status line")
            wait_until(lambda: page.evaluate(BOX_PIXELS_JS, list(BOX_COLOUR)) > 200, 20, "a face box on the preview")
            assert headline(page, "live-face-scores") in READINGS
            assert chip(page, "face").split()[0] in READINGS
            before = painted(page)
            wait_until(lambda: painted(page) >= before + 10, 20, "ten more readings painted")

            # An annotated snapshot on demand.
            page.click("#live-snap")
            wait_until(lambda: page.locator("#live-snapshot img").count(), 30, "the annotated snapshot")

            # The voice bars fill when the speech is heard, and keep changing.
            wait_until(lambda: headline(page, "live-voice-scores") in READINGS, 30, "voice scores")
            first = confidences(page, "live-voice-scores")
            wait_until(lambda: confidences(page, "live-voice-scores") != first, 20, "the voice scores to update")
            # Both channels heard: the fused heading is a reading, or says how they disagree.
            fused = headline(page, "live-fused-scores")
            face_voice = DISAGREEMENT.fullmatch(fused)
            assert fused in READINGS or (face_voice and set(face_voice.groups()) <= set(EMOTIONS)), fused

            # The timeline grows.
            before = wait_until(lambda: timeline_points(page), 20, "timeline points")
            wait_until(lambda: timeline_points(page) > before, 10, "the timeline to grow")
            wait_until(lambda: timeline_points(page) > 60, 40, "a longer timeline for the screenshot")
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)

            # The other session saw nothing.
            assert status(bystander) == "" and timeline_points(bystander) == 0 and painted(bystander) == 0
            assert headline(bystander, "live-face-scores") == "" and chip(bystander, "face") == "–"

            # At the time limit the stream stops; Start goes on.
            wait_until(lambda: "stopped" in status(page), TIME_LIMIT + 30, "the time limit to stop the stream")
            page.wait_for_timeout(1500)
            stopped_at = timeline_points(page)
            page.wait_for_timeout(2500)
            assert timeline_points(page) == stopped_at, "the timeline moved after the stream stopped"
            page.click("#live-start")
            wait_until(lambda: "stopped" not in status(page) and re.search(r"· \d+ faces? ·", status(page)), 30,
                       "the stream to restart")
            wait_until(lambda: timeline_points(page) > stopped_at, 15, "the timeline to grow again")

            page.click("#live-stop")
            wait_until(lambda: status(page).startswith("stopped"), 15, "Stop")
            page.click("#live-reset")
            wait_until(lambda: status(page) == "reset" and timeline_points(page) == 0, 15, "Reset")
        finally:
            browser.close()

    # Frames went up inline and readings came back; no frame was written to Gradio's cache.
    written = [p for p in Path(cache).rglob("*") if p.is_file()]
    assert not [p for p in written if p.suffix.lower() in {".jpg", ".jpeg", ".png", ".webp"}]


def visible_without_scrolling(page, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= PHONE["viewport"]["height"]


def test_on_a_phone_the_preview_its_boxes_and_the_readings_fit_the_screen(live_app, media):
    from playwright.sync_api import sync_playwright

    url, _ = live_app
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright, *media)
        try:
            page = open_live_page(browser, url, **PHONE)
            page.click("#live-start")
            wait_until(lambda: page.evaluate(BOX_PIXELS_JS, list(BOX_COLOUR)) > 100, 60, "a face box on the preview")
            wait_until(lambda: all(chip(page, c) not in ("–", "no speech") for c in ("face", "voice", "fused")), 30,
                       "all three readings")
            page.evaluate("() => window.scrollTo(0, 0)")
            for part in ("#live-view .live-preview", "#live-view .live-readings", "#live-start", "#live-stop"):
                assert visible_without_scrolling(page, part), f"{part} is off the phone's screen"
            page.screenshot(path=str(PHONE_SCREENSHOT))
            page.click("#live-stop")
        finally:
            browser.close()
