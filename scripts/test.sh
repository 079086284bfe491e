#!/usr/bin/env bash
# Hark's full check: formatting, lints (native and wasm32), the wasm32 builds of the front end,
# every test of the workspace (unit, property, parity, allocation, CLI end to end, doc tests),
# then the browser build and its tests (Node, and headless Chromium with a fake microphone).
# Needs for the browser part: wasm-bindgen-cli at the wasm-bindgen crate's version, `npm ci` in
# web-audio, the patch program (web-audio/patches) and /usr/bin/chromium (.ci/run installs all
# four).
# Needs ../shared/data beside the checkout (or HARK_DATA pointing at it).
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v rustup >/dev/null; then
    rustup component add rustfmt clippy >/dev/null 2>&1 || true
    rustup target add wasm32-unknown-unknown >/dev/null
fi
data="${HARK_DATA:-../shared/data}"
if [ ! -f "$data/README.md" ]; then
    echo "test.sh: the shared data is not at $data (set HARK_DATA)" >&2
    exit 1
fi

step() { echo; echo "== $*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "clippy, native"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "clippy, wasm32 (hark-dsp, hark-web-audio)"
cargo clippy -p hark-dsp -p hark-web-audio --target wasm32-unknown-unknown --locked -- -D warnings

step "hark-dsp for wasm32, without and with +simd128"
cargo build -p hark-dsp --target wasm32-unknown-unknown --release --locked
RUSTFLAGS="-C target-feature=+simd128" \
    cargo build -p hark-dsp --target wasm32-unknown-unknown --release --locked \
    --target-dir target/wasm-simd128

step "tests"
log="$(mktemp)"
weblog="$(mktemp)"
trap 'rm -f "$log" "$weblog"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"

step "web-audio: the browser build (wasm32 +simd128, wasm-bindgen, wasm-opt)"
bash web-audio/scripts/build.sh

step "web-audio tests: the Wasm module in Node, the demo page in headless Chromium"
# Uses the CLI that cargo test built, for the native side of the comparisons.
(cd web-audio && HARK_BIN="$PWD/../target/debug/hark" node --test --test-concurrency=1 tests/) 2>&1 | tee "$weblog"

# One closing line for the whole run (cargo's own last line is a crate's doc tests, often 0).
awk 'FNR == NR && /^test result:/ { p += $4; f += $6; i += $8 }
     FNR != NR && /^# pass / { p += $3 }
     FNR != NR && /^# fail / { f += $3 }
     FNR != NR && /^# skipped / { i += $3 }
     END { printf "\nworkspace: %d passed, %d failed, %d skipped (Rust and web-audio)\n", p, f, i
           if (f > 0) exit 1 }' "$log" "$weblog"
