//! A small dense autoencoder and its trainer (mean squared error, Adam), in plain Rust on
//! `ndarray`, and its export as a standard ONNX graph (`Gemm` and `Relu`) that tract loads.
//!
//! The gradients are written out by hand; the tests check them against finite differences.

use ndarray::{Array1, Array2, ArrayView2, ArrayViewMut1, Axis, s};
use prost::Message;
use rand::rngs::Xoshiro256PlusPlus;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use tract_onnx::pb;

/// Shape and training settings of an autoencoder.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainParams {
    /// Widths of the hidden layers from the input to the bottleneck; the decoder mirrors
    /// them. `[64, 8]` makes `D → 64 → 8 → 64 → D`.
    pub hidden: Vec<usize>,
    /// Passes over the training windows (at least enough for `min_steps` updates).
    pub epochs: usize,
    /// Fewest Adam updates, whatever the amount of data.
    pub min_steps: usize,
    /// Windows per update.
    pub batch: usize,
    /// Adam's step size.
    pub learning_rate: f32,
    /// Seed of the initial weights and of the shuffling.
    pub seed: u64,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            hidden: vec![64, 8],
            epochs: 30,
            min_steps: 2000,
            batch: 128,
            learning_rate: 1e-3,
            seed: 0,
        }
    }
}

/// One fully connected layer, `y = x W + b`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Dense {
    /// `(inputs, outputs)`.
    pub w: Array2<f32>,
    pub b: Array1<f32>,
}

/// A stack of dense layers with ReLU between them (not after the last).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mlp {
    pub layers: Vec<Dense>,
}

/// The gradient of the loss for every layer, in the layout of [`Mlp::layers`].
type Grads = Vec<(Array2<f32>, Array1<f32>)>;

impl Mlp {
    /// An autoencoder `dim → hidden... → reversed hidden... → dim` with He-uniform weights
    /// and zero biases.
    pub fn autoencoder(dim: usize, hidden: &[usize], rng: &mut Xoshiro256PlusPlus) -> Self {
        let mut widths = vec![dim];
        widths.extend_from_slice(hidden);
        widths.extend(hidden.iter().rev().skip(1));
        widths.push(dim);
        let layers = widths
            .windows(2)
            .map(|io| {
                let limit = (6.0 / io[0] as f32).sqrt();
                Dense {
                    w: Array2::from_shape_simple_fn((io[0], io[1]), || {
                        rng.random_range(-limit..limit)
                    }),
                    b: Array1::zeros(io[1]),
                }
            })
            .collect();
        Mlp { layers }
    }

    /// Input width.
    pub fn dim(&self) -> usize {
        self.layers.first().map_or(0, |l| l.w.nrows())
    }

    /// Number of weights and biases.
    pub fn parameters(&self) -> usize {
        self.layers.iter().map(|l| l.w.len() + l.b.len()).sum()
    }

    /// Multiply-adds per input row.
    pub fn multiply_adds(&self) -> usize {
        self.layers.iter().map(|l| l.w.len()).sum()
    }

    /// The activations of every layer (pre-ReLU for hidden layers is recomputable from
    /// them: a hidden activation is positive exactly where its pre-activation is).
    fn forward_all(&self, x: ArrayView2<f32>) -> Vec<Array2<f32>> {
        let mut acts: Vec<Array2<f32>> = Vec::with_capacity(self.layers.len());
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            let input = if i == 0 { x } else { acts[i - 1].view() };
            let mut z = input.dot(&layer.w);
            z += &layer.b;
            if i < last {
                z.mapv_inplace(|v| v.max(0.0));
            }
            acts.push(z);
        }
        acts
    }

    /// The reconstruction of every row of `x`.
    pub fn forward(&self, x: ArrayView2<f32>) -> Array2<f32> {
        self.forward_all(x).pop().unwrap_or_else(|| x.to_owned())
    }

    /// Mean squared reconstruction error over all values of `x`, and its gradient.
    pub fn loss_and_grads(&self, x: ArrayView2<f32>) -> (f32, Grads) {
        let acts = self.forward_all(x);
        let Some(out) = acts.last() else {
            return (0.0, Vec::new());
        };
        let n = x.len() as f32;
        let diff = out - &x;
        let loss = diff.iter().map(|d| d * d).sum::<f32>() / n;
        let mut g = diff * (2.0 / n);
        let mut grads: Grads = Vec::with_capacity(self.layers.len());
        for i in (0..self.layers.len()).rev() {
            let input = if i == 0 { x } else { acts[i - 1].view() };
            let dw = input.t().dot(&g);
            let db = g.sum_axis(Axis(0));
            if i > 0 {
                let mut back = g.dot(&self.layers[i].w.t());
                back.zip_mut_with(&acts[i - 1], |b, &a| {
                    if a <= 0.0 {
                        *b = 0.0;
                    }
                });
                g = back;
            }
            grads.push((dw, db));
        }
        grads.reverse();
        (loss, grads)
    }
}

/// Adam (Kingma & Ba 2015) with the usual constants.
pub(crate) struct Adam {
    lr: f32,
    t: i32,
    m: Grads,
    v: Grads,
}

impl Adam {
    const BETA1: f32 = 0.9;
    const BETA2: f32 = 0.999;
    const EPS: f32 = 1e-8;

    pub fn new(net: &Mlp, lr: f32) -> Self {
        let zeros = || -> Grads {
            net.layers
                .iter()
                .map(|l| (Array2::zeros(l.w.raw_dim()), Array1::zeros(l.b.len())))
                .collect()
        };
        Adam {
            lr,
            t: 0,
            m: zeros(),
            v: zeros(),
        }
    }

    pub fn step(&mut self, net: &mut Mlp, grads: &Grads) {
        self.t += 1;
        let c1 = 1.0 - Self::BETA1.powi(self.t);
        let c2 = 1.0 - Self::BETA2.powi(self.t);
        let rate = self.lr * c2.sqrt() / c1;
        let update = |p: &mut f32, m: &mut f32, v: &mut f32, g: f32| {
            *m = Self::BETA1 * *m + (1.0 - Self::BETA1) * g;
            *v = Self::BETA2 * *v + (1.0 - Self::BETA2) * g * g;
            *p -= rate * *m / (v.sqrt() + Self::EPS);
        };
        for (((layer, (gw, gb)), (mw, mb)), (vw, vb)) in net
            .layers
            .iter_mut()
            .zip(grads)
            .zip(&mut self.m)
            .zip(&mut self.v)
        {
            ndarray::Zip::from(&mut layer.w)
                .and(mw)
                .and(vw)
                .and(gw)
                .for_each(|p, m, v, &g| update(p, m, v, g));
            ndarray::Zip::from(&mut layer.b)
                .and(mb)
                .and(vb)
                .and(gb)
                .for_each(|p, m, v, &g| update(p, m, v, g));
        }
    }
}

/// Trains an autoencoder on the rows of `data` (already normalised). `progress` hears
/// `(epoch, epochs, mean training loss of the epoch)` after every epoch.
pub(crate) fn train(
    data: ArrayView2<f32>,
    params: &TrainParams,
    progress: impl FnMut(usize, usize, f32),
) -> Mlp {
    train_rows(
        data.nrows(),
        data.ncols(),
        |i, mut row| row.assign(&data.row(i)),
        params,
        progress,
    )
}

/// [`train`] on `rows` rows of `dim` values that `fill(i, row)` writes when a batch needs
/// them, so the rows need not all be in memory at once (overlapping windows of frames, say).
pub(crate) fn train_rows(
    rows: usize,
    dim: usize,
    mut fill: impl FnMut(usize, ArrayViewMut1<f32>),
    params: &TrainParams,
    mut progress: impl FnMut(usize, usize, f32),
) -> Mlp {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(params.seed);
    let mut net = Mlp::autoencoder(dim, &params.hidden, &mut rng);
    if rows == 0 {
        return net;
    }
    let batch = params.batch.clamp(1, rows);
    let per_epoch = rows.div_ceil(batch);
    let epochs = params
        .epochs
        .max(params.min_steps.div_ceil(per_epoch))
        .max(1);
    let mut adam = Adam::new(&net, params.learning_rate);
    let mut order: Vec<usize> = (0..rows).collect();
    let mut x = Array2::<f32>::zeros((batch, dim));
    for epoch in 0..epochs {
        order.shuffle(&mut rng);
        let mut total = 0.0;
        for chunk in order.chunks(batch) {
            let mut xb = x.slice_mut(s![..chunk.len(), ..]);
            for (row, &i) in xb.rows_mut().into_iter().zip(chunk) {
                fill(i, row);
            }
            let (loss, grads) = net.loss_and_grads(x.slice(s![..chunk.len(), ..]));
            adam.step(&mut net, &grads);
            total += loss * chunk.len() as f32;
        }
        progress(epoch + 1, epochs, total / rows as f32);
    }
    net
}

/// The network as an ONNX model: input `x` of shape `(batch, D)`, output `reconstruction` of
/// the same shape, opset 13, with `metadata` as its metadata properties.
pub(crate) fn to_onnx(net: &Mlp, metadata: &[(String, String)]) -> Vec<u8> {
    let dim = net.dim() as i64;
    let value = |name: &str| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            denotation: String::new(),
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: pb::tensor_proto::DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        pb::tensor_shape_proto::Dimension {
                            denotation: String::new(),
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimParam(
                                "batch".into(),
                            )),
                        },
                        pb::tensor_shape_proto::Dimension {
                            denotation: String::new(),
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(dim)),
                        },
                    ],
                }),
            })),
        }),
        doc_string: String::new(),
    };
    let tensor = |name: String, dims: Vec<i64>, values: &[f32]| pb::TensorProto {
        name,
        dims,
        data_type: pb::tensor_proto::DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    };
    let mut nodes = Vec::new();
    let mut initializer = Vec::new();
    let mut current = "x".to_string();
    let last = net.layers.len() - 1;
    for (i, layer) in net.layers.iter().enumerate() {
        let (w, b) = (format!("dense{i}.weight"), format!("dense{i}.bias"));
        let w_values: Vec<f32> = layer.w.iter().copied().collect();
        initializer.push(tensor(
            w.clone(),
            vec![layer.w.nrows() as i64, layer.w.ncols() as i64],
            &w_values,
        ));
        initializer.push(tensor(
            b.clone(),
            vec![layer.b.len() as i64],
            &layer.b.to_vec(),
        ));
        let out = if i == last {
            "reconstruction".to_string()
        } else {
            format!("dense{i}")
        };
        nodes.push(pb::NodeProto {
            input: vec![current.clone(), w, b],
            output: vec![out.clone()],
            name: format!("dense{i}"),
            op_type: "Gemm".into(),
            ..Default::default()
        });
        current = out;
        if i < last {
            let relu = format!("relu{i}");
            nodes.push(pb::NodeProto {
                input: vec![current.clone()],
                output: vec![relu.clone()],
                name: relu.clone(),
                op_type: "Relu".into(),
                ..Default::default()
            });
            current = relu;
        }
    }
    let model = pb::ModelProto {
        ir_version: 8,
        producer_name: "hark".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: 13,
        }],
        graph: Some(pb::GraphProto {
            node: nodes,
            name: "hark_autoencoder".into(),
            initializer,
            input: vec![value("x")],
            output: vec![value("reconstruction")],
            ..Default::default()
        }),
        metadata_props: metadata
            .iter()
            .map(|(key, value)| pb::StringStringEntryProto {
                key: key.clone(),
                value: value.clone(),
            })
            .collect(),
        ..Default::default()
    };
    model.encode_to_vec()
}

/// Replaces (or adds) metadata properties of an encoded ONNX model.
pub(crate) fn set_metadata(bytes: &[u8], entries: &[(String, String)]) -> Option<Vec<u8>> {
    let mut model = pb::ModelProto::decode(bytes).ok()?;
    for (key, value) in entries {
        model.metadata_props.retain(|e| &e.key != key);
        model.metadata_props.push(pb::StringStringEntryProto {
            key: key.clone(),
            value: value.clone(),
        });
    }
    Some(model.encode_to_vec())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn random(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        Array2::from_shape_simple_fn((rows, cols), || rng.random_range(-1.0f32..1.0))
    }

    /// Every weight's and bias's analytic gradient against a central finite difference of
    /// the loss (computed in f64 from the f32 forward pass).
    #[test]
    #[allow(clippy::needless_range_loop)] // `l` picks a layer in three networks at once
    fn gradients_match_finite_differences() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let mut net = Mlp::autoencoder(6, &[5, 3], &mut rng);
        // Non-zero biases, so their gradients are exercised away from zero.
        for layer in &mut net.layers {
            layer.b.mapv_inplace(|_| rng.random_range(-0.2f32..0.2));
        }
        let x = random(9, 6, 3);
        let (_, grads) = net.loss_and_grads(x.view());
        let loss = |net: &Mlp| -> f64 {
            let y = net.forward(x.view());
            let n = x.len() as f64;
            y.iter()
                .zip(&x)
                .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
                .sum::<f64>()
                / n
        };
        let eps = 1e-3f32;
        let mut checked = 0;
        let mut worst = 0.0f64;
        for l in 0..net.layers.len() {
            let (rows, cols) = net.layers[l].w.dim();
            let mut params: Vec<(Option<(usize, usize)>, usize)> = Vec::new();
            for r in 0..rows {
                for c in 0..cols {
                    params.push((Some((r, c)), 0));
                }
            }
            for j in 0..net.layers[l].b.len() {
                params.push((None, j));
            }
            for (at, j) in params {
                let mut plus = net.clone();
                let mut minus = net.clone();
                let analytic = match at {
                    Some((r, c)) => {
                        plus.layers[l].w[[r, c]] += eps;
                        minus.layers[l].w[[r, c]] -= eps;
                        grads[l].0[[r, c]]
                    }
                    None => {
                        plus.layers[l].b[j] += eps;
                        minus.layers[l].b[j] -= eps;
                        grads[l].1[j]
                    }
                };
                let numeric = (loss(&plus) - loss(&minus)) / (2.0 * f64::from(eps));
                let err = (numeric - f64::from(analytic)).abs() / (numeric.abs() + 1e-3);
                worst = worst.max(err);
                checked += 1;
            }
        }
        assert_eq!(checked, net.parameters());
        assert!(worst < 2e-2, "worst relative gradient error {worst}");
    }

    #[test]
    fn training_lowers_the_loss_of_data_on_a_subspace() {
        // Rows on a 2-dimensional subspace of R^12: an autoencoder with a bottleneck of 4
        // should reconstruct them far better than the variance of the data.
        let basis = random(2, 12, 11);
        let codes = random(2000, 2, 12);
        let data = codes.dot(&basis);
        let variance = data.iter().map(|v| v * v).sum::<f32>() / data.len() as f32;
        let params = TrainParams {
            hidden: vec![16, 4],
            epochs: 40,
            min_steps: 0,
            batch: 64,
            learning_rate: 3e-3,
            seed: 1,
        };
        let mut losses = Vec::new();
        let net = train(data.view(), &params, |_, _, l| losses.push(l));
        assert_eq!(losses.len(), 40);
        let (final_loss, _) = net.loss_and_grads(data.view());
        assert!(
            final_loss < variance * 0.05,
            "loss {final_loss} against variance {variance}"
        );
        // Same seed, same network.
        let again = train(data.view(), &params, |_, _, _| {});
        assert_eq!(again, net);
    }

    #[test]
    fn onnx_export_round_trips_through_tract() {
        use tract_onnx::prelude::*;
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(5);
        let net = Mlp::autoencoder(10, &[7, 3], &mut rng);
        let bytes = to_onnx(&net, &[("k".into(), "v".into())]);
        let plan = tract_onnx::onnx()
            .model_for_read(&mut &bytes[..])
            .unwrap()
            .into_optimized()
            .unwrap()
            .into_runnable()
            .unwrap();
        for rows in [1, 5] {
            let x = random(rows, 10, rows as u64);
            let want = net.forward(x.view());
            let input = Tensor::from_shape(&[rows, 10], x.as_slice().unwrap()).unwrap();
            let out = plan.run(tvec!(input.into())).unwrap();
            assert_eq!(out[0].shape(), &[rows, 10]);
            let view = out[0].try_as_plain_ram().unwrap();
            let got = view.as_slice::<f32>().unwrap();
            for (a, b) in got.iter().zip(want.iter()) {
                assert!((a - b).abs() < 1e-5, "{a} vs {b}");
            }
        }
        let replaced = set_metadata(&bytes, &[("k".into(), "w".into())]).unwrap();
        let model = pb::ModelProto::decode(&replaced[..]).unwrap();
        assert_eq!(model.metadata_props.len(), 1);
        assert_eq!(model.metadata_props[0].value, "w");
    }
}
