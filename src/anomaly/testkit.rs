//! Synthetic series and assertions for the detectors' unit tests: Gaussian noise (a fixed-seed
//! xorshift, so runs repeat) with a spike, a step, a drift, a variance burst or a daily pattern.

use std::collections::BTreeMap;

use super::Detector;

/// One sample a minute.
pub const STEP_SECS: f64 = 60.0;

pub struct Noise(u64);

impl Noise {
    pub fn new(seed: u64) -> Noise {
        Noise(seed.max(1))
    }

    /// Uniform in (0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// A standard normal sample (Box-Muller).
    pub fn normal(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    }
}

/// `n` samples of 100 + N(0, 1) noise, shaped by `f(i, noise)`.
fn series(n: usize, mut f: impl FnMut(usize, f64) -> f64) -> Vec<(f64, f64)> {
    let mut noise = Noise::new(42);
    (0..n)
        .map(|i| (1.7e9 + i as f64 * STEP_SECS, 100.0 + f(i, noise.normal())))
        .collect()
}

/// Noise with one sample `size` standard deviations high at `at`.
pub fn spike(n: usize, at: usize, size: f64) -> Vec<(f64, f64)> {
    series(n, |i, e| e + if i == at { size } else { 0.0 })
}

/// Noise whose level moves up by `size` at `at` and stays.
pub fn step(n: usize, at: usize, size: f64) -> Vec<(f64, f64)> {
    series(n, |i, e| e + if i >= at { size } else { 0.0 })
}

/// Noise with a linear drift of `slope` per sample from `at` on.
pub fn drift(n: usize, at: usize, slope: f64) -> Vec<(f64, f64)> {
    series(n, |i, e| e + slope * i.saturating_sub(at) as f64)
}

/// Noise whose standard deviation is `factor` times larger from `at` to `at + len`.
pub fn burst(n: usize, at: usize, len: usize, factor: f64) -> Vec<(f64, f64)> {
    series(n, |i, e| {
        if (at..at + len).contains(&i) {
            e * factor
        } else {
            e
        }
    })
}

/// A daily sine of amplitude 20 plus noise; from `at` to `at + len` the pattern is replaced by
/// its mean level (the daily swing goes missing).
pub fn seasonal(n: usize, at: usize, len: usize) -> Vec<(f64, f64)> {
    series(n, |i, e| {
        let phase = (i as f64 * STEP_SECS / 86_400.0) * std::f64::consts::TAU;
        e + if (at..at + len).contains(&i) {
            0.0
        } else {
            20.0 * phase.sin()
        }
    })
}

pub fn detector(name: &str, params: &[(&str, &str)]) -> Box<dyn Detector> {
    let given: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    super::build(name, &given).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn run(d: &mut dyn Detector, series: &[(f64, f64)]) -> Vec<f64> {
    series.iter().map(|(t, v)| d.update(*t, *v)).collect()
}

/// Some score in `at..at + 10` reaches `min`.
#[track_caller]
pub fn assert_peak_at(s: &[f64], at: usize, min: f64) {
    let peak = s[at..(at + 10).min(s.len())]
        .iter()
        .fold(0.0f64, |a, b| a.max(*b));
    assert!(peak >= min, "peak {peak:.3} after {at} below {min}");
}

/// The score an alarm needs: above a tie with the record by the default margin.
pub const ALARM: f64 = 0.51;

/// Some score in `range` is an alarm.
#[track_caller]
pub fn assert_alarm(s: &[f64], range: std::ops::Range<usize>) {
    let peak = s[range.clone()].iter().fold(0.0f64, |a, b| a.max(*b));
    assert!(peak >= ALARM, "no alarm in {range:?}: peak {peak:.3}");
}

/// Every score in `range` stays below `max`.
#[track_caller]
pub fn assert_quiet(s: &[f64], range: std::ops::Range<usize>, max: f64) {
    let (i, peak) =
        range
            .clone()
            .map(|i| (i, s[i]))
            .fold((0, 0.0f64), |a, b| if b.1 > a.1 { b } else { a });
    assert!(
        peak < max,
        "score {peak:.3} at {i} in {range:?} not below {max}"
    );
}

/// The error of building `name` with `key=value`.
pub fn build_err(name: &str, key: &str, value: &str) -> String {
    let given: BTreeMap<String, String> = [(key.to_string(), value.to_string())].into();
    match super::build(name, &given) {
        Ok(_) => panic!("{name}: {key}={value} accepted"),
        Err(e) => e,
    }
}
