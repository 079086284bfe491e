// The demo page: starts a spotter on the microphone, draws the log-mel spectrogram, the
// per-class scores and the keyword events. `?autostart=1` starts without a click (tests);
// `?transport=port|sab` picks how the worklet hands frames to the Worker; `?model=URL` loads
// another model than the bundled one; `?record=S` keeps up to S seconds of what the worklet
// heard (window.hark.recording after stop, for scripts/listen.mjs --save-input).
// window.hark exposes the events and stats to the test driver (scripts/listen.mjs).
import { createSpotter } from './hark.js';

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const canvas = $('spectrogram');
const ctx = canvas.getContext('2d');
const state = { events: [], stats: null, errors: [], ready: false, started: false, info: null };
window.hark = state;

let spotter;
let bars = [];

function drawFrames(features, n) {
  // Scroll left by the number of frames, draw the new columns (one pixel per frame).
  const frames = features.length / n;
  if (canvas.height !== n) canvas.height = n;
  const w = canvas.width;
  ctx.drawImage(canvas, -frames, 0);
  const image = ctx.createImageData(frames, n);
  for (let f = 0; f < frames; f++) {
    for (let b = 0; b < n; b++) {
      // log-mel values are natural-log energies; map about -12..4 to dark..bright
      const v = Math.max(0, Math.min(1, (features[f * n + b] + 12) / 16));
      const at = ((n - 1 - b) * frames + f) * 4;
      image.data[at] = 255 * Math.min(1, v * 1.6);
      image.data[at + 1] = 255 * Math.max(0, v * 1.6 - 0.6);
      image.data[at + 2] = 80 * (1 - v);
      image.data[at + 3] = 255;
    }
  }
  ctx.putImageData(image, w - frames, 0);
}

function setupBars() {
  const root = $('bars');
  root.textContent = '';
  bars = spotter.labels.map((label) => {
    const name = document.createElement('span');
    name.textContent = label;
    const bar = document.createElement('div');
    bar.className = 'bar';
    const fill = document.createElement('div');
    bar.append(fill);
    const t = spotter.thresholds[label];
    if (t !== null) {
      const mark = document.createElement('i');
      mark.style.left = `${t * 100}%`;
      bar.append(mark);
    }
    const value = document.createElement('span');
    root.append(name, bar, value);
    return { label, fill, value, bar };
  });
}

async function start() {
  $('start').disabled = true;
  try {
    if (!spotter) {
      spotter = await createSpotter({
        transport: params.get('transport') ?? undefined,
        model: params.get('model') ?? undefined,
      });
      subscribe();
    }
    state.ready = true;
    setupBars();
    state.info = await spotter.start(null, { record: Number(params.get('record') ?? 0) });
    state.started = true;
    $('stop').disabled = false;
  } catch (e) {
    state.errors.push(String(e?.message ?? e));
    $('stats').textContent = `error: ${e?.message ?? e}`;
    $('start').disabled = false;
  }
}

function subscribe() {
    spotter.on('features', ({ features, nFeatures }) => drawFrames(features, nFeatures));
    spotter.on('scores', ({ scores }) => {
      scores.forEach((s, i) => {
        bars[i].fill.style.width = `${(s * 100).toFixed(1)}%`;
        bars[i].value.textContent = s.toFixed(2);
      });
    });
    spotter.on('keyword', (e) => {
      state.events.push(e);
      const line = document.createElement('div');
      line.textContent = `${e.end.toFixed(2)} s  ${e.keyword}  ${e.score.toFixed(2)}`;
      $('events').prepend(line);
    });
    spotter.on('stats', (s) => {
      state.stats = s;
      $('stats').textContent =
        `${s.transport} · ${s.sampleRate} Hz · ${s.quanta} quanta, ${s.late} late (longest ${s.maxQuantumMs} ms)` +
        (s.underruns === null ? '' : ` · ${s.underruns} underruns`) +
        ` · dropped ${s.droppedSeconds.toFixed(2)} s` + (s.rejected ? ` · ${s.rejected} rejected` : '');
    });
    spotter.on('error', (e) => {
      state.errors.push(e.message);
      console.error(e.message);
    });
}

async function stop() {
  if (!spotter) return null;
  $('stop').disabled = true;
  state.final = await spotter.stop();
  state.recording = spotter.recording;
  state.started = false;
  $('start').disabled = false;
  return state.final;
}
window.harkStop = stop;

$('start').onclick = start;
$('stop').onclick = stop;
$('threshold').oninput = (e) => {
  const t = Number(e.target.value);
  $('tv').textContent = t.toFixed(2);
  if (!spotter) return;
  for (const label of spotter.labels) if (!label.startsWith('_')) spotter.setThreshold(label, t);
  setupBars();
};
if (params.get('autostart') === '1') start();
