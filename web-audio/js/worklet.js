// The audio-thread half of Hark in the browser: an AudioWorkletProcessor that runs the Rust
// front end (resampling + features, `FeatureStream`) on every 128-frame quantum and hands the
// frames to the Worker that runs the model, through a SharedArrayBuffer ring or, where the
// page is not cross-origin isolated, through a MessagePort.
//
// The Wasm module arrives compiled (processorOptions.module) and is instantiated
// synchronously here: this scope has no fetch, and no TextDecoder either (polyfill.js).
import './polyfill.js';
import { initSync, FeatureStream } from './hark_web_audio.js';
import { FrameRing, H } from './ring.js';

const STATS_EVERY = 375; // quanta between stats messages in port mode (1 s at 48 kHz)
const BATCH_FRAMES = 8; // frames per message in port mode (80 ms at a 10 ms hop)

class HarkFeatures extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { module, config, ring, record } = options.processorOptions;
    this.running = true;
    try {
      const wasm = initSync({ module });
      this.memory = wasm.memory;
      this.stream = new FeatureStream(sampleRate, config, 128);
    } catch (e) {
      this.running = false;
      this.port.postMessage({ type: 'error', message: `worklet: ${e?.message ?? e}` });
      return;
    }
    this.width = this.stream.n_features();
    this.inPtr = this.stream.input_ptr();
    this.outPtr = this.stream.output_ptr();
    this.maxFrames = this.stream.max_frames();
    this.views();
    this.ring = ring ? new FrameRing(ring) : null;
    // Port mode: frames are batched in a preallocated array; the counters live here.
    this.batch = new Float32Array(BATCH_FRAMES * this.width);
    this.batched = 0;
    this.workerPort = null;
    this.counters = { quanta: 0, late: 0, maxMs: 0, rejected: 0, frames: 0, dropped: 0 };
    this.lastError = null;
    // Optional recording of what the worklet hears (mono, at the context's rate), preallocated
    // here so that process() only copies into it.
    this.recording = record > 0 ? new Float32Array(Math.ceil(record * sampleRate)) : null;
    // Written once here so that the system maps its pages now, not during process().
    this.recording?.fill(0);
    this.recorded = 0;
    this.port.onmessage = (e) => {
      if (e.data.type === 'port') this.workerPort = e.data.port;
      if (e.data.type === 'stop') this.stop();
    };
    this.port.postMessage({ type: 'ready' });
  }

  // Views of the Wasm buffers; remade only if the memory grew (which detaches the old ones).
  views() {
    this.input = new Float32Array(this.memory.buffer, this.inPtr, 128);
    this.output = new Float32Array(this.memory.buffer, this.outPtr, this.maxFrames * this.width);
  }

  ensureViews() {
    if (this.input.buffer !== this.memory.buffer || this.input.byteLength === 0) this.views();
  }

  stop() {
    if (!this.running) return;
    this.running = false;
    // The resampler's tail: the last milliseconds heard, as native hark flushes at the end
    // of a file (so that the page and hark on what the page heard end alike).
    this.ensureViews();
    const tail = this.stream.finish();
    if (tail > 0) this.deliver(tail);
    if (this.workerPort && this.batched > 0) {
      this.workerPort.postMessage(this.batch.slice(0, this.batched * this.width));
      this.batched = 0;
    }
    this.postStats();
    if (this.recording) {
      const samples = this.recording.subarray(0, this.recorded);
      this.port.postMessage({ type: 'stopped', recording: { sampleRate, samples } }, [this.recording.buffer]);
      this.recording = null;
    } else {
      this.port.postMessage({ type: 'stopped' });
    }
  }

  postStats() {
    if (!this.ring) this.port.postMessage({ type: 'stats', ...this.counters });
  }

  count(slot, value) {
    if (this.ring) Atomics.add(this.ring.header, slot, value);
    else {
      const c = this.counters;
      if (slot === H.QUANTA) c.quanta += value;
      else if (slot === H.LATE) c.late += value;
      else if (slot === H.REJECTED) c.rejected += value;
    }
  }

  process(inputs) {
    if (!this.running) return false;
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true; // nothing connected yet
    const t0 = Date.now();
    this.ensureViews();
    const n = channels[0].length;
    const input = this.input;
    if (channels.length === 1) {
      input.set(channels[0]);
    } else {
      // Mix down: the fake and many real microphones arrive as stereo.
      const scale = 1 / channels.length;
      for (let i = 0; i < n; i++) {
        let s = 0;
        for (let c = 0; c < channels.length; c++) s += channels[c][i];
        input[i] = s * scale;
      }
    }
    if (this.recording && this.recorded < this.recording.length) {
      // A plain loop: subarray() would allocate a view object every quantum.
      const rec = this.recording;
      const take = Math.min(n, rec.length - this.recorded);
      for (let i = 0; i < take; i++) rec[this.recorded + i] = input[i];
      this.recorded += take;
    }
    let frames = 0;
    try {
      frames = this.stream.process(n);
    } catch (e) {
      this.count(H.REJECTED, 1);
      if (this.lastError === null) {
        this.lastError = String(e?.message ?? e);
        this.port.postMessage({ type: 'error', message: `worklet: ${this.lastError}` });
      }
    }
    if (frames > 0) this.deliver(frames);

    const ms = Date.now() - t0;
    this.count(H.QUANTA, 1);
    if (ms >= 3) this.count(H.LATE, 1);
    if (this.ring) {
      if (ms > Atomics.load(this.ring.header, H.MAX_MS)) Atomics.store(this.ring.header, H.MAX_MS, ms);
    } else {
      if (ms > this.counters.maxMs) this.counters.maxMs = ms;
      if (this.counters.quanta % STATS_EVERY === 0) this.postStats();
    }
    return true;
  }

  deliver(frames) {
    const out = this.output;
    if (this.ring) {
      this.ring.write(out, frames);
      return;
    }
    this.counters.frames += frames;
    const width = this.width;
    for (let f = 0; f < frames; f++) {
      const at = this.batched * width;
      for (let k = 0; k < width; k++) this.batch[at + k] = out[f * width + k];
      this.batched += 1;
      if (this.batched === BATCH_FRAMES) {
        // Port mode allocates one message per 80 ms; the ring mode allocates nothing.
        if (this.workerPort) this.workerPort.postMessage(this.batch.slice());
        else this.counters.dropped += BATCH_FRAMES;
        this.batched = 0;
      }
    }
  }
}

registerProcessor('hark-features', HarkFeatures);
