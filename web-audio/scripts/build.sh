#!/usr/bin/env bash
# Builds the browser package into web-audio/dist: the Wasm module (Rust, +simd128, wasm-bindgen,
# then wasm-opt from the npm binaryen package), the JavaScript API and the demo page.
#
#   bash web-audio/scripts/build.sh          # needs: rustup target wasm32-unknown-unknown,
#                                            # wasm-bindgen-cli at the wasm-bindgen crate's
#                                            # version, `npm ci` in web-audio
# Prints the sizes (raw and gzipped) of what a page downloads.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print }' Cargo.lock)"
have="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }')"
if [ "$have" != "$want" ]; then
    echo "build.sh: wasm-bindgen-cli $want is needed (found ${have:-none}):" >&2
    echo "  cargo install wasm-bindgen-cli --version $want" >&2
    exit 1
fi
wasm_opt="$here/node_modules/.bin/wasm-opt"
if [ ! -x "$wasm_opt" ]; then
    echo "build.sh: wasm-opt from npm's binaryen is missing: (cd web-audio && npm ci)" >&2
    exit 1
fi

# Same flags and target dir as scripts/test.sh's +simd128 check, so the two share a cache.
RUSTFLAGS="-C target-feature=+simd128" \
    cargo build -p hark-web-audio --target wasm32-unknown-unknown --profile wasm --locked \
    --target-dir target/wasm-simd128

dist="$here/dist"
rm -rf "$dist"
mkdir -p "$dist"
wasm-bindgen --target web --no-typescript --out-dir "$dist" \
    target/wasm-simd128/wasm32-unknown-unknown/wasm/hark_web_audio.wasm
"$wasm_opt" -O3 --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$dist/hark_web_audio_bg.wasm" -o "$dist/hark_web_audio_bg.wasm"
cp "$here"/js/* "$here"/www/* "$dist/"

# What a page downloads: the module, its glue, the API, worklet and worker (the model is
# inside the module).
total=0
total_gz=0
for f in hark_web_audio_bg.wasm hark_web_audio.js hark.js worklet.js worker.js ring.js polyfill.js; do
    raw=$(stat -c %s "$dist/$f")
    gz=$(gzip -9 -c "$dist/$f" | wc -c)
    total=$((total + raw))
    total_gz=$((total_gz + gz))
    printf '%-26s %9d bytes, %8d gzipped\n' "$f" "$raw" "$gz"
done
printf '%-26s %9d bytes, %8d gzipped\n' "total" "$total" "$total_gz"
