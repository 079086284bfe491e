// End to end in a real browser: Debian's Chromium, headless, its fake microphone fed from a
// WAV, the demo page listening through the worklet and the Worker (scripts/listen.mjs).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { execFileSync } from 'node:child_process';
import {
  DATA,
  ROOT,
  discontinuities,
  harkBin,
  listen,
  machineBin,
  nativeDetect,
  nativeScore,
  readWav,
  wavBytes,
  withinFile,
} from './common.mjs';

const SAMPLE = join(ROOT, 'assets/sample.wav');
/** The bundled model's threshold of `yes` (all keywords share one), read from its ONNX metadata
 * (`hark.thresholds`, stored as plain text in the file). The page and `hark detect` both
 * default to the bundled streaming model. */
const BUNDLED_THRESHOLD = (() => {
  const found = /yes:([0-9.]+)/.exec(readFileSync(join(ROOT, 'models/kws/kws12_stream.onnx')).toString('latin1'));
  assert.ok(found, 'models/kws/kws12_stream.onnx carries no hark.thresholds');
  return Number(found[1]);
})();
const work = mkdtempSync(join(tmpdir(), 'hark-web-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** What every run must show: no error, no request after the page listened, no more missed
 * deadlines than a preempted audio thread explains, nothing dropped or rejected. */
function assertClean(report) {
  assert.deepEqual(report.errors, [], JSON.stringify(report));
  assert.deepEqual(report.requestsAfterLoad, [], 'the page made network requests while listening');
  assert.equal(report.crossOriginIsolated, true);
  const s = report.stats;
  // The worklet ran while the page listened: most of the quanta of the time listened (a busy
  // host delays the start; a CI run counted 95.5 % of the old bound, the listening time less
  // 1 s). A worklet that stalls or stops gives far fewer.
  const expected = (report.seconds - 1) * (report.sampleRate / 128);
  assert.ok(s.quanta > 0.8 * expected, `only ${s.quanta} quanta of ${Math.round(expected)}`);
  console.log(
    `${s.quanta} quanta, ${s.late} of 3 ms or more (longest ${s.maxQuantumMs} ms), ${s.underruns} underruns`,
  );
  // Chromium's own count of the times the audio graph (the worklet in it) missed its deadline.
  assert.equal(typeof s.underruns, 'number', 'this Chromium has no AudioContext.playbackStats');
  // The worklet's share of a quantum is about 2 us, so underruns here are the audio thread
  // preempted on a loaded 2-core machine: a CI run measured one of 10 ms in a 45-s run, and
  // 4 (40 ms) in a 35-s run while a release build shared the machine. A worklet too slow for
  // its deadline would run dry in most quanta; the bound (1 % of the time listened) catches
  // that, not a few preemptions.
  assert.ok(
    s.underrunSeconds <= 0.01 * report.seconds,
    `the output ran dry ${s.underruns} times (${s.underrunSeconds} s of ${report.seconds} s)`,
  );
  // Wall time per quantum: the worklet's own work is about 2 us, so a quantum of 3 ms or more
  // is the audio thread preempted by the system: 0 to 11 in 14,500 on an idle machine, up to
  // 0.74 % of them in a CI run on a busy host. A front end that really took that long would
  // make most quanta late, or at least the one in four that completes a 10-ms frame; the
  // bound (5 %) catches that, not the host's noise.
  assert.ok(s.late <= s.quanta / 20, `${s.late} quanta took 3 ms or more (longest ${s.maxQuantumMs} ms)`);
  assert.equal(s.droppedFrames, 0);
  assert.equal(s.rejected, 0);
}

for (const transport of ['sab', 'port']) {
  test(`the sample's six keywords, frames over ${transport === 'sab' ? 'a SharedArrayBuffer ring' : 'a MessagePort'}`, () => {
    const { status, events, report } = listen(SAMPLE, ['--transport', transport]);
    assert.equal(status, 0, JSON.stringify(report));
    assertClean(report);
    assert.equal(report.stats.transport, transport);
    // The clips start every 1.5 s from 0.5 s (assets/sample.tsv). The page hears the fake
    // microphone from the moment it connects, a little after the device started: times may
    // be early by that much.
    const words = ['yes', 'no', 'left', 'right', 'stop', 'go'];
    assert.deepEqual(events.map((e) => e.keyword), words, JSON.stringify(events));
    events.forEach((e, i) => {
      const clipStart = 0.5 + 1.5 * i;
      assert.ok(e.end > clipStart - 0.5 && e.end <= clipStart + 1.5, JSON.stringify(e));
    });
  });
}

test('a model loaded by URL: the window model finds the sample\'s keywords', () => {
  const model = join(ROOT, 'models/kws/kws12.onnx');
  const { status, events, report } = listen(SAMPLE, ['--model', model]);
  assert.equal(status, 0, JSON.stringify(report));
  assertClean(report);
  // Fetched while loading, before listening.
  assert.ok(report.requests.some((u) => u.endsWith('/model/model.onnx')), JSON.stringify(report.requests));
  const native = nativeDetect(SAMPLE, ['--model', model]);
  assert.deepEqual(events.map((e) => e.keyword), ['yes', 'no', 'left', 'right', 'stop', 'go'], JSON.stringify(events));
  assert.deepEqual(native.map((e) => e.keyword), ['yes', 'no', 'left', 'right', 'stop', 'go']);
});

test('a file that is no model, or a model not for sound, is a clear error in the page', () => {
  const bad = join(work, 'bad.onnx');
  writeFileSync(bad, 'this is not an ONNX file');
  // An anomaly model for a series of values (a sensor's CSV rows), which has no front end.
  const csv = join(work, 'metric.csv');
  const metric = join(work, 'metric.onnx');
  const rows = Array.from({ length: 3000 }, (_, i) => `${i},${(Math.sin(i / 10) + 0.05 * Math.sin(i / 3.7)).toFixed(4)}`);
  writeFileSync(csv, `timestamp,value\n${rows.join('\n')}\n`);
  execFileSync(harkBin(), ['fit', '--normal', csv, '--preset', 'metric', '-o', metric], { stdio: 'ignore' });
  for (const [model, message] of [
    [bad, /cannot load the ONNX model/],
    [metric, /scores values \(hark fit --preset metric\), not sound: fit one with --preset audio or vibration/],
  ]) {
    const { status, events, report } = listen(SAMPLE, ['--model', model, '--seconds', '1']);
    assert.equal(status, 1);
    assert.deepEqual(events, []);
    assert.ok(report.errors.some((e) => message.test(e)), JSON.stringify(report.errors));
  }
});

let validation = null;
/** Two clips of every keyword from the validation speakers (held out when the recipe is
 * measured; the bundled model, trained on every speaker, has heard them), with a few
 * `_unknown_` words, 0.75 s of silence between clips: { file, stream } (16 kHz), made once. */
function validationStream() {
  if (validation) return validation;
  const base = join(DATA, 'speech_commands_v0.02_dev');
  const speakers = new Set(
    readFileSync(join(ROOT, 'models/kws/validation_speakers.txt'), 'utf8')
      .split('\n')
      .filter((l) => l && !l.startsWith('#')),
  );
  const rows = readFileSync(join(base, 'MANIFEST.tsv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
  const perLabel = new Map();
  for (const [path, label, , speaker] of rows) {
    if (!speakers.has(speaker) || label === '_silence_') continue;
    const want = label === '_unknown_' ? 3 : 2;
    const list = perLabel.get(label) ?? [];
    if (list.length < want) list.push(path);
    perLabel.set(label, list);
  }
  const gap = new Float32Array(12000);
  const parts = [gap];
  for (const paths of perLabel.values()) {
    for (const p of paths) {
      const clip = readWav(join(base, p));
      assert.equal(clip.rate, 16000);
      parts.push(clip.samples, gap);
    }
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const stream = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    stream.set(p, at);
    at += p.length;
  }
  const file = join(work, 'validation.wav');
  writeFileSync(file, wavBytes(stream, 16000));
  validation = { file, stream };
  return validation;
}

test('validation speakers: the page reports the keywords hark detect reports on the same file', () => {
  const { file, stream } = validationStream();
  const heard = join(work, 'heard.wav');
  const { status, events, report } = listen(file, ['--save-input', heard]);
  assert.equal(status, 0, JSON.stringify(report));
  assertClean(report);

  // 1. Exactly what native `hark detect` finds on the audio the page heard (Chromium starts
  // the capture at an arbitrary point of the file and resamples it to the context's rate).
  const onHeard = withinFile(nativeDetect(heard), report);
  assert.ok(onHeard.length >= 15, `native found only ${onHeard.length} events in what the page heard`);
  assert.equal(events.length, onHeard.length, `page ${JSON.stringify(events)}\nnative ${JSON.stringify(onHeard)}`);
  events.forEach((e, i) => {
    const n = onHeard[i];
    assert.equal(e.keyword, n.keyword, `event ${i}: page ${JSON.stringify(e)}, native ${JSON.stringify(n)}`);
    assert.ok(Math.abs(e.end - n.end) < 0.002 && Math.abs(e.score - n.score) < 0.01, `event ${i}: page ${JSON.stringify(e)}, native ${JSON.stringify(n)}`);
  });

  // 2. The keywords of `hark detect` on the file itself, as nearly as the detector agrees with
  // itself when the file starts at another point: the model runs every 8 frames, so where the
  // stream starts moves the windows it sees, and a keyword scored near its threshold can fall
  // either way. That spread is measured here on the same file (starts 5 to 75 ms later).
  const native = nativeDetect(file);
  assert.ok(native.length >= 15, `native found only ${native.length} events`);
  // Events are matched in order: the same keyword, ending within 0.4 s once the time offset of
  // the last match is applied. The offset follows the capture: Chromium's fake microphone may
  // skip or repeat a buffer on a busy machine, which moves every later time of the page by as
  // much (part 1 checks the page against what it heard, jumps included).
  const compare = (ref, got, shift) => {
    const missed = [];
    const extra = [];
    let offset = shift;
    let next = 0;
    const matches = (e, n) => e.keyword === n.keyword && Math.abs(e.end + offset - n.end) < 0.4;
    for (const n of ref) {
      let k = next;
      while (k < got.length && !matches(got[k], n) && got[k].end + offset <= n.end + 0.4) k++;
      if (k < got.length && matches(got[k], n)) {
        extra.push(...got.slice(next, k));
        offset = n.end - got[k].end;
        next = k + 1;
      } else {
        missed.push(n);
      }
    }
    extra.push(...got.slice(next));
    return { missed, extra };
  };
  let spread = { missed: 0, extra: 0 };
  for (let k = 1; k <= 15; k++) {
    const skip = 80 * k;
    const shifted = join(work, `shifted-${k}.wav`);
    writeFileSync(shifted, wavBytes(stream.subarray(skip), 16000));
    const d = compare(native, nativeDetect(shifted), skip / 16000);
    spread = { missed: Math.max(spread.missed, d.missed.length), extra: Math.max(spread.extra, d.extra.length) };
  }
  // The page may also start up to 0.4 s into the file (its times are then that much early).
  const d = compare(native, events, 0);
  console.log(`native: ${native.map((e) => e.keyword).join(' ')}`);
  console.log(`page:   ${events.map((e) => e.keyword).join(' ')}`);
  console.log(
    `${native.length} native events; page: ${d.missed.length} missed, ${d.extra.length} extra; ` +
      `native started later: up to ${spread.missed} missed, ${spread.extra} extra`,
  );
  // One more than that spread for Chromium's resampling of the capture, which also changes the
  // scores a little (part 1: exactly the native scores of what the page heard): a keyword
  // within 0.02 of the bundled model's threshold (BUNDLED_THRESHOLD) can fall either way, so
  // such a miss or extra is listed but not counted.
  const clear = (events) => events.filter((e) => e.score >= BUNDLED_THRESHOLD + 0.02);
  const allowed = (n) => n + 1;
  assert.ok(clear(d.missed).length <= allowed(spread.missed), `missed in the page: ${JSON.stringify(d.missed)}`);
  assert.ok(clear(d.extra).length <= allowed(spread.extra), `only in the page: ${JSON.stringify(d.extra)}`);
});

test("a recording chosen on the page: the events of hark detect on the file, at the file's times", () => {
  // The page decodes the file (resampling it to the context's rate) and plays it through the
  // worklet from its first sample: no capture starting at an arbitrary point, so the events
  // are those of `hark detect` on the file itself, at its times.
  const { file } = validationStream();
  const { status, events, report } = listen(file, ['--file-input']);
  assert.equal(status, 0, JSON.stringify(report));
  assertClean(report);
  const native = nativeDetect(file);
  assert.ok(native.length >= 15, `native found only ${native.length} events`);
  // The browser's resampling moves the scores a little (about 0.01): a keyword within 0.02 of
  // the threshold may fall either way, on either side.
  const clear = (e) => Math.abs(e.score - BUNDLED_THRESHOLD) >= 0.02;
  const page = events.filter(clear);
  const want = native.filter(clear);
  console.log(`native: ${native.map((e) => e.keyword).join(' ')}`);
  console.log(`page:   ${events.map((e) => e.keyword).join(' ')}`);
  assert.equal(page.length, want.length, `page ${JSON.stringify(events)}\nnative ${JSON.stringify(native)}`);
  const most = (f) => Math.max(...page.map((e, i) => Math.abs(f(e) - f(want[i]))));
  console.log(
    `${page.length} events; largest differences: start ${most((e) => e.start).toFixed(3)} s, ` +
      `end ${most((e) => e.end).toFixed(3)} s, score ${most((e) => e.score).toFixed(3)}`,
  );
  page.forEach((e, i) => {
    const n = want[i];
    const same =
      e.keyword === n.keyword && Math.abs(e.start - n.start) <= 0.03 && Math.abs(e.end - n.end) <= 0.03;
    assert.ok(same && Math.abs(e.score - n.score) < 0.02, `event ${i}: page ${JSON.stringify(e)}, native ${JSON.stringify(n)}`);
  });

  // A file the browser cannot decode is a clear error in the page.
  const notAudio = join(work, 'notes.wav');
  writeFileSync(notAudio, 'these are not sounds\n');
  const bad = listen(notAudio, ['--file-input']);
  assert.equal(bad.status, 1, JSON.stringify(bad.report));
  assert.ok(bad.report.errors.some((e) => /decode/i.test(e)), JSON.stringify(bad.report.errors));
});

test('anomaly mode: a model fitted by hark fit finds the faults of a machine heard by the page', () => {
  // Synthetic machines (hark_tests::machine): 60 s of normal running at 48 kHz to fit on, and
  // 30 s of another run with bearing impacts at 10-14 s and imbalance at 20-24 s, played at the
  // page's own rate, so that what the page heard can be compared sample by sample with the file.
  const normal = join(work, 'machine-normal.wav');
  const faulty = join(work, 'machine-faulty.wav');
  const model = join(work, 'machine.onnx');
  const heard = join(work, 'machine-heard.wav');
  execFileSync(machineBin(), [normal, '48000', '60', '1']);
  execFileSync(harkBin(), ['fit', '--normal', normal, '--preset', 'audio', '-o', model], { stdio: 'ignore' });
  const play = (rate) => {
    execFileSync(machineBin(), [faulty, String(rate), '30', '2', 'bearing', '10', '14', 'imbalance', '20', '24']);
    return listen(faulty, ['--model', model, '--save-input', heard]);
  };
  let run = play(44100);
  if (run.report.sampleRate && run.report.sampleRate !== 44100) run = play(run.report.sampleRate);
  const { status, events, report } = run;
  assert.equal(status, 0, JSON.stringify(report));
  assertClean(report);
  assert.ok(events.every((e) => e.event === 'anomaly'), JSON.stringify(events));

  // 1. Exactly the events of native `hark score` on what the page heard (those that start
  // within the file, as listen.mjs reports the page's).
  const onHeard = withinFile(nativeScore(heard, model), report);
  assert.equal(events.length, onHeard.length, `page ${JSON.stringify(events)}\nnative ${JSON.stringify(onHeard)}`);
  events.forEach((e, i) => {
    const n = onHeard[i];
    const same =
      Math.abs(e.start - n.start) < 0.002 && Math.abs(e.end - n.end) < 0.002 && Math.abs(e.peak - n.peak) <= 1e-3 * n.peak;
    assert.ok(same, `event ${i}: page ${JSON.stringify(e)}, native ${JSON.stringify(n)}`);
  });

  // 2. Both faults found, and nothing else while the machine runs normally. The page's times
  // may be early by the part of the file it missed before listening (under 0.4 s), and the
  // stream's first and last half second (the capture starting mid-waveform, the silence after
  // the file) may give events of their own. So may a place where the capture skipped or
  // repeated audio (Chromium's fake microphone on a busy machine): such a jump is an anomaly
  // for the model too, and is found by comparing what the page heard with the file.
  const jumps = discontinuities(readWav(heard), readWav(faulty));
  console.log(`capture: ${jumps.length} blocks not continuous with the file ${JSON.stringify(jumps.map((t) => +t.toFixed(3)))}`);
  const found = (from, to) => events.some((e) => e.start < to && e.end > from - 0.5);
  assert.ok(found(10, 14), `bearing impacts missed: ${JSON.stringify(events)}`);
  assert.ok(found(20, 24), `imbalance missed: ${JSON.stringify(events)}`);
  const stray = events.filter(
    (e) =>
      e.end > 0.5 &&
      e.start < 29.5 &&
      !(e.start < 14.5 && e.end > 9.5) &&
      !(e.start < 24.5 && e.end > 19.5) &&
      !jumps.some((t) => e.start < t + 0.75 && e.end > t - 0.25),
  );
  assert.deepEqual(stray, [], 'events while the machine ran normally');
  const normalRunning = (e) => e.start < 9.5 || (e.start > 14.5 && e.start < 19.5) || e.start > 24.5;
  assert.deepEqual(nativeScore(faulty, model).filter(normalRunning), []);
});
