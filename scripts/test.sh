#!/usr/bin/env bash
# Hark's full check: formatting, lints (native and wasm32), the wasm32 builds of the front end,
# and every test of the workspace (unit, property, parity, allocation, CLI end to end, doc tests).
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

step "clippy, wasm32 (hark-dsp)"
cargo clippy -p hark-dsp --target wasm32-unknown-unknown --locked -- -D warnings

step "hark-dsp for wasm32, without and with +simd128"
cargo build -p hark-dsp --target wasm32-unknown-unknown --release --locked
RUSTFLAGS="-C target-feature=+simd128" \
    cargo build -p hark-dsp --target wasm32-unknown-unknown --release --locked \
    --target-dir target/wasm-simd128

step "tests"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
cargo test --workspace --locked 2>&1 | tee "$log"
# One closing line for the whole run (cargo's own last line is a crate's doc tests, often 0).
awk '/^test result:/ { p += $4; f += $6; i += $8 }
     END { printf "\nworkspace: %d passed, %d failed, %d skipped\n", p, f, i }' "$log"
