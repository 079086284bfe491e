#!/usr/bin/env node
// Records assets/sample.wav through Chromium's MediaRecorder, as a page that records the
// microphone would: the WAV feeds Chromium's fake microphone, and the recording (WebM with
// Opus, written as it goes, so without sizes or a duration) is saved as
// sample_mediarecorder.webm. Needs web-audio's npm packages (`npm ci` in web-audio) and
// Debian's chromium. Run from this folder: `node record_webm.mjs [/usr/bin/chromium]`.
//
// The fake microphone starts the file at a point of its own and loops it; this recording
// started at its beginning, and tests/input_cli.rs expects its six keywords in order.
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { chromium } from '../../../web-audio/node_modules/playwright-core/index.mjs';
import { serve } from '../../../web-audio/scripts/serve.mjs';

const executablePath = process.argv[2] ?? '/usr/bin/chromium';
const wav = resolve('../../../assets/sample.wav');
const { server, url } = await serve({ isolation: false });
const browser = await chromium.launch({
  executablePath,
  headless: true,
  args: [
    '--use-fake-ui-for-media-stream',
    '--use-fake-device-for-media-stream',
    `--use-file-for-fake-audio-capture=${wav}`,
    '--autoplay-policy=no-user-gesture-required',
    '--no-sandbox',
    '--disable-gpu',
  ],
});
try {
  const page = await (await browser.newContext()).newPage();
  await page.goto(url);
  const [mime, bytes] = await page.evaluate(async () => {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    const recorder = new MediaRecorder(stream, { mimeType: 'audio/webm;codecs=opus', audioBitsPerSecond: 24000 });
    const chunks = [];
    recorder.ondataavailable = (e) => chunks.push(e.data);
    const stopped = new Promise((r) => (recorder.onstop = r));
    recorder.start(1000);
    await new Promise((r) => setTimeout(r, 10000));
    recorder.stop();
    await stopped;
    return [recorder.mimeType, Array.from(new Uint8Array(await new Blob(chunks).arrayBuffer()))];
  });
  await writeFile('sample_mediarecorder.webm', Buffer.from(bytes));
  console.log(`sample_mediarecorder.webm: ${bytes.length} bytes, ${mime}`);
} finally {
  await browser.close();
  server.close();
}
