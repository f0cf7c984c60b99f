"""The Video tab in a real browser: Debian's Chromium uploads a generated clip to the real app and
reads back the summary, the table, the timeline, the annotated video and the files."""

from __future__ import annotations

import pytest

from emotion_core import EMOTIONS
from harness import PROJECT_ROOT
from harness.browser import CHROMIUM
from harness.videos import write_video

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOT = PROJECT_ROOT / "reports" / "video_view.png"


def test_upload_analyse_and_read_the_results(app_server, tmp_path):
    from playwright.sync_api import sync_playwright

    clip = write_video(tmp_path / "talking.mp4", seconds=4.0)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 1800}).new_page()
            page.goto(app_server)
            page.get_by_role("tab", name="Video").click()
            page.set_input_files("#video-input input[type=file]", str(clip))
            page.wait_for_selector("#video-input video", timeout=30_000)  # the upload is shown
            page.click("#video-analyse")
            summary = page.locator("#video-summary textarea")
            page.wait_for_function(
                "() => document.querySelector('#video-summary textarea')?.value.startsWith('Mostly')", timeout=120_000)
            assert any(f"Mostly {name}" in summary.input_value() for name in EMOTIONS)
            page.wait_for_selector("#video-annotated video[src]", timeout=30_000)
            page.wait_for_selector("#video-timeline img", timeout=30_000)
            links = page.locator("#video-files a[download]")
            names = sorted(links.nth(i).get_attribute("download") for i in range(links.count()))
            assert names == ["talking-annotated.mp4", "talking-segments.csv", "talking.json"]
            page.wait_for_timeout(500)
            SCREENSHOT.parent.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
