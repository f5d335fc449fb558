//! The ensemble (the default detector): several models side by side, each departure compared with
//! its own record (calibrate.rs), the score taken from the largest ratio, then one warm-up and
//! hold-off for the lot. Each model sees one kind of trouble — an outlier (mad), a moved level
//! (shift), a broken daily pattern (holtwinters), a series turning noisy or flat (variance), an
//! error large for the recent noise (ewma) — and because every one is measured against its own
//! history, one threshold serves them all. Members take their parameters as `member.key=value`.

use serde::{Deserialize, Serialize};

use super::calibrate::{Output, Record};
use super::params::{ParamDoc, Params};
use super::{Detector, Member, Spec, ALL};

pub const PARAMS: &[ParamDoc] = &[ParamDoc {
    key: "members",
    default: "mad,shift,holtwinters,variance,ewma",
    help: "comma-separated model detectors combined (member.key=value sets their parameters)",
}];

pub const SPEC: Spec = Spec {
    name: "ensemble",
    about: "largest record ratio over mad, shift, holtwinters, variance and ewma",
    params: PARAMS,
    kind: super::Kind::Detector {
        calibrated: true,
        nested: true,
        build: |p| Ok(Box::new(Ensemble::new(p)?)),
        restore: |v| Ok(Box::new(super::from_state::<Ensemble>(v)?)),
    },
};

#[derive(Debug, Serialize, Deserialize)]
pub struct Ensemble {
    members: Vec<(Member, Record)>,
    out: Output,
}

impl Ensemble {
    pub fn new(p: &Params) -> Result<Ensemble, String> {
        let names: Vec<&str> = p
            .raw("members")
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if names.is_empty() {
            return Err("detector ensemble: members is empty".into());
        }
        if let Some(k) = p.stray_nested(&names) {
            return Err(format!(
                "detector ensemble: parameter {k:?} is for no member (members: {})",
                names.join(", ")
            ));
        }
        let mut members = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let Some((spec, (build, _))) = ALL
                .iter()
                .find(|s| s.name == *name)
                .and_then(|s| Some((s, s.model()?)))
            else {
                let models: Vec<&str> = ALL
                    .iter()
                    .filter(|s| s.model().is_some())
                    .map(|s| s.name)
                    .collect();
                return Err(format!(
                    "detector ensemble: member {name:?} is not one of {}",
                    models.join(", ")
                ));
            };
            if names[..i].contains(name) {
                return Err(format!("detector ensemble: member {name:?} given twice"));
            }
            let mp = Params::new(name, &[spec.params], &p.nested(name), false)
                .map_err(|e| format!("detector ensemble: {e}"))?;
            members.push((Member(build(&mp)?), Record::from_params(p)?));
        }
        Ok(Ensemble {
            members,
            out: Output::new(p)?,
        })
    }
}

impl Detector for Ensemble {
    fn name(&self) -> &'static str {
        SPEC.name
    }

    fn update(&mut self, t: f64, v: f64) -> f64 {
        if !t.is_finite() || !v.is_finite() {
            return 0.0;
        }
        let mut x: Option<f64> = None;
        for (model, record) in &mut self.members {
            if let Some(r) = model.0.departure(t, v).and_then(|d| record.ratio(d)) {
                x = Some(x.map_or(r, |x| x.max(r)));
            }
        }
        self.out.score(x)
    }

    fn warmed_up(&self) -> bool {
        self.members.iter().any(|(_, r)| r.warmed_up())
    }

    fn state(&self) -> serde_json::Value {
        super::to_state(self)
    }

    /// The first member's level that has one (by default `mad`'s median).
    fn expected(&self) -> Option<f64> {
        self.members.iter().find_map(|(m, _)| m.0.expected())
    }
}

#[cfg(test)]
mod tests {
    use crate::anomaly::testkit::*;

    #[test]
    fn each_kind_of_trouble_scores_high_and_noise_stays_low() {
        let at = 2000;
        let cases = [
            ("spike", spike(3000, at, 9.0)),
            ("step", step(3000, at, 4.0)),
            ("drift", drift(3000, at, 0.02)),
            ("burst", burst(3000, at, 60, 5.0)),
        ];
        for (what, series) in cases {
            let mut d = detector("ensemble", &[]);
            let s = run(&mut *d, &series);
            eprintln!("{what}");
            assert_alarm(&s, at..at + 100);
            assert_quiet(&s, 0..at, 0.65);
        }
        let at = 4 * 1440 + 240;
        let mut d = detector("ensemble", &[]);
        let s = run(&mut *d, &seasonal(6 * 1440, at, 240));
        assert_alarm(&s, at..at + 60);
        assert_quiet(&s, 2 * 1440..at, 0.65);
    }

    #[test]
    fn members_and_their_parameters() {
        let mut d = detector(
            "ensemble",
            &[("members", "zscore,cusum"), ("zscore.window", "50")],
        );
        let s = run(&mut *d, &spike(1000, 800, 9.0));
        assert_peak_at(&s, 800, 0.8);
        let e = build_err("ensemble", "members", "mad,nosuch");
        assert!(e.contains("\"nosuch\" is not one of"), "{e}");
        let e = build_err("ensemble", "members", "mad,mad");
        assert!(e.contains("twice"), "{e}");
        let e = build_err("ensemble", "zscore.window", "5");
        assert!(e.contains("for no member"), "{e}");
        let e = build_err("ensemble", "mad.nosuch", "5");
        assert!(e.contains("unknown parameter \"nosuch\""), "{e}");
        let e = build_err("ensemble", "mad.window", "x");
        assert!(
            e.contains("mad.window") || e.contains("window=\"x\""),
            "{e}"
        );
    }
}
