//! The alert state file: every alerting rule's alerts (and what its rule kind learnt, see
//! `kinds::Input::save`), written atomically (temporary file, fsync, rename) while the engine
//! runs and on shutdown, and restored on start, so a restart resets neither `for` nor
//! `keep_firing_for`, loses no resolution (see `alert_out`) and does not re-learn.

use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::Engine;
use crate::rules::alert::output::RuleSnapshot;

const VERSION: u32 = 1;

#[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateFile {
    pub version: u32,
    pub groups: Vec<GroupSnapshot>,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct GroupSnapshot {
    /// The group's name; rules are matched by group name, rule name and rule labels, so
    /// moving a group to another file keeps its state.
    pub group: String,
    pub rules: Vec<RuleSnapshot>,
}

impl Engine {
    pub fn snapshot(&self, now_ms: i64) -> StateFile {
        let groups = self
            .groups
            .iter()
            .map(|g| GroupSnapshot {
                group: g.spec.name.clone(),
                rules: g
                    .state()
                    .rules
                    .iter()
                    .filter_map(|r| {
                        let mut snap = r.alert.as_ref()?.snapshot(now_ms);
                        snap.kind_state = r.kind.as_ref().and_then(|k| k.save());
                        Some(snap)
                    })
                    .collect(),
            })
            .collect();
        StateFile {
            version: VERSION,
            groups,
        }
    }

    pub fn save_state(&self, path: &Path, now_ms: i64) -> Result<(), String> {
        let text = serde_json::to_vec(&self.snapshot(now_ms)).map_err(|e| e.to_string())?;
        write_atomic(path, &text).map_err(|e| e.to_string())
    }

    /// Restores alert state saved by an earlier run; returns the number of alerts restored.
    /// A missing file is a first start; a corrupt one is logged and ignored (the engine starts
    /// empty rather than not at all).
    pub fn restore_state(&self, path: &Path, now_ms: i64) -> usize {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return 0,
            Err(e) => {
                tracing::error!(path = %path.display(), err = %e, "cannot read rule state");
                return 0;
            }
        };
        let file: StateFile = match serde_json::from_slice(&text) {
            Ok(f) => f,
            Err(e) => {
                tracing::error!(path = %path.display(), err = %e, "rule state file unreadable; starting empty");
                return 0;
            }
        };
        let opts = self.options().restore;
        let mut restored = 0;
        for g in &self.groups {
            let mut st = g.state();
            for rs in st.rules.iter_mut() {
                let Some(a) = rs.alert.as_mut() else { continue };
                let mine = a.snapshot(now_ms);
                let snap = file
                    .groups
                    .iter()
                    .filter(|s| s.group == g.spec.name)
                    .flat_map(|s| s.rules.iter())
                    .find(|s| s.rule == mine.rule && s.rule_labels == mine.rule_labels);
                if let Some(snap) = snap {
                    restored += a.restore(snap, now_ms, opts).unwrap_or(0);
                    if let (Some(k), Some(v)) = (rs.kind.as_mut(), &snap.kind_state) {
                        if let Err(e) = k.restore(v) {
                            tracing::warn!(rule = %snap.rule, err = %e, "rule kind state not restored; starting afresh");
                        }
                    }
                }
            }
        }
        restored
    }
}

fn write_atomic(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}
