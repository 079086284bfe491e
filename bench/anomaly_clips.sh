#!/usr/bin/env bash
# Synthetic machine clips ranked as a test set, the DCASE way: `hark fit --preset audio` on
# normal running of one machine (seed 1), then `hark score --summary` on 10-s clips of other
# seeds, normal and with mild faults; prints each group's score range, how many of its clips
# have an event, and the ROC AUC of each fault against the normal clips.
#
#   cargo build --release -p hark-cli && cargo build --release -p hark-tests --example machine
#   bash bench/anomaly_clips.sh [NORMAL_SECONDS]      # default 600
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
machine="$root/target/release/examples/machine"
hark="$root/target/release/hark"
seconds="${1:-600}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir "$work/test"
"$machine" "$work/normal.wav" 16000 "$seconds" 1
for s in $(seq 30 49); do "$machine" "$work/test/normal_$s.wav" 16000 10 "$s"; done
for s in $(seq 50 59); do
    for fault in speed:1.01 speed:1.02 imbalance:1.1 imbalance:1.2 bearing; do
        "$machine" "$work/test/${fault/:/-}_$s.wav" 16000 10 "$s" "$fault" 0 10
    done
done
"$hark" fit --normal "$work/normal.wav" --preset audio -o "$work/m.onnx"
"$hark" score "$work/test" --model "$work/m.onnx" --summary |
    awk -F'\t' '{
        n = split($1, parts, "/"); group = parts[n]; sub(/_[0-9]+\.wav$/, "", group)
        score = $2; sub(/^score /, "", score); events = ($5 !~ /^0 /)
        k = ++count[group]; value[group, k] = score + 0; with[group] += events
        if (!(group in low) || score + 0 < low[group]) low[group] = score + 0
        if (!(group in high) || score + 0 > high[group]) high[group] = score + 0
    }
    END {
        for (g in count) {
            printf "%-14s %2d clips, scores %.3f to %.3f, %2d with an event", g, count[g], low[g], high[g], with[g]
            if (g != "normal") {
                wins = 0
                for (i = 1; i <= count[g]; i++) for (j = 1; j <= count["normal"]; j++)
                    wins += (value[g, i] > value["normal", j]) + 0.5 * (value[g, i] == value["normal", j])
                printf ", AUC %.3f", wins / (count[g] * count["normal"])
            }
            printf "\n"
        }
    }' | sort
