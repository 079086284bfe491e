// The Wasm module in Node: the same pipeline as the native build, and clear errors.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DIST, ROOT, WEB, harkBin, nativeDetect, readWav } from './common.mjs';

const glue = await import(join(DIST, 'hark_web_audio.js'));
const wasm = glue.initSync({ module: readFileSync(join(DIST, 'hark_web_audio_bg.wasm')) });
const { Detector, FeatureStream, Monitor, Spotter } = glue;
const SAMPLE = join(ROOT, 'assets/sample.wav');

// The worklet's half, as worklet.js runs it: 128-sample quanta written into the Wasm memory
// and turned into frames there; `deliver` gets a copy of each quantum's new frames, and of the
// resampler's tail at the end (the worklet's stop()).
function asWorklet(samples, rate, config, deliver) {
  const fs = new FeatureStream(rate, config, 128);
  const mem = () => new Float32Array(wasm.memory.buffer);
  const take = (n) => {
    const at = fs.output_ptr() / 4;
    if (n > 0) deliver(mem().slice(at, at + n * fs.n_features()));
  };
  for (let i = 0; i < samples.length; i += 128) {
    const block = samples.subarray(i, i + 128);
    mem().set(block, fs.input_ptr() / 4);
    take(fs.process(block.length));
  }
  take(fs.finish());
}

// Runs fn(dir) with a fresh temporary directory, removed afterwards.
function inTempDir(fn) {
  const work = mkdtempSync(join(tmpdir(), 'hark-wasm-test-'));
  try {
    return fn(work);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

test('the whole pipeline in Wasm gives the events of the native hark detect', () => {
  const { rate, samples } = readWav(SAMPLE);
  const detector = new Detector(undefined, rate);
  const events = [];
  for (let i = 0; i < samples.length; i += 1000) events.push(...detector.push(samples.subarray(i, i + 1000)));
  events.push(...detector.finish());
  const native = nativeDetect(SAMPLE);
  assert.equal(events.length, native.length, JSON.stringify({ events, native }));
  assert.equal(native.length, 6);
  events.forEach((e, i) => {
    const n = native[i];
    assert.equal(e.keyword, n.keyword);
    assert.ok(Math.abs(e.start - n.start) < 1e-3 && Math.abs(e.end - n.end) < 1e-3, `${JSON.stringify(e)} vs ${JSON.stringify(n)}`);
    assert.ok(Math.abs(e.score - n.score) < 0.01, `${e.score} vs ${n.score}`);
  });
});

test('worklet half and model half split as in the page give the same events', () => {
  const { rate, samples } = readWav(SAMPLE);
  const whole = new Detector(undefined, rate);
  const expected = [...whole.push(samples), ...whole.finish()];
  const spotter = new Spotter(undefined);
  const events = [];
  asWorklet(samples, rate, spotter.feature_config(), (frames) => events.push(...spotter.push_features(frames)));
  // The end of the stream, as the worklet's stop(): the front end's tail (above), then the model's.
  events.push(...spotter.finish());
  assert.equal(events.length, expected.length, JSON.stringify({ events, expected }));
  events.forEach((e, i) => {
    const x = expected[i];
    assert.equal(e.keyword, x.keyword);
    assert.ok(Math.abs(e.start - x.start) < 1e-6 && Math.abs(e.end - x.end) < 1e-6, `${JSON.stringify(e)} vs ${JSON.stringify(x)}`);
    assert.ok(Math.abs(e.score - x.score) < 1e-6, `${e.score} vs ${x.score}`);
  });
});

test('the worklet\'s features are those of hark features, to the precision of its f32 FFT', () => {
  // Natively the framing and FFT run in f64 (the parity margin against librosa and Kaldi), in
  // Wasm in f32 (four SIMD lanes instead of two): measured 1.2e-4 at most on this file, in
  // ln units near the floor; 1e-6 when both were f64.
  const { rate, samples } = readWav(SAMPLE);
  const frames = [];
  asWorklet(samples, rate, new Spotter(undefined).feature_config(), (f) => frames.push(...f));
  inTempDir((work) => {
    const npy = join(work, 'f.npy');
    execFileSync(harkBin(), ['features', SAMPLE, '--preset', 'kws', '-o', npy], { stdio: 'ignore' });
    const bytes = readFileSync(npy);
    const header = bytes.readUInt16LE(8);
    const native = new Float32Array(bytes.buffer.slice(bytes.byteOffset + 10 + header));
    assert.equal(frames.length, native.length);
    assert.ok(frames.length >= 900 * 40, `${frames.length / 40} frames`);
    let worst = 0;
    native.forEach((v, i) => {
      worst = Math.max(worst, Math.abs(v - frames[i]));
    });
    assert.ok(worst < 1e-3, `largest difference ${worst}`);
  });
});

test('bad input is a clear error', () => {
  assert.throws(() => new Spotter(new Uint8Array([1, 2, 3, 4])), /cannot load the ONNX model/);
  const spotter = new Spotter(undefined);
  assert.throws(() => new FeatureStream(48000, 'not a config', 128), /./);
  assert.throws(() => new FeatureStream(0, spotter.feature_config(), 128), /sample rate must be positive/);
  assert.throws(() => spotter.push_features(new Float32Array(41)), /multiple of 40/);
  assert.throws(() => spotter.set_threshold('maybe', 0.5), /maybe/);
  assert.throws(() => spotter.set_threshold('yes', 1.5), /threshold of "yes" is 1.5, outside 0..=1/);
  const fs = new FeatureStream(48000, spotter.feature_config(), 128);
  const mem = new Float32Array(wasm.memory.buffer);
  mem.fill(0, fs.input_ptr() / 4, fs.input_ptr() / 4 + 128);
  mem[fs.input_ptr() / 4 + 5] = NaN;
  assert.throws(() => fs.process(128), /not finite/);
  assert.equal(fs.process(0), 0);
  assert.deepEqual(spotter.labels().length, 12);
});

test('a model using an operator the browser build leaves out is refused, naming it', () => {
  // The streaming model with the op_type of its first Mul node (protobuf tag 0x22, 3 bytes)
  // made DFT: an operator tract runs natively (there this graph fails later, on DFT's inputs)
  // and that the browser build's ONNX loader leaves out (web-audio/patches).
  const bytes = new Uint8Array(readFileSync(join(ROOT, 'models/kws/kws12_stream.onnx')));
  const mul = Buffer.from('\x22\x03Mul', 'latin1');
  const at = Buffer.from(bytes).indexOf(mul);
  assert.ok(at > 0);
  bytes.set(Buffer.from('\x22\x03DFT', 'latin1'), at);
  assert.throws(() => new Spotter(bytes), /the model uses the ONNX operator DFT \(node ".+"\), which Hark's browser build \(a subset of ONNX/);
  inTempDir((work) => {
    const model = join(work, 'dft.onnx');
    writeFileSync(model, bytes);
    let native = '';
    try {
      execFileSync(harkBin(), ['detect', '--model', model, SAMPLE], { stdio: 'pipe' });
    } catch (e) {
      native = e.stderr.toString();
    }
    assert.match(native, /Dft17/, native);
    assert.doesNotMatch(native, /does not run/, native);
  });
});

test('the operators of typical exported models are all in the browser build', () => {
  // Small PyTorch exports (fixtures/make_typical_models.py): a convolutional autoencoder,
  // a GRU + LSTM, a transformer encoder layer, a dense autoencoder. They carry no Hark
  // metadata, so loading stops there, after the check that names an unregistered operator.
  for (const name of ['conv-autoencoder', 'recurrent', 'attention', 'dense']) {
    const bytes = new Uint8Array(readFileSync(join(WEB, 'tests/fixtures', `typical-${name}.onnx`)));
    assert.throws(() => new Spotter(bytes), /^Error: model metadata hark\.kind: missing/, name);
  }
});

test('an anomaly model of three channels is a clear error for the page, which hears one', () => {
  inTempDir((work) => {
    // 30 s of three axes at 8 kHz, raw interleaved f32le: a 50 Hz shaft on each, at its own gain, and some hiss.
    const rate = 8000;
    const frames = 30 * rate;
    const axes = new Float32Array(3 * frames);
    let state = 1;
    for (let i = 0; i < frames; i++) {
      const shaft = 0.3 * Math.sin((2 * Math.PI * 50 * i) / rate) + 0.1 * Math.sin((2 * Math.PI * 150 * i) / rate);
      [1, 0.6, 0.3].forEach((gain, c) => {
        state = (state * 1103515245 + 12345) % 2147483648;
        axes[3 * i + c] = gain * shaft + 0.02 * (state / 2147483648 - 0.5);
      });
    }
    const raw = join(work, 'axes.f32');
    writeFileSync(raw, Buffer.from(axes.buffer));
    const model = join(work, 'axes.onnx');
    const fit = (...extra) =>
      execFileSync(
        harkBin(),
        ['fit', '--normal', raw, '--format', 'f32le', '--rate', `${rate}`, '--channels', '3', '--preset', 'vibration', '-o', model, ...extra],
        { stdio: 'ignore' },
      );
    fit();
    assert.throws(() => new Monitor(readFileSync(model)), /reads 3 channels side by side.*hears one microphone/);
    // The same recording fitted as one channel (their mean) loads.
    fit('--mix');
    assert.equal(typeof new Monitor(readFileSync(model)).feature_config(), 'string');
  });
});
