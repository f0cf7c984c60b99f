"""Run a benchmark as if this CPU had no AVX-512: the int8 kernels an AVX2-only CPU would run, on these cores.

XNNPACK (under LiteRT), NumPy and OpenCV choose their kernels from the CPUID instruction when they start.
``cpuid_mask.c`` (compiled here with the system's C compiler, loaded with LD_PRELOAD) makes CPUID fault and
answers it without the AVX-512 and AVX-VNNI bits, so a process started with :func:`without_avx512_env`
picks the AVX2 kernels and runs them natively. It needs Linux on x86-64 with the ``cpuid_fault`` CPU
feature; :func:`mask_unavailable` says why not where it is missing. A process can check what it was shown
with :func:`seen_vector_features` (NumPy asks CPUID itself, after the mask is in place).

    python -m harness.vector_isa COMMAND...   # e.g. python -m harness.vector_isa python -m benchmarks.speed
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from harness import PROJECT_ROOT

SOURCE = Path(__file__).with_name("cpuid_mask.c")
BUILD = PROJECT_ROOT / "artifacts" / "cpuid_mask"  # git-ignored
MASKED = ("AVX512F", "AVX512BW", "AVX512VNNI")  # what a masked process must not see
KEPT = ("AVX2", "FMA3")  # what it must still see


def mask_unavailable(cpuinfo_path: Path = Path("/proc/cpuinfo")) -> str | None:
    """Why the mask cannot run here (a sentence), or None when it can."""
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        return f"needs Linux on x86_64, not {platform.system()} on {platform.machine()}"
    if shutil.which("cc") is None:
        return "needs a C compiler (cc) to build cpuid_mask.c"
    flags = cpuinfo_path.read_text().split() if cpuinfo_path.exists() else []
    if "cpuid_fault" not in flags:
        return "this CPU or hypervisor offers no CPUID faulting (no cpuid_fault in /proc/cpuinfo)"
    return None


def build_mask(folder: Path) -> Path:
    """Compile ``cpuid_mask.c`` into ``folder`` (again only when the source is newer); the library's path."""
    library = folder / "cpuid_mask.so"
    if library.exists() and library.stat().st_mtime >= SOURCE.stat().st_mtime:
        return library
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", str(library), str(SOURCE)], check=True)
    return library


def without_avx512_env(library: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (default: this process's) that starts processes with the mask preloaded.

    Python's fault handler is left off in them: it would take SIGSEGV, which the mask needs.
    """
    masked = dict(os.environ if env is None else env)
    masked["LD_PRELOAD"] = " ".join(filter(None, [str(library), masked.get("LD_PRELOAD", "")]))
    masked.pop("PYTHONFAULTHANDLER", None)
    return masked


def seen_vector_features() -> dict[str, bool]:
    """The vector extensions this process's CPUID reports (as NumPy read it), AVX2 and up."""
    from numpy._core._multiarray_umath import __cpu_features__

    return {name: bool(__cpu_features__.get(name, False)) for name in KEPT + MASKED}


def check_masked(seen: dict[str, bool]) -> None:
    """Raise RuntimeError unless ``seen`` is what a masked process must see: AVX2, no AVX-512."""
    wrong = [name for name in MASKED if seen.get(name)] + [name for name in KEPT if not seen.get(name)]
    if wrong:
        raise RuntimeError(f"the AVX-512 mask did not take: CPUID still says {seen}")


def run_without_avx512(command: list[str], cwd: Path | None = None) -> int:
    """Run ``command`` with AVX-512 hidden from its CPUID; its exit status. RuntimeError where the mask cannot run."""
    reason = mask_unavailable()
    if reason:
        raise RuntimeError(f"cannot hide AVX-512 here: {reason}")
    return subprocess.run(command, cwd=cwd, env=without_avx512_env(build_mask(BUILD))).returncode


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(run_without_avx512(sys.argv[1:]))
