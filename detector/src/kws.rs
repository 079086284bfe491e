//! Keyword spotting on a clip ([`KwsModel::classify`]) and on a stream ([`Pipeline`]).

use hark_dsp::{Frontend, SampleRate};

use crate::error::{DetectorError, check};
use crate::model::{KwsModel, StreamState};

/// The answer for one clip.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// The winning label.
    pub label: String,
    /// Its probability.
    pub score: f32,
    /// Every label's probability, in the model's label order.
    pub probabilities: Vec<f32>,
}

impl KwsModel {
    /// Classifies a clip of any rate; a clip of no samples is [`DetectorError::EmptyClip`]. A
    /// clip shorter than the model's window is padded with silence on both sides (as in
    /// training); a longer one is scanned with windows every 50 ms, and the most confident
    /// window that names a keyword at or above its threshold wins; failing that, the most
    /// confident window of other speech (`_unknown_`, or a keyword below its threshold), then
    /// of `_silence_`.
    pub fn classify(
        &self,
        samples: &[f32],
        rate: SampleRate,
    ) -> Result<Classification, DetectorError> {
        // No audio is no clip (padding it would call it `_silence_`).
        if samples.is_empty() {
            return Err(DetectorError::EmptyClip { samples: 0 });
        }
        let config = self.feature_config();
        let mut frontend = Frontend::new(rate, config.clone())?;
        // Samples at the input rate that make one full window at the feature rate.
        let window_samples = config.frame_length + (self.window_frames() - 1) * config.hop_length;
        let needed = (window_samples as u64 * u64::from(rate.hz()))
            .div_ceil(u64::from(config.sample_rate.hz())) as usize
            + 1;
        let pad = needed.saturating_sub(samples.len());
        let mut padded = Vec::with_capacity(samples.len() + pad);
        padded.resize(pad / 2, 0.0);
        padded.extend_from_slice(samples);
        padded.resize(samples.len() + pad, 0.0);
        let mut frames = Vec::new();
        frontend.process(&padded, |f| frames.extend_from_slice(f))?;
        frontend.finish(|f| frames.extend_from_slice(f));

        let n_features = config.n_features();
        let n_frames = frames.len() / n_features;
        let window = self.window_frames();
        if n_frames < window {
            return Err(DetectorError::EmptyClip {
                samples: samples.len(),
            });
        }
        // Windows rank by what they name: a keyword at or above its threshold, then other
        // speech (`_unknown_`, or a keyword below its threshold), then `_silence_`; within a
        // rank, the most confident window wins.
        let rank = |i: usize, p: f32| match self.thresholds()[i] {
            Some(t) if p >= t => 2u8,
            _ if self.labels()[i] == "_silence_" => 0,
            _ => 1,
        };
        let mut best: Option<(u8, f32, Vec<f32>)> = None;
        let stride = 5;
        let mut start = 0;
        loop {
            let probs = self.predict(&frames[start * n_features..(start + window) * n_features])?;
            let (top, score) = argmax(&probs);
            let candidate = (rank(top, score), score);
            let better = match &best {
                None => true,
                Some((r, s, _)) => candidate.0 > *r || (candidate.0 == *r && score > *s),
            };
            if better {
                best = Some((candidate.0, score, probs));
            }
            if start + window >= n_frames {
                break;
            }
            start = (start + stride).min(n_frames - window);
        }
        let (_, score, probabilities) = best.ok_or(DetectorError::EmptyClip {
            samples: samples.len(),
        })?;
        let (top, _) = argmax(&probabilities);
        Ok(Classification {
            label: self.labels()[top].clone(),
            score,
            probabilities,
        })
    }
}

fn argmax(values: &[f32]) -> (usize, f32) {
    values
        .iter()
        .copied()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (i, v)| {
            if v > best.1 { (i, v) } else { best }
        })
}

/// A keyword detected in a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// The keyword.
    pub keyword: String,
    /// Start of the model window in which it was detected, seconds from the stream start.
    pub start: f64,
    /// End of that window: the moment the detection was possible.
    pub end: f64,
    /// The smoothed probability when it crossed the threshold (the event is reported at that
    /// frame, so the score sits at or just above the threshold).
    pub score: f32,
}

/// The default [`DetectorParams::dense_from`]: denser runs from half the threshold.
pub const DENSE_FROM: f32 = 0.5;

/// How the stream detector turns probabilities into events.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectorParams {
    /// Run a window model every this many new frames (8 = every 80 ms at a 10 ms hop). A
    /// streaming model runs on its own step (`hark.step_frames`) and ignores this.
    pub stride_frames: usize,
    /// Average the probabilities over this many frames, rounded to a whole number of runs on
    /// the stride or step (24 = 240 ms: 3 runs of a stride-8 window model, 3 steps of an
    /// 8-frame streaming model); at least one run. A time average: each run stands for the
    /// frames since the one before it, so runs on every frame (see `dense_from`) weigh as
    /// much in all as runs on the stride. `None`: the model's own (`hark.smoothing_frames`;
    /// the bundled streaming model's is one step, as its scores already average 96 frames),
    /// else [`DEFAULT_SMOOTHING_FRAMES`].
    pub smoothing_frames: Option<usize>,
    /// While some keyword's smoothed probability is at least this share of its threshold, a
    /// window model runs every `dense_stride` frames instead of every `stride_frames`, so that the
    /// windows that decide an event do not depend on where the stream started (or on a
    /// frame lost or repeated upstream); `None`: always on the stride. Not in the refractory
    /// time after an event, where no event can fire: there the model stays on the stride
    /// until a smoothing span and a stride before the refractory time ends. A streaming
    /// model runs on its own step and ignores this.
    pub dense_from: Option<f32>,
    /// While near a threshold (`dense_from`), run every this many frames instead of
    /// `stride_frames`. The default, 1 (every frame), makes an event's windows the same
    /// whatever the start; 2 found as many keywords on the validation stream for 41 % less
    /// CPU there, but then events move with the start (on the bundled sample, an end by 3
    /// frames; on the stream, more events differ per later start: model card).
    pub dense_stride: usize,
    /// After an event, no other event for this many seconds.
    pub refractory: f64,
    /// After a keyword's event, that keyword fires again only once its smoothed score has
    /// fallen below this share of its threshold (the default, [`REARM`]: below the
    /// threshold, so every crossing from below is an event, outside the refractory time).
    pub rearm: f32,
    /// Per-label thresholds; `None` keeps the model's recommendation.
    pub thresholds: Option<Vec<Option<f32>>>,
    /// With a gate ([`Pipeline::with_gate`]): the window model runs only while some keyword's
    /// gate probability is at least this share of its threshold, or was in the last
    /// `gate_hold_frames`, or the window model's own smoothed score is near a threshold
    /// (`dense_from`). Ignored without a gate.
    pub gate_from: f32,
    /// With a gate: how many frames the window model keeps running after the gate's last
    /// step at or above `gate_from`.
    pub gate_hold_frames: usize,
}

impl DetectorParams {
    /// Checks that every value lies in its range (a NaN or a negative time would otherwise
    /// silently stop or flood the events): `refractory` finite and at least 0, `rearm` in
    /// (0, 1], `dense_from` and `gate_from` finite and at least 0, thresholds in 0..=1.
    /// [`Pipeline::new`] calls it.
    pub fn validate(&self) -> Result<(), DetectorError> {
        let r = self.refractory;
        check("refractory", r, r.is_finite() && r >= 0.0, "0.. seconds")?;
        let a = self.rearm;
        check("rearm", a.into(), a > 0.0 && a <= 1.0, "(0, 1]")?;
        if let Some(d) = self.dense_from {
            check("dense_from", d.into(), d.is_finite() && d >= 0.0, "0..")?;
        }
        let g = self.gate_from;
        check("gate_from", g.into(), g.is_finite() && g >= 0.0, "0..")?;
        for (k, t) in self.thresholds.iter().flatten().enumerate() {
            if let Some(t) = *t {
                check_threshold(&format!("threshold {k}"), t)?;
            }
        }
        Ok(())
    }
}

/// A keyword threshold lies in 0..=1 (a probability).
fn check_threshold(name: &str, t: f32) -> Result<(), DetectorError> {
    check(name, t.into(), (0.0..=1.0).contains(&t), "0..=1")
}

/// The default [`DetectorParams::rearm`]: a keyword fires again once its score has fallen
/// below its threshold. Half the threshold (before December 2026) lost keywords said twice
/// in a row: between two words 1.5 s apart the streaming model's score, an average of the
/// last 0.96 s, dips below the threshold but not below half of it. On the validation stream
/// (model card) re-arming below the threshold found 0.2 to 2.6 points more of the keywords, for
/// the same false events but for one repeat in one of four models.
pub const REARM: f32 = 1.0;

/// The smoothing span of a model that names none ([`DetectorParams::smoothing_frames`]).
pub const DEFAULT_SMOOTHING_FRAMES: usize = 24;

/// The default [`DetectorParams::gate_from`].
pub const GATE_FROM: f32 = 0.25;

impl Default for DetectorParams {
    fn default() -> Self {
        DetectorParams {
            stride_frames: 8,
            smoothing_frames: None,
            dense_from: Some(DENSE_FROM),
            dense_stride: 1,
            refractory: 1.0,
            rearm: REARM,
            thresholds: None,
            gate_from: GATE_FROM,
            gate_hold_frames: 48,
        }
    }
}

/// Samples in, keyword events out: resampling, features, the model (a streaming model on
/// each step of new frames with its cached state, or a window model on a window of recent
/// frames every `stride_frames`, and every `dense_stride` while a keyword is near its threshold),
/// posterior smoothing, per-keyword thresholds and a refractory time. A window model can run
/// behind a streaming one as its gate ([`Pipeline::with_gate`]), so that on background and
/// other sounds only the cheap streaming steps cost compute.
///
/// This is the one streaming API of Hark's front ends (the CLI and the browser build).
#[derive(Debug)]
pub struct Pipeline {
    frontend: Frontend,
    core: Core,
}

#[derive(Debug)]
struct Core {
    model: KwsModel,
    params: DetectorParams,
    thresholds: Vec<Option<f32>>,
    n_features: usize,
    window: Vec<f32>,
    filled: usize,
    state: Option<StreamState>,
    frames_seen: u64,
    since_run: usize,
    /// Model runs (or steps) so far.
    runs: u64,
    /// Running every `dense_stride` frames (see `DetectorParams::dense_from`).
    dense: bool,
    /// The probabilities of recent runs and the index of each run's last frame, in a ring
    /// with room for a run on every frame of the smoothing span.
    history: Vec<Vec<f32>>,
    history_frame: Vec<u64>,
    history_next: usize,
    history_len: usize,
    probs: Vec<f32>,
    smoothed: Vec<f32>,
    armed: Vec<bool>,
    last_event_end: f64,
    hop_seconds: f64,
    frame_seconds: f64,
    gate: Option<Gate>,
}

/// A streaming model that decides when the window model runs ([`Pipeline::with_gate`]).
#[derive(Debug)]
struct Gate {
    model: KwsModel,
    state: StreamState,
    /// New frames per step (it steps on the last ones of the window model's buffer).
    step_frames: usize,
    probs: Vec<f32>,
    /// The window model runs up to this frame index (exclusive) at least.
    open_until: u64,
    /// Whether the window model skipped the last frame.
    shut: bool,
    steps: u64,
}

impl Pipeline {
    /// A pipeline for samples at `input_rate`.
    pub fn new(
        model: KwsModel,
        input_rate: SampleRate,
        params: DetectorParams,
    ) -> Result<Self, DetectorError> {
        params.validate()?;
        let config = model.feature_config().clone();
        let frontend = Frontend::new(input_rate, config.clone())?;
        model.check_features(frontend.extractor().config())?;
        let labels = model.labels().len();
        let thresholds = match &params.thresholds {
            Some(t) if t.len() == labels => t.clone(),
            Some(t) => {
                return Err(DetectorError::Shape {
                    expected: format!("{labels} thresholds"),
                    found: format!("{}", t.len()),
                });
            }
            None => model.thresholds().to_vec(),
        };
        // The smoothing span in frames, a whole number of runs on the stride (or step): at
        // least one. The ring has room for a run on every frame of it.
        let interval = model.step_frames().unwrap_or(params.stride_frames.max(1));
        let frames = params
            .smoothing_frames
            .or(model.smoothing_frames())
            .unwrap_or(DEFAULT_SMOOTHING_FRAMES);
        let runs = ((frames as f64 / interval as f64).round() as usize).max(1);
        let smoothing = runs * interval;
        let rate = f64::from(config.sample_rate.hz());
        let core = Core {
            n_features: config.n_features(),
            window: vec![0.0; model.input_len()],
            filled: 0,
            state: model.new_state().ok(),
            frames_seen: 0,
            since_run: 0,
            runs: 0,
            dense: false,
            history: vec![vec![0.0; labels]; smoothing],
            history_frame: vec![0; smoothing],
            history_next: 0,
            history_len: 0,
            probs: vec![0.0; labels],
            smoothed: vec![0.0; labels],
            armed: vec![true; labels],
            last_event_end: f64::NEG_INFINITY,
            hop_seconds: config.hop_length as f64 / rate,
            frame_seconds: config.frame_length as f64 / rate,
            thresholds,
            gate: None,
            params: DetectorParams {
                stride_frames: params.stride_frames.max(1),
                dense_stride: params.dense_stride.clamp(1, params.stride_frames.max(1)),
                ..params
            },
            model,
        };
        Ok(Pipeline { frontend, core })
    }

    /// Puts a streaming model in front of the window model, as a cheap first stage: the
    /// gate steps on every `hark.step_frames` new frames with its cached state, and the
    /// window model runs (on the stride, and on every `dense_stride` frames near a threshold,
    /// as without a gate) only while some keyword's gate probability is at least
    /// [`gate_from`](DetectorParams::gate_from) of its threshold, for
    /// [`gate_hold_frames`](DetectorParams::gate_hold_frames) after that, and while the
    /// window model's own scores are near a threshold. When the gate opens, the window
    /// model catches up on the runs on the stride it skipped in the last smoothing span and
    /// decides on them, so its smoothing and events are what it would have computed alone,
    /// unless its scores neared a threshold while the gate was shut (the event then comes
    /// when the gate opens). Events come from the window model only: on background and
    /// other sounds only the gate costs compute. While the gate is shut,
    /// [`scores`](Self::scores) are the gate's.
    ///
    /// The gate must be a streaming model (`hark.kind = kws-stream`) with the same labels and
    /// features as the window model, which must be a window model; anything else is an error.
    pub fn with_gate(mut self, gate: KwsModel) -> Result<Self, DetectorError> {
        let core = &mut self.core;
        if core.model.step_frames().is_some() {
            return Err(DetectorError::Gate(
                "the main model is a streaming model; a gate goes in front of a window model"
                    .into(),
            ));
        }
        let Some(step) = gate.step_frames() else {
            return Err(DetectorError::Gate(
                "the gate is a window model (hark.kind = kws), not a streaming one".into(),
            ));
        };
        if gate.labels() != core.model.labels() {
            return Err(DetectorError::Gate(format!(
                "the gate's labels {} differ from the model's {}",
                gate.labels().join(","),
                core.model.labels().join(",")
            )));
        }
        gate.check_features(core.model.feature_config())?;
        let state = gate.new_state()?;
        // Room for a window and a smoothing span of frames, for the runs skipped while the
        // gate was shut (see `Core::catch_up`).
        let frames = core.model.window_frames() + core.history.len();
        core.window.resize(frames * core.n_features, 0.0);
        core.gate = Some(Gate {
            step_frames: step,
            probs: vec![0.0; gate.labels().len()],
            open_until: 0,
            shut: false,
            steps: 0,
            state,
            model: gate,
        });
        Ok(self)
    }

    /// The model.
    pub fn model(&self) -> &KwsModel {
        &self.core.model
    }

    /// The gate ([`with_gate`](Self::with_gate)), if any.
    pub fn gate(&self) -> Option<&KwsModel> {
        self.core.gate.as_ref().map(|g| &g.model)
    }

    /// How many steps the gate has run (0 without one).
    pub fn gate_steps(&self) -> u64 {
        self.core.gate.as_ref().map_or(0, |g| g.steps)
    }

    /// How many times the model has run (a window model) or stepped (a streaming model): what
    /// the stream has cost, since the model is most of it (with a gate, add
    /// [`gate_steps`](Self::gate_steps), each a fraction of a window run).
    pub fn runs(&self) -> u64 {
        self.core.runs
    }

    /// The latest smoothed probabilities, one per label.
    pub fn scores(&self) -> &[f32] {
        &self.core.smoothed
    }

    /// Sets one label's threshold, in 0..=1 (`None`: never report it).
    pub fn set_threshold(
        &mut self,
        label: &str,
        threshold: Option<f32>,
    ) -> Result<(), DetectorError> {
        let index = self.core.model.label_index(label)?;
        if let Some(t) = threshold {
            check_threshold(&format!("threshold of {label:?}"), t)?;
        }
        self.core.thresholds[index] = threshold;
        Ok(())
    }

    /// Pushes samples; `on_event` is called for every keyword detected.
    pub fn push(
        &mut self,
        samples: &[f32],
        mut on_event: impl FnMut(Event),
    ) -> Result<(), DetectorError> {
        let core = &mut self.core;
        let mut failure = None;
        self.frontend.process(samples, |frame| {
            if failure.is_none()
                && let Err(e) = core.on_frame(frame, &mut on_event)
            {
                failure = Some(e);
            }
        })?;
        failure.map_or(Ok(()), Err)
    }

    /// Pushes feature frames computed elsewhere, `n_features` values per frame, in order:
    /// the rest of the pipeline (model, smoothing, thresholds, refractory time) as
    /// [`push`](Self::push) would run it on the samples behind them.
    ///
    /// This splits the pipeline across threads: a [`Frontend`] built with the model's
    /// [`feature_config`](KwsModel::feature_config) runs where the samples arrive (an audio
    /// callback, a Web Audio worklet) and hands its frames to the thread that owns the
    /// `Pipeline`. Mixing `push` and `push_features` on one pipeline is a caller error the
    /// pipeline cannot see: use one or the other.
    pub fn push_features(
        &mut self,
        frames: &[f32],
        mut on_event: impl FnMut(Event),
    ) -> Result<(), DetectorError> {
        let n = self.core.n_features;
        crate::model::check_frames(frames, n)?;
        for frame in frames.chunks_exact(n) {
            self.core.on_frame(frame, &mut on_event)?;
        }
        Ok(())
    }

    /// Ends the stream: the resampler's tail goes through the features and the model, and the
    /// frames it completes can still report events. Nothing else is held back: an event is
    /// reported at the frame whose smoothed score crosses the threshold, so a stream fed by
    /// [`push_features`](Self::push_features) needs no end call.
    pub fn finish(&mut self, mut on_event: impl FnMut(Event)) -> Result<(), DetectorError> {
        let core = &mut self.core;
        let mut failure = None;
        self.frontend.finish(|frame| {
            if failure.is_none()
                && let Err(e) = core.on_frame(frame, &mut on_event)
            {
                failure = Some(e);
            }
        });
        failure.map_or(Ok(()), Err)
    }
}

impl Core {
    fn on_frame(
        &mut self,
        frame: &[f32],
        on_event: &mut impl FnMut(Event),
    ) -> Result<(), DetectorError> {
        let n = self.n_features;
        let window_frames = self.model.window_frames();
        if let (Some(state), Some(step)) = (&mut self.state, self.model.step_frames()) {
            // Streaming: collect one step of frames, run it, score once the state covers a
            // whole window.
            self.window[self.filled * n..(self.filled + 1) * n].copy_from_slice(frame);
            self.filled += 1;
            self.frames_seen += 1;
            if self.filled < step {
                return Ok(());
            }
            self.filled = 0;
            self.model
                .step(&self.window[..step * n], state, &mut self.probs)?;
            self.runs += 1;
            if self.frames_seen < window_frames as u64 {
                return Ok(());
            }
            return self.scored(on_event);
        }
        // The recent frames: a window, and with a gate a smoothing span more (for the runs
        // it catches up on when it opens).
        let capacity = self.window.len() / n;
        if self.filled == capacity {
            self.window.copy_within(n.., 0);
            self.window[(capacity - 1) * n..].copy_from_slice(frame);
        } else {
            self.window[self.filled * n..(self.filled + 1) * n].copy_from_slice(frame);
            self.filled += 1;
        }
        self.frames_seen += 1;
        self.since_run += 1;
        if self.gate.is_some() && !self.gate_open(on_event)? {
            return Ok(());
        }
        // The stride counts from the last run, so after an event (decided on a run near a
        // threshold, on every frame) the runs fall on the same frames whatever the start.
        let stride = if self.dense && !self.in_refractory() {
            self.params.dense_stride
        } else {
            self.params.stride_frames
        };
        if self.filled < window_frames || self.since_run < stride {
            return Ok(());
        }
        self.since_run = 0;
        let end = self.filled * n;
        self.model
            .predict_into(&self.window[end - window_frames * n..end], &mut self.probs)?;
        self.runs += 1;
        self.scored(on_event)
    }

    /// Steps the gate when a step of new frames is in and says whether the window model may
    /// run on this frame.
    ///
    /// While the gate is shut the window model's runs on the stride are skipped, not moved:
    /// the stride keeps counting. When it opens, the model catches up on the skipped runs of
    /// the last smoothing span (from the frames kept for that), so the smoothing, and every
    /// decision after, is what the window model alone would have computed, as long as that
    /// model's scores stayed below `dense_from` while the gate was shut.
    fn gate_open(&mut self, on_event: &mut impl FnMut(Event)) -> Result<bool, DetectorError> {
        let n = self.n_features;
        let Some(gate) = &mut self.gate else {
            return Ok(true);
        };
        let step = gate.step_frames;
        if self.frames_seen.is_multiple_of(step as u64) {
            // The buffer holds a window and a span of frames, more than a step.
            let end = self.filled * n;
            gate.model.step(
                &self.window[end - step * n..end],
                &mut gate.state,
                &mut gate.probs,
            )?;
            gate.steps += 1;
            // Before its state covers a window the gate knows too little: it stays open.
            let share = self.params.gate_from;
            let near = self.frames_seen < gate.model.window_frames() as u64
                || self
                    .thresholds
                    .iter()
                    .zip(&gate.probs)
                    .any(|(t, &p)| t.is_some_and(|t| p >= share * t));
            if near {
                gate.open_until = self.frames_seen + self.params.gate_hold_frames as u64;
            }
        }
        let open = self.dense || self.frames_seen <= gate.open_until;
        let was_shut = gate.shut;
        gate.shut = !open;
        if !open {
            // The scores to show meanwhile are the gate's; the next run recomputes them.
            self.smoothed.copy_from_slice(&gate.probs);
            if self.since_run >= self.params.stride_frames {
                self.since_run = 0; // a skipped run on the stride
            }
            return Ok(false);
        }
        if was_shut {
            self.catch_up(on_event)?;
        }
        Ok(true)
    }

    /// The window model's runs on the stride that a shut gate skipped in the last smoothing
    /// span (before this frame), into the smoothing history, oldest first.
    fn catch_up(&mut self, on_event: &mut impl FnMut(Event)) -> Result<(), DetectorError> {
        let n = self.n_features;
        let window_frames = self.model.window_frames();
        let stride = self.params.stride_frames as u64;
        let last = self.frames_seen - 1;
        let span = self.history.len() as u64;
        let from = last.saturating_sub(span - 1);
        let cap = self.history.len();
        let newest =
            (self.history_len > 0).then(|| self.history_frame[(self.history_next + cap - 1) % cap]);
        // The skipped run frames: `since_run` frames before this one, and a stride apart,
        // back to the oldest that is in the span, after the last run, and whose window
        // (frames f + 1 - window_frames ..= f) the buffer still holds. Found first, then run
        // oldest first (no list: this runs on the detector's thread, which does not allocate).
        let usable = |f: u64| {
            f >= from
                && f + 1 >= window_frames as u64
                && newest.is_none_or(|r| f > r)
                && (last - f) as usize + window_frames <= self.filled
        };
        let Some(latest) = last
            .checked_sub(self.since_run as u64)
            .filter(|&f| usable(f))
        else {
            return Ok(());
        };
        let mut oldest = latest;
        while let Some(f) = oldest.checked_sub(stride).filter(|&f| usable(f)) {
            oldest = f;
        }
        let mut f = oldest;
        while f <= latest {
            let end = (self.filled - (last - f) as usize) * n;
            self.model
                .predict_into(&self.window[end - window_frames * n..end], &mut self.probs)?;
            self.runs += 1;
            self.record(f);
            f += stride;
        }
        // Decide now on what the skipped runs say, as the window model alone would have on
        // the last of them: the gate may shut again before the next run on the stride.
        self.evaluate(on_event);
        Ok(())
    }

    /// Smoothing and decisions on the probabilities of the latest run.
    fn scored(&mut self, on_event: &mut impl FnMut(Event)) -> Result<(), DetectorError> {
        self.record(self.frames_seen - 1);
        self.evaluate(on_event);
        Ok(())
    }

    /// The latest run's probabilities into the smoothing history, as the run on `frame`.
    fn record(&mut self, frame: u64) {
        self.history[self.history_next].copy_from_slice(&self.probs);
        self.history_frame[self.history_next] = frame;
        self.history_next = (self.history_next + 1) % self.history.len();
        self.history_len = (self.history_len + 1).min(self.history.len());
    }

    /// Smoothing over the span that ends at the latest frame, decisions, and whether to run
    /// densely.
    fn evaluate(&mut self, on_event: &mut impl FnMut(Event)) {
        let window_frames = self.model.window_frames();
        let last = self.frames_seen - 1;
        // The time average of the probabilities over the last `span` frames, each run
        // standing for the frames since the run before it: the plain mean of the runs in
        // the span when they are evenly spaced (on the stride, or on every frame), and no
        // jump when the spacing changes.
        let span = self.history.len() as u64;
        let from = last.saturating_sub(span - 1); // the first frame of the span
        let cap = self.history.len();
        self.smoothed.fill(0.0);
        let mut covered = 0;
        for j in 0..self.history_len {
            let i = (self.history_next + cap - 1 - j) % cap;
            let frame = self.history_frame[i];
            let older = (j + 1 < self.history_len)
                .then(|| self.history_frame[(self.history_next + cap - 2 - j) % cap] + 1);
            let begin = older.unwrap_or(0).max(from);
            let weight = (frame + 1).saturating_sub(begin);
            if weight == 0 {
                break;
            }
            covered += weight;
            for (s, p) in self.smoothed.iter_mut().zip(&self.history[i]) {
                *s += p * weight as f32;
            }
        }
        for s in &mut self.smoothed {
            *s /= covered as f32;
        }
        let end = self.frame_end(last);
        let start = end - ((window_frames - 1) as f64 * self.hop_seconds + self.frame_seconds);
        self.decide(start.max(0.0), end, on_event);
        self.dense = self.params.dense_from.is_some_and(|share| {
            self.thresholds
                .iter()
                .zip(&self.smoothed)
                .any(|(t, &s)| t.is_some_and(|t| s >= share * t))
        });
    }

    /// Whether the refractory time after the last event still covers the next run on the
    /// stride and a whole smoothing span after it, so that no decision can come before the
    /// next stride run and the smoothing history of every later decision is refilled by then.
    /// Runs there can only re-arm a keyword and refill that history, which runs on the
    /// stride do too: the window model stays on the stride, however near a threshold (the
    /// frames after an event are where a keyword's score is highest).
    fn in_refractory(&self) -> bool {
        let ahead = (self.history.len() + self.params.stride_frames) as f64 * self.hop_seconds;
        let end = self.frame_end(self.frames_seen.saturating_sub(1));
        end + ahead < self.last_event_end + self.params.refractory
    }

    /// The end of frame `index`, seconds from the stream start.
    fn frame_end(&self, index: u64) -> f64 {
        index as f64 * self.hop_seconds + self.frame_seconds
    }

    fn decide(&mut self, start: f64, end: f64, on_event: &mut impl FnMut(Event)) {
        for (k, armed) in self.armed.iter_mut().enumerate() {
            if let Some(t) = self.thresholds[k]
                && !*armed
                && self.smoothed[k] < t * self.params.rearm
            {
                *armed = true;
            }
        }
        let best = self
            .thresholds
            .iter()
            .enumerate()
            .filter_map(|(k, t)| t.map(|t| (k, t)))
            .filter(|(k, t)| self.armed[*k] && self.smoothed[*k] >= *t)
            .max_by(|a, b| self.smoothed[a.0].total_cmp(&self.smoothed[b.0]));
        if let Some((k, _)) = best
            && end - self.last_event_end >= self.params.refractory
        {
            self.armed[k] = false;
            self.last_event_end = end;
            on_event(Event {
                keyword: self.model.labels()[k].clone(),
                start,
                end,
                score: self.smoothed[k],
            });
        }
    }
}
