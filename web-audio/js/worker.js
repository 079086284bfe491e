// The model half of Hark in the browser, in a module Worker: the keyword pipeline after the
// features (`Spotter`: model, smoothing, thresholds, refractory time), or for an anomaly model
// the anomaly scorer after the features (`Monitor`: window, autoencoder, error, smoothing,
// threshold), on the frames the worklet computes, read from a SharedArrayBuffer ring or
// received on a MessagePort.
import { initSync, Monitor, Spotter, model_kind } from './hark_web_audio.js';
import { FrameRing, H } from './ring.js';

let spotter = null; // a Spotter, or a Monitor for an anomaly model (the same calls)
let kind = 'kws';
let model; // the model's bytes (undefined: the bundled model), kept for a restart
const thresholds = new Map();
let ring = null;
let port = null;
let running = false;
let frames = null; // scratch for frames read from the ring
let framesSeen = 0;
const runMs = []; // time of each push_features call (a ring read or a port batch), for stats

/** A Spotter, or a Monitor for an anomaly model. */
function create() {
  return kind === 'anomaly' ? new Monitor(model) : new Spotter(model);
}

/** A threshold; null or undefined: never report (a keyword), never an event (anomaly). */
function setThreshold(target, label, value) {
  if (kind === 'anomaly') target.set_threshold(value ?? Infinity);
  else target.set_threshold(label, value ?? undefined);
}

function post(msg, transfer) {
  self.postMessage(msg, transfer ?? []);
}

// Keyword or anomaly events, as the page's 'keyword' and 'anomaly' messages.
function postEvents(events) {
  const type = kind === 'anomaly' ? 'anomaly' : 'keyword';
  for (const e of events) post({ type, ...e });
}

function handle(batch) {
  const t0 = performance.now();
  let events;
  try {
    events = spotter.push_features(batch);
  } catch (e) {
    post({ type: 'error', message: `worker: ${e?.message ?? e}` });
    return;
  }
  const ms = performance.now() - t0;
  runMs.push(ms);
  if (runMs.length > 2048) runMs.splice(0, 1024);
  framesSeen += batch.length / spotter.n_features();
  postEvents(events);
  const copy = batch.slice();
  post({ type: 'frames', features: copy, scores: spotter.scores(), framesSeen, ms }, [copy.buffer]);
}

async function readRing() {
  const width = spotter.n_features();
  frames = new Float32Array(ring.capacity * width);
  while (running) {
    const n = ring.read(frames, ring.capacity);
    if (n > 0) {
      handle(frames.subarray(0, n * width));
      continue;
    }
    if (Atomics.load(ring.header, H.STOP) === 1) break;
    const seen = Atomics.load(ring.header, H.WRITE);
    if (ring.available() > 0) continue;
    if (typeof Atomics.waitAsync === 'function') {
      const r = Atomics.waitAsync(ring.header, H.WRITE, seen, 200);
      if (r.async) await r.value;
    } else {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
}

function finish() {
  running = false;
  if (ring) {
    const width = spotter.n_features();
    const n = ring.read(frames, ring.capacity);
    if (n > 0) handle(frames.subarray(0, n * width));
  }
  postEvents(spotter.finish());
  const sorted = runMs.slice().sort((a, b) => a - b);
  const pick = (q) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : 0);
  post({
    type: 'finished',
    framesSeen,
    runs: sorted.length,
    medianMs: pick(0.5),
    p99Ms: pick(0.99),
    maxMs: sorted.length ? sorted[sorted.length - 1] : 0,
  });
}

self.onmessage = (e) => {
  const msg = e.data;
  try {
    if (msg.type === 'init') {
      initSync({ module: msg.module });
      model = msg.model ?? undefined;
      kind = model ? model_kind(model) : 'kws';
      spotter = create();
      const anomaly = kind === 'anomaly';
      post({
        type: 'ready',
        kind: anomaly ? 'anomaly' : 'kws',
        config: spotter.feature_config(),
        labels: anomaly ? ['anomaly'] : spotter.labels(),
        thresholds: anomaly
          ? [spotter.threshold()]
          : Array.from(spotter.default_thresholds(), (t) => (Number.isNaN(t) ? null : t)),
        nFeatures: spotter.n_features(),
        hopSeconds: spotter.hop_seconds(),
      });
    } else if (msg.type === 'threshold') {
      setThreshold(spotter, msg.label, msg.value);
      thresholds.set(msg.label, msg.value ?? undefined);
    } else if (msg.type === 'start') {
      if (framesSeen > 0) {
        // A new stream: times from zero, nothing carried over from the last one.
        spotter.free();
        spotter = create();
        for (const [label, value] of thresholds) setThreshold(spotter, label, value);
        framesSeen = 0;
        runMs.length = 0;
      }
      running = true;
      if (msg.ring) {
        ring = new FrameRing(msg.ring);
        readRing().catch((err) => post({ type: 'error', message: `worker: ${err?.message ?? err}` }));
      } else {
        port = msg.port;
        port.onmessage = (m) => {
          if (running) handle(m.data);
        };
      }
    } else if (msg.type === 'stop') {
      finish();
    }
  } catch (err) {
    post({ type: 'error', message: `worker: ${err?.message ?? err}`, during: msg.type });
  }
};
