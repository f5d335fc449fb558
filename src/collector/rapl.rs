//! `rapl`: RAPL energy counters from /sys/class/powercap/intel-rapl:*, as node_exporter 1.5:
//! `node_rapl_<zone>_joules_total{index,path}` (with `--collector.rapl.enable-zone-label`, one
//! `node_rapl_joules_total` with a `rapl_zone` label). The index is the `-N` of the zone name (`package-0`), else the count of earlier
//! zones of that name. A zone without a readable name or counter is skipped.

use std::collections::HashMap;

use super::{dir_names, read_trim, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "rapl",
    default_enabled: true,
    options: &[Opt {
        key: "enable-zone-label",
        default: "false",
        help: "Enables service unit metric unit_start_time_seconds",
    }],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Rapl {
        paths: ctx.paths.clone(),
        zone_label: ctx.opt(&SPEC, "enable-zone-label") == "true",
    }))
}

struct Rapl {
    paths: Paths,
    zone_label: bool,
}

/// A zone name into (name, index): `package-0` → (`package`, 0); others count per name.
pub fn name_index(name: &str, seen: &mut HashMap<String, u32>) -> (String, u32) {
    if let Some((n, i)) = name.rsplit_once('-') {
        if let Ok(i) = i.parse() {
            return (n.to_string(), i);
        }
    }
    let c = seen.entry(name.to_string()).or_default();
    let i = *c;
    *c += 1;
    (name.to_string(), i)
}

impl Collector for Rapl {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let base = self.paths.sys("class/powercap");
        let mut seen = HashMap::new();
        for zone in dir_names(&base)? {
            if !zone.starts_with("intel-rapl:") {
                continue;
            }
            let dir = base.join(&zone);
            let (Ok(raw), Some(uj)) = (
                read_trim(&dir.join("name")),
                read_trim(&dir.join("energy_uj"))
                    .ok()
                    .and_then(|v| v.parse::<u64>().ok()),
            ) else {
                continue;
            };
            let (name, index) = name_index(&raw, &mut seen);
            let (i, path) = (index.to_string(), dir.display().to_string());
            let mut labels = vec![("index", i.as_str()), ("path", path.as_str())];
            let (metric, help) = if self.zone_label {
                labels.push(("rapl_zone", name.as_str()));
                (
                    "node_rapl_joules_total".to_string(),
                    "Current RAPL value in joules".to_string(),
                )
            } else {
                (
                    format!("node_rapl_{name}_joules_total"),
                    format!("Current RAPL {name} value in joules"),
                )
            };
            out.push(Family::counter(metric, help).with(&labels, uj as f64 / 1e6));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes() {
        let mut seen = HashMap::new();
        assert_eq!(name_index("package-1", &mut seen), ("package".into(), 1));
        assert_eq!(name_index("core", &mut seen), ("core".into(), 0));
        assert_eq!(name_index("core", &mut seen), ("core".into(), 1));
        assert_eq!(name_index("psys-x", &mut seen), ("psys-x".into(), 0));
    }
}
