//! `netdev`: per-interface traffic counters from /proc/net/dev. node_exporter 1.5 reads netlink by
//! default (`--collector.netdev.netlink`); with it off it reads this file, giving the same 16
//! "legacy" names. Reading the file keeps fixture trees and `--path.procfs` meaningful.

use super::devfilter::DeviceFilter;
use super::{read, Collector, Ctx, Opt, Paths, Spec};
use crate::model::Family;

pub const SPEC: Spec = Spec {
    name: "netdev",
    default_enabled: true,
    options: &[
        Opt {
            key: "device-exclude",
            default: "^lo$",
            help: "Regexp of net devices to exclude (mutually exclusive to device-include).",
        },
        Opt {
            key: "device-include",
            default: "",
            help: "Regexp of net devices to include (mutually exclusive to device-exclude).",
        },
    ],
    build,
};

/// Column names of /proc/net/dev, in file order, as node_exporter names them.
pub const FIELDS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

fn build(ctx: &Ctx) -> Result<Box<dyn Collector>, String> {
    Ok(Box::new(NetDev {
        paths: ctx.paths.clone(),
        filter: DeviceFilter::from_ctx(ctx, &SPEC)?,
    }))
}

struct NetDev {
    paths: Paths,
    filter: DeviceFilter,
}

/// Parses /proc/net/dev into (interface, 16 counters), skipping the two header lines.
pub fn parse_net_dev(text: &str) -> Result<Vec<(String, [u64; 16])>, String> {
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        if line.trim().is_empty() {
            continue;
        }
        let (name, rest) = line
            .split_once(':')
            .ok_or_else(|| format!("net/dev: no ':' in {line:?}"))?;
        let vals: Vec<u64> = rest
            .split_whitespace()
            .map(|v| v.parse::<u64>().map_err(|e| format!("net/dev: {v:?}: {e}")))
            .collect::<Result<_, _>>()?;
        let vals: [u64; 16] = vals
            .try_into()
            .map_err(|_| format!("net/dev: expected 16 counters in {line:?}"))?;
        out.push((name.trim().to_string(), vals));
    }
    Ok(out)
}

pub fn families(devs: &[(String, [u64; 16])], filter: &DeviceFilter) -> Vec<Family> {
    let mut fams: Vec<Family> = FIELDS
        .iter()
        .map(|f| {
            Family::counter(
                format!("node_network_{f}_total"),
                format!("Network device statistic {f}."),
            )
        })
        .collect();
    for (name, vals) in devs {
        if filter.ignored(name) {
            continue;
        }
        for (fam, v) in fams.iter_mut().zip(vals) {
            fam.add(&[("device", name)], *v as f64);
        }
    }
    fams
}

impl Collector for NetDev {
    fn update(&self, out: &mut Vec<Family>) -> Result<(), String> {
        let devs = parse_net_dev(&read(&self.paths.proc("net/dev"))?)?;
        out.extend(families(&devs, &self.filter));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n\
    lo: 10 1 0 0 0 0 0 0 10 1 0 0 0 0 0 0\n\
  eth0: 100 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16\n";

    #[test]
    fn parses_and_filters() {
        let devs = parse_net_dev(TEXT).unwrap();
        assert_eq!(devs.len(), 2);
        assert_eq!(devs[1].0, "eth0");
        assert_eq!(devs[1].1[15], 16);
        let fams = families(&devs, &DeviceFilter::new("^lo$", "").unwrap());
        assert_eq!(fams[0].name, "node_network_receive_bytes_total");
        assert_eq!(fams[0].help, "Network device statistic receive_bytes.");
        assert_eq!(fams[0].samples.len(), 1);
        assert_eq!(fams[0].samples[0].value, 100.0);
        assert_eq!(fams[13].name, "node_network_transmit_colls_total");
        assert_eq!(fams[13].samples[0].value, 14.0);
    }

    #[test]
    fn rejects_malformed_lines() {
        assert!(parse_net_dev("h\nh\neth0: 1 2 3\n").is_err());
        assert!(parse_net_dev("h\nh\neth0 1 2\n").is_err());
    }
}
