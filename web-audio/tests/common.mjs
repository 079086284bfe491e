// Shared by the web-audio tests: paths, WAV reading and writing, the native CLI.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { wavLayout } from '../scripts/wav.mjs';

export const WEB = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const ROOT = resolve(WEB, '..');
export const DIST = join(WEB, 'dist');
export const DATA = resolve(process.env.HARK_DATA ?? join(ROOT, '../shared/data'));

/** Mono f32 samples and rate of a 16-bit PCM or 32-bit float WAV (channels averaged). */
export function readWav(path) {
  const b = readFileSync(path);
  const { fmt, dataAt, dataSize } = wavLayout(b);
  const float = fmt.tag === 3 && fmt.bits === 32;
  if (!float && fmt.bits !== 16) throw new Error(`${path}: ${fmt.bits}-bit WAV`);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const width = fmt.bits / 8;
  const frames = Math.floor(dataSize / (width * fmt.channels));
  const out = new Float32Array(frames);
  for (let i = 0; i < frames; i++) {
    let s = 0;
    for (let c = 0; c < fmt.channels; c++) {
      const p = dataAt + width * (i * fmt.channels + c);
      s += float ? v.getFloat32(p, true) : v.getInt16(p, true) / 32768;
    }
    out[i] = s / fmt.channels;
  }
  return { rate: fmt.rate, samples: out };
}

/**
 * Where what the page heard is not a continuous copy of the file it was played: the times (in
 * seconds of the heard stream) of each block of `block` samples that does not match the file at
 * the offset the previous blocks had (normalised correlation below 0.999), after which the
 * offset is found again. A capture that skipped or repeated audio on a busy machine shows here.
 * Both must be at the same rate (no resampling on the way); the heard stream's silent start and
 * its tail past the end of the file are not judged.
 */
export function discontinuities(heard, file, block = 1024) {
  if (heard.rate !== file.rate) throw new Error(`heard at ${heard.rate} Hz, file at ${file.rate} Hz`);
  const h = heard.samples;
  const f = file.samples;
  const ncc = (i, off) => {
    let hf = 0;
    let hh = 0;
    let ff = 0;
    for (let k = i; k < i + block; k++) {
      const a = h[k];
      const b = f[k + off];
      hf += a * b;
      hh += a * a;
      ff += b * b;
    }
    return hh > 0 && ff > 0 ? hf / Math.sqrt(hh * ff) : 0;
  };
  // The offset (file index minus heard index) that best explains the block at i, searched
  // over `span` samples either side of `around`.
  const find = (i, around, span) => {
    let best = { off: null, c: 0.999 };
    for (let off = Math.max(around - span, -i); off <= around + span && i + off + block <= f.length; off++) {
      const c = ncc(i, off);
      if (c > best.c) best = { off, c };
    }
    return best.off;
  };
  const rate = heard.rate;
  // The first block that matches the file somewhere in its first second: the capture's first
  // buffers may themselves be out of sequence.
  const first = h.findIndex((x) => x !== 0);
  if (first < 0) throw new Error('the page heard only silence');
  let i = first;
  let off = find(i, 0, rate);
  while (off === null && i < first + rate && i + 2 * block <= h.length) {
    i += block;
    off = find(i, 0, rate);
  }
  if (off === null) throw new Error('what the page heard is not the file');
  const times = i > first ? [first / rate] : [];
  for (; i + block <= h.length && i + off + block <= f.length; i += block) {
    if (ncc(i, off) >= 0.999) continue;
    times.push(i / rate);
    off = find(i, off, rate / 2) ?? off;
  }
  return times;
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

/** The native CLI's JSON lines as objects. */
function harkJson(args) {
  const out = execFileSync(harkBin(), args, { encoding: 'utf8' });
  return out.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** `hark score --json --events-only FILE --model M` as event objects. */
export function nativeScore(file, model) {
  return harkJson(['score', file, '--model', model, '--json', '--events-only']);
}

/** `hark detect --json FILE [extra...]` as event objects. */
export function nativeDetect(file, extra = []) {
  return harkJson(['detect', file, '--json', ...extra]);
}

/**
 * Native events kept as listen.mjs keeps the page's: those that start before its report's
 * `fileSeconds` (it drops events that start in the silence it plays after the file). Without
 * this, an event at the file's end counts on one side only whenever the capture started close
 * enough to the file's first sample to move that event past the end (a machine that stops at
 * the end of the file is an anomaly).
 */
export function withinFile(events, report) {
  return events.filter((e) => e.start < report.fileSeconds);
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
