"""Codec copies of the training clips: each clip once through Opus at a random video-call bitrate.

``python -m training.voice_codec_cache [--features artifacts/voice_features.npz] [--out artifacts/voice_codec.npz]``

A codec cannot be imitated on log-mels and is too slow to run per training example (two ffmpeg
processes per clip), so each training clip is encoded once, ahead of training (clips of one bitrate
go through the codec together, :data:`CLIPS_PER_STREAM` at a time, apart by a silent gap), and the ``calls``
recipe (``training.voice_train``) reads a clip's codec copy in place of the clip with some probability.
The bitrate of each clip is drawn from :data:`BITRATES_KBPS` by a generator seeded with its path, so a
rebuild gives the same copies. Opus in speech mode is what browsers' WebRTC calls send.
"""

from __future__ import annotations

import argparse
import time
import zlib
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from training.voice_codec import opus_round_trip
from training.voice_data import DEFAULT_OUT as FEATURES
from training.voice_data import PROJECT_ROOT, clip_audio, load_cache

BITRATES_KBPS = (8, 12, 16, 24, 32)  # a poor link's 8 kbit/s up to a good call's 32
DEFAULT_OUT = PROJECT_ROOT / "artifacts" / "voice_codec.npz"
CLIPS_PER_STREAM = 100  # starting ffmpeg twice costs more than coding a clip: code many clips in one stream
GAP_SAMPLES = 1600  # 0.1 s of silence between clips, five codec frames: no clip hears its neighbour


def bitrate_of(path: str) -> int:
    """The Opus bitrate (kbit/s) of a clip's codec copy: from :data:`BITRATES_KBPS`, seeded by its path."""
    return int(np.random.default_rng(zlib.crc32(path.encode())).choice(BITRATES_KBPS))


def same_length(samples: np.ndarray, count: int) -> np.ndarray:
    """``samples`` cut or zero-padded to ``count`` (a codec pads to whole frames)."""
    return np.pad(samples[:count], (0, max(0, count - samples.size))).astype(np.float32)


def codec_copies(job: tuple[list[np.ndarray], int]) -> list[np.ndarray]:
    """Clips through Opus at one bitrate in one stream, a silent gap between them; each copy as long as its clip."""
    clips, kbps = job
    gap = np.zeros(GAP_SAMPLES, dtype=np.float32)
    stream = np.concatenate([piece for clip in clips for piece in (clip, gap)])
    coded = same_length(opus_round_trip(stream, kbps), stream.size)  # Opus through ffmpeg keeps the timing
    starts = np.cumsum([0] + [clip.size + GAP_SAMPLES for clip in clips[:-1]])
    return [coded[start:start + clip.size] for start, clip in zip(starts, clips, strict=True)]


def build(cache: dict, index: np.ndarray, processes: int = 2) -> dict[str, np.ndarray]:
    """The codec copies of the clips ``index`` of ``cache``, as flat arrays like the cache's own."""
    kbps = np.array([bitrate_of(str(cache["path"][i])) for i in index])
    jobs, owners = [], []
    for rate in BITRATES_KBPS:
        of_rate = index[kbps == rate]
        for start in range(0, of_rate.size, CLIPS_PER_STREAM):
            chunk = of_rate[start:start + CLIPS_PER_STREAM]
            jobs.append(([np.array(clip_audio(cache, i)) for i in chunk], rate))
            owners.extend(chunk.tolist())
    with Pool(processes) as pool:
        coded = dict(zip(owners, (copy for copies in pool.map(codec_copies, jobs) for copy in copies), strict=True))
    copies = [coded[int(i)] for i in index]
    offsets = np.concatenate([[0], np.cumsum([copy.size for copy in copies])]).astype(np.int64)
    return {"index": index.astype(np.int64), "path": cache["path"][index], "kbps": kbps,
            "samples": np.concatenate(copies), "sample_offsets": offsets}


def load(path: Path, cache: dict) -> dict[int, np.ndarray]:
    """Cache index -> that clip's codec copy (views), checked against the cache's own paths."""
    with np.load(path, allow_pickle=False) as data:
        copies = {key: data[key] for key in data.files}
    if not np.array_equal(cache["path"][copies["index"]], copies["path"]):
        raise ValueError(f"{path} was made from another feature cache: rebuild it with "
                         "python -m training.voice_codec_cache")
    offsets = copies["sample_offsets"]
    return {int(i): copies["samples"][offsets[k]:offsets[k + 1]] for k, i in enumerate(copies["index"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", type=Path, default=FEATURES)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    started, cache = time.time(), load_cache(args.features)
    index = np.flatnonzero(cache["split"] == "train")
    copies = build(cache, index, args.processes)
    np.savez(args.out, **copies)
    print(f"{len(index)} codec copies ({np.bincount(copies['kbps'])[list(BITRATES_KBPS)].tolist()} at "
          f"{BITRATES_KBPS} kbit/s) -> {args.out} ({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
