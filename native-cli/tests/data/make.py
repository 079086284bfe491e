"""Writes three_axes.flac: 2 s at 8 kHz, 16-bit, 3 channels, a tone pair on each (50, 120 and
310 Hz with a partial at 3.1 times each). `tests/anomaly_cli.rs` writes the same samples to a
WAV and checks that both score alike. Run from this folder: `python make.py` (numpy,
soundfile)."""

import numpy as np
import soundfile as sf

RATE = 8000
i = np.arange(2 * RATE)
channels = []
for f in (50.0, 120.0, 310.0):
    phase = 2 * np.pi * f * i / RATE
    channels.append(np.round(6000 * np.sin(phase) + 2000 * np.sin(3.1 * phase)).astype(np.int16))
sf.write("three_axes.flac", np.stack(channels, axis=1), RATE, subtype="PCM_16", format="FLAC")
