// Shared by the web-audio tests: paths, WAV reading and writing, the native CLI.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(WEB, '..');
export const DIST = join(WEB, 'dist');
export const DATA = resolve(process.env.HARK_DATA ?? join(ROOT, '../shared/data'));

/** Mono f32 samples and rate of a 16-bit PCM WAV. */
export function readWav(path) {
  const b = readFileSync(path);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let at = 12;
  let fmt;
  while (at + 8 <= b.length) {
    const id = b.toString('latin1', at, at + 4);
    const size = v.getUint32(at + 4, true);
    if (id === 'fmt ') fmt = { channels: v.getUint16(at + 10, true), rate: v.getUint32(at + 12, true), bits: v.getUint16(at + 22, true) };
    if (id === 'data') {
      if (fmt.bits !== 16) throw new Error(`${path}: ${fmt.bits}-bit WAV`);
      const frames = Math.floor(size / (2 * fmt.channels));
      const out = new Float32Array(frames);
      for (let i = 0; i < frames; i++) {
        let s = 0;
        for (let c = 0; c < fmt.channels; c++) s += v.getInt16(at + 8 + 2 * (i * fmt.channels + c), true);
        out[i] = s / fmt.channels / 32768;
      }
      return { rate: fmt.rate, samples: out };
    }
    at += 8 + size + (size % 2);
  }
  throw new Error(`${path}: no data chunk`);
}

/** A 16-bit mono WAV of `samples` (floats in -1..1). */
export { pcm16Wav as wavBytes } from '../scripts/wav.mjs';

/** The native CLI (built by `cargo test` / `cargo build`; HARK_BIN overrides). */
export function harkBin() {
  for (const p of [process.env.HARK_BIN, join(ROOT, 'target/debug/hark'), join(ROOT, 'target/release/hark')]) {
    if (p && existsSync(p)) return p;
  }
  execFileSync('cargo', ['build', '-q', '-p', 'hark-cli', '--locked'], { cwd: ROOT, stdio: 'inherit' });
  return join(ROOT, 'target/debug/hark');
}

/** The synthetic machine recorder (`cargo run -p hark-tests --example machine`, built by
 * `cargo test`): writes OUT.wav RATE SECONDS SEED [FAULT START END]... */
export function machineBin() {
  const built = join(ROOT, 'target/debug/examples/machine');
  if (!existsSync(built)) {
    execFileSync('cargo', ['build', '-q', '-p', 'hark-tests', '--example', 'machine', '--locked'], {
      cwd: ROOT,
      stdio: 'inherit',
    });
  }
  return built;
}

/** `hark score --json --events-only FILE --model M` as event objects. */
export function nativeScore(file, model) {
  const out = execFileSync(harkBin(), ['score', file, '--model', model, '--json', '--events-only'], {
    encoding: 'utf8',
  });
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** `hark detect --json FILE [extra...]` as event objects. */
export function nativeDetect(file, extra = []) {
  const out = execFileSync(harkBin(), ['detect', file, '--json', ...extra], { encoding: 'utf8' });
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** Runs scripts/listen.mjs on `file`; returns { status, events, report }. */
export function listen(file, extra = []) {
  const r = spawnSync(process.execPath, [join(WEB, 'scripts/listen.mjs'), file, ...extra], {
    encoding: 'utf8',
    timeout: 180_000,
  });
  const events = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const lines = r.stderr.trim().split('\n');
  let report;
  try {
    report = JSON.parse(lines[lines.length - 1]);
  } catch {
    throw new Error(`listen.mjs said: ${r.stderr}`);
  }
  return { status: r.status, events, report };
}
