"""Cross-corpus protocol (issue 17): the EMOVO and URDU listing, the test sets, and the collapse measure."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from emotion_core.labels import EMOTION_INDEX
from training.voice_crosscorpus import collapse, evaluation_sets
from training.voice_data import list_clips

ROWS = {  # a few metadata rows of each corpus, in each corpus's own naming
    "ravdess": [{"file": "Actor_01/03-01-05-01-01-01-01.ogg"}, {"file": "Actor_19/03-01-03-01-01-01-19.ogg"}],
    "crema-d": [{"file": "1001_DFA_ANG_XX.ogg"}, {"file": "1070_DFA_SAD_XX.ogg"}, {"file": "1080_DFA_NEU_XX.ogg"}],
    "tess": [{"file": "OAF_Pleasant_surprise/OAF_back_ps.ogg"}],
    "emovo": [{"file": "f1/gio-f1-b1.ogg", "speaker": "f1", "emotion": "happy"},
              {"file": "f3/pau-f3-b1.ogg", "speaker": "f3", "emotion": "fear"},
              {"file": "m3/sor-m3-b1.ogg", "speaker": "m3", "emotion": "surprise"},
              {"file": "m2/neu-m2-b1.ogg", "speaker": "m2", "emotion": "neutral"}],
    "urdu": [{"file": "Angry/SM1_F10_A010.ogg", "speaker": "SM1", "emotion": "angry"},
             {"file": "Sad/SF2_F1_S001.ogg", "speaker": "SF2", "emotion": "sad"}],
}


@pytest.fixture
def fake_data(tmp_path: Path) -> Path:
    for corpus, rows in ROWS.items():
        folder = tmp_path / "audio" / corpus
        folder.mkdir(parents=True)
        with open(folder / "metadata.csv", "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(rows[-1]))
            writer.writeheader()
            writer.writerows(rows)
    return tmp_path


def test_emovo_and_urdu_are_listed_with_speakers_labels_and_splits(fake_data):
    clips = {Path(c["path"]).name: c for c in list_clips(fake_data)}
    assert len(clips) == sum(len(rows) for rows in ROWS.values())
    assert clips["gio-f1-b1.ogg"] | {"path": ""} == {"path": "", "corpus": "emovo", "speaker": "emovo_f1",
                                                      "label": EMOTION_INDEX["happy"], "split": "train"}
    assert clips["pau-f3-b1.ogg"]["split"] == clips["sor-m3-b1.ogg"]["split"] == "test"  # one woman, one man
    assert clips["sor-m3-b1.ogg"]["label"] == EMOTION_INDEX["surprise"]
    assert clips["SM1_F10_A010.ogg"]["speaker"] == "urdu_SM1"
    assert {c["split"] for c in clips.values() if c["corpus"] == "urdu"} == {"test"}
    assert clips["1070_DFA_SAD_XX.ogg"]["split"] == "val" and clips["03-01-03-01-01-01-19.ogg"]["split"] == "test"


def test_urdu_is_never_in_a_training_or_validation_split_of_the_real_data(data_dir):
    clips = list_clips(data_dir)
    urdu = [c for c in clips if c["corpus"] == "urdu"]
    assert len(urdu) == 400 and {c["split"] for c in urdu} == {"test"}
    assert {c["label"] for c in urdu} == {EMOTION_INDEX[e] for e in ("angry", "happy", "neutral", "sad")}
    emovo = [c for c in clips if c["corpus"] == "emovo"]
    assert len(emovo) == 588
    assert {c["speaker"] for c in emovo if c["split"] == "test"} == {"emovo_f3", "emovo_m3"}


def test_leave_one_corpus_out_sets(fake_data):
    clips = list_clips(fake_data)
    names = [Path(c["path"]).name for c in clips]
    sets = evaluation_sets(clips, ("emovo",))
    assert set(sets) == {"ravdess:test", "crema-d:test", "emovo:all", "emovo:dev", "emovo:test", "urdu:all"}
    assert sorted(names[i] for i in sets["emovo:dev"]) == ["gio-f1-b1.ogg", "neu-m2-b1.ogg"]
    assert sorted(names[i] for i in sets["emovo:all"]) == sorted(Path(r["file"]).name for r in ROWS["emovo"])
    assert sorted(names[i] for i in sets["emovo:test"]) == ["pau-f3-b1.ogg", "sor-m3-b1.ogg"]
    assert [names[i] for i in sets["crema-d:test"]] == ["1080_DFA_NEU_XX.ogg"]
    assert "crema-d:all" in evaluation_sets(clips, ("crema-d",))


def test_collapse_on_a_constructed_case():
    angry, happy, sad, fear = (EMOTION_INDEX[e] for e in ("angry", "happy", "sad", "fear"))
    labels = np.array([angry] * 4 + [happy] * 4 + [sad] * 2)
    # 6 of 10 answered as sad (true share 0.2 -> 3.0x), one as fear (a class the set lacks), one no answer
    predicted = np.array([sad, sad, angry, fear] + [sad, sad, happy, happy] + [sad, -1])
    result = collapse(labels, predicted)
    true_share_sad = 1 / 9  # of the 9 answered clips, 1 is truly sad
    assert result.worst_class == "sad"
    assert result.ratio == pytest.approx((5 / 9) / true_share_sad)
    assert result.foreign_share == pytest.approx(1 / 9)
    perfect = collapse(labels, labels)
    assert perfect.ratio == pytest.approx(1.0) and perfect.foreign_share == 0.0


def test_the_report_is_rewritten_but_keeps_its_hand_written_section(tmp_path):
    from training.voice_crosscorpus import HAND_WRITTEN, write_markdown

    scores = {"clips": 2, "no_answer": 0, "uar": 0.5, "accuracy": 0.5, "recall": {"angry": 1.0, "sad": 0.0},
              "confusion": np.eye(7, dtype=int).tolist(),
              "collapse": {"ratio": 2.0, "worst_class": "angry", "foreign_share": 0.0}}
    results = {"m": {"file": "m.tflite", "sha256": "0" * 64, "trained_without": ["emovo"], "date": "today",
                     "sets": {"emovo:all": scores}}}
    path = tmp_path / "CROSS_CORPUS.md"
    write_markdown(results, path)
    assert "| m | emovo | emovo:all | 2 | 0 | 50.0 |" in path.read_text()
    path.write_text(path.read_text() + f"\n{HAND_WRITTEN}\n\nrun notes\n")
    write_markdown(results, path)
    text = path.read_text()
    assert text.count(HAND_WRITTEN) == 1 and text.rstrip().endswith("run notes")
