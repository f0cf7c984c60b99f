"""The AVX-512 mask of the benchmarks (harness.vector_isa): a masked process sees AVX2 and no AVX-512,
runs the served face model to the same outputs, and still dies of a real crash."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

from harness import PROJECT_ROOT
from harness.vector_isa import BUILD, build_mask, check_masked, mask_unavailable, without_avx512_env

REASON = mask_unavailable()
needs_mask = pytest.mark.skipif(REASON is not None, reason=f"AVX-512 mask unavailable: {REASON}")

FACE_OUTPUTS = """
import json, numpy as np
from emotion_core.classifier import LiteClassifier
from harness.vector_isa import seen_vector_features
model = LiteClassifier("weights/face_emotion.tflite")
faces = np.random.default_rng(0).integers(0, 256, size=(8, 48, 48, 1)).astype(np.float32)
print(json.dumps({"seen": seen_vector_features(), "out": [model.predict(face).tolist() for face in faces]}))
"""


def run_python(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)


def test_mask_unavailable_without_cpuid_faulting(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor : 0\nflags : fpu sse2 avx2 avx512f\n")
    if REASON is not None and "cpuid_fault" not in REASON:
        pytest.skip(REASON)  # stopped earlier: not Linux on x86_64, or no C compiler
    assert "cpuid_fault" in mask_unavailable(cpuinfo)


def test_check_masked_accepts_only_avx2_without_avx512():
    check_masked({"AVX2": True, "FMA3": True, "AVX512F": False, "AVX512BW": False, "AVX512VNNI": False})
    with pytest.raises(RuntimeError, match="did not take"):
        check_masked({"AVX2": True, "FMA3": True, "AVX512F": True, "AVX512BW": True, "AVX512VNNI": True})
    with pytest.raises(RuntimeError):
        check_masked({"AVX2": False, "FMA3": False, "AVX512F": False, "AVX512BW": False, "AVX512VNNI": False})


@needs_mask
def test_masked_process_sees_no_avx512_and_reads_faces_alike():
    masked_env = without_avx512_env(build_mask(BUILD))
    masked, plain = run_python(FACE_OUTPUTS, masked_env), run_python(FACE_OUTPUTS)
    assert masked.returncode == 0, masked.stderr[-2000:]
    assert plain.returncode == 0, plain.stderr[-2000:]
    masked_result, plain_result = json.loads(masked.stdout.splitlines()[-1]), json.loads(plain.stdout.splitlines()[-1])
    check_masked(masked_result["seen"])
    # Other kernels, same int8 arithmetic: the probabilities agree to float rounding.
    for ours, theirs in zip(masked_result["out"], plain_result["out"], strict=True):
        assert ours == pytest.approx(theirs, abs=1e-6)


@needs_mask
def test_a_real_crash_still_kills_a_masked_process():
    crashed = run_python("import ctypes; ctypes.string_at(0)", without_avx512_env(build_mask(BUILD)))
    assert crashed.returncode == -signal.SIGSEGV
