//! The `/api/v1/metrics` group: one group without grouping labels whose series are merged
//! one by one (a push replaces the series it names, the others stay) and expire one by one.

use std::collections::HashMap;
use std::sync::atomic::Ordering;

use super::{lock, samples_of, Registry, State, API_SOURCE};
use crate::model::{Family, Labels};
use crate::sources::push::config::PushConfig;
use crate::sources::push::grouping::GroupKey;
use crate::sources::push::Refusal;

impl Registry {
    /// A `/api/v1/metrics` push: its series replace the same series (name and labels) in the
    /// API group, the others stay.
    pub fn push_api(&self, fams: Vec<Family>, now_ms: i64) -> Result<usize, Refusal> {
        let cfg = self.enabled()?;
        let samples = samples_of(&fams);
        let mut st = lock(&self.state);
        let res = self.check_request(&cfg, &fams).and_then(|()| {
            let pushed: Vec<(String, Labels)> = fams
                .iter()
                .flat_map(|f| f.samples.iter().map(|s| (f.name.clone(), s.labels.clone())))
                .collect();
            let mut cur = self.store.latest_of(API_SOURCE).unwrap_or_default();
            merge_series(&mut cur, fams)?;
            self.write(
                &mut st,
                &cfg,
                API_SOURCE,
                &GroupKey(Vec::new()),
                cur,
                now_ms,
            )?;
            for k in pushed {
                st.api_pushed.insert(k, now_ms);
            }
            self.accepted.fetch_add(samples as u64, Ordering::Relaxed);
            Ok(samples)
        });
        res.map_err(|r| {
            self.record_failure(&mut st, API_SOURCE, now_ms);
            self.refuse(r)
        })
    }

    pub(super) fn expire_api(&self, st: &mut State, cfg: &PushConfig, cutoff: i64, now_ms: i64) {
        let before = st.api_pushed.len();
        st.api_pushed.retain(|_, t| *t >= cutoff);
        if st.api_pushed.len() == before {
            return;
        }
        if st.api_pushed.is_empty() {
            self.remove(st, API_SOURCE, now_ms);
            return;
        }
        let mut cur = self.store.latest_of(API_SOURCE).unwrap_or_default();
        for f in &mut cur {
            let name = f.name.clone();
            f.samples.retain(|s| {
                st.api_pushed
                    .contains_key(&(name.clone(), s.labels.clone()))
            });
        }
        cur.retain(|f| !f.samples.is_empty());
        let (updated, failure) = st
            .groups
            .get(API_SOURCE)
            .map_or((now_ms, 0.0), |g| (g.updated_ms, g.failure_time));
        if self
            .write(st, cfg, API_SOURCE, &GroupKey(Vec::new()), cur, now_ms)
            .is_ok()
        {
            if let Some(g) = st.groups.get_mut(API_SOURCE) {
                (g.updated_ms, g.failure_time) = (updated, failure);
            }
        }
    }
}

/// Puts `fams`' samples into `cur`, replacing samples of the same series.
fn merge_series(cur: &mut Vec<Family>, fams: Vec<Family>) -> Result<(), Refusal> {
    for f in fams {
        let Some(have) = cur.iter_mut().find(|c| c.name == f.name) else {
            cur.push(f);
            continue;
        };
        if have.kind != f.kind {
            return Err(Refusal::new(
                400,
                "invalid",
                format!(
                    "pushed metrics are inconsistent with existing metrics: {} was pushed as {}, now as {}",
                    f.name,
                    have.kind.text(),
                    f.kind.text()
                ),
            ));
        }
        let index: HashMap<Labels, usize> = have
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| (s.labels.clone(), i))
            .collect();
        for s in f.samples {
            match index.get(&s.labels) {
                // An older sample is the store's to refuse (out of order), with a reason.
                Some(&i) => have.samples[i] = s,
                None => have.samples.push(s),
            }
        }
    }
    Ok(())
}
