//! `arp`: neighbour-table entries per device, counted from /proc/net/arp (1.5 reads the file).

use std::collections::BTreeMap;

use super::devfilter::DeviceFilter;
use super::{read, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "arp",
    default_enabled: true,
    options: &[
        Opt {
            key: "device-include",
            default: "",
            help: "Regexp of arp devices to include (mutually exclusive to device-exclude).",
        },
        Opt {
            key: "device-exclude",
            default: "",
            help: "Regexp of arp devices to exclude (mutually exclusive to device-include).",
        },
    ],
    build,
};

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(Arp {
        paths: ctx.paths.clone(),
        filter: DeviceFilter::from_ctx(ctx, &SPEC)?,
    }))
}

struct Arp {
    paths: Paths,
    filter: DeviceFilter,
}

/// Counts entries per device (last column), skipping the `IP address ...` header.
pub fn parse_arp(text: &str) -> Result<BTreeMap<String, u64>, String> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.is_empty() {
            continue;
        }
        if cols.len() < 6 {
            return Err(format!("unexpected ARP table format: {line:?}"));
        }
        if cols[0] != "IP" {
            *out.entry(cols[cols.len() - 1].to_string()).or_insert(0) += 1;
        }
    }
    Ok(out)
}

pub fn families(entries: &BTreeMap<String, u64>, filter: &DeviceFilter) -> Vec<Family> {
    let mut f = Family::gauge("node_arp_entries", "ARP entries by device");
    for (dev, n) in entries {
        if !filter.ignored(dev) {
            f.add(&[("device", dev)], *n as f64);
        }
    }
    vec![f]
}

impl Collector for Arp {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let entries = parse_arp(&read(&self.paths.proc("net/arp"))?)?;
        out.extend(families(&entries, &self.filter));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_device() {
        let t = "IP address       HW type     Flags       HW address            Mask     Device\n\
192.0.2.1 0x1 0x2 02:fc:00:00:00:05 * eth0\n192.0.2.7 0x1 0x2 02:fc:00:00:00:07 * eth0\n\
10.0.0.1 0x1 0x2 52:54:00:12:34:56 * eth1\n";
        let e = parse_arp(t).unwrap();
        assert_eq!(e["eth0"], 2);
        assert_eq!(e["eth1"], 1);
        let fams = families(&e, &DeviceFilter::new("^eth1$", "").unwrap());
        assert_eq!(fams[0].samples.len(), 1);
        assert_eq!(fams[0].samples[0].value, 2.0);
        assert!(parse_arp("1.2.3.4 eth0\n").is_err());
    }
}
