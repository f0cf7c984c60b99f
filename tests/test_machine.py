"""The CPU description that benchmarks record beside their timings."""

from harness.machine import cpu_model, cpu_summary, describe_cpu, vector_flags

CPUINFO = """processor\t: 0
model name\t: AMD EPYC 9B14
flags\t\t: fpu sse2 avx2 fma avx512f avx512bw avx512_vnni sha_ni

processor\t: 1
model name\t: AMD EPYC 9B14
flags\t\t: fpu sse2 avx2 fma avx512f avx512bw avx512_vnni sha_ni
"""


def test_cpu_model_is_the_first_model_name():
    assert cpu_model(CPUINFO) == "AMD EPYC 9B14"
    assert cpu_model("processor: 0\n") == ""


def test_vector_flags_keep_only_the_int8_relevant_ones_in_order():
    assert vector_flags(CPUINFO) == ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni"]
    assert vector_flags("flags\t: fpu sse2 avx2\n") == ["avx2"]
    assert vector_flags("") == []


def test_describe_cpu_of_a_missing_cpuinfo_still_names_the_architecture(tmp_path):
    described = describe_cpu(tmp_path / "no_cpuinfo")
    assert described["vector_flags"] == [] and described["arch"] and described["cores"] >= 1


def test_describe_cpu_reads_the_given_file(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    assert describe_cpu(path)["model"] == "AMD EPYC 9B14"


def test_cpu_summary_is_one_line_with_the_flags(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text(CPUINFO)
    line = cpu_summary(describe_cpu(path))
    assert line.startswith("AMD EPYC 9B14 (") and "avx512_vnni" in line and "\n" not in line
