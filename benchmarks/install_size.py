"""Installed size and cold start of the runtime set (requirements.txt) against the full training set.

Run: python -m benchmarks.install_size [--sets runtime train] [--starts 3] [--reuse]

Builds one fresh venv per set (no system site-packages, as a Space does), measures its
site-packages, then starts ``app.py`` with it ``--starts`` times: seconds from process start to the
server answering (polled every 0.5 s) and to the first /analyze_image result. Prints a table and
writes reports/install_size.json. Starts are "cold" for the process, not for the disk: the files
were just written, so they sit in the page cache, as they do on a Space right after its build.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import stat
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
REPORT = ROOT / "reports" / "install_size.json"
SETS = {"runtime": "requirements.txt", "train": "requirements-train.txt", "dev": "requirements-dev.txt"}
MB = 1e6


def build_venv(venv: Path, requirements: Path, reuse: bool) -> float:
    """Create ``venv`` and pip-install ``requirements`` into it; returns the seconds it took (0 if reused)."""
    python = venv / "bin" / "python"
    if reuse and python.exists():
        return 0.0
    subprocess.run(["rm", "-rf", str(venv)], check=True)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
                    "--progress-bar", "off", "-q", "-r", str(requirements)], check=True)
    return time.perf_counter() - start


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


def cold_start(python: Path) -> dict[str, float]:
    """Seconds from `python app.py` to the server answering, and to the first analysed image."""
    from gradio_client import Client, handle_file

    from tests.conftest import start_app

    start = time.perf_counter()
    process, url, _ = start_app({"PYTHONPATH": "", "EMOTION_WEIGHTS_REPO": ""}, python=str(python))
    serving = time.perf_counter() - start
    try:
        Client(url, verbose=False).predict(handle_file(FIXTURES / "face.jpg"), api_name="/analyze_image")
        first = time.perf_counter() - start
    finally:
        process.terminate()
        process.wait(timeout=20)
    return {"serving_s": serving, "first_result_s": first}


def measure(name: str, venv_root: Path, starts: int, reuse: bool) -> dict:
    venv = venv_root / name
    install_s = build_venv(venv, ROOT / SETS[name], reuse)
    python = venv / "bin" / "python"
    runs = [cold_start(python) for _ in range(starts)]
    return {
        "requirements": SETS[name],
        "packages": package_count(python),
        "site_packages_mb": tree_bytes(site_packages(venv)) / MB,
        "venv_mb": tree_bytes(venv) / MB,
        "install_s": install_s or None,
        "largest_mb": dict(largest_packages(python)),
        "serving_s_median": statistics.median(run["serving_s"] for run in runs),
        "first_result_s_median": statistics.median(run["first_result_s"] for run in runs),
        "starts": runs,
    }


def print_table(results: dict[str, dict]) -> None:
    print(f"{'set':8} {'packages':>8} {'site-packages':>14} {'install':>8} {'server up':>10} {'1st result':>11}")
    for name, row in results.items():
        install = f"{row['install_s']:.0f} s" if row["install_s"] else "reused"
        print(f"{name:8} {row['packages']:8d} {row['site_packages_mb']:11.0f} MB {install:>8} "
              f"{row['serving_s_median']:8.1f} s {row['first_result_s_median']:9.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", choices=sorted(SETS), default=["runtime", "train"])
    parser.add_argument("--starts", type=int, default=3, help="app starts per set (medians are reported)")
    parser.add_argument("--venv-root", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "emotion-venvs")
    parser.add_argument("--reuse", action="store_true", help="keep venvs that already exist (no install time)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    results = {name: measure(name, args.venv_root, args.starts, args.reuse) for name in args.sets}
    print_table(results)
    report = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                          "load_average": os.getloadavg()}, "sets": results,
              "note": "pip cache warm for install_s; starts are process-cold, page-cache-warm"}
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {REPORT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
