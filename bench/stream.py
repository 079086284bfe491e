"""The benchmark recording shared by the bench scripts: Speech Commands clips from
../shared/data joined into one 16 kHz file, in path order. The default 10 minutes are 244 s of
`_silence_` background noise, 204 s of other words (`_unknown_`) and 152 s of `down`."""

import os
import pathlib

import numpy as np
import soundfile as sf

ROOT = pathlib.Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
HARK = pathlib.Path(os.environ.get("HARK_BIN", ROOT / "target" / "release" / "hark"))


def make_stream(path, minutes=10):
    """Writes `minutes` of 16 kHz int16 audio to `path` and returns the samples."""
    clips = sorted((DATA / "speech_commands_v0.02_dev").rglob("*.wav"))
    need, parts, total = minutes * 60 * 16000, [], 0
    while total < need:
        for clip in clips:
            pcm, sr = sf.read(clip, dtype="int16")
            assert sr == 16000
            parts.append(pcm)
            total += len(pcm)
            if total >= need:
                break
    pcm = np.concatenate(parts)[:need]
    sf.write(path, pcm, 16000, subtype="PCM_16")
    return pcm
