#!/usr/bin/env bash
# Peak RSS of `hark listen` with the bundled model on a real ALSA capture device (a `type file`
# PCM fed with 60 s of Speech Commands speech, see native-cli/tests/alsa/hark_test.conf),
# measured by /usr/bin/time -v; and the release binary's size, as built and stripped.
#
#   cargo build --release -p hark-cli
#   bash bench/listen_rss.sh
#
# The device delivers the file faster than real time, so the ring is sized for the whole
# minute (--ring-ms 60000, 3.75 MiB of it) and nothing is dropped; with the default 2 s ring
# the figure is lower.
set -euo pipefail
cd "$(dirname "$0")/.."
hark=target/release/hark
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
../venv/bin/python - "$work/speech.raw" <<'PY'
import sys
sys.path.insert(0, "bench")
import numpy as np
from stream import make_stream
pcm = make_stream(sys.argv[1] + ".wav", minutes=10)[-60 * 16000 :]  # a minute with keywords
pcm.astype("<i2").tofile(sys.argv[1])
PY
export ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:$PWD/native-cli/tests/alsa/hark_test.conf"
export HARK_ALSA_INFILE="$work/speech.raw"
for ring in 60000 2000; do
  /usr/bin/time -v "$hark" listen --device alsa:hark_test --json --duration 60 --ring-ms "$ring" \
    > "$work/out.jsonl" 2> "$work/time.txt"
  rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "$work/time.txt")
  events=$(grep -c '"keyword"' "$work/out.jsonl" || true)
  dropped=$(tail -1 "$work/out.jsonl" | sed 's/.*"dropped":\([0-9]*\).*/\1/')
  printf 'hark listen, ring %5d ms: peak RSS %.1f MiB (%d events, %s samples dropped)\n' \
    "$ring" "$(awk "BEGIN {print $rss / 1024}")" "$events" "$dropped"
done
size=$(stat -c %s "$hark")
strip -o "$work/hark.stripped" "$hark"
stripped=$(stat -c %s "$work/hark.stripped")
printf 'release binary: %.1f MiB as built (line tables), %.1f MiB stripped\n' \
  "$(awk "BEGIN {print $size / 1048576}")" "$(awk "BEGIN {print $stripped / 1048576}")"
