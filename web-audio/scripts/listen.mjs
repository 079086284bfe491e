#!/usr/bin/env node
// Plays a WAV file into the demo page's microphone in a real headless Chromium (Debian's
// /usr/bin/chromium, driven by playwright-core, the fake capture device fed from the file)
// and prints the keyword events the page reports, one JSON line each, in the shape of
// `hark detect --json`: {"keyword", "start", "end", "score"}; with an anomaly model
// (--model of one fitted by `hark fit --preset audio`), the anomaly events in the shape of
// `hark score --json`: {"event": "anomaly", "start", "end", "peak"}.
//
//   node web-audio/scripts/listen.mjs FILE.wav [--seconds S] [--transport sab|port]
//        [--model MODEL.onnx] [--save-input OUT.wav] [--file-input] [--chromium PATH]
//
// --file-input: the file is chosen with the page's file input instead of played into the
// microphone: the browser decodes it (any format it reads) and plays it through the same
// pipeline from its first sample, so event times are times in the file; the run ends with it.
// --model: the page loads that model by URL instead of using the bundled one.
// --save-input OUT.wav: writes what the page's worklet heard (mono, 32-bit float, at the
// page's rate) for `hark detect OUT.wav`: Chromium's capture starts at an arbitrary point of
// the file and resamples it, so this is the input the page's events must match exactly.
//
// On stderr, one JSON line of the run: the worklet's stats (quanta, late quanta, dropped
// frames), the model's timings in the Worker, any network request made after the page was
// listening (there must be none), and errors. Exit status 1 on errors.
//
// Needs the build (bash web-audio/scripts/build.sh) and `npm ci` in web-audio.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { chromium } from 'playwright-core';
import { serve } from './serve.mjs';
import { floatWav, wavLayout } from './wav.mjs';

function usage(message) {
  if (message) console.error(`listen.mjs: ${message}`);
  console.error(
    'usage: node web-audio/scripts/listen.mjs FILE.wav [--seconds S] [--transport sab|port] [--model M.onnx]\n' +
      '       [--save-input OUT.wav] [--file-input] [--chromium PATH]',
  );
  process.exit(2);
}

const args = process.argv.slice(2);
const opts = {
  seconds: null,
  transport: 'sab',
  chromium: process.env.CHROMIUM ?? '/usr/bin/chromium',
  file: null,
  model: null,
  saveInput: null,
  fileInput: false,
};
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--seconds') opts.seconds = Number(args[++i]);
  else if (a === '--transport') opts.transport = args[++i];
  else if (a === '--chromium') opts.chromium = args[++i];
  else if (a === '--model') opts.model = args[++i];
  else if (a === '--save-input') opts.saveInput = args[++i];
  else if (a === '--file-input') opts.fileInput = true;
  else if (a === '-h' || a === '--help') usage();
  else if (a.startsWith('--')) usage(`unknown option ${a}`);
  else if (opts.file) usage('one file only');
  else opts.file = a;
}
if (!opts.file) usage('a WAV file is needed');
if (!['sab', 'port'].includes(opts.transport)) usage('--transport is sab or port');
if (opts.seconds !== null && !(opts.seconds > 0)) usage('--seconds must be positive');

/** The WAV's duration and its bytes with `pad` seconds of silence appended (Chromium loops
 * the file: the silence keeps the loop's restart out of the listening time). */
function padWav(bytes, pad) {
  const { fmt, dataAt, dataSize } = wavLayout(bytes);
  const frames = Math.floor(dataSize / fmt.blockAlign);
  const padBytes = Math.round(pad * fmt.rate) * fmt.blockAlign;
  const head = bytes.subarray(0, dataAt + dataSize);
  const out = new Uint8Array(head.length + padBytes);
  out.set(head);
  if (fmt.bits === 8) out.fill(128, head.length); // unsigned 8-bit silence
  const v = new DataView(out.buffer);
  v.setUint32(4, out.length - 8, true);
  v.setUint32(dataAt - 4, dataSize + padBytes, true);
  return { seconds: frames / fmt.rate, padded: out };
}

const round = (x) => Math.round(x * 1000) / 1000;

async function main() {
  const wav = await readFile(resolve(opts.file));
  // With --file-input the page decodes the file itself (any format, not only WAV): its
  // duration is read there.
  const wavSeconds = () => {
    try {
      return padWav(wav, 0).seconds;
    } catch {
      return null;
    }
  };
  const { seconds: fileSeconds, padded } = opts.fileInput ? { seconds: wavSeconds(), padded: null } : padWav(wav, 3);
  let duration = fileSeconds;
  if (opts.fileInput && opts.saveInput && duration === null && opts.seconds === null) {
    usage('--save-input with --file-input needs a WAV file or --seconds');
  }
  const listenFor = opts.seconds ?? (duration === null ? null : duration + 1);
  const work = await mkdtemp(join(tmpdir(), 'hark-listen-'));
  const fakeMic = join(work, 'input.wav');
  if (padded) await writeFile(fakeMic, padded);
  const files = opts.model ? { '/model/model.onnx': resolve(opts.model) } : {};
  const { server, url } = await serve({ isolation: true, files });
  let browser;
  // fileSeconds: events that start at or after it are not printed (they come from the padding).
  const report = { file: opts.file, model: opts.model, seconds: round(listenFor), fileSeconds: duration, transport: opts.transport };
  let failed = false;
  try {
    browser = await chromium.launch({
      executablePath: opts.chromium,
      headless: true,
      args: [
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-audio-capture=${fakeMic}`,
        '--autoplay-policy=no-user-gesture-required',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        '--disable-quic',
      ],
    });
    const context = await browser.newContext();
    const page = await context.newPage();
    const requests = [];
    let listening = false;
    const afterLoad = [];
    context.on('request', (r) => {
      requests.push(r.url());
      if (listening) afterLoad.push(r.url());
    });
    const consoleErrors = [];
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (e) => consoleErrors.push(String(e)));
    const model = opts.model ? '&model=model/model.onnx' : '';
    const record = opts.saveInput ? `&record=${Math.ceil(listenFor + 5)}` : '';
    const autostart = opts.fileInput ? '' : 'autostart=1&';
    await page.goto(`${url}/index.html?${autostart}transport=${opts.transport}${model}${record}`);
    if (opts.fileInput) {
      await page.waitForFunction(() => window.hark);
      await page.setInputFiles('#file', resolve(opts.file));
    }
    await page.waitForFunction(() => window.hark && (window.hark.started || window.hark.errors.length > 0), null, {
      timeout: 30000,
    });
    const startedOk = await page.evaluate(() => window.hark.started);
    listening = startedOk;
    const started = Date.now();
    let final = null;
    if (startedOk && opts.fileInput) {
      // The page stops when the recording ends (or at --seconds).
      duration = await page.evaluate(() => window.hark.fileSeconds);
      report.fileSeconds = duration;
      const limit = (opts.seconds ?? duration + 30) * 1000;
      await page.waitForFunction(() => window.hark.fileDone, null, { timeout: limit }).catch(() => null);
      final = await page.evaluate(async () => (window.hark.fileDone ? window.hark.final : window.harkStop()));
      report.seconds = round(duration);
    } else if (startedOk) {
      await page.waitForTimeout(listenFor * 1000);
      final = await page.evaluate(() => window.harkStop());
    }
    const state = await page.evaluate(() => ({
      events: window.hark.events,
      anomalies: window.hark.anomalies,
      errors: window.hark.errors,
      info: window.hark.info,
      isolated: window.crossOriginIsolated,
    }));
    report.listened = round((Date.now() - started) / 1000);
    if (opts.saveInput && startedOk) {
      // The samples cross as base64 of their float32 bytes (a JSON array would be ten times larger).
      const heard = await page.evaluate(() => {
        const r = window.hark.recording;
        if (!r) return null;
        const bytes = new Uint8Array(r.samples.buffer, r.samples.byteOffset, r.samples.byteLength);
        let text = '';
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
        return { sampleRate: r.sampleRate, base64: btoa(text) };
      });
      if (!heard) throw new Error('the page kept no recording');
      // Copied into a fresh buffer: Node's pooled Buffer may not be 4-byte aligned.
      const samples = new Float32Array(Uint8Array.from(Buffer.from(heard.base64, 'base64')).buffer);
      await writeFile(resolve(opts.saveInput), floatWav(samples, heard.sampleRate));
      report.savedInput = { file: opts.saveInput, seconds: round(samples.length / heard.sampleRate) };
    }
    for (const e of state.events) {
      // Events after the file's end come from the padding (or the loop): not the file's.
      if (e.start >= duration) continue;
      console.log(JSON.stringify({ keyword: e.keyword, start: round(e.start), end: round(e.end), score: round(e.score) }));
    }
    for (const e of state.anomalies) {
      if (e.start >= duration) continue;
      console.log(JSON.stringify({ event: 'anomaly', start: round(e.start), end: round(e.end), peak: round(e.peak) }));
    }
    Object.assign(report, {
      sampleRate: state.info?.sampleRate,
      crossOriginIsolated: state.isolated,
      stats: final,
      requests,
      requestsAfterLoad: afterLoad,
      errors: [...state.errors, ...consoleErrors],
    });
    failed = report.errors.length > 0;
  } catch (e) {
    report.errors = [String(e?.message ?? e)];
    failed = true;
  } finally {
    await browser?.close();
    server.close();
    await rm(work, { recursive: true, force: true });
  }
  console.error(JSON.stringify(report));
  process.exit(failed ? 1 : 0);
}

await main();
