#!/usr/bin/env node
// The keyword pipeline (resampling, features, model, smoothing) in Wasm vs native, in one run:
// the same minute of 48 kHz audio (assets/sample.wav, looped, resampled by linear
// interpolation), through the Wasm build in Node (V8, +simd128) and through the native build
// (detector/examples/throughput.rs), interleaved, 5 rounds; medians and their ratio; then the
// same for the front end alone (resampling and features), and the rest by difference.
// Also the cost of the worklet's share alone (FeatureStream on 128-sample quanta) and of a
// push of 8 frames in the Worker's share (Spotter.push_features), which decide where each runs.
// With --chromium, every round also runs the same Wasm calls in a headless Chromium page (the
// engine the page runs in; Debian's has a newer V8 than Node's) and prints its ratios too: the
// CPU time of the page's main thread (DevTools' `ThreadTime` metric), against the native build's
// CPU time, and the wall time (performance.now() in a cross-origin isolated page), which also
// counts the time the thread waited for a core on a busy machine.
//
//   cargo build --release -p hark-detector --example throughput
//   bash web-audio/scripts/build.sh
//   node web-audio/scripts/bench.mjs [--rounds 5] [--seconds 60] [--dist web-audio/dist] [--model M.onnx]
//                                    [--chromium /usr/bin/chromium] [--native PATH]
//
// --native: another build of the throughput example to compare with (for instance one built
// for the x86-64 baseline: RUSTFLAGS="-C target-cpu=x86-64" CARGO_TARGET_DIR=... cargo build
// --release -p hark-detector --example throughput).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { DIST, ROOT, readWav } from '../tests/common.mjs';

const args = process.argv.slice(2);
const get = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const rounds = get('--rounds', 5);
const distIndex = args.indexOf('--dist');
// A relative path is the working directory's (import() would take it for a package name).
const dist = distIndex >= 0 ? resolve(args[distIndex + 1]) : DIST;
const modelIndex = args.indexOf('--model');
const modelPath = modelIndex >= 0 ? args[modelIndex + 1] : null;
const modelBytes = modelPath ? readFileSync(modelPath) : undefined;
const chromiumIndex = args.indexOf('--chromium');
const chromiumPath = chromiumIndex >= 0 ? args[chromiumIndex + 1] : null;
const seconds = get('--seconds', 60);
const RATE = 48000;
const CHUNK = 1024;

const nativeIndex = args.indexOf('--native');
const native = nativeIndex >= 0 ? resolve(args[nativeIndex + 1]) : join(ROOT, 'target/release/examples/throughput');
const glue = await import(join(dist, 'hark_web_audio.js'));
const wasm = glue.initSync({ module: readFileSync(join(dist, 'hark_web_audio_bg.wasm')) });

// A minute of 48 kHz audio from the sample.
const clip = readWav(join(ROOT, 'assets/sample.wav'));
const n = seconds * RATE;
const audio = new Float32Array(n);
const step = clip.rate / RATE;
for (let i = 0; i < n; i++) {
  const x = (i * step) % (clip.samples.length - 1);
  const k = Math.floor(x);
  audio[i] = clip.samples[k] + (clip.samples[k + 1] - clip.samples[k]) * (x - k);
}
const work = mkdtempSync(join(tmpdir(), 'hark-bench-'));
const raw = join(work, 'audio.f32');
writeFileSync(raw, Buffer.from(audio.buffer));

function runNative(featuresOnly = false) {
  const extra = featuresOnly ? ['--features-only'] : [];
  const out = JSON.parse(execFileSync(native, [raw, String(RATE), String(CHUNK), ...(modelPath ? [modelPath] : []), ...extra], {
      encoding: 'utf8',
    }));
  return out.cpu_seconds / out.audio_seconds;
}

// The front end alone (resampling and features, as the worklet runs them), in the same
// 1024-sample chunks as the whole pipeline, so that each stage's ratio can be told apart.
// One Spotter for the bench: its feature config here, its model in the Worker's share below.
const spotter = new glue.Spotter(modelBytes);
function runWasmFeatures() {
  const stream = new glue.FeatureStream(RATE, spotter.feature_config(), CHUNK);
  const t0 = process.cpuUsage();
  for (let i = 0; i + CHUNK <= n; i += CHUNK) {
    new Float32Array(wasm.memory.buffer).set(audio.subarray(i, i + CHUNK), stream.input_ptr() / 4);
    stream.process(CHUNK);
  }
  stream.finish();
  const t = process.cpuUsage(t0);
  stream.free();
  return (t.user + t.system) / 1e6 / seconds;
}

function runWasm() {
  const detector = new glue.Detector(modelBytes, RATE);
  const t0 = process.cpuUsage();
  for (let i = 0; i < n; i += CHUNK) detector.push_count(audio.subarray(i, i + CHUNK));
  detector.finish();
  const t = process.cpuUsage(t0);
  detector.free();
  return (t.user + t.system) / 1e6 / seconds;
}

// The same Wasm calls in a Chromium page: the module and the audio served from 127.0.0.1.
let browser = null;
let page = null;
let server = null;
let cdp = null;
if (chromiumPath) {
  const { chromium } = await import('playwright-core');
  const { serve } = await import('./serve.mjs');
  const files = { '/bench/audio.f32': raw, ...(modelPath ? { '/bench/model.onnx': modelPath } : {}) };
  const served = await serve({ dir: dist, isolation: true, files });
  server = served.server;
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--disable-sync', '--no-first-run'],
  });
  page = await (await browser.newContext()).newPage();
  await page.goto(`${served.url}/index.html`);
  const isolated = await page.evaluate(async ({ RATE, CHUNK, withModel }) => {
    const glue = await import('/hark_web_audio.js');
    const wasm = await glue.default({ module_or_path: '/hark_web_audio_bg.wasm' });
    const audio = new Float32Array(await (await fetch('/bench/audio.f32')).arrayBuffer());
    const model = withModel ? new Uint8Array(await (await fetch('/bench/model.onnx')).arrayBuffer()) : undefined;
    const seconds = audio.length / RATE;
    const spotter = new glue.Spotter(model);
    // Each bench is made (model loaded, buffers allocated) by one call and run by the next, so
    // that the CPU time read around the run counts the run alone, as natively.
    self.benchWhole = () => {
      const detector = new glue.Detector(model, RATE);
      return () => {
        const t0 = performance.now();
        for (let i = 0; i < audio.length; i += CHUNK) detector.push_count(audio.subarray(i, i + CHUNK));
        detector.finish();
        const t = performance.now() - t0;
        detector.free();
        return t / 1000 / seconds;
      };
    };
    self.benchFeatures = () => {
      const stream = new glue.FeatureStream(RATE, spotter.feature_config(), CHUNK);
      return () => {
        const t0 = performance.now();
        for (let i = 0; i + CHUNK <= audio.length; i += CHUNK) {
          new Float32Array(wasm.memory.buffer).set(audio.subarray(i, i + CHUNK), stream.input_ptr() / 4);
          stream.process(CHUNK);
        }
        stream.finish();
        const t = performance.now() - t0;
        stream.free();
        return t / 1000 / seconds;
      };
    };
    return self.crossOriginIsolated;
  }, { RATE, CHUNK, withModel: Boolean(modelPath) });
  if (!isolated) throw new Error('the bench page is not cross-origin isolated: its clock would be coarse');
  await page.evaluate(() => [self.benchWhole()(), self.benchFeatures()()]); // warm up, as in Node
  cdp = await page.context().newCDPSession(page);
  await cdp.send('Performance.enable');
}
// One run of a bench in the page, made (model loaded, buffers allocated) by the call before:
// its wall time per audio second (the page's clock) and the CPU time of the page's main thread
// per audio second (DevTools' ThreadTime, read before and after the call, so it also counts the
// call's round trip, a millisecond or two against the run's 60 to 150).
async function inChromium(name) {
  const threadTime = async () =>
    (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'ThreadTime').value;
  await page.evaluate((name) => {
    self.run = self[name]();
  }, name);
  const before = await threadTime();
  const wall = await page.evaluate(() => self.run());
  return { wall, cpu: ((await threadTime()) - before) / seconds };
}
const chromiumVersion = browser ? browser.version() : null;

const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const q = (xs, p) => xs.slice().sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))];

runWasm(); // warm up: V8 tiers the module up on first use
runWasmFeatures();
const nat = [];
const wsm = [];
const natFeatures = [];
const wsmFeatures = [];
const chr = [];
const chrFeatures = [];
for (let r = 0; r < rounds; r++) {
  nat.push(runNative());
  wsm.push(runWasm());
  if (page) chr.push(await inChromium('benchWhole'));
  natFeatures.push(runNative(true));
  wsmFeatures.push(runWasmFeatures());
  if (page) chrFeatures.push(await inChromium('benchFeatures'));
}
if (browser) {
  await browser.close();
  server.close();
}

// The worklet's share: one quantum at a time, as the AudioWorkletProcessor calls it.
const fs = new glue.FeatureStream(RATE, spotter.feature_config(), 128);
const quantum = [];
const frames = [];
const inAt = fs.input_ptr() / 4;
const outAt = fs.output_ptr() / 4;
const width = fs.n_features();
// Two passes: the first warms the engine up (a worklet's first quanta are slow too; the
// page compiles the module before it starts listening), the second is measured.
for (let pass = 0; pass < 2; pass++) {
  quantum.length = 0;
  frames.length = 0;
  fs.reset();
  for (let i = 0; i + 128 <= n; i += 128) {
    const mem = new Float32Array(wasm.memory.buffer);
    const t0 = performance.now();
    mem.set(audio.subarray(i, i + 128), inAt);
    const k = fs.process(128);
    quantum.push(performance.now() - t0);
    for (let f = 0; f < k; f++) frames.push(mem.slice(outAt + f * width, outAt + (f + 1) * width));
  }
}
// The Worker's share: 8 frames at a time (a model run on the 8-frame stride, and one on every
// frame while a keyword's smoothed score is near its threshold, as natively).
const runs = [];
for (let f = 0; f + 8 <= frames.length; f += 8) {
  const batch = new Float32Array(8 * width);
  for (let j = 0; j < 8; j++) batch.set(frames[f + j], j * width);
  const t0 = performance.now();
  spotter.push_features(batch);
  runs.push(performance.now() - t0);
}
rmSync(work, { recursive: true, force: true });

const fmt = (x) => x.toExponential(2);
const budget = (128 / RATE) * 1000;
console.log(`keyword pipeline (${modelPath ?? 'bundled model'}), ${seconds} s of ${RATE / 1000} kHz audio, ${rounds} rounds, CPU s per audio s (median):`);
console.log(`  native ${fmt(median(nat))}   wasm ${fmt(median(wsm))}   wasm/native ${(median(wsm) / median(nat)).toFixed(2)}x`);
console.log(`  native rounds ${nat.map(fmt).join(' ')}`);
console.log(`  wasm rounds   ${wsm.map(fmt).join(' ')}`);
const rest = (all, part) => all.map((x, i) => x - part[i]);
const natRest = rest(nat, natFeatures);
const wsmRest = rest(wsm, wsmFeatures);
console.log(`by stage (medians of the rounds; the rest is the whole minus the front end, round by round):`);
console.log(`  front end (resampling, features): native ${fmt(median(natFeatures))}   wasm ${fmt(median(wsmFeatures))}   wasm/native ${(median(wsmFeatures) / median(natFeatures)).toFixed(2)}x`);
console.log(`  the rest (model, smoothing, events): native ${fmt(median(natRest))}   wasm ${fmt(median(wsmRest))}   wasm/native ${(median(wsmRest) / median(natRest)).toFixed(2)}x`);
if (chr.length) {
  for (const clock of ['cpu', 'wall']) {
    const whole = chr.map((r) => r[clock]);
    const features = chrFeatures.map((r) => r[clock]);
    const chrRest = rest(whole, features);
    const what = clock === 'cpu' ? 'CPU time of the main thread' : 'wall time';
    console.log(`the same Wasm in Chromium ${chromiumVersion} (${what}, same rounds):`);
    console.log(`  whole: wasm ${fmt(median(whole))}   wasm/native ${(median(whole) / median(nat)).toFixed(2)}x   (rounds ${whole.map(fmt).join(' ')})`);
    console.log(`  front end: wasm ${fmt(median(features))}   wasm/native ${(median(features) / median(natFeatures)).toFixed(2)}x`);
    console.log(`  the rest: wasm ${fmt(median(chrRest))}   wasm/native ${(median(chrRest) / median(natRest)).toFixed(2)}x`);
  }
}
console.log(`worklet share (FeatureStream, one 128-sample quantum, budget ${budget.toFixed(2)} ms):`);
console.log(`  median ${(median(quantum) * 1000).toFixed(1)} us, p99.9 ${(q(quantum, 0.999) * 1000).toFixed(1)} us, max ${(Math.max(...quantum) * 1000).toFixed(1)} us over ${quantum.length} quanta`);
console.log(`worker share (Spotter.push_features, 8 frames: one model run, or up to 8 near a threshold):`);
console.log(`  median ${median(runs).toFixed(3)} ms, p99 ${q(runs, 0.99).toFixed(3)} ms, max ${Math.max(...runs).toFixed(3)} ms over ${runs.length} pushes`);
