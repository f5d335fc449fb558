//! Online anomaly detectors for one series each: every sample gets a score in [0, 1] computed from
//! it and the samples before it, in O(1) or O(log window) comparisons (sorted windows also shift
//! up to `window` floats) and bounded memory, and the detector's whole state serialises (serde)
//! so a restart resumes instead of re-learning.
//!
//! Most detectors are a *model* (what the series should do next: a rolling mean, a median, a
//! seasonal profile ...) whose departure from each sample is turned into a score by the shared
//! record calibration (calibrate.rs): x = departure / the largest departure of the last `memory`
//! samples, so one threshold means the same on every series. The ensemble (the default) takes the
//! largest such x over several models. `forecast` scores by how soon a linear trend crosses a
//! limit instead. All are registered in [`ALL`]: one file per detector with its `SPEC`, one line
//! there.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub mod calibrate;
pub mod params;
pub mod window;

#[cfg(test)]
mod testkit;

use calibrate::{Output, Record};
use params::{ParamDoc, Params};

/// An online detector for one series.
pub trait Detector: Send {
    /// The registry name (`zscore`, `ensemble`, ...).
    fn name(&self) -> &'static str;
    /// Scores the sample `v` at `t_secs` (unix seconds) from it and the samples before it, then
    /// learns it. Non-finite samples score 0 and are not learnt.
    fn update(&mut self, t_secs: f64, v: f64) -> f64;
    /// False while the detector is in its warm-up (its scores are 0 then).
    fn warmed_up(&self) -> bool;
    /// The detector's state (parameters included) for [`save`]/[`restore`].
    fn state(&self) -> serde_json::Value;
    /// What the detector takes as the series' normal level now (a rolling mean or median),
    /// for alert texts; `None` when it has no such level or has not learnt it yet.
    fn expected(&self) -> Option<f64> {
        None
    }
}

/// A registry entry: name, one-line description, parameters, and how to build or restore one.
/// Adding a detector is one file with its `SPEC` and its name in the `registry!` list of [`ALL`].
pub struct Spec {
    pub name: &'static str,
    pub about: &'static str,
    pub params: &'static [ParamDoc],
    pub kind: Kind,
}

/// What a registry entry builds.
pub enum Kind {
    /// A [`Model`] (a departure); as a detector it is scored by record calibration alone, and it
    /// can be an ensemble member. It takes the calibration parameters (calibrate::PARAMS) too.
    Model {
        build: fn(&Params) -> Result<Box<dyn Model>, String>,
        restore: fn(serde_json::Value) -> Result<Box<dyn Model>, String>,
    },
    /// A detector that makes its own scores (the ensemble, forecast).
    Detector {
        /// Takes the calibration parameters too.
        calibrated: bool,
        /// Takes `member.key` parameters (for its members).
        nested: bool,
        build: fn(&Params) -> Result<Box<dyn Detector>, String>,
        restore: fn(serde_json::Value) -> Result<Box<dyn Detector>, String>,
    },
}

/// The [`Kind`] of model `M`: build with `M::new`, restore from its serde state.
pub const fn model_kind<M: Model + serde::de::DeserializeOwned + 'static>() -> Kind {
    Kind::Model {
        build: build_model::<M>,
        restore: restore_model::<M>,
    }
}

fn build_model<M: Model + 'static>(p: &Params) -> Result<Box<dyn Model>, String> {
    Ok(Box::new(M::new(p)?))
}

fn restore_model<M: Model + serde::de::DeserializeOwned + 'static>(
    v: serde_json::Value,
) -> Result<Box<dyn Model>, String> {
    Ok(Box::new(from_state::<M>(v)?))
}

/// A detector's or model's serde state back (errors as text).
pub fn from_state<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| e.to_string())
}

/// A detector's or model's serde state.
pub fn to_state<T: Serialize>(t: &T) -> serde_json::Value {
    serde_json::to_value(t).unwrap_or(serde_json::Value::Null)
}

impl Spec {
    /// Takes the record-calibration parameters (calibrate::PARAMS) too.
    pub fn calibrated(&self) -> bool {
        match self.kind {
            Kind::Model { .. } => true,
            Kind::Detector { calibrated, .. } => calibrated,
        }
    }

    /// The model entries' build and restore, for ensembles.
    pub fn model(&self) -> Option<(ModelBuild, ModelRestore)> {
        match self.kind {
            Kind::Model { build, restore } => Some((build, restore)),
            Kind::Detector { .. } => None,
        }
    }

    pub fn docs(&self) -> Vec<&'static [ParamDoc]> {
        if self.calibrated() {
            vec![self.params, calibrate::PARAMS]
        } else {
            vec![self.params]
        }
    }
}

type ModelBuild = fn(&Params) -> Result<Box<dyn Model>, String>;
type ModelRestore = fn(serde_json::Value) -> Result<Box<dyn Model>, String>;

// Every detector, by name (the only list of them).
crate::registry! {
    pub const ALL: &[Spec] = SPEC;
    cusum, ensemble, ewma, forecast, holtwinters, mad, shift, variance, zscore
}

/// What `anomaly: {input: ...}` and `telltale score` use when no detector is named.
pub const DEFAULT: &str = "ensemble";

pub fn spec(name: &str) -> Result<&'static Spec, String> {
    ALL.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = ALL.iter().map(|s| s.name).collect();
        format!("unknown detector {name:?} (known: {})", names.join(", "))
    })
}

/// Builds detector `name` from `k=v` parameters (unknown keys and bad values are errors).
pub fn build(name: &str, given: &BTreeMap<String, String>) -> Result<Box<dyn Detector>, String> {
    let s = spec(name)?;
    let nested = matches!(s.kind, Kind::Detector { nested: true, .. });
    let p = Params::new(name, &s.docs(), given, nested)?;
    match s.kind {
        Kind::Model { build, .. } => single(build(&p)?, &p),
        Kind::Detector { build, .. } => build(&p),
    }
}

/// A detector's state as one JSON value (`{"detector": name, "state": ...}`).
pub fn save(d: &dyn Detector) -> serde_json::Value {
    serde_json::json!({"detector": d.name(), "state": d.state()})
}

/// Rebuilds a detector saved by [`save`].
pub fn restore(saved: &serde_json::Value) -> Result<Box<dyn Detector>, String> {
    let name = saved
        .get("detector")
        .and_then(|n| n.as_str())
        .ok_or("saved detector: no \"detector\" name")?;
    let state = saved
        .get("state")
        .cloned()
        .ok_or("saved detector: no \"state\"")?;
    let restored = match spec(name)?.kind {
        Kind::Model { .. } => from_state::<Single>(state).map(|s| Box::new(s) as Box<dyn Detector>),
        Kind::Detector { restore, .. } => restore(state),
    };
    restored.map_err(|e| format!("saved detector {name}: {e}"))
}

/// The smallest spread a model divides by near `m`, so constant stretches give large but finite
/// departures.
pub fn tiny(m: f64) -> f64 {
    1e-9 * m.abs().max(1e-3)
}

/// A model of what a series should do next, whose departure from each sample is scored by record
/// calibration (alone as a detector, or as an ensemble member). One per file, registered in
/// [`ALL`] with `kind: model_kind::<Self>()`.
pub trait Model: Send + std::fmt::Debug {
    /// Builds the model from its own parameters (no calibration ones).
    fn new(p: &Params) -> Result<Self, String>
    where
        Self: Sized;
    /// Its registry name.
    fn name(&self) -> &'static str;
    /// How far `v` is from what the model expected (>= 0, in the model's unit), then learns `v`;
    /// None while the model cannot judge yet (its window is not full).
    fn departure(&mut self, t: f64, v: f64) -> Option<f64>;
    /// The level the model expects now, where it has one (see [`Detector::expected`]).
    fn expected(&self) -> Option<f64> {
        None
    }
    /// Its serde state (see [`to_state`]).
    fn state(&self) -> serde_json::Value;
}

/// A model in a saved state: its fields plus `"model": name`, restored through the registry.
#[derive(Debug)]
pub struct Member(pub Box<dyn Model>);

impl Serialize for Member {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v = self.0.state();
        if let Some(o) = v.as_object_mut() {
            o.insert("model".into(), self.0.name().into());
        }
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Member {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Member, D::Error> {
        use serde::de::Error;
        let mut v = serde_json::Value::deserialize(d)?;
        let name = v
            .as_object_mut()
            .and_then(|o| o.remove("model"))
            .and_then(|n| n.as_str().map(str::to_string))
            .ok_or_else(|| D::Error::custom("model state without a \"model\" name"))?;
        let (_, restore) = spec(&name)
            .map_err(D::Error::custom)?
            .model()
            .ok_or_else(|| D::Error::custom(format!("{name:?} is not a model detector")))?;
        restore(v).map(Member).map_err(D::Error::custom)
    }
}

/// One model behind record calibration.
#[derive(Debug, Serialize, Deserialize)]
pub struct Single {
    model: Member,
    record: Record,
    out: Output,
}

/// A single-model detector.
fn single(model: Box<dyn Model>, p: &Params) -> Result<Box<dyn Detector>, String> {
    Ok(Box::new(Single {
        model: Member(model),
        record: Record::from_params(p)?,
        out: Output::new(p)?,
    }))
}

impl Detector for Single {
    fn name(&self) -> &'static str {
        self.model.0.name()
    }

    fn update(&mut self, t: f64, v: f64) -> f64 {
        if !t.is_finite() || !v.is_finite() {
            return 0.0;
        }
        let x = self
            .model
            .0
            .departure(t, v)
            .and_then(|d| self.record.ratio(d));
        self.out.score(x)
    }

    fn warmed_up(&self) -> bool {
        self.record.warmed_up()
    }

    fn state(&self) -> serde_json::Value {
        to_state(self)
    }

    fn expected(&self) -> Option<f64> {
        self.model.0.expected()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::*;

    #[test]
    fn every_detector_builds_with_defaults_and_rejects_unknown_params() {
        for s in ALL {
            let d = build(s.name, &BTreeMap::new()).unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(d.name(), s.name);
            let bad: BTreeMap<String, String> = [("nosuch".into(), "1".into())].into();
            let e = build(s.name, &bad).err().expect("unknown key accepted");
            assert!(e.contains("unknown parameter \"nosuch\""), "{e}");
        }
        assert!(build("nosuch", &BTreeMap::new())
            .err()
            .unwrap()
            .contains("known: cusum, ensemble"));
    }

    #[test]
    fn restored_detectors_continue_exactly() {
        let series = spike(1500, 1200, 8.0);
        for s in ALL {
            let mut a = build(s.name, &BTreeMap::new()).unwrap();
            let (head, tail) = series.split_at(900);
            run(&mut *a, head);
            let text = serde_json::to_string(&save(&*a)).unwrap();
            let mut b = restore(&serde_json::from_str(&text).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", s.name));
            assert_eq!(b.name(), s.name);
            let sa = run(&mut *a, tail);
            let sb = run(&mut *b, tail);
            assert_eq!(sa, sb, "{} diverged after restore", s.name);
        }
        assert!(restore(&serde_json::json!({"detector": "zscore", "state": 1})).is_err());
        assert!(restore(&serde_json::json!({"state": {}})).is_err());
    }

    #[test]
    fn docs_list_every_detector_and_parameter_with_its_default() {
        let doc = include_str!("../../docs/anomaly.md");
        for s in ALL {
            assert!(
                doc.contains(&format!("| `{}` |", s.name)),
                "{} undocumented",
                s.name
            );
            for docs in s.docs() {
                for p in docs {
                    let d = p.shown_default();
                    let forms = [
                        format!("`{}` ({d})", p.key),
                        format!("`{}` (`{d}`", p.key),
                        format!("| `{}` | {d} |", p.key),
                    ];
                    assert!(
                        forms.iter().any(|f| doc.contains(f.as_str())),
                        "{}: {}={d} not in docs/anomaly.md",
                        s.name,
                        p.key
                    );
                }
            }
        }
    }

    #[test]
    fn scores_stay_in_range_and_ignore_non_finite_samples() {
        let mut series = step(800, 500, 5.0);
        series[300].1 = f64::NAN;
        series[301].1 = f64::INFINITY;
        series.push((1e9, 0.0));
        series.push((f64::NAN, 1.0));
        for s in ALL {
            let mut d = build(s.name, &BTreeMap::new()).unwrap();
            for (i, (t, v)) in series.iter().enumerate() {
                let x = d.update(*t, *v);
                assert!((0.0..=1.0).contains(&x), "{} row {i}: {x}", s.name);
                if !v.is_finite() || !t.is_finite() {
                    assert_eq!(x, 0.0);
                }
            }
        }
    }

    #[test]
    fn the_default_paging_threshold_is_quiet_on_noise_at_1s_15s_and_60s() {
        // A day at 1 s, a week at 15 s, a month at 60 s; Gaussian and bounded (uniform) noise.
        for (step, days) in [(1.0, 1.0), (15.0, 7.0), (60.0, 30.0)] {
            for (kind, seed) in [("gaussian", 7u64), ("uniform", 11)] {
                let mut noise = Noise::new(seed);
                let n = (days * 86_400.0 / step) as usize;
                let mut d = build(DEFAULT, &BTreeMap::new()).unwrap();
                let (mut records, mut pages) = (0, 0);
                for i in 0..n {
                    let e = match kind {
                        "gaussian" => noise.normal(),
                        _ => noise.uniform() * 2.0 - 1.0,
                    };
                    let s = d.update(1.7e9 + i as f64 * step, 100.0 + e);
                    records += usize::from(s >= 0.513);
                    pages += usize::from(s >= calibrate::PAGE_THRESHOLD);
                }
                // The NAB-swept threshold fires on this noise; the paging one does not.
                assert!(records > 10, "{step} s {kind}: {records} records");
                assert_eq!(pages, 0, "{step} s {kind}: {pages} pages in {days} days");
                // A clear fault right after still pages.
                let t = 1.7e9 + n as f64 * step;
                assert!(
                    d.update(t, 130.0) >= calibrate::PAGE_THRESHOLD,
                    "{step} s {kind}"
                );
            }
        }
    }

    /// The numbers in a detector's saved state (its memory, in floats).
    fn numbers(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Number(_) => 1,
            serde_json::Value::Array(a) => a.iter().map(numbers).sum(),
            serde_json::Value::Object(o) => o.values().map(numbers).sum(),
            _ => 0,
        }
    }

    #[test]
    fn state_per_series_is_bounded_whatever_the_series_length() {
        for s in ALL {
            let mut d = build(s.name, &BTreeMap::new()).unwrap();
            let series = seasonal(60_000, usize::MAX, 0);
            run(&mut *d, &series[..20_000]);
            let early = numbers(&save(&*d));
            run(&mut *d, &series[20_000..]);
            let late = numbers(&save(&*d));
            eprintln!("{}: {late} numbers in its state", s.name);
            assert_eq!(early, late, "{} grows with the series", s.name);
            assert!(late < 5_000, "{}: {late}", s.name);
        }
    }

    #[test]
    fn expected_is_the_learnt_level_where_a_detector_has_one() {
        let series = step(400, 10_000, 0.0);
        let with = ["zscore", "mad", "ewma", "cusum", "shift", "ensemble"];
        for s in ALL {
            let mut d = build(s.name, &BTreeMap::new()).unwrap();
            assert_eq!(d.expected(), None, "{} before learning", s.name);
            run(&mut *d, &series);
            match d.expected() {
                Some(e) => assert!(
                    with.contains(&s.name) && (e - 100.0).abs() < 1.0,
                    "{}",
                    s.name
                ),
                None => assert!(!with.contains(&s.name), "{} has no level", s.name),
            }
        }
    }
}
