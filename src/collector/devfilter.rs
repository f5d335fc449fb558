//! The include/exclude device regex pair that several node_exporter collectors share
//! (`--collector.X.device-include` / `device-exclude`), with its mutual-exclusion rule.

use regex::Regex;

use super::{Ctx, Spec};

/// Drops devices matching `exclude`, or not matching `include` when that is set.
pub struct DeviceFilter {
    exclude: Option<Regex>,
    include: Option<Regex>,
}

impl DeviceFilter {
    /// Reads `device-exclude` and `device-include`; like node_exporter 1.5, setting both (a
    /// non-empty default exclude counts) is an error, so `include` needs `device-exclude=""`.
    pub fn from_ctx(ctx: &Ctx, spec: &Spec) -> Result<Self, String> {
        Self::new(
            &ctx.opt(spec, "device-exclude"),
            &ctx.opt(spec, "device-include"),
        )
    }

    pub fn new(exclude: &str, include: &str) -> Result<Self, String> {
        if !exclude.is_empty() && !include.is_empty() {
            return Err("device-exclude & device-include are mutually exclusive".into());
        }
        let compile = |s: &str| -> Result<Option<Regex>, String> {
            if s.is_empty() {
                return Ok(None);
            }
            Regex::new(s)
                .map(Some)
                .map_err(|e| format!("bad device regex {s:?}: {e}"))
        };
        Ok(DeviceFilter {
            exclude: compile(exclude)?,
            include: compile(include)?,
        })
    }

    pub fn ignored(&self, name: &str) -> bool {
        self.exclude.as_ref().is_some_and(|r| r.is_match(name))
            || self.include.as_ref().is_some_and(|r| !r.is_match(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclude_include_and_both() {
        let f = DeviceFilter::new("^lo$", "").unwrap();
        assert!(f.ignored("lo"));
        assert!(!f.ignored("eth0"));
        let f = DeviceFilter::new("", "^eth").unwrap();
        assert!(f.ignored("lo"));
        assert!(!f.ignored("eth1"));
        let f = DeviceFilter::new("", "").unwrap();
        assert!(!f.ignored("anything"));
        assert!(DeviceFilter::new("^lo$", "^eth").is_err());
        assert!(DeviceFilter::new("(", "").is_err());
    }
}
