"""The voice test report: rewritten from its metrics, keeping the hand-written issue-17 section."""

import json

from harness import PROJECT_ROOT


def test_the_report_is_rewritten_but_keeps_its_hand_written_section(tmp_path):
    from training.voice_evaluate import HAND_WRITTEN, write_report

    report = json.loads((PROJECT_ROOT / "reports" / "voice" / "metrics.json").read_text())
    path = tmp_path / "REPORT.md"
    write_report(report, path)
    generated = path.read_text()
    assert generated.startswith("# Voice emotion model: test report") and HAND_WRITTEN not in generated
    path.write_text(generated + f"\n{HAND_WRITTEN}\n\nrun notes\n")
    write_report(report, path)
    text = path.read_text()
    assert text.count(HAND_WRITTEN) == 1 and text.rstrip().endswith("run notes")
    assert text.split(HAND_WRITTEN)[0].rstrip() == generated.rstrip()


def test_the_report_says_which_parts_of_the_channel_calibration_the_int8_rows_read_through():
    from emotion_core.calibration import ChannelCalibration
    from training.voice_evaluate import calibration_note

    noise_only = calibration_note(ChannelCalibration(1.0, None, 16.0, 0.775))
    assert "noise term, knee 16 dB" in noise_only and "temperature" not in noise_only
    both = calibration_note(ChannelCalibration(1.21, (0.0,) * 7, 17.0, 0.65))
    assert "temperature 1.21 and class bias" in both and "knee 17 dB" in both
