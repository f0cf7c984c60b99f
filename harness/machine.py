"""What CPU a benchmark ran on: int8 model speed depends on its vector instructions, so record them."""

from __future__ import annotations

import os
import platform
from pathlib import Path

# The x86 extensions that decide how fast int8 convolutions run (XNNPACK picks kernels by them).
VECTOR_FLAGS = ("avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx_vnni", "amx_int8")


def cpu_model(cpuinfo: str) -> str:
    """The first ``model name`` in a /proc/cpuinfo text, or "" when there is none."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name":
            return value.strip()
    return ""


def vector_flags(cpuinfo: str) -> list[str]:
    """Which of :data:`VECTOR_FLAGS` the first CPU's ``flags`` line lists, in that order."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            present = set(value.split())
            return [flag for flag in VECTOR_FLAGS if flag in present]
    return []


def describe_cpu(cpuinfo_path: Path = Path("/proc/cpuinfo")) -> dict:
    """``{"model", "arch", "cores", "vector_flags"}`` of this machine (model and flags empty off Linux)."""
    text = cpuinfo_path.read_text() if cpuinfo_path.exists() else ""
    return {"model": cpu_model(text) or platform.processor(), "arch": platform.machine(),
            "cores": os.cpu_count(), "vector_flags": vector_flags(text)}


def cpu_summary(cpu: dict) -> str:
    """One line for reports: ``model (arch, N cores; flags)``."""
    flags = " ".join(cpu["vector_flags"]) or "no listed vector flags"
    return f"{cpu['model']} ({cpu['arch']}, {cpu['cores']} cores; {flags})"
