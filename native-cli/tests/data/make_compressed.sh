#!/usr/bin/env bash
# Writes the compressed copies of the bundled sample (assets/sample.wav: six Speech Commands
# clips, CC BY 4.0, see assets/README.md) that tests/input_cli.rs decodes: MP3, Ogg Vorbis and
# AAC in M4A at about 32 kbit/s, Opus in Ogg and in WebM at 24 kbit/s, and its first second in
# ALAC (lossless, in M4A). Run from this folder with Debian's ffmpeg: `bash make_compressed.sh`.
# (sample_mediarecorder.webm is recorded by Chromium instead: record_webm.mjs.)
set -euo pipefail
src=../../../assets/sample.wav
ff() { ffmpeg -hide_banner -loglevel error -y -i "$src" -map_metadata -1 -fflags +bitexact "$@"; }
ff -c:a libmp3lame -b:a 32k sample.mp3
ff -c:a libvorbis -q:a 0 sample.ogg
ff -c:a aac -b:a 32k sample.m4a
ff -t 1 -c:a alac sample_1s_alac.m4a
ff -c:a libopus -b:a 24k sample.opus
ff -c:a libopus -b:a 24k sample.webm
# Its first 3 s as a VBR MP3 without a Xing/LAME frame count (the demuxer then estimates the
# length from the first frame's bit rate), and as raw AAC in ADTS frames (no container).
ff -t 3 -c:a libmp3lame -q:a 6 -write_xing 0 sample_3s_vbr_untagged.mp3
ff -t 3 -c:a aac -b:a 32k -f adts sample_3s.aac
