// Types of Hark's browser API (hark.js).

/** A keyword detected in the stream, in the shape of `hark detect --json`. */
export interface KeywordEvent {
  keyword: string;
  /** Seconds from the start of listening: start of the model window that fired. */
  start: number;
  /** Seconds from the start of listening: when the detection became possible. */
  end: number;
  /** The smoothed probability that crossed the threshold. */
  score: number;
}

export interface ScoresEvent {
  /** Smoothed probabilities, in `labels` order. */
  scores: Float32Array;
  labels: string[];
}

export interface FeaturesEvent {
  /** New log-mel frames, `nFeatures` values each, oldest first. */
  features: Float32Array;
  nFeatures: number;
}

export interface InferenceStats {
  framesSeen: number;
  runs: number;
  medianMs: number;
  p99Ms: number;
  maxMs: number;
}

export interface Stats {
  /** Render quanta (128 frames) the worklet processed. */
  quanta: number;
  /** Quanta whose processing took 3 ms or more of wall time (the budget is 2.67 ms at 48 kHz;
   * the time includes any preemption of the audio thread by the system). */
  late: number;
  maxQuantumMs: number;
  /** Times the context's output ran dry (AudioContext.playbackStats.underrunEvents: the audio
   * graph, worklet included, missed its real deadline), and their total seconds; null where
   * the browser lacks playbackStats. Updated about once a second. */
  underruns: number | null;
  underrunSeconds: number | null;
  /** Quanta rejected for a NaN or infinite sample. */
  rejected: number;
  /** Feature frames the Worker could not take in time (the ring was full). */
  droppedFrames: number;
  droppedSeconds: number;
  transport: 'sab' | 'port';
  sampleRate: number;
  /** Timings of the Worker's calls into the pipeline, after stop(): with 'port' each call is
   * a batch of 8 frames with one model run; with 'sab' a call takes what the ring holds, often
   * one frame, and only every 8th frame runs the model. */
  inference: InferenceStats | null;
}

/** An anomaly event, the shape of `hark score --json`: the first and last frame above the
 * threshold (seconds from the start of listening) and the highest smoothed score. */
export interface AnomalyEvent {
  event: 'anomaly';
  start: number;
  end: number;
  peak: number;
}

/** The frames an anomaly model scored since the last such event. */
export interface AnomalyScoresEvent {
  /** End of each frame, seconds from the start of listening. */
  times: Float32Array;
  /** Reconstruction error of the window ending with the frame. */
  scores: Float32Array;
  /** Moving average of the scores, compared with the threshold. */
  smoothed: Float32Array;
  threshold: number | null;
}

export interface SpotterOptions {
  /** The ONNX model: a URL, or its bytes. Default: the bundled 12-class streaming model. An anomaly
   * model fitted to sound (`hark fit --preset audio|vibration`) makes a spotter of kind
   * 'anomaly'. */
  model?: string | URL | ArrayBuffer | Uint8Array;
  /** Where hark_web_audio_bg.wasm is (default: beside hark.js). */
  wasmUrl?: string | URL;
  /** Thresholds by label (0..1; null never reports the label). */
  thresholds?: Record<string, number | null>;
  /** How the worklet hands frames to the Worker: a SharedArrayBuffer ring ('sab', needs a
   * cross-origin isolated page) or MessagePort messages ('port'). Default: 'sab' where possible. */
  transport?: 'sab' | 'port';
  /** Ring length in seconds of frames (default 2). */
  ringSeconds?: number;
}

export interface StartOptions {
  /** An AudioContext to use; by default one is created (and closed by stop()). */
  context?: AudioContext;
  /** Seconds of input to keep (mono, at the context's rate; the buffer is allocated when
   * listening starts), read from `Spotter.recording` after stop(). Default 0: none. */
  record?: number;
}

/** What the worklet heard, after mixing to mono, at the context's rate. */
export interface Recording {
  sampleRate: number;
  samples: Float32Array;
}

/** The constraints used for the microphone: echo cancellation, noise suppression, auto gain off. */
export const MICROPHONE_CONSTRAINTS: Readonly<MediaTrackConstraints>;

export function createSpotter(options?: SpotterOptions): Promise<Spotter>;

export class Spotter {
  private constructor();
  /** 'kws', or 'anomaly' for an anomaly model (one label, 'anomaly'; its threshold is on the
   * smoothed reconstruction error, any value >= 0). */
  readonly kind: 'kws' | 'anomaly';
  readonly labels: string[];
  readonly nFeatures: number;
  readonly hopSeconds: number;
  readonly thresholds: Record<string, number | null>;
  readonly transport: 'sab' | 'port' | null;
  /** The last session's recording (see StartOptions.record), once stop() has resolved. */
  readonly recording: Recording | null;
  on(type: 'keyword', listener: (e: KeywordEvent) => void): () => void;
  on(type: 'scores', listener: (e: ScoresEvent) => void): () => void;
  on(type: 'features', listener: (e: FeaturesEvent) => void): () => void;
  on(type: 'stats', listener: (e: Stats) => void): () => void;
  on(type: 'anomaly', listener: (e: AnomalyEvent) => void): () => void;
  on(type: 'anomalyScores', listener: (e: AnomalyScoresEvent) => void): () => void;
  on(type: 'error', listener: (e: { message: string }) => void): () => void;
  /** 0..1 for a keyword model, >= 0 for an anomaly model (label "anomaly"); null: never. */
  setThreshold(label: string, value: number | null): void;
  /** Listens to the microphone (no source), a MediaStream, or an AudioNode of options.context. */
  start(source?: MediaStream | AudioNode | null, options?: StartOptions): Promise<{ sampleRate: number; transport: 'sab' | 'port' }>;
  stop(): Promise<Stats | null>;
  close(): Promise<void>;
}
