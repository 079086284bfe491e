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

# Two of tract's crates are patched for this build only: each keeps code in the module that Hark
# never runs (web-audio/patches/*.diff say what and why; README, "In the browser"). Their
# registry sources are copied to target/patched, patched there, and stand in for the published
# crates through `--config patch.crates-io...`. Cargo records the stand-ins in Cargo.lock, so it
# is put back afterwards; a copy is redone only when its patch file changes.
command -v patch >/dev/null || { echo "build.sh: the patch program is missing (apt-get install patch)" >&2; exit 1; }
krates=(tract-onnx tract-nnef)
patched="$root/target/patched"
published="$patched/Cargo.lock.published"
restore_lock() { cp "$published" "$root/Cargo.lock"; }
mkdir -p "$patched"
# A build killed before it could put Cargo.lock back leaves the stand-ins in it (a patched
# crate has no `source` line there): put the saved file back first.
if [ -f "$published" ] &&
    ! grep -A2 "^name = \"${krates[0]}\"$" Cargo.lock | grep -q '^source = '; then
    echo "build.sh: Cargo.lock still names the patched crates of an interrupted build: restoring it" >&2
    restore_lock
fi
metadata="$patched/metadata.json"
cargo metadata --format-version 1 --locked --filter-platform wasm32-unknown-unknown > "$metadata"
patch_args=()
for krate in "${krates[@]}"; do
    read -r version source < <(node -e '
        const meta = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const p = meta.packages.find((p) => p.name === process.argv[2] && p.source);
        console.log(p.version, require("path").dirname(p.manifest_path));' "$metadata" "$krate")
    diff="$here/patches/$krate-$version.diff"
    if [ ! -f "$diff" ]; then
        echo "build.sh: Cargo.lock has $krate $version, and web-audio/patches has no $krate-$version.diff: port the patch of the previous version" >&2
        exit 1
    fi
    copy="$patched/$krate-$version"
    stamp="$(sha256sum "$diff" | cut -d' ' -f1)"
    if [ "$(cat "$copy/.hark-patch" 2>/dev/null)" != "$stamp" ]; then
        rm -rf "$copy"
        cp -r "$source" "$copy"
        if ! patch -p1 --forward --quiet -d "$copy" < "$diff"; then
            echo "build.sh: web-audio/patches/$krate-$version.diff does not apply to $source" >&2
            exit 1
        fi
        echo "$stamp" > "$copy/.hark-patch"
    fi
    patch_args+=(--config "patch.crates-io.$krate.path=\"$copy\"")
done
cp Cargo.lock "$published"
trap restore_lock EXIT

# Same flags and target dir as scripts/test.sh's +simd128 check, so the two share a cache.
RUSTFLAGS="-C target-feature=+simd128" \
    cargo build -p hark-web-audio --target wasm32-unknown-unknown --profile wasm \
    --target-dir target/wasm-simd128 "${patch_args[@]}"
restore_lock
trap - EXIT

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
