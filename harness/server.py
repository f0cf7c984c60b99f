"""A real app server for tests and benchmarks: ``python app.py`` on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from harness import PROJECT_ROOT

START_TIMEOUT = 120.0  # seconds; a cold start on a busy machine loads both models and Gradio


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_server(url: str, process: subprocess.Popen, timeout: float = START_TIMEOUT) -> None:
    """Poll ``url`` until it answers; fails early if ``process`` exits, or after ``timeout`` seconds."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"app exited early with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"app did not answer at {url} within {timeout:.0f} s")


def start_app(extra_env: dict[str, str | None] | None = None, python: str = sys.executable,
              app: Path = PROJECT_ROOT / "app.py"):
    """Start ``python app.py`` on a free loopback port; returns (process, url, log path).

    ``extra_env`` adds to this process's environment; a ``None`` value removes that variable.
    ``app``: another app file (an older version, say), run from the project root all the same.
    """
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", **(extra_env or {})}
    env = {name: value for name, value in env.items() if value is not None}
    log_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"emotion-app-{port}.log"
    log = open(log_path, "w")
    process = subprocess.Popen([python, str(app)], cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_server(url, process)
    except Exception:
        process.kill()
        raise RuntimeError(f"app failed to start; log:\n{log_path.read_text()[-3000:]}") from None
    return process, url, log_path


def stop_app(process: subprocess.Popen, timeout: float = 20.0) -> None:
    """Stop an app started by :func:`start_app`: SIGTERM, then SIGKILL if it lingers."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
