//! Writes a synthetic machine recording (see `hark_tests::machine`) for trying `hark fit` and
//! `hark score` by hand and for the fitting-time measurement in the README:
//!
//! ```text
//! cargo run --release -p hark-tests --example machine -- OUT.wav RATE SECONDS SEED [FAULT START END]...
//! ```
//! FAULT is `bearing`, `speed` (6 % faster) or `imbalance` (first harmonic x3).

use hark_tests::machine::{Episode, Fault, machine, write_wav};

fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: machine OUT.wav RATE SECONDS SEED [bearing|speed|imbalance START END]...";
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
        let fault = match e[0].as_str() {
            "bearing" => Fault::Bearing,
            "speed" => Fault::Speed(1.06),
            "imbalance" => Fault::Imbalance(3.0),
            other => return Err(format!("{other}: unknown fault; {usage}")),
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
