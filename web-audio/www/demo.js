// The demo page: starts a spotter on the microphone, draws the log-mel spectrogram, the
// per-class scores and the keyword events; with an anomaly model (`?model=URL` of one fitted by
// `hark fit --preset audio`), the live anomaly score against its threshold and the anomaly
// events. `?autostart=1` starts without a click (tests);
// `?transport=port|sab` picks how the worklet hands frames to the Worker; `?model=URL` loads
// another model than the bundled one; `?record=S` keeps up to S seconds of what the worklet
// heard (window.hark.recording after stop, for scripts/listen.mjs --save-input).
// A recording chosen with the file input is decoded by the browser and played through the same
// worklet and Worker instead of the microphone (and to the speakers); the session stops when
// it ends (window.hark.fileDone).
// window.hark exposes the events and stats to the test driver (scripts/listen.mjs).
import { createSpotter } from './hark.js';

const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
const canvas = $('spectrogram');
const ctx = canvas.getContext('2d');
const state = { events: [], anomalies: [], stats: null, errors: [], ready: false, started: false, info: null };
// The spectrogram's colour range follows the values (natural-log energies for the keyword
// model, dB for the machine front end).
const range = { lo: Infinity, hi: -Infinity };
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
  for (const x of features) {
    if (x < range.lo) range.lo = x;
    if (x > range.hi) range.hi = x;
  }
  const span = Math.max(1e-6, range.hi - range.lo);
  for (let f = 0; f < frames; f++) {
    for (let b = 0; b < n; b++) {
      const v = Math.max(0, Math.min(1, (features[f * n + b] - range.lo) / span));
      const at = ((n - 1 - b) * frames + f) * 4;
      image.data[at] = 255 * Math.min(1, v * 1.6);
      image.data[at + 1] = 255 * Math.max(0, v * 1.6 - 0.6);
      image.data[at + 2] = 80 * (1 - v);
      image.data[at + 3] = 255;
    }
  }
  ctx.putImageData(image, w - frames, 0);
}

/** The anomaly plot: the smoothed score, one pixel per frame, the threshold at mid height. */
function drawAnomaly({ smoothed, threshold }) {
  const plot = $('anomaly');
  const g = plot.getContext('2d');
  const { width: w, height: h } = plot;
  const n = smoothed.length;
  g.drawImage(plot, -n, 0);
  g.fillStyle = '#000';
  g.fillRect(w - n, 0, n, h);
  const top = 2 * (threshold ?? 1);
  g.fillStyle = '#c33';
  g.fillRect(w - n, h / 2, n, 1);
  for (let i = 0; i < n; i++) {
    const y = h - Math.min(1, smoothed[i] / top) * h;
    g.fillStyle = smoothed[i] >= (threshold ?? Infinity) ? '#f84' : '#3b7dd8';
    g.fillRect(w - n + i, y, 1, h - y);
  }
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
      mark.style.left = spotter.kind === 'anomaly' ? '50%' : `${t * 100}%`;
      bar.append(mark);
    }
    const value = document.createElement('span');
    root.append(name, bar, value);
    return { label, fill, value, bar };
  });
}

/** The spotter, made on first use, and the page set up for its kind of model. */
async function prepare() {
  if (!spotter) {
    spotter = await createSpotter({
      transport: params.get('transport') ?? undefined,
      model: params.get('model') ?? undefined,
    });
    subscribe();
  }
  state.ready = true;
  if (spotter.kind !== 'anomaly' && state.kind === undefined) {
    // The slider starts at the model's own threshold (the keywords share one in the bundled
    // model; the first keyword's otherwise).
    const t = spotter.thresholds[spotter.labels.find((l) => !l.startsWith('_'))];
    if (t !== null) {
      $('threshold').value = String(t);
      showThreshold(t);
    }
  }
  state.kind = spotter.kind;
  if (spotter.kind === 'anomaly' && state.fitted === undefined) {
    $('anomaly').hidden = false;
    $('events-title').textContent = 'Anomalies';
    // The slider scales the threshold the model was fitted with (on normal running).
    state.fitted = spotter.thresholds.anomaly;
    Object.assign($('threshold'), { min: '0.5', max: '4', step: '0.1', value: '1' });
    showThreshold(1);
  }
  setupBars();
}

function failed(e) {
  state.errors.push(String(e?.message ?? e));
  $('stats').textContent = `error: ${e?.message ?? e}`;
  $('start').disabled = false;
}

async function start() {
  $('start').disabled = true;
  try {
    await prepare();
    state.info = await spotter.start(null, { record: Number(params.get('record') ?? 0) });
    state.started = true;
    $('stop').disabled = false;
  } catch (e) {
    failed(e);
  }
}

/** Plays a recording through the pipeline: decoded at the context's rate, started on the
 * worklet's first quantum (the context stays suspended until the spotter resumes it), so
 * event times are times in the file. */
async function playFile(file) {
  $('start').disabled = true;
  state.fileDone = false;
  let context = null;
  try {
    if (state.started) await stop();
    await prepare();
    context = new AudioContext();
    await context.suspend();
    const buffer = await context.decodeAudioData(await file.arrayBuffer());
    state.fileSeconds = buffer.duration;
    const source = new AudioBufferSourceNode(context, { buffer });
    source.connect(context.destination);
    source.start();
    state.playing = { source, context };
    source.onended = () => stop();
    state.info = await spotter.start(source, { context, record: Number(params.get('record') ?? 0) });
    state.started = true;
    $('stop').disabled = false;
  } catch (e) {
    state.playing = null;
    await context?.close();
    failed(e);
    state.fileDone = true;
  }
}

function subscribe() {
    spotter.on('features', ({ features, nFeatures }) => drawFrames(features, nFeatures));
    spotter.on('scores', ({ scores }) => {
      // Anomaly scores are errors, not probabilities: the threshold is at half the bar.
      const full = spotter.kind === 'anomaly' ? 2 * (spotter.thresholds.anomaly ?? 1) : 1;
      scores.forEach((s, i) => {
        bars[i].fill.style.width = `${Math.min(100, (s / full) * 100).toFixed(1)}%`;
        bars[i].value.textContent = s.toFixed(2);
      });
    });
    spotter.on('anomalyScores', drawAnomaly);
    spotter.on('anomaly', (e) => {
      state.anomalies.push(e);
      const line = document.createElement('div');
      line.textContent = `${e.start.toFixed(2)}-${e.end.toFixed(2)} s  anomaly  peak ${e.peak.toFixed(2)}`;
      $('events').prepend(line);
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
  const playing = state.playing;
  state.playing = null;
  if (playing) playing.source.onended = null;
  state.final = await spotter.stop();
  state.recording = spotter.recording;
  state.started = false;
  if (playing) {
    playing.source.stop();
    await playing.context.close();
    state.fileDone = true;
  }
  $('start').disabled = false;
  return state.final;
}
window.harkStop = stop;

$('start').onclick = start;
$('file').onchange = (e) => {
  const file = e.target.files[0];
  if (file) playFile(file);
};
$('stop').onclick = stop;
/** The slider's reading: a keyword model's threshold, or a multiple of the anomaly model's. */
function showThreshold(value) {
  $('tv').textContent =
    state.kind === 'anomaly' ? `${value.toFixed(1)}x fitted = ${(value * state.fitted).toFixed(3)}` : value.toFixed(2);
}

$('threshold').oninput = (e) => {
  const t = Number(e.target.value);
  showThreshold(t);
  if (!spotter) return;
  if (spotter.kind === 'anomaly') spotter.setThreshold('anomaly', t * state.fitted);
  else for (const label of spotter.labels) if (!label.startsWith('_')) spotter.setThreshold(label, t);
  setupBars();
};
if (params.get('autostart') === '1') start();
