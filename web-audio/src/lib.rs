//! Hark in the browser: one Wasm module (wasm-bindgen) used in two places.
//!
//! - [`FeatureStream`] runs in the `AudioWorkletProcessor`, on the audio thread: it takes each
//!   128-frame quantum at the context's rate, resamples it and computes the model's features
//!   with `hark-dsp`. It reads its input from and writes its frames to buffers inside the Wasm
//!   memory (`input_ptr`, `output_ptr`), so a quantum costs no allocation on either side, and
//!   it exports only numeric functions after construction.
//! - [`Spotter`] runs in a module Worker: the rest of [`hark_detector::Pipeline`] (model,
//!   smoothing, thresholds, refractory time) on the frames the worklet hands over through a
//!   ring (`SharedArrayBuffer` when the page is cross-origin isolated, `MessagePort` messages
//!   otherwise). The model runs off the audio thread: its cost per run (about 0.5 ms here, with
//!   rare far longer outliers) is too close to a quantum's 2.67 ms budget at 48 kHz.
//! - [`Monitor`] runs in the Worker instead of [`Spotter`] for an anomaly model fitted to
//!   sound (`hark fit --preset audio` or `vibration`): the rest of
//!   [`hark_detector::AnomalyScorer`] (window, autoencoder, error, smoothing, threshold) on the
//!   same frames, scores and events out. [`model_kind`] tells which of the two a model needs.
//! - [`Detector`] is the whole pipeline (samples in, events out) for files and benchmarks.
//!
//! The JavaScript API around them (`web-audio/js/hark.js`, typed by `hark.d.ts`) wires the
//! worklet, the Worker and the microphone together; `web-audio/scripts/build.sh` builds it.

use hark_detector::{
    AnomalyEvent, AnomalyInput, AnomalyModel, AnomalyOutput, AnomalyScorer, DetectorParams, Event,
    KwsModel, Pipeline,
};
use hark_dsp::{FeatureConfig, Frontend, SampleRate};
use js_sys::{Array, Float32Array, Object, Reflect};
use wasm_bindgen::prelude::*;

/// The module's static constructors, run once per instance.
///
/// tract registers its kernels, operators and model transforms with `inventory`, whose
/// entries are static constructors (113 in this module). wasm-ld collects them in a
/// synthetic `__wasm_call_ctors`, and when no export calls that function it takes the module
/// for a command, run once, and wraps *every* export with a call to it: each quantum of the
/// worklet and each push of the Worker ran all 113 again (each returns early after the first,
/// inventory's own guard). Calling it here, from wasm-bindgen's start function, which the glue
/// runs right after instantiation (`initSync` too), is what inventory's documentation asks of
/// a module called into many times: the linker then leaves the exports alone.
#[cfg(target_family = "wasm")]
#[allow(unsafe_code)]
mod constructors {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }

    #[wasm_bindgen::prelude::wasm_bindgen(start)]
    fn start() {
        // SAFETY: the linker's own function, with no arguments; it runs before any other
        // export (the glue calls the start function first), and inventory's constructors
        // are idempotent should it ever run twice.
        unsafe { __wasm_call_ctors() }
    }
}

fn rate(hz: u32) -> Result<SampleRate, JsError> {
    SampleRate::new(hz).ok_or_else(|| JsError::new("the sample rate must be positive"))
}

/// The model's bytes, or the bundled 12-class streaming model (the page listens to streams;
/// the window model, for clips, is not linked into the module).
fn load(model: Option<Vec<u8>>) -> Result<KwsModel, JsError> {
    Ok(match model {
        Some(bytes) => KwsModel::from_bytes(&bytes)?,
        None => KwsModel::bundled_stream()?,
    })
}

/// Events as plain JS objects `{keyword, start, end, score}`, the shape of `hark detect --json`.
fn events_to_js(events: &[Event]) -> Array {
    objects(events, |e| {
        [
            ("keyword", e.keyword.as_str().into()),
            ("start", e.start.into()),
            ("end", e.end.into()),
            ("score", f64::from(e.score).into()),
        ]
    })
}

/// An array of plain JS objects, one per item, with the properties `fields` gives it.
fn objects<T, const N: usize>(
    items: &[T],
    fields: impl Fn(&T) -> [(&'static str, JsValue); N],
) -> Array {
    let out = Array::new();
    for item in items {
        let o = Object::new();
        for (key, value) in fields(item) {
            // Setting a property on a fresh plain object cannot fail.
            let _ = Reflect::set(&o, &key.into(), &value);
        }
        out.push(&o);
    }
    out
}

/// The audio-thread half: samples of one channel at the context's rate in, feature frames out.
///
/// Build it once with the model's feature config (its text form, [`Spotter::feature_config`]),
/// then for each quantum write the samples into the Wasm memory at [`input_ptr`] and call
/// [`process`]; the frames it completed are at [`output_ptr`], `n_features` values each.
/// Nothing is allocated after construction.
///
/// [`input_ptr`]: FeatureStream::input_ptr
/// [`process`]: FeatureStream::process
/// [`output_ptr`]: FeatureStream::output_ptr
#[wasm_bindgen]
pub struct FeatureStream {
    frontend: Frontend,
    input: Vec<f32>,
    output: Vec<f32>,
    n_features: usize,
    max_frames: usize,
}

/// A frame sink for [`FeatureStream`]: copies each frame (`width` values) into the next slot
/// of `output` and counts it. The bound `FeatureStream::new` computes keeps every frame of a
/// block within `output`; a frame beyond it would be dropped, never written out of bounds.
fn copy_frames<'a>(
    output: &'a mut [f32],
    width: usize,
    count: &'a mut usize,
) -> impl FnMut(&[f32]) + 'a {
    move |frame| {
        let at = *count * width;
        if let Some(slot) = output.get_mut(at..at + width) {
            slot.copy_from_slice(frame);
            *count += 1;
        }
    }
}

#[wasm_bindgen]
impl FeatureStream {
    /// A front end for `input_rate` samples arriving in blocks of at most `block_len`.
    #[wasm_bindgen(constructor)]
    pub fn new(input_rate: u32, config: &str, block_len: usize) -> Result<FeatureStream, JsError> {
        let config: FeatureConfig = config.parse()?;
        let n_features = config.n_features();
        let hop = config.hop_length;
        let frontend = Frontend::new(rate(input_rate)?, config)?;
        let block_len = block_len.max(1);
        // Frames one block can complete: every resampler chunk it finishes, plus the
        // samples already waiting in the extractor.
        let resampler = frontend.resampler();
        let chunks = block_len / resampler.chunk_len().max(1) + 2;
        let samples = chunks * resampler.max_block_len().max(block_len);
        let max_frames = samples / hop + 2;
        Ok(FeatureStream {
            frontend,
            input: vec![0.0; block_len],
            output: vec![0.0; max_frames * n_features],
            n_features,
            max_frames,
        })
    }

    /// Where to write a block's samples (`block_len` floats in the Wasm memory).
    pub fn input_ptr(&mut self) -> *mut f32 {
        self.input.as_mut_ptr()
    }

    /// Where [`process`](Self::process) leaves the frames it completed.
    pub fn output_ptr(&self) -> *const f32 {
        self.output.as_ptr()
    }

    /// The largest block [`process`](Self::process) takes.
    pub fn block_len(&self) -> usize {
        self.input.len()
    }

    /// Values per frame.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Room at [`output_ptr`](Self::output_ptr), in frames.
    pub fn max_frames(&self) -> usize {
        self.max_frames
    }

    /// Runs the first `n` samples at [`input_ptr`](Self::input_ptr); returns how many frames
    /// are now at [`output_ptr`](Self::output_ptr). A block with a NaN or infinite sample is
    /// rejected whole with an error (and nothing of it is used).
    pub fn process(&mut self, n: usize) -> Result<usize, JsError> {
        let n = n.min(self.input.len());
        let mut count = 0;
        let sink = copy_frames(&mut self.output, self.n_features, &mut count);
        self.frontend.process(&self.input[..n], sink)?;
        Ok(count)
    }

    /// Ends the stream: flushes the resampler's tail (the last few milliseconds of input,
    /// still in its filter) through the extractor, as native `hark` does at the end of a
    /// file; returns how many frames that completed, now at [`output_ptr`](Self::output_ptr).
    /// The state is then reset for a new stream.
    pub fn finish(&mut self) -> usize {
        // The tail is less than one resampler chunk plus its delay: within the bound `new`
        // sized for a block.
        let mut count = 0;
        self.frontend
            .finish(copy_frames(&mut self.output, self.n_features, &mut count));
        count
    }

    /// Forgets all state (a new stream).
    pub fn reset(&mut self) {
        self.frontend.reset();
    }
}

/// The Worker half: feature frames in, keyword events and per-label scores out.
#[wasm_bindgen]
pub struct Spotter {
    pipeline: Pipeline,
    events: Vec<Event>,
}

#[wasm_bindgen]
impl Spotter {
    /// A spotter for a model given as the bytes of an ONNX file, or the bundled 12-class
    /// streaming model when `model` is undefined. Runs one inference so the first real one is not slow.
    #[wasm_bindgen(constructor)]
    pub fn new(model: Option<Vec<u8>>) -> Result<Spotter, JsError> {
        let model = load(model)?;
        // A front end at the model's own rate: the frames come from a FeatureStream.
        let rate = model.feature_config().sample_rate;
        let silence = vec![0.0; model.input_len()];
        let mut probs = vec![0.0; model.labels().len()];
        if model.step_frames().is_none() {
            model.predict_into(&silence, &mut probs)?;
        }
        let pipeline = Pipeline::new(model, rate, DetectorParams::default())?;
        Ok(Spotter {
            pipeline,
            events: Vec::new(),
        })
    }

    /// The model's feature config, in the text form [`FeatureStream::new`] takes.
    pub fn feature_config(&self) -> String {
        self.pipeline.model().feature_config().to_string()
    }

    /// Values per frame.
    pub fn n_features(&self) -> usize {
        self.pipeline.model().feature_config().n_features()
    }

    /// Seconds between frames.
    pub fn hop_seconds(&self) -> f64 {
        let config = self.pipeline.model().feature_config();
        config.hop_length as f64 / f64::from(config.sample_rate.hz())
    }

    /// The model's labels, in score order.
    pub fn labels(&self) -> Vec<String> {
        self.pipeline.model().labels().to_vec()
    }

    /// The model's recommended thresholds, in label order (NaN: never reported).
    pub fn default_thresholds(&self) -> Vec<f32> {
        let model = self.pipeline.model();
        model
            .thresholds()
            .iter()
            .map(|t| t.unwrap_or(f32::NAN))
            .collect()
    }

    /// Sets one label's threshold, in 0..=1; `undefined` never reports it.
    pub fn set_threshold(&mut self, label: &str, threshold: Option<f32>) -> Result<(), JsError> {
        Ok(self.pipeline.set_threshold(label, threshold)?)
    }

    /// Runs whole frames (`n_features` values each); returns the events they completed.
    pub fn push_features(&mut self, frames: &[f32]) -> Result<Array, JsError> {
        let events = &mut self.events;
        events.clear();
        self.pipeline.push_features(frames, |e| events.push(e))?;
        Ok(events_to_js(events))
    }

    /// The latest smoothed probabilities, in label order.
    pub fn scores(&self) -> Float32Array {
        Float32Array::from(self.pipeline.scores())
    }

    /// Ends the stream. A keyword stream of frames holds nothing back (an event is reported
    /// at the frame that crosses its threshold), so this returns no events; it is here so the
    /// Worker ends a `Spotter` and a [`Monitor`] (whose scorer does hold frames) alike.
    pub fn finish(&mut self) -> Array {
        Array::new()
    }
}

/// The `hark.kind` of a model's bytes: `kws`, `kws-stream` (a [`Spotter`]) or `anomaly` (a
/// [`Monitor`]).
#[wasm_bindgen]
pub fn model_kind(model: &[u8]) -> Result<String, JsError> {
    Ok(hark_detector::model_kind(model)?)
}

/// Anomaly events as plain JS objects `{event: "anomaly", start, end, peak}`, the shape of
/// `hark score --json`.
fn anomaly_events_to_js(events: &[AnomalyEvent]) -> Array {
    objects(events, |e| {
        [
            ("event", "anomaly".into()),
            ("start", e.start.into()),
            ("end", e.end.into()),
            ("peak", f64::from(e.peak).into()),
        ]
    })
}

/// Clears `scores` and `events`, and returns a sink for an [`AnomalyScorer`]'s outputs that
/// fills them (`[time, score, smoothed]` per frame, and the events).
fn anomaly_sink<'a>(
    scores: &'a mut Vec<f32>,
    events: &'a mut Vec<AnomalyEvent>,
) -> impl FnMut(AnomalyOutput) + 'a {
    scores.clear();
    events.clear();
    move |o| match o {
        AnomalyOutput::Score(s) => scores.extend([s.time as f32, s.score, s.smoothed]),
        AnomalyOutput::Event(e) => events.push(e),
    }
}

/// The Worker half for an anomaly model: feature frames in, per-frame scores and anomaly
/// events out.
#[wasm_bindgen]
pub struct Monitor {
    scorer: AnomalyScorer,
    config: FeatureConfig,
    /// `[time, score, smoothed]` of each frame scored by the last call.
    scores: Vec<f32>,
    events: Vec<AnomalyEvent>,
}

#[wasm_bindgen]
impl Monitor {
    /// A monitor for an anomaly model's bytes; the model must score sound (features), not
    /// raw values.
    #[wasm_bindgen(constructor)]
    pub fn new(model: &[u8]) -> Result<Monitor, JsError> {
        let model = AnomalyModel::from_bytes(model)?;
        let AnomalyInput::Features(config) = model.input().clone() else {
            return Err(JsError::new(
                "this anomaly model scores values (hark fit --preset metric), not sound: \
                 fit one with --preset audio or vibration",
            ));
        };
        if model.channels() > 1 {
            return Err(JsError::new(&format!(
                "this anomaly model reads {} channels side by side (hark fit on a \
                 multi-channel recording), but the page hears one microphone: fit it with \
                 --channel K or --mix",
                model.channels()
            )));
        }
        // A front end at the model's own rate: the frames come from a FeatureStream.
        let scorer = AnomalyScorer::new(model, config.sample_rate)?;
        Ok(Monitor {
            scorer,
            config,
            scores: Vec::new(),
            events: Vec::new(),
        })
    }

    /// The model's feature config, in the text form [`FeatureStream::new`] takes.
    pub fn feature_config(&self) -> String {
        self.config.to_string()
    }

    /// Values per frame.
    pub fn n_features(&self) -> usize {
        self.config.n_features()
    }

    /// Seconds between frames.
    pub fn hop_seconds(&self) -> f64 {
        self.config.hop_length as f64 / f64::from(self.config.sample_rate.hz())
    }

    /// The threshold in use (the model's, calibrated by `hark fit`, until set).
    pub fn threshold(&self) -> f32 {
        self.scorer.threshold()
    }

    /// Replaces the threshold (>= 0; infinity: never an event).
    pub fn set_threshold(&mut self, threshold: f32) -> Result<(), JsError> {
        Ok(self.scorer.set_threshold(threshold)?)
    }

    /// Runs whole frames (`n_features` values each); returns the events they ended. The
    /// frames' scores are then in [`scores`](Self::scores).
    pub fn push_features(&mut self, frames: &[f32]) -> Result<Array, JsError> {
        let sink = anomaly_sink(&mut self.scores, &mut self.events);
        self.scorer.push_frames(frames, sink)?;
        Ok(anomaly_events_to_js(&self.events))
    }

    /// `[time, score, smoothed]` for each frame scored by the last call, flattened.
    pub fn scores(&self) -> Float32Array {
        // Copied once, into the JS array.
        Float32Array::from(&self.scores[..])
    }

    /// Ends the stream; returns an event still open.
    pub fn finish(&mut self) -> Result<Array, JsError> {
        let sink = anomaly_sink(&mut self.scores, &mut self.events);
        self.scorer.finish(sink)?;
        Ok(anomaly_events_to_js(&self.events))
    }
}

/// The whole pipeline in one place (samples in, events out), as `hark detect` runs it: for
/// files, and for the benchmark against the native build.
#[wasm_bindgen]
pub struct Detector {
    pipeline: Pipeline,
    events: Vec<Event>,
}

#[wasm_bindgen]
impl Detector {
    /// A detector for samples at `input_rate`, with the model's bytes or the bundled streaming
    /// model.
    #[wasm_bindgen(constructor)]
    pub fn new(model: Option<Vec<u8>>, input_rate: u32) -> Result<Detector, JsError> {
        let pipeline = Pipeline::new(load(model)?, rate(input_rate)?, DetectorParams::default())?;
        Ok(Detector {
            pipeline,
            events: Vec::new(),
        })
    }

    /// Pushes samples; returns the events they completed.
    pub fn push(&mut self, samples: &[f32]) -> Result<Array, JsError> {
        let events = &mut self.events;
        events.clear();
        self.pipeline.push(samples, |e| events.push(e))?;
        Ok(events_to_js(events))
    }

    /// Pushes samples and only counts the events (no JS objects: for benchmarks).
    pub fn push_count(&mut self, samples: &[f32]) -> Result<usize, JsError> {
        let mut n = 0;
        self.pipeline.push(samples, |_| n += 1)?;
        Ok(n)
    }

    /// Ends the stream; returns the last events.
    pub fn finish(&mut self) -> Result<Array, JsError> {
        let events = &mut self.events;
        events.clear();
        self.pipeline.finish(|e| events.push(e))?;
        Ok(events_to_js(events))
    }
}
