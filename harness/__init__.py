"""What tests, benchmarks and training reports share: the app server, generated media, a browser, the CPU.

``server`` starts ``app.py`` on a free loopback port, ``videos`` writes small synthetic videos,
``browser`` makes the fake webcam and microphone files and launches Chromium with them, ``machine``
describes the CPU a timing ran on. Nothing here imports ``tests``, ``benchmarks`` or ``training``.
"""

from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
FIXTURES = PROJECT_ROOT / "tests" / "fixtures"  # the committed face, no-face, speech and silence files
