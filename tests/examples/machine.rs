//! Writes a synthetic machine recording (see `hark_tests::machine`) for trying `hark fit` and
//! `hark score` by hand and for the fitting-time measurement in the README:
//!
//! ```text
//! cargo run --release -p hark-tests --example machine -- OUT.wav RATE SECONDS SEED [FAULT START END]...
//! ```
//! FAULT is `bearing`, `speed` (6 % faster) or `imbalance` (first harmonic x3); `speed:X`
//! and `imbalance:X` set the factor (`speed:1.02`, `imbalance:1.2`).

use hark_tests::machine::{Episode, Fault, machine, write_wav};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage =
        "usage: machine OUT.wav RATE SECONDS SEED [bearing|speed[:X]|imbalance[:X] START END]...";
    if args.len() < 4 || !(args.len() - 4).is_multiple_of(3) {
        return Err(usage.into());
    }
    let number = |s: &str| {
        s.parse::<f64>()
            .map_err(|_| format!("{s}: not a number; {usage}"))
    };
    let rate = number(&args[1])? as u32;
    let seconds = number(&args[2])?;
    let seed = number(&args[3])? as u64;
    let mut episodes = Vec::new();
    for e in args[4..].chunks(3) {
        let (name, factor) = match e[0].split_once(':') {
            Some((name, x)) => (name, Some(number(x)? as f32)),
            None => (e[0].as_str(), None),
        };
        let fault = match (name, factor) {
            ("bearing", None) => Fault::Bearing,
            ("speed", x) => Fault::Speed(x.unwrap_or(1.06)),
            ("imbalance", x) => Fault::Imbalance(x.unwrap_or(3.0)),
            _ => return Err(format!("{}: unknown fault; {usage}", e[0])),
        };
        episodes.push(Episode {
            fault,
            start: number(&e[1])?,
            end: number(&e[2])?,
        });
    }
    let samples = machine(rate, seconds, seed, &episodes);
    write_wav(std::path::Path::new(&args[0]), rate, 1, 16, &samples)
}
