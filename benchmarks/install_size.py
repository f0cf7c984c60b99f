"""Installed size and cold start of the runtime set (requirements.txt) against the full training set.

Run: python -m benchmarks.install_size [--sets runtime train] [--starts 5] [--reuse]

Builds one fresh venv per set (no system site-packages, as a Space does), measures its
site-packages, then starts ``app.py`` from each set in turn, ``--starts`` times: seconds from process start to the
server answering (polled every 0.5 s) and to the first /analyze_image result, and the CPU seconds
the app used until then (a figure that, unlike the wall times, holds on a busy machine). Prints a table and
writes reports/install_size.json. Starts are "cold" for the process, not for the disk: the files
were just written, so they sit in the page cache, as they do on a Space right after its build.
It also lists which heavy packages (TensorFlow, Keras, ...) the app imports when they are installed:
mediapipe imports TensorFlow whenever it can, which is one more reason to keep it off the Space.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import stat
import statistics
import subprocess
import sys
import time
from pathlib import Path

from harness import FIXTURES, PROJECT_ROOT
from harness.server import start_app, stop_app

REPORT = PROJECT_ROOT / "reports" / "install_size.json"
SETS = {"runtime": "requirements.txt", "train": "requirements-train.txt", "dev": "requirements-dev.txt"}
MB = 1e6
INSTALL_RECORD = "install_seconds.txt"
HEAVY = ("tensorflow", "keras", "sklearn", "librosa", "torch", "jax")  # never needed at run time
LOAD_APP = "import sys, app, emotion_core; emotion_core.load_models(); print(' '.join(sorted(sys.modules)))"


def build_venv(venv: Path, requirements: Path, reuse: bool) -> float | None:
    """Create ``venv`` and pip-install ``requirements`` into it; returns the seconds that took
    (for a reused venv, the time recorded when it was built, or None)."""
    python, record = venv / "bin" / "python", venv / INSTALL_RECORD
    if reuse and python.exists():
        return float(record.read_text()) if record.exists() else None
    shutil.rmtree(venv, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
                    "--progress-bar", "off", "-q", "-r", str(requirements)], check=True)
    seconds = time.perf_counter() - start
    record.write_text(f"{seconds:.1f}\n")
    return seconds


def site_packages(venv: Path) -> Path:
    (path,) = (venv / "lib").glob("python3*/site-packages")
    return path


def tree_bytes(path: Path) -> int:
    """Apparent size of every regular file under ``path`` (links not followed)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            info = os.lstat(os.path.join(folder, name))
            total += info.st_size if stat.S_ISREG(info.st_mode) else 0
    return total


def largest_packages(python: Path, count: int = 5) -> list[tuple[str, float]]:
    """The ``count`` largest top-level folders of site-packages, in MB."""
    folder = site_packages(python.parent.parent)
    sizes = [(entry.name, tree_bytes(entry) / MB) for entry in folder.iterdir() if entry.is_dir()]
    return sorted(sizes, key=lambda item: -item[1])[:count]


def package_count(python: Path) -> int:
    listing = subprocess.run([str(python), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
                             check=True, capture_output=True, text=True).stdout
    return len(listing.split())


def heavy_imports(python: Path) -> list[str]:
    """Which of HEAVY get imported when the app module is imported and its models loaded."""
    done = subprocess.run([str(python), "-c", LOAD_APP], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": "", "EMOTION_WEIGHTS_REPO": ""})
    return sorted(set(done.stdout.split()) & set(HEAVY))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cold_start(python: Path, extra_env: dict[str, str] | None = None) -> dict[str, float]:
    """Seconds from `python app.py` to the server answering and to the first analysed image, and the
    CPU seconds the app used up to then (which, unlike wall time, hardly depends on the machine's load).

    ``extra_env`` defaults to an app that sees only its own venv and serves the bundled weights.
    """
    from gradio_client import Client, handle_file

    start = time.perf_counter()
    env = {"PYTHONPATH": "", "EMOTION_WEIGHTS_REPO": ""} if extra_env is None else extra_env
    process, url, _ = start_app(env, python=str(python))
    serving = time.perf_counter() - start
    try:
        Client(url, verbose=False).predict(handle_file(FIXTURES / "face.jpg"), api_name="/analyze_image")
        first = time.perf_counter() - start
        cpu = cpu_seconds(process.pid)
    finally:
        stop_app(process)
    return {"serving_s": serving, "first_result_s": first, "cpu_s": cpu}


def measure(names: list[str], venv_root: Path, starts: int, reuse: bool) -> dict[str, dict]:
    """Build every set's venv, then start the app from each in turn (so load changes hit all sets alike)."""
    installs = {name: build_venv(venv_root / name, PROJECT_ROOT / SETS[name], reuse) for name in names}
    runs = {name: [] for name in names}
    for _ in range(starts):
        for name in names:
            runs[name].append(cold_start(venv_root / name / "bin" / "python"))
    return {name: summary(name, venv_root / name, installs[name], runs[name]) for name in names}


def summary(name: str, venv: Path, install_s: float | None, runs: list[dict[str, float]]) -> dict:
    python = venv / "bin" / "python"
    return {
        "requirements": SETS[name],
        "packages": package_count(python),
        "site_packages_mb": tree_bytes(site_packages(venv)) / MB,
        "venv_mb": tree_bytes(venv) / MB,
        "install_s": install_s,
        "heavy_imports_at_start": heavy_imports(python),
        "largest_mb": dict(largest_packages(python)),
        "serving_s_median": statistics.median(run["serving_s"] for run in runs),
        "first_result_s_median": statistics.median(run["first_result_s"] for run in runs),
        "cpu_s_median": statistics.median(run["cpu_s"] for run in runs),
        "starts": runs,
    }


def print_table(results: dict[str, dict]) -> None:
    print(f"{'set':8} {'packages':>8} {'site-packages':>14} {'install':>8} {'server up':>10} {'1st result':>11} "
          f"{'CPU used':>9}  imported at start, not needed")
    for name, row in results.items():
        install = f"{row['install_s']:.0f} s" if row["install_s"] else "?"
        print(f"{name:8} {row['packages']:8d} {row['site_packages_mb']:11.0f} MB {install:>8} "
              f"{row['serving_s_median']:8.1f} s {row['first_result_s_median']:9.1f} s {row['cpu_s_median']:7.1f} s  "
              f"{', '.join(row['heavy_imports_at_start']) or '-'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=["runtime", "train"])
    parser.add_argument("--starts", type=int, default=5, help="app starts per set, alternating (medians reported)")
    parser.add_argument("--venv-root", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "emotion-venvs")
    parser.add_argument("--reuse", action="store_true", help="keep venvs that already exist (and their install time)")
    args = parser.parse_args()
    results = measure(args.sets, args.venv_root, args.starts, args.reuse)
    print_table(results)
    report = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_average": os.getloadavg()}, "sets": results,
              "note": "pip cache warm for install_s; starts are process-cold, page-cache-warm"}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {REPORT.relative_to(PROJECT_ROOT)}")


if __name__ == "__main__":
    main()
