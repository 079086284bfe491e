// Hark in the browser: always-on keyword spotting on the device, in Wasm.
//
//   import { createSpotter } from './hark.js';
//   const spotter = await createSpotter();            // the bundled 12-class streaming model
//   spotter.on('keyword', (e) => console.log(e.keyword, e.score));
//   await spotter.start();                            // asks for the microphone
//   ...
//   await spotter.stop();
//
// The front end (resampling, log-mel features) runs in an AudioWorklet on the audio thread;
// the model runs in a module Worker. Audio never leaves the page.

const here = (name) => new URL(`./${name}`, import.meta.url);

let compiled = null;
/** The Wasm module, compiled once per page (WebAssembly.Module is shared by worklet and Worker). */
function compileModule(url) {
  if (!compiled || url) {
    const source = url ?? here('hark_web_audio_bg.wasm');
    const p = WebAssembly.compileStreaming
      ? WebAssembly.compileStreaming(fetch(source)).catch(async () =>
          WebAssembly.compile(await (await fetch(source)).arrayBuffer()),
        )
      : fetch(source).then(async (r) => WebAssembly.compile(await r.arrayBuffer()));
    if (url) return p;
    compiled = p;
  }
  return compiled;
}

async function modelBytes(model) {
  if (model === undefined || model === null) return null;
  if (model instanceof Uint8Array) return model;
  if (model instanceof ArrayBuffer) return new Uint8Array(model);
  if (typeof model === 'string' || model instanceof URL) {
    const response = await fetch(model);
    if (!response.ok) throw new Error(`cannot load the model ${model}: HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }
  throw new TypeError('model must be a URL, an ArrayBuffer or a Uint8Array');
}

/** The audio constraints Hark asks for: the browser's voice processing squashes the signal
 * the model was trained on, so echo cancellation, noise suppression and auto gain are off. */
export const MICROPHONE_CONSTRAINTS = Object.freeze({
  echoCancellation: false,
  noiseSuppression: false,
  autoGainControl: false,
  channelCount: 1,
});

/**
 * Creates a spotter: loads the Wasm module and the model (bytes, a URL, or nothing for the
 * bundled 12-class Speech Commands streaming model) in a Worker. Resolves once the model is ready. An
 * anomaly model fitted to sound by `hark fit --preset audio|vibration` makes a spotter of
 * kind 'anomaly', which scores every frame and reports anomaly events.
 */
export async function createSpotter(options = {}) {
  const [module, model] = await Promise.all([compileModule(options.wasmUrl), modelBytes(options.model)]);
  const worker = new Worker(here('worker.js'), { type: 'module', name: 'hark-model' });
  const ready = await new Promise((resolve, reject) => {
    worker.onmessage = (e) => {
      if (e.data.type === 'ready') resolve(e.data);
      else if (e.data.type === 'error') reject(new Error(e.data.message));
    };
    worker.onerror = (e) => reject(new Error(`the Hark worker failed to load: ${e.message ?? e}`));
    worker.postMessage({ type: 'init', module, model }, model ? [model.buffer] : []);
  });
  const spotter = new Spotter(worker, module, ready, options);
  for (const [label, value] of Object.entries(options.thresholds ?? {})) spotter.setThreshold(label, value);
  return spotter;
}

export class Spotter {
  /** Use createSpotter(). */
  constructor(worker, module, ready, options) {
    this._worker = worker;
    this._module = module;
    this._kind = ready.kind;
    this._config = ready.config;
    this._labels = ready.labels;
    this._thresholds = Object.fromEntries(ready.labels.map((l, i) => [l, ready.thresholds[i]]));
    this._nFeatures = ready.nFeatures;
    this._hopSeconds = ready.hopSeconds;
    this._ringSeconds = options.ringSeconds ?? 2;
    this._transport = options.transport; // 'sab' | 'port' | undefined (automatic)
    this._listeners = new Map();
    this._session = null;
    this._recording = null;
    worker.onmessage = (e) => this._fromWorker(e.data);
    worker.onerror = (e) => this._emit('error', { message: `worker: ${e.message ?? e}` });
  }

  /** 'kws' (a keyword model) or 'anomaly' (an autoencoder fitted by `hark fit`: one label,
   * 'anomaly', whose threshold is on the smoothed reconstruction error). */
  get kind() {
    return this._kind;
  }

  /** Class labels, in score order. */
  get labels() {
    return this._labels.slice();
  }

  /** Values per feature frame (log-mel bands). */
  get nFeatures() {
    return this._nFeatures;
  }

  /** Current thresholds by label (null: never reported). */
  get thresholds() {
    return { ...this._thresholds };
  }

  /** Seconds between feature frames. */
  get hopSeconds() {
    return this._hopSeconds;
  }

  /** What the worklet heard in the last session started with `record` (mono, at the
   * context's rate, up to that many seconds), once stop() has resolved; otherwise null. */
  get recording() {
    return this._recording;
  }

  /** 'sab' or 'port' once started. */
  get transport() {
    return this._session?.transport ?? null;
  }

  /**
   * Subscribes to 'keyword' ({keyword, start, end, score}), 'scores' ({scores, labels}),
   * 'features' ({features: Float32Array, nFeatures}), 'stats' ({quanta, late, maxQuantumMs,
   * underruns, droppedFrames, droppedSeconds, rejected, transport, inference}) or 'error'
   * ({message}); with an anomaly model, 'anomaly' ({event: 'anomaly', start, end, peak}, as
   * `hark score --json`) and 'anomalyScores' ({times, scores, smoothed, threshold}: every
   * frame scored) instead of 'keyword', and 'scores' carries the latest smoothed score.
   * Returns a function that unsubscribes.
   */
  on(type, listener) {
    if (!this._listeners.has(type)) this._listeners.set(type, new Set());
    this._listeners.get(type).add(listener);
    return () => this._listeners.get(type)?.delete(listener);
  }

  _emit(type, value) {
    for (const l of this._listeners.get(type) ?? []) l(value);
  }

  /** Sets a label's threshold: in 0..1 for a keyword model, any value >= 0 for an anomaly
   * model (label 'anomaly', on the smoothed score); null never reports it. */
  setThreshold(label, value) {
    if (!this._labels.includes(label)) throw new RangeError(`unknown label ${label}`);
    const top = this._kind === 'anomaly' ? Infinity : 1;
    if (value !== null && !(value >= 0 && value <= top)) {
      throw new RangeError(`threshold ${value} is outside 0..${top === 1 ? 1 : 'Infinity'}`);
    }
    this._thresholds[label] = value;
    this._worker.postMessage({ type: 'threshold', label, value });
  }

  /**
   * Starts listening. `source`: nothing (the microphone, asked for with MICROPHONE_CONSTRAINTS),
   * a MediaStream, or an AudioNode of `options.context`. `options.context`: an AudioContext to
   * use (by default one at the device's rate is created, and closed by stop()).
   * `options.record`: seconds of input to keep (see `recording`), for comparing the page with
   * `hark detect` on exactly what it heard.
   */
  async start(source, options = {}) {
    if (this._session) throw new Error('already started');
    if (options.record !== undefined && !(options.record >= 0 && options.record <= 3600)) {
      throw new RangeError(`record ${options.record} is outside 0..3600 seconds`);
    }
    this._recording = null;
    const ownContext = !options.context;
    const context = options.context ?? new AudioContext({ latencyHint: 'interactive' });
    // Our own context stays suspended until the worklet is built: instantiating the Wasm
    // module runs on the audio thread and would otherwise make the output run dry (measured:
    // 4 underruns, 40 ms, at every start).
    if (ownContext && context.state === 'running') await context.suspend();
    let stream = null;
    let node;
    if (source === undefined || source === null) {
      stream = await navigator.mediaDevices.getUserMedia({ audio: MICROPHONE_CONSTRAINTS, video: false });
      node = context.createMediaStreamSource(stream);
    } else if (typeof MediaStream !== 'undefined' && source instanceof MediaStream) {
      node = context.createMediaStreamSource(source);
    } else if (source instanceof AudioNode) {
      node = source;
    } else {
      throw new TypeError('source must be a MediaStream, an AudioNode or nothing (the microphone)');
    }
    await context.audioWorklet.addModule(here('worklet.js'));

    const useRing =
      this._transport === 'sab' ||
      (this._transport !== 'port' && globalThis.crossOriginIsolated && typeof SharedArrayBuffer === 'function');
    if (this._transport === 'sab' && !globalThis.crossOriginIsolated) {
      throw new Error('transport "sab" needs a cross-origin isolated page (COOP/COEP headers)');
    }
    const { createRing, FrameRing, H } = await import(here('ring.js'));
    const capacity = Math.max(16, Math.round(this._ringSeconds / this._hopSeconds));
    const ring = useRing ? createRing(capacity, this._nFeatures) : null;
    const worklet = new AudioWorkletNode(context, 'hark-features', {
      numberOfInputs: 1,
      numberOfOutputs: 1,
      outputChannelCount: [1],
      channelCountMode: 'max',
      processorOptions: { module: this._module, config: this._config, ring, record: options.record ?? 0 },
    });
    const session = {
      context,
      ownContext,
      stream,
      node,
      worklet,
      ring: ring ? new FrameRing(ring) : null,
      transport: useRing ? 'sab' : 'port',
      counters: { quanta: 0, late: 0, maxMs: 0, rejected: 0, dropped: 0 },
      inference: null,
      timer: null,
      H,
    };
    this._session = session;
    let workletReady;
    const built = new Promise((resolve) => {
      workletReady = resolve;
    });
    worklet.port.onmessage = (e) => {
      const m = e.data;
      if (m.type === 'ready') {
        workletReady(true);
      } else if (m.type === 'error') {
        workletReady(false);
        this._emit('error', { message: m.message });
      } else if (m.type === 'stats') {
        session.counters = m;
        this._emitStats();
      } else if (m.type === 'stopped') {
        if (m.recording) this._recording = m.recording;
        session.onStopped?.();
      }
    };
    worklet.onprocessorerror = () => {
      workletReady(false);
      this._emit('error', { message: 'the Hark worklet failed' });
    };
    if (useRing) {
      this._worker.postMessage({ type: 'start', ring });
      session.timer = setInterval(() => this._emitStats(), 250);
    } else {
      const channel = new MessageChannel();
      worklet.port.postMessage({ type: 'port', port: channel.port1 }, [channel.port1]);
      this._worker.postMessage({ type: 'start', port: channel.port2 }, [channel.port2]);
    }
    await built;
    node.connect(worklet);
    // The worklet writes silence; connecting it keeps the graph pulling it.
    worklet.connect(context.destination);
    if (context.state !== 'running') await context.resume();
    return { sampleRate: context.sampleRate, transport: session.transport };
  }

  _emitStats() {
    const stats = this._stats();
    if (stats) this._emit('stats', stats);
  }

  _stats() {
    const s = this._session;
    if (!s) return null;
    let c = s.counters;
    if (s.ring) {
      const h = s.ring.header;
      const H = s.H;
      c = {
        quanta: Atomics.load(h, H.QUANTA),
        late: Atomics.load(h, H.LATE),
        maxMs: Atomics.load(h, H.MAX_MS),
        rejected: Atomics.load(h, H.REJECTED),
        dropped: Atomics.load(h, H.DROPPED),
      };
    }
    const playback = s.context.playbackStats;
    return {
      quanta: c.quanta,
      late: c.late,
      maxQuantumMs: c.maxMs,
      underruns: playback ? playback.underrunEvents : null,
      underrunSeconds: playback ? playback.underrunDuration : null,
      rejected: c.rejected,
      droppedFrames: c.dropped,
      droppedSeconds: c.dropped * this._hopSeconds,
      transport: s.transport,
      sampleRate: s.context.sampleRate,
      inference: s.inference,
    };
  }

  _fromWorker(m) {
    if (m.type === 'keyword') {
      const { type, ...event } = m;
      this._emit('keyword', event);
    } else if (m.type === 'anomaly') {
      const { type, ...event } = m;
      this._emit('anomaly', event);
    } else if (m.type === 'frames') {
      if (this._session) this._session.lastRunMs = m.ms;
      this._emit('features', { features: m.features, nFeatures: this._nFeatures });
      if (this._kind === 'anomaly') {
        // [time, score, smoothed] per frame scored.
        const n = m.scores.length / 3;
        const pick = (k) => Float32Array.from({ length: n }, (_, i) => m.scores[3 * i + k]);
        const frames = { times: pick(0), scores: pick(1), smoothed: pick(2), threshold: this._thresholds.anomaly };
        if (n > 0) {
          this._emit('anomalyScores', frames);
          this._emit('scores', { scores: [frames.smoothed[n - 1]], labels: this._labels });
        }
      } else {
        this._emit('scores', { scores: m.scores, labels: this._labels });
      }
    } else if (m.type === 'finished') {
      const { type, ...inference } = m;
      if (this._session) this._session.inference = inference;
      this._finished?.(inference);
    } else if (m.type === 'error') {
      this._emit('error', { message: m.message });
    }
  }

  /** Stops listening: flushes the frames in flight, emits the last events and final stats,
   * releases the microphone. Resolves with the stats. */
  async stop() {
    const s = this._session;
    if (!s) return null;
    const stopped = new Promise((resolve) => {
      s.onStopped = resolve;
      setTimeout(resolve, 1000);
    });
    s.worklet.port.postMessage({ type: 'stop' });
    await stopped;
    const finished = new Promise((resolve) => {
      this._finished = resolve;
    });
    this._worker.postMessage({ type: 'stop' });
    await finished;
    this._finished = null;
    clearInterval(s.timer);
    this._emitStats();
    const stats = this._stats();
    s.node.disconnect(s.worklet);
    s.worklet.disconnect();
    for (const track of s.stream?.getTracks() ?? []) track.stop();
    if (s.ownContext) await s.context.close();
    this._session = null;
    return stats;
  }

  /** Stops and ends the Worker. */
  async close() {
    await this.stop();
    this._worker.terminate();
  }
}
