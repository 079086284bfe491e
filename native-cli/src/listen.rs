//! `hark listen` and `hark devices`: keyword spotting, or anomaly scoring, on a live input
//! device (cpal).
//!
//! The device's callback only converts its samples to `f32` (mono, or every channel
//! interleaved for an anomaly model of several) and pushes them into a lock-free
//! single-producer ring (ringbuf), sized in milliseconds. It never allocates, locks, prints or
//! blocks: when the ring is full the samples are dropped and counted (whole sample frames).
//! The main thread pops the ring, runs the keyword [`Pipeline`] or the [`AnomalyScorer`] and
//! prints what they find, and the status. [`DeviceSource`] reads a device the same way as a
//! [`Source`](crate::input::Source) for `hark fit --device`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};
use hark_detector::{AnomalyInput, AnomalyModel, AnomalyOutput, AnomalyScorer, Event, Pipeline};
use hark_dsp::SampleRate;
use ringbuf::HeapRb;
use ringbuf::traits::{Consumer, Observer, Producer, Split};
use serde_json::json;

use crate::Usage;
use crate::anomaly::Printer;
use crate::input::ChannelSelect;
use crate::kws::{Detector, DetectorOptions, round};

/// Arguments of `hark listen`.
#[derive(Debug, clap::Args)]
pub struct ListenArgs {
    /// The input device: an id from `hark devices` (such as `alsa:hw:CARD=Mic,DEV=0`) or a
    /// part of its name; default: the system's default input.
    #[arg(long)]
    device: Option<String>,
    #[command(flatten)]
    detector: DetectorOptions,
    /// Stop after this many seconds of captured audio.
    #[arg(long, value_parser = positive_seconds)]
    duration: Option<f64>,
    /// Capacity of the ring between the device callback and the detector, in milliseconds
    /// of audio; when it is full, samples are dropped and counted.
    #[arg(long, default_value_t = 2000, value_parser = clap::value_parser!(u32).range(10..=600_000))]
    ring_ms: u32,
    /// When the device fails or disappears, reopen it (every second) instead of exiting.
    #[arg(long)]
    reconnect: bool,
    /// Use only this channel of the device (from 0) instead of the mean of all channels.
    #[arg(long)]
    channel: Option<usize>,
    /// With an anomaly model: print only the anomaly events, not every frame's score.
    #[arg(long)]
    events_only: bool,
    /// Also write what the detector heard to this WAV file (32-bit float, the device's rate;
    /// mono, or every channel an anomaly model reads): to look into an event, or to keep
    /// normal running for `hark fit`.
    #[arg(long)]
    save: Option<std::path::PathBuf>,
    /// Make the detector sleep this many milliseconds after each chunk it takes from the ring
    /// (to see the drop counter at work).
    #[arg(long, hide = true, default_value_t = 0)]
    consumer_delay_ms: u64,
}

/// A finite number of seconds above 0 (`--duration`).
pub(crate) fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("{text} is not a positive number of seconds")),
    }
}

/// Arguments of `hark devices`.
#[derive(Debug, clap::Args)]
pub struct DevicesArgs {
    /// One JSON line per device.
    #[arg(long)]
    json: bool,
}

/// Counters shared by the device callback and the detector thread.
#[derive(Debug, Default)]
struct Counters {
    /// Frames the device delivered within the duration (taken or dropped).
    captured: AtomicU64,
    /// Frames dropped because the ring was full.
    dropped: AtomicU64,
    /// Set by the stream's error callback.
    failed: AtomicBool,
}

/// What the device was opened with.
struct Opened {
    stream: cpal::Stream,
    consumer: ringbuf::HeapCons<f32>,
    id: String,
    rate: SampleRate,
    channels: u16,
    /// Samples per sample frame in the ring: 1, or every channel for an anomaly model of
    /// several.
    width: usize,
    format: SampleFormat,
    error: Arc<std::sync::Mutex<Option<String>>>,
    /// Frames to capture (`--duration`), or `u64::MAX`.
    limit: u64,
}

impl Opened {
    /// What the stream's error callback reported.
    fn failure(&self) -> String {
        self.error
            .lock()
            .ok()
            .and_then(|m| m.clone())
            .unwrap_or_else(|| "unknown error".into())
    }
}

fn find_device(host: &cpal::Host, spec: Option<&str>) -> Result<cpal::Device> {
    let Some(spec) = spec else {
        return host.default_input_device().context(
            "no default input device (`hark devices` lists the inputs; choose one with --device)",
        );
    };
    if let Ok(id) = spec.parse::<cpal::DeviceId>()
        && let Some(device) = host.device_by_id(&id)
    {
        return Ok(device);
    }
    let mut names = Vec::new();
    let wanted = spec.to_lowercase();
    for device in host.input_devices().context("cannot list input devices")? {
        let id = device.id().map(|i| i.to_string()).unwrap_or_default();
        let name = device
            .description()
            .map(|d| d.name().to_string())
            .unwrap_or_default();
        if id == spec || name.to_lowercase().contains(&wanted) {
            return Ok(device);
        }
        names.push(if name.is_empty() {
            id
        } else {
            format!("{id} ({name})")
        });
    }
    bail!(
        "no input device matches {spec:?}; the inputs are: {}",
        if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        }
    )
}

/// The device config closest to what the model wants: its rate if the device has it, 16-bit
/// integers or floats, and one channel for a model of one (which mixes or picks from more),
/// exactly `channels` for an anomaly model of several.
fn choose_config(
    device: &cpal::Device,
    want_rate: u32,
    channels: u16,
) -> Result<cpal::SupportedStreamConfig> {
    let format_rank = |f: SampleFormat| match f {
        SampleFormat::I16 => 0,
        SampleFormat::F32 => 1,
        SampleFormat::I32 => 2,
        SampleFormat::U16 | SampleFormat::I8 | SampleFormat::U8 | SampleFormat::F64 => 3,
        _ => 9,
    };
    let exact = channels > 1;
    let all: Vec<_> = device
        .supported_input_configs()
        .context("cannot read the device's configurations")?
        .filter(|r| format_rank(r.sample_format()) < 9)
        .collect();
    let ranges: Vec<_> = all
        .iter()
        .filter(|r| !exact || r.channels() == channels)
        .collect();
    if exact && ranges.is_empty() && !all.is_empty() {
        let mut offered: Vec<u16> = all.iter().map(|r| r.channels()).collect();
        offered.sort_unstable();
        offered.dedup();
        let offered: Vec<String> = offered.iter().map(u16::to_string).collect();
        bail!(
            "the model reads {channels} channels side by side (it was fitted on a \
             {channels}-channel recording), but the device offers {} channel(s)",
            offered.join(", ")
        );
    }
    let best = ranges.iter().min_by_key(|r| {
        (
            !r.contains_rate(want_rate),
            r.channels() != channels,
            format_rank(r.sample_format()),
            r.channels(),
        )
    });
    match best {
        Some(r) if r.contains_rate(want_rate) => Ok(r.with_sample_rate(want_rate)),
        Some(_) => {
            // No range has the model's rate: the device's default rate, resampled.
            let default = device
                .default_input_config()
                .context("cannot read the device's default configuration")?;
            if format_rank(default.sample_format()) < 9
                && (!exact || default.channels() == channels)
            {
                Ok(default)
            } else {
                ranges
                    .iter()
                    .min_by_key(|r| (format_rank(r.sample_format()), r.channels()))
                    .map(|r| r.with_max_sample_rate())
                    .context("the device offers no usable sample format")
            }
        }
        None => bail!("the device offers no sample format hark can read (integer or float PCM)"),
    }
}

/// What the device is opened for.
#[derive(Debug, Clone, Copy)]
struct Want {
    /// The model's sample rate, asked of the device (else resampled); None: the device's
    /// default rate.
    rate: Option<u32>,
    /// One (mixed or picked, `select`), or every channel of an anomaly model of several.
    channels: u16,
    select: ChannelSelect,
}

fn open(
    spec: Option<&str>,
    want: Want,
    ring_ms: u32,
    counters: &Arc<Counters>,
    duration: Option<f64>,
) -> Result<Opened> {
    let host = cpal::default_host();
    let device = find_device(&host, spec)?;
    let id = device
        .id()
        .map(|i| i.to_string())
        .unwrap_or_else(|_| spec.unwrap_or("default").to_string());
    let want_rate = match want.rate {
        Some(rate) => rate,
        None => device
            .default_input_config()
            .map(|c| c.sample_rate())
            .with_context(|| format!("{id}: no default configuration (ask for a rate)"))?,
    };
    let supported = choose_config(&device, want_rate, want.channels).with_context(|| id.clone())?;
    let format = supported.sample_format();
    let config: cpal::StreamConfig = supported.config();
    let channels = config.channels;
    want.select.check(&id, usize::from(channels))?;
    let rate = SampleRate::new(config.sample_rate)
        .with_context(|| format!("{id}: the device reports a rate of 0 Hz"))?;
    if want.select != ChannelSelect::All {
        crate::kws::warn_if_below_speech(&id, rate);
    }
    let limit = duration.map_or(u64::MAX, |s| (s * f64::from(rate.hz())).round() as u64);
    let width = want.select.width(usize::from(channels));
    let capacity = (u64::from(rate.hz()) * u64::from(ring_ms) / 1000).max(256) as usize * width;
    let (producer, consumer) = HeapRb::<f32>::new(capacity).split();
    let error = Arc::new(std::sync::Mutex::new(None));
    let on_error = {
        let error = Arc::clone(&error);
        let counters = Arc::clone(counters);
        move |e: cpal::Error| {
            // cpal calls this off the audio callback; a lock is fine here.
            if let Ok(mut slot) = error.lock() {
                slot.get_or_insert_with(|| e.to_string());
            }
            counters.failed.store(true, Ordering::Release);
        }
    };
    let capture = Capture {
        producer,
        channels: usize::from(channels),
        select: want.select,
        counters: Arc::clone(counters),
        limit,
    };
    let stream = match format {
        SampleFormat::I16 => build::<i16>(&device, &config, capture, on_error),
        SampleFormat::F32 => build::<f32>(&device, &config, capture, on_error),
        SampleFormat::I32 => build::<i32>(&device, &config, capture, on_error),
        SampleFormat::U16 => build::<u16>(&device, &config, capture, on_error),
        SampleFormat::I8 => build::<i8>(&device, &config, capture, on_error),
        SampleFormat::U8 => build::<u8>(&device, &config, capture, on_error),
        SampleFormat::F64 => build::<f64>(&device, &config, capture, on_error),
        other => bail!("{id}: sample format {other} is not supported"),
    }
    .with_context(|| {
        format!(
            "{id}: cannot open a {} Hz {channels}-channel {format} input stream",
            rate.hz()
        )
    })?;
    stream
        .play()
        .with_context(|| format!("{id}: cannot start the input stream"))?;
    Ok(Opened {
        stream,
        consumer,
        id,
        rate,
        channels,
        width,
        format,
        error,
        limit,
    })
}

/// The most channels an anomaly model may read from a device: the callback converts them in
/// blocks of [`Capture::BLOCK`] samples.
const MAX_CHANNELS: usize = 64;

/// The state the device callback owns.
struct Capture {
    producer: ringbuf::HeapProd<f32>,
    channels: usize,
    select: ChannelSelect,
    counters: Arc<Counters>,
    limit: u64,
}

impl Capture {
    const BLOCK: usize = 256;

    /// The callback's work: convert, mix to mono (or keep every channel), push; count the
    /// sample frames that do not fit. No allocation, no lock, no print.
    fn push<T: SizedSample>(&mut self, data: &[T])
    where
        f32: FromSample<T>,
    {
        let mut block = [0.0f32; Self::BLOCK];
        let channels = self.channels;
        let captured = self.counters.captured.load(Ordering::Relaxed);
        let room = self.limit.saturating_sub(captured);
        let frames = ((data.len() / channels) as u64).min(room) as usize;
        let data = &data[..frames * channels];
        let mut dropped = 0u64;
        if self.select == ChannelSelect::All {
            // Every channel, interleaved, and only whole sample frames into the ring, so that
            // what the detector pops never starts inside one.
            let per_block = (Self::BLOCK / channels).max(1);
            for chunk in data.chunks(per_block * channels) {
                let n = chunk.len() / channels;
                for (slot, &s) in block.iter_mut().zip(chunk) {
                    *slot = f32::from_sample_(s);
                }
                let fit = (self.producer.vacant_len() / channels).min(n);
                let pushed = self.producer.push_slice(&block[..fit * channels]);
                dropped += (n - pushed / channels) as u64;
            }
        } else {
            for chunk in data.chunks(Self::BLOCK * channels) {
                let n = chunk.len() / channels;
                for (slot, frame) in block.iter_mut().zip(chunk.chunks_exact(channels)) {
                    *slot = match self.select {
                        ChannelSelect::Only(k) => f32::from_sample_(frame[k]),
                        ChannelSelect::Mix | ChannelSelect::All => {
                            frame.iter().map(|&s| f32::from_sample_(s)).sum::<f32>()
                                / channels as f32
                        }
                    };
                }
                let pushed = self.producer.push_slice(&block[..n]);
                dropped += (n - pushed) as u64;
            }
        }
        self.counters
            .captured
            .fetch_add(frames as u64, Ordering::Release);
        if dropped > 0 {
            self.counters.dropped.fetch_add(dropped, Ordering::Relaxed);
        }
    }
}

fn build<T>(
    device: &cpal::Device,
    config: &cpal::StreamConfig,
    mut capture: Capture,
    on_error: impl FnMut(cpal::Error) + Send + 'static,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample + Send + 'static,
    f32: FromSample<T>,
{
    device.build_input_stream::<T, _, _>(
        *config,
        move |data: &[T], _: &cpal::InputCallbackInfo| capture.push(data),
        on_error,
        None,
    )
}

/// What `hark listen` runs: the keyword detector, or an anomaly model from `hark fit`.
#[allow(clippy::large_enum_variant)] // one per process
enum Job {
    Keywords(Detector),
    Anomaly(AnomalyModel),
}

impl Job {
    /// The job `--model` asks for: an anomaly model if its metadata says so, else the
    /// keyword detector (the bundled streaming model without `--model`).
    fn load(args: &ListenArgs) -> Result<Job> {
        let options = &args.detector;
        let anomaly = match options.model_path() {
            Some(path) => {
                let bytes = std::fs::read(path)
                    .with_context(|| format!("cannot read model {}", path.display()))?;
                match hark_detector::model_kind(&bytes) {
                    Ok(kind) if kind == "anomaly" => Some(
                        AnomalyModel::from_bytes(&bytes)
                            .with_context(|| format!("model {}", path.display()))?,
                    ),
                    // A keyword model, or not a model: the keyword loader says which.
                    _ => None,
                }
            }
            None => None,
        };
        let Some(model) = anomaly else {
            if args.events_only {
                return Err(Usage(
                    "--events-only is for anomaly models (a keyword model prints only its \
                     events)"
                        .into(),
                )
                .into());
            }
            return Ok(Job::Keywords(options.load()?));
        };
        let keyword_only = options.keyword_options_set();
        if let Some(flag) = keyword_only.first() {
            return Err(Usage(format!(
                "{flag} is an option of the keyword detector; the model is an anomaly model"
            ))
            .into());
        }
        if *model.input() == AnomalyInput::Values {
            bail!(
                "the model reads sensor values (fitted with --preset metric), not an input \
                 device's audio: pipe the rows to `hark score - --model M --format csv` instead"
            );
        }
        if model.channels() > MAX_CHANNELS {
            bail!(
                "the model reads {} channels; hark listen takes at most {MAX_CHANNELS}",
                model.channels()
            );
        }
        if model.channels() > 1
            && let Some(k) = args.channel
        {
            return Err(Usage(format!(
                "--channel {k}: the model reads {c} channels side by side (it was fitted on a \
                 {c}-channel recording), so it listens to all of them",
                c = model.channels()
            ))
            .into());
        }
        Ok(Job::Anomaly(model))
    }

    fn want(&self, channel: Option<usize>) -> Want {
        let select = channel.map_or(ChannelSelect::Mix, ChannelSelect::Only);
        match self {
            Job::Keywords(d) => Want {
                rate: Some(d.model.feature_config().sample_rate.hz()),
                channels: 1,
                select,
            },
            Job::Anomaly(model) => {
                let rate = match model.input() {
                    AnomalyInput::Features(config) => Some(config.sample_rate.hz()),
                    // Refused in `load`.
                    AnomalyInput::Values => None,
                };
                match model.channels() {
                    1 => Want {
                        rate,
                        channels: 1,
                        select,
                    },
                    c => Want {
                        rate,
                        channels: u16::try_from(c).unwrap_or(u16::MAX),
                        select: ChannelSelect::All,
                    },
                }
            }
        }
    }

    /// What runs on samples at `rate`; its times start at `offset` seconds.
    fn sink<'a>(&'a self, args: &'a ListenArgs, rate: SampleRate, offset: f64) -> Result<Sink<'a>> {
        Ok(match self {
            Job::Keywords(detector) => Sink::Keywords {
                pipeline: detector.pipeline(rate)?,
                options: &args.detector,
                offset,
            },
            Job::Anomaly(model) => {
                let mut scorer = AnomalyScorer::new(model.clone(), rate)?;
                if let Some(t) = args.detector.threshold() {
                    scorer.set_threshold(t)?;
                }
                Sink::Anomaly {
                    scorer,
                    printer: Printer::new(args.detector.json, args.events_only),
                    offset,
                }
            }
        })
    }
}

/// The detector on the consumer's side of the ring, printing what it finds.
#[allow(clippy::large_enum_variant)] // one per process
enum Sink<'a> {
    Keywords {
        pipeline: Pipeline,
        options: &'a DetectorOptions,
        offset: f64,
    },
    Anomaly {
        scorer: AnomalyScorer,
        printer: Printer,
        offset: f64,
    },
}

impl Sink<'_> {
    /// Runs samples through; `events` counts what is reported.
    fn push(&mut self, samples: &[f32], events: &mut u64) -> Result<()> {
        match self {
            Sink::Keywords {
                pipeline,
                options,
                offset,
            } => pipeline.push(samples, keyword_printer(options, *offset, events))?,
            Sink::Anomaly {
                scorer,
                printer,
                offset,
            } => scorer.push(samples, anomaly_printer(printer, *offset, events))?,
        }
        Ok(())
    }

    /// Ends the stream: what the pipeline or scorer still holds is reported.
    fn finish(&mut self, events: &mut u64) -> Result<()> {
        match self {
            Sink::Keywords {
                pipeline,
                options,
                offset,
            } => pipeline.finish(keyword_printer(options, *offset, events))?,
            Sink::Anomaly {
                scorer,
                printer,
                offset,
            } => scorer.finish(anomaly_printer(printer, *offset, events))?,
        }
        Ok(())
    }
}

fn keyword_printer<'a>(
    options: &'a DetectorOptions,
    offset: f64,
    events: &'a mut u64,
) -> impl FnMut(Event) + 'a {
    move |mut e: Event| {
        *events += 1;
        e.start += offset;
        e.end += offset;
        options.print(&e);
    }
}

fn anomaly_printer<'a>(
    printer: &'a mut Printer,
    offset: f64,
    events: &'a mut u64,
) -> impl FnMut(AnomalyOutput) + 'a {
    move |mut o: AnomalyOutput| {
        match &mut o {
            AnomalyOutput::Score(s) => s.time += offset,
            AnomalyOutput::Event(e) => {
                *events += 1;
                e.start += offset;
                e.end += offset;
            }
        }
        printer.print(&o);
    }
}

/// A live input device read as a [`Source`]: `hark fit --device`. The callback and the ring
/// are `listen`'s; reading takes what the ring holds, waiting for the device, until
/// `seconds` of audio have been captured or Ctrl-C ends the recording early.
pub struct DeviceSource {
    opened: Opened,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    ended: bool,
}

impl DeviceSource {
    /// Opens the device `spec` (the default input without one) asking for `rate` (None: the
    /// device's default) and `channels` (1: one, or the mean of more, or `select`'s; more:
    /// exactly that many, every one handed out with [`ChannelSelect::All`]).
    pub fn open(
        spec: Option<&str>,
        rate: Option<u32>,
        channels: u16,
        select: ChannelSelect,
        seconds: f64,
    ) -> Result<DeviceSource> {
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = Arc::clone(&stop);
            ctrlc::set_handler(move || stop.store(true, Ordering::Release))
                .context("cannot install the Ctrl-C handler")?;
        }
        let counters = Arc::new(Counters::default());
        let want = Want {
            rate,
            channels,
            select: if channels == 1 && select == ChannelSelect::All {
                ChannelSelect::Mix
            } else {
                select
            },
        };
        // A recording of up to a minute fits in the ring whole (a device that delivers
        // faster than real time loses nothing), a longer one in a minute's ring: the reader
        // computes features much faster than real time.
        let ring_ms = ((seconds.min(60.0) + 1.0) * 1000.0).ceil() as u32;
        let opened = open(spec, want, ring_ms, &counters, Some(seconds))?;
        Ok(DeviceSource {
            opened,
            counters,
            stop,
            ended: false,
        })
    }

    /// The device's id.
    pub fn id(&self) -> &str {
        &self.opened.id
    }

    /// Channels the device was opened with.
    pub fn device_channels(&self) -> u16 {
        self.opened.channels
    }

    /// Sample frames dropped because the ring was full.
    pub fn dropped(&self) -> u64 {
        self.counters.dropped.load(Ordering::Acquire)
    }
}

impl crate::input::Source for DeviceSource {
    fn rate(&self) -> SampleRate {
        self.opened.rate
    }

    fn channels(&self) -> usize {
        self.opened.width
    }

    fn total_frames(&self) -> Option<u64> {
        Some(self.opened.limit)
    }

    fn read(&mut self, max_frames: usize, out: &mut Vec<f32>) -> Result<usize> {
        out.clear();
        let width = self.opened.width;
        loop {
            let available = self.opened.consumer.occupied_len() / width;
            if available > 0 {
                let take = available.min(max_frames.max(1));
                out.resize(take * width, 0.0);
                let n = self.opened.consumer.pop_slice(out);
                out.truncate(n);
                return Ok(n / width);
            }
            if self.ended {
                let dropped = self.dropped();
                if dropped > 0 {
                    say!(
                        "hark: warning: {}: {dropped} sample frames dropped (the ring was full): \
                         the recording has gaps",
                        self.opened.id
                    );
                }
                return Ok(0);
            }
            let captured = self.counters.captured.load(Ordering::Acquire);
            if captured >= self.opened.limit || self.stop.load(Ordering::Acquire) {
                // What the ring holds still comes out; then the end.
                self.ended = true;
                if let Err(e) = self.opened.stream.pause() {
                    say!(
                        "hark: warning: {}: cannot stop the stream: {e}",
                        self.opened.id
                    );
                }
                continue;
            }
            if self.counters.failed.load(Ordering::Acquire) {
                bail!(
                    "{}: the input device failed: {}",
                    self.opened.id,
                    self.opened.failure()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Runs `hark listen`.
pub fn listen(args: &ListenArgs) -> Result<()> {
    let job = Job::load(args)?;
    let want = job.want(args.channel);
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::Release))
            .context("cannot install the Ctrl-C handler")?;
    }
    let counters = Arc::new(Counters::default());
    let spec = args.device.as_deref();
    let mut opened = open(spec, want, args.ring_ms, &counters, args.duration)?;
    let mut sink = job.sink(args, opened.rate, 0.0)?;
    let mut recorder = Recorder::create(args.save.as_deref(), &opened)?;
    let json = args.detector.json;
    let status = |what: &str, opened: &Opened, counters: &Counters, events: u64| {
        let rate = f64::from(opened.rate.hz());
        let seconds = counters.captured.load(Ordering::Acquire) as f64 / rate;
        let dropped = counters.dropped.load(Ordering::Acquire);
        if json {
            out!(
                "{}",
                json!({"status": what, "device": opened.id, "rate": opened.rate.hz(),
                       "channels": opened.channels, "format": opened.format.to_string(),
                       "seconds": round(seconds as f32), "events": events, "dropped": dropped})
            );
        }
    };
    if !json {
        say!(
            "hark: listening on {} ({} Hz, {} channel{}, {}){}{}",
            opened.id,
            opened.rate.hz(),
            opened.channels,
            if opened.channels == 1 { "" } else { "s" },
            opened.format,
            match &job {
                Job::Keywords(_) => "",
                Job::Anomaly(_) => " for anomalies",
            },
            if args.duration.is_some() {
                ""
            } else {
                "; Ctrl-C stops"
            }
        );
    }
    status("listening", &opened, &counters, 0);
    let mut events = 0u64;
    // Whole sample frames of the ring's width.
    let mut buffer = vec![0.0f32; 4096 / opened.width * opened.width];
    // Sample frames the current sink has taken, for the times after a reopen at another rate.
    let mut taken = 0u64;
    let mut offset = 0.0;
    let mut next_status = 10.0;
    let mut dropped_reported = 0;
    let mut outcome = Ok(());
    loop {
        let n = opened.consumer.pop_slice(&mut buffer);
        if n > 0 {
            recorder.write(&buffer[..n]);
            sink.push(&buffer[..n], &mut events)?;
            taken += (n / opened.width) as u64;
            if args.consumer_delay_ms > 0 {
                std::thread::sleep(Duration::from_millis(args.consumer_delay_ms));
            }
        }
        let rate = f64::from(opened.rate.hz());
        let captured = counters.captured.load(Ordering::Acquire);
        let seconds = captured as f64 / rate;
        if seconds >= next_status {
            // One line per 10 s boundary passed, however far a device ahead of real time ran.
            next_status = (seconds / 10.0).floor() * 10.0 + 10.0;
            let dropped = counters.dropped.load(Ordering::Acquire);
            if json {
                status("running", &opened, &counters, events);
            } else if dropped > dropped_reported {
                say!(
                    "hark: warning: {dropped} samples dropped so far (the detector cannot keep up)"
                );
            }
            dropped_reported = dropped;
        }
        // Ctrl-C stops the capture at once, even if the device keeps the ring full; what
        // the ring already holds is still run through the detector below.
        if stop.load(Ordering::Acquire) {
            break;
        }
        if n > 0 {
            continue;
        }
        if captured >= opened.limit && opened.consumer.is_empty() {
            break;
        }
        if counters.failed.load(Ordering::Acquire) {
            let message = opened.failure();
            if !args.reconnect {
                outcome = Err(anyhow!("{}: the input device failed: {message}", opened.id));
                break;
            }
            say!("hark: warning: {}: {message}; reopening", opened.id);
            match reopen(spec, want, args, &counters, &stop) {
                Some(Ok(new)) => {
                    // What the failed device delivered before it failed is still audio.
                    taken += drain(
                        &mut opened,
                        &mut sink,
                        &mut recorder,
                        &mut buffer,
                        &mut events,
                    )?;
                    if new.rate != opened.rate {
                        recorder.end(&format!("the device reopened at {} Hz", new.rate.hz()));
                        // A new front end for the new rate; its times go on from the old.
                        sink.finish(&mut events)?;
                        offset += taken as f64 / f64::from(opened.rate.hz());
                        taken = 0;
                        sink = job.sink(args, new.rate, offset)?;
                    }
                    opened = new;
                    status("reopened", &opened, &counters, events);
                    continue;
                }
                Some(Err(e)) => {
                    outcome = Err(e);
                    break;
                }
                None => break, // Ctrl-C while waiting
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // Stop the device before the last events: nothing more is captured, and nothing that
    // was captured is lost (what is still in the ring, at most `--ring-ms` of audio, is run
    // through the detector first).
    if let Err(e) = opened.stream.pause() {
        say!("hark: warning: {}: cannot stop the stream: {e}", opened.id);
    }
    drain(
        &mut opened,
        &mut sink,
        &mut recorder,
        &mut buffer,
        &mut events,
    )?;
    sink.finish(&mut events)?;
    recorder.end("");
    let rate = f64::from(opened.rate.hz());
    let seconds = counters.captured.load(Ordering::Acquire) as f64 / rate;
    let dropped = counters.dropped.load(Ordering::Acquire);
    if json {
        status("stopped", &opened, &counters, events);
    } else {
        say!(
            "hark: {seconds:.1} s of audio, {events} event{}, {dropped} samples dropped",
            if events == 1 { "" } else { "s" }
        );
    }
    outcome
}

/// `--save`: what the detector heard, as a WAV file. A write that fails (a full disk) ends
/// the recording with a warning; the listening goes on.
struct Recorder {
    writer: Option<hound::WavWriter<std::io::BufWriter<std::fs::File>>>,
    path: String,
}

impl Recorder {
    /// A recorder of what `opened` delivers into the ring, or one that records nothing.
    fn create(path: Option<&std::path::Path>, opened: &Opened) -> Result<Recorder> {
        let Some(path) = path else {
            return Ok(Recorder {
                writer: None,
                path: String::new(),
            });
        };
        let spec = hound::WavSpec {
            channels: u16::try_from(opened.width).unwrap_or(u16::MAX),
            sample_rate: opened.rate.hz(),
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let writer = hound::WavWriter::create(path, spec)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Recorder {
            writer: Some(writer),
            path: path.display().to_string(),
        })
    }

    fn write(&mut self, samples: &[f32]) {
        let Some(writer) = self.writer.as_mut() else {
            return;
        };
        if let Err(e) = samples.iter().try_for_each(|&s| writer.write_sample(s)) {
            self.end(&format!("cannot write to it: {e}"));
        }
    }

    /// Finishes the file; `why` (if not empty) says on stderr why it ends before the
    /// listening does.
    fn end(&mut self, why: &str) {
        let Some(writer) = self.writer.take() else {
            return;
        };
        if !why.is_empty() {
            say!(
                "hark: warning: {}: the recording ends here: {why}",
                self.path
            );
        }
        if let Err(e) = writer.finalize() {
            say!("hark: warning: cannot finish {}: {e}", self.path);
        }
    }
}

/// Runs what the ring still holds through the sink and returns the sample frames taken. The
/// device must be paused or failed, or its samples keep coming; only what it had captured
/// before is taken (a ring's worth at most, so a device that keeps filling it cannot hold the
/// loop).
fn drain(
    opened: &mut Opened,
    sink: &mut Sink,
    recorder: &mut Recorder,
    buffer: &mut [f32],
    events: &mut u64,
) -> Result<u64> {
    let mut left = opened.consumer.occupied_len();
    let mut taken = 0;
    while left > 0 {
        let take = left.min(buffer.len());
        let n = opened.consumer.pop_slice(&mut buffer[..take]);
        if n == 0 {
            break;
        }
        recorder.write(&buffer[..n]);
        sink.push(&buffer[..n], events)?;
        taken += (n / opened.width) as u64;
        left -= n;
    }
    Ok(taken)
}

/// Tries to reopen the device every second until it works, Ctrl-C (`None`) or a usage
/// error that retrying cannot fix.
fn reopen(
    spec: Option<&str>,
    want: Want,
    args: &ListenArgs,
    counters: &Arc<Counters>,
    stop: &AtomicBool,
) -> Option<Result<Opened>> {
    counters.failed.store(false, Ordering::Release);
    let started = Instant::now();
    loop {
        if stop.load(Ordering::Acquire) {
            return None;
        }
        match open(spec, want, args.ring_ms, counters, args.duration) {
            Ok(o) => return Some(Ok(o)),
            Err(e) if started.elapsed() > Duration::from_secs(1) => {
                say!("hark: warning: {e:#}; retrying");
            }
            Err(_) => {}
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Runs `hark devices`.
pub fn devices(args: &DevicesArgs) -> Result<()> {
    let host = cpal::default_host();
    let default_id = host.default_input_device().and_then(|d| d.id().ok());
    let mut count = 0;
    for device in host.input_devices().context("cannot list input devices")? {
        count += 1;
        let id = device
            .id()
            .map(|i| i.to_string())
            .unwrap_or_else(|e| format!("(no id: {e})"));
        let name = device
            .description()
            .map(|d| d.name().to_string())
            .unwrap_or_default();
        let is_default = device.id().ok() == default_id && default_id.is_some();
        let default = device.default_input_config().ok().map(|c| {
            format!(
                "{} Hz, {} ch, {}",
                c.sample_rate(),
                c.channels(),
                c.sample_format()
            )
        });
        let ranges = summarize(device.supported_input_configs().ok());
        if args.json {
            out!(
                "{}",
                json!({"id": id, "name": name, "default": is_default, "default_config": default, "configs": ranges})
            );
        } else {
            out!("{id}{}", if is_default { "  (default)" } else { "" });
            if !name.is_empty() && name != id {
                out!("    name: {name}");
            }
            if let Some(d) = default {
                out!("    default config: {d}");
            }
            for r in ranges {
                out!("    supports: {r}");
            }
        }
    }
    if count == 0 && !args.json {
        say!("hark: no input devices found");
    }
    Ok(())
}

/// The supported configurations, one line per sample format: channel counts and rates.
fn summarize(
    configs: Option<impl Iterator<Item = cpal::SupportedStreamConfigRange>>,
) -> Vec<String> {
    let mut by_format: Vec<(SampleFormat, u16, u16, u32, u32)> = Vec::new();
    for r in configs.into_iter().flatten() {
        let f = r.sample_format();
        match by_format.iter_mut().find(|e| e.0 == f) {
            Some(e) => {
                e.1 = e.1.min(r.channels());
                e.2 = e.2.max(r.channels());
                e.3 = e.3.min(r.min_sample_rate());
                e.4 = e.4.max(r.max_sample_rate());
            }
            None => by_format.push((
                f,
                r.channels(),
                r.channels(),
                r.min_sample_rate(),
                r.max_sample_rate(),
            )),
        }
    }
    by_format
        .into_iter()
        .map(|(f, c0, c1, r0, r1)| {
            let channels = if c0 == c1 {
                format!("{c0}")
            } else {
                format!("{c0}-{c1}")
            };
            let rates = if r0 == r1 {
                format!("{r0}")
            } else {
                format!("{r0}-{r1}")
            };
            format!("{f}, {channels} ch, {rates} Hz")
        })
        .collect()
}
