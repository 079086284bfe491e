//! [`DetectorError`]: what can go wrong loading a model or running it.

/// A model that cannot be used, or a failure while running it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DetectorError {
    /// The file is larger than any model Hark ships or expects.
    #[error("model is {size} bytes, more than the {limit}-byte limit")]
    TooLarge {
        /// Size of the file.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// tract could not parse or optimise the ONNX graph.
    #[error("cannot load the ONNX model: {0}")]
    Load(String),
    /// The graph uses an operator this build of tract does not run: one tract does not know, or,
    /// in the browser build, one of those its ONNX loader leaves out (README, "In the browser").
    #[error(
        "the model uses the ONNX operator {op} (node {node:?}), which {} does not run",
        build_name()
    )]
    UnsupportedOperator {
        /// The operator (`op_type`).
        op: String,
        /// The node's name.
        node: String,
    },
    /// A required metadata entry is missing or malformed.
    #[error("model metadata {key}: {problem}")]
    Metadata {
        /// The `hark.*` key.
        key: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The model was made for other features than the front end computes.
    #[error("the model expects features `{model}` but the front end computes `{frontend}`")]
    FeatureMismatch {
        /// The model's feature config.
        model: String,
        /// The front end's feature config.
        frontend: String,
    },
    /// The model's input or output shape is not what its metadata says.
    #[error("model shape: expected {expected}, found {found}")]
    Shape {
        /// What the metadata implies.
        expected: String,
        /// What the graph has.
        found: String,
    },
    /// A caller buffer has the wrong length.
    #[error("input has {actual} values, the model takes {expected}")]
    InputLength {
        /// Values the model takes.
        expected: usize,
        /// Values given.
        actual: usize,
    },
    /// The front end rejected the samples or the configuration.
    #[error(transparent)]
    Config(#[from] hark_dsp::ConfigError),
    /// The front end rejected the samples.
    #[error(transparent)]
    Samples(#[from] hark_dsp::ProcessError),
    /// tract failed while running the model.
    #[error("inference failed: {0}")]
    Run(String),
    /// A keyword name that the model does not know.
    #[error("unknown label {label:?}; the model knows {known}")]
    UnknownLabel {
        /// The name given.
        label: String,
        /// The model's labels, comma-separated.
        known: String,
    },
    /// A streaming call on a window model.
    #[error("the model is a window model (hark.kind = kws), not a streaming one")]
    NotStreaming,
    /// A stream detector parameter out of its range ([`DetectorParams`](crate::DetectorParams),
    /// [`Pipeline::set_threshold`](crate::Pipeline::set_threshold),
    /// [`AnomalyScorer::set_threshold`](crate::AnomalyScorer::set_threshold)).
    #[error("{name} is {value}, outside {range}")]
    Param {
        /// The parameter.
        name: String,
        /// The value given.
        value: f64,
        /// Where it must lie.
        range: &'static str,
    },
    /// A gate ([`Pipeline::with_gate`](crate::Pipeline::with_gate)) that does not fit the
    /// window model.
    #[error("{0}")]
    Gate(String),
    /// Fitting an anomaly model failed (too little data, bad settings).
    #[error("cannot fit: {0}")]
    Fit(String),
    /// The audio is too short to classify (or empty).
    #[error("clip has no complete feature frame ({samples} samples)")]
    EmptyClip {
        /// Samples given.
        samples: usize,
    },
}

/// `Ok` if `ok`, else a [`DetectorError::Param`] naming the parameter and its range.
pub(crate) fn check(
    name: &str,
    value: f64,
    ok: bool,
    range: &'static str,
) -> Result<(), DetectorError> {
    if ok {
        Ok(())
    } else {
        Err(DetectorError::Param {
            name: name.to_string(),
            value,
            range,
        })
    }
}

/// The build named in [`DetectorError::UnsupportedOperator`].
fn build_name() -> &'static str {
    if cfg!(target_arch = "wasm32") {
        "Hark's browser build (a subset of ONNX: convolutional, recurrent and attention models)"
    } else {
        "this build of Hark"
    }
}
